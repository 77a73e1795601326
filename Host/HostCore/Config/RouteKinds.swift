public import ConnectorProtocol

/// Whether each route brings its sink only the record kinds the sink takes: a source's event types (its
/// streams') that a route lets through, against the sink's `sink_record_kinds`. Pure; the capabilities
/// come from the plugins' `--describe` (`connector-hostd --check-config`).
public enum RouteKinds {
    /// One problem per route and record kind the sink does not take, naming both. Routes whose source or
    /// sink could not be described are not judged.
    public static func problems(routes: [RouteConfig], capabilities: [String: Capabilities]) -> [String] {
        var problems: [String] = []
        for route in routes {
            guard let source = capabilities[route.from], let sink = capabilities[route.to], !sink.sinkRecordKinds.isEmpty else { continue }
            let taken = Set(sink.sinkRecordKinds)
            var refused: [String: [String]] = [:]
            for type in source.streams.flatMap(\.eventTypes) where route.events.contains(where: { RouteConfig.pattern($0, matches: type) }) {
                let kind = Capabilities.recordKind(ofEventType: type)
                if !taken.contains(kind) { refused[kind, default: []].append(type) }
            }
            for (kind, types) in refused.sorted(by: { $0.key < $1.key }) {
                problems.append("route \(route.id): \(route.from) emits \(types.joined(separator: ", ")) (records of kind \(kind)) but \(route.to) takes only \(sink.sinkRecordKinds.joined(separator: ", ")); narrow the route's events or route them elsewhere")
            }
        }
        return problems
    }
}
