public import ConnectorProtocol

/// The streams a source offers (`discover`'s `CATALOG`), and the configured catalog `read` takes: the
/// chosen streams, each incremental where the source can (from its state, by its default cursor field)
/// and whole otherwise, appended.
public struct AirbyteCatalog: Sendable, Equatable {
    public var streams: [JSONValue]

    public init(_ catalog: JSONValue) {
        streams = catalog["streams"]?.arrayValue ?? []
    }

    public var names: [String] { streams.compactMap { $0["name"]?.stringValue } }

    /// The configured catalog of `chosen` (every stream when empty) and what the host keeps of each; a
    /// stream whose source names no primary key takes its key from `primaryKeys` (Airbyte's user-defined key).
    public func configured(_ chosen: [String], primaryKeys: [String: [[String]]] = [:]) throws(AirbyteLineProblem)
        -> (catalog: JSONValue, streams: [AirbyteStream])
    {
        let byName = Dictionary(streams.compactMap { stream in stream["name"]?.stringValue.map { ($0, stream) } }, uniquingKeysWith: { first, _ in first })
        let names = chosen.isEmpty ? self.names : chosen
        var configured: [JSONValue] = []
        var kept: [AirbyteStream] = []
        for name in names {
            guard let stream = byName[name] else {
                throw AirbyteLineProblem("the source has no stream \"\(name)\" (it has: \(self.names.joined(separator: ", ")))")
            }
            let modes = stream["supported_sync_modes"]?.arrayValue?.compactMap(\.stringValue) ?? ["full_refresh"]
            let cursorField = Self.path(stream["default_cursor_field"])
            let incremental = modes.contains("incremental") && (!cursorField.isEmpty || stream["source_defined_cursor"]?.boolValue == true)
            var primaryKey = (stream["source_defined_primary_key"]?.arrayValue ?? []).map(Self.path).filter { !$0.isEmpty }
            if let chosenKey = primaryKeys[name] {
                guard primaryKey.isEmpty || primaryKey == chosenKey else {
                    let own = primaryKey.map { $0.joined(separator: ".") }.joined(separator: ", ")
                    throw AirbyteLineProblem("stream \"\(name)\" has a primary key of its own (\(own)): primary_key.\(name) may not name another")
                }
                primaryKey = chosenKey
            }
            configured.append([
                "stream": stream,
                "sync_mode": .string(incremental ? "incremental" : "full_refresh"),
                "destination_sync_mode": "append",
                "cursor_field": .array(cursorField.map(JSONValue.string)),
                "primary_key": .array(primaryKey.map { .array($0.map(JSONValue.string)) }),
            ])
            kept.append(AirbyteStream(name: name, namespace: stream["namespace"]?.stringValue, primaryKey: primaryKey,
                                      cursorField: incremental ? cursorField : [], incremental: incremental))
        }
        return (["streams": .array(configured)], kept)
    }

    /// A field path: `["a", "b"]`, or a lone name.
    static func path(_ json: JSONValue?) -> [String] {
        if let name = json?.stringValue { return [name] }
        return json?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}
