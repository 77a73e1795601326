public import ConnectorProtocol
public import Foundation
import ConnectorKit

/// One line of an Airbyte source's standard output (the Airbyte protocol: one JSON object a line, its
/// `type` saying which member holds the message). Only what the host uses is read; the rest is `other`.
public enum AirbyteMessage: Sendable, Equatable {
    /// A record of a stream: its fields, and when the source read it (epoch ms).
    case record(stream: String, namespace: String?, data: [String: JSONValue], emittedAt: Int64)
    /// A checkpoint: every record before it is read, and `read --state` with it goes on after them.
    case state(JSONValue)
    case log(level: String, message: String)
    /// A trace: an error (what the source failed at and whose fault it is) or progress the host ignores.
    case trace(AirbyteTrace)
    case connectionStatus(succeeded: Bool, message: String?)
    case catalog(JSONValue)
    case spec(JSONValue)
    case other(type: String)

    /// The message of one line, or what is wrong with it.
    public static func parse(_ line: Data) throws(AirbyteLineProblem) -> AirbyteMessage {
        let json: JSONValue
        do {
            json = try AirbyteJSON.decoder.decode(JSONValue.self, from: line)
        } catch {
            throw AirbyteLineProblem("not JSON: \(TextExcerpt.of(line, limit: 120))")
        }
        guard let type = json["type"]?.stringValue else { throw AirbyteLineProblem("no \"type\": \(TextExcerpt.of(line, limit: 120))") }
        switch type {
        case "RECORD":
            guard let record = json["record"], let stream = record["stream"]?.stringValue, let data = record["data"]?.objectValue else {
                throw AirbyteLineProblem("a RECORD without \"record.stream\" or an object \"record.data\": \(TextExcerpt.of(line, limit: 120))")
            }
            return .record(stream: stream, namespace: record["namespace"]?.stringValue, data: data, emittedAt: record["emitted_at"]?.intValue ?? 0)
        case "STATE":
            guard let state = json["state"], state.objectValue != nil else { throw AirbyteLineProblem("a STATE without an object \"state\"") }
            return .state(state)
        case "LOG":
            return .log(level: json["log"]?["level"]?.stringValue ?? "INFO", message: json["log"]?["message"]?.stringValue ?? "")
        case "TRACE":
            return .trace(AirbyteTrace(json["trace"] ?? .null))
        case "CONNECTION_STATUS":
            let status = json["connectionStatus"]
            return .connectionStatus(succeeded: status?["status"]?.stringValue == "SUCCEEDED", message: status?["message"]?.stringValue)
        case "CATALOG":
            return .catalog(json["catalog"] ?? .null)
        case "SPEC":
            return .spec(json["spec"] ?? .null)
        default:
            return .other(type: type)
        }
    }
}

/// An Airbyte `TRACE` message: only its error matters to the host.
public struct AirbyteTrace: Sendable, Equatable {
    /// `ERROR`, `ESTIMATE`, `STREAM_STATUS`, …
    public var type: String
    /// For an error: what the source says went wrong, and whose fault (`config_error`, `system_error`,
    /// `transient_error`).
    public var message: String?
    public var failureType: String?

    public init(type: String, message: String? = nil, failureType: String? = nil) {
        self.type = type
        self.message = message
        self.failureType = failureType
    }

    init(_ json: JSONValue) {
        type = json["type"]?.stringValue ?? ""
        message = json["error"]?["message"]?.stringValue
        failureType = json["error"]?["failure_type"]?.stringValue
    }

    /// The error class the host retries or parks by: a configuration the source refuses is the
    /// operator's to fix (permanent); anything else may pass (transient).
    public var errorCode: ConnectorError.Code {
        failureType == "config_error" ? .permanent : .transient
    }
}

/// A line of a source's output that is not an Airbyte message.
public struct AirbyteLineProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

enum AirbyteJSON {
    static let decoder = JSONIndexDecoder()

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
