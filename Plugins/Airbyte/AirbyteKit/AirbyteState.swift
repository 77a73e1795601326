public import ConnectorProtocol
import Foundation
import ConnectorKit

/// Where an Airbyte source is in its streams: the last `STATE` message of each stream (or the last
/// global or legacy one), as `read --state` takes them back, an array of state messages. Kept by the host
/// as the connector's cursor, written in the transaction that stores the records read before it.
public struct AirbyteState: Sendable, Equatable {
    /// Per-stream states by `namespace/name` (`/name` without a namespace).
    private(set) var streams: [String: JSONValue] = [:]
    /// A `GLOBAL` state: one for every stream (a database's change log), replacing per-stream ones.
    private(set) var global: JSONValue?
    /// A `LEGACY` state (or one without a type): the source's whole state as one blob.
    private(set) var legacy: JSONValue?

    public init() {}

    /// The state a cursor names (a page's cursor, `{"page", "run", "state": [messages]}`, or the messages
    /// alone); nil or empty, none yet.
    public init(cursor: String?) throws(AirbyteLineProblem) {
        guard let cursor, !cursor.isEmpty else { return }
        let json = try? AirbyteJSON.decoder.decode(JSONValue.self, from: Data(cursor.utf8))
        guard let messages = json?["state"]?.arrayValue ?? json?.arrayValue else {
            throw AirbyteLineProblem("the stored cursor holds no Airbyte state messages: \(TextExcerpt.of(Data(cursor.utf8), limit: 120))")
        }
        for message in messages { apply(message) }
    }

    public var isEmpty: Bool { streams.isEmpty && global == nil && legacy == nil }

    /// Takes in a `STATE` message's `state` member. Counts the source keeps about itself
    /// (`sourceStats`, `destinationStats`) are left out: they are not where it is.
    public mutating func apply(_ message: JSONValue) {
        guard var object = message.objectValue else { return }
        object["sourceStats"] = nil
        object["destinationStats"] = nil
        let message = JSONValue.object(object)
        switch object["type"]?.stringValue {
        case "STREAM":
            let descriptor = message["stream"]?["stream_descriptor"]
            let key = "\(descriptor?["namespace"]?.stringValue ?? "")/\(descriptor?["name"]?.stringValue ?? "")"
            streams[key] = message
            legacy = nil
        case "GLOBAL":
            global = message
            streams = [:]
            legacy = nil
        default:
            legacy = message
            streams = [:]
            global = nil
        }
    }

    /// The state messages, as `read --state FILE` reads them (streams in order of their names).
    public var messages: [JSONValue] {
        if let legacy { return [legacy] }
        if let global { return [global] }
        return streams.keys.sorted().compactMap { streams[$0] }
    }

    /// The messages as JSON text: the cursor the host stores, and the `--state` file.
    public var cursor: String {
        let data = (try? AirbyteJSON.encoder().encode(messages)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
