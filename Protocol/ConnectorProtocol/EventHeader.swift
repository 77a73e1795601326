public import Foundation

/// What the host reads of an event: where to route it and what makes it one change. The record
/// stays the bytes the source sent; only a sink that takes its kind decodes it (PROTOCOL.md 7).
public struct EventHeader: Sendable, Hashable {
    public var schemaVersion: Int
    public var type: String
    public var source: SourceRef
    public var tenant: String?
    public var entity: String?
    public var correlationID: String
    public var occurredAt: String
    public var orderingKey: String?
    /// The record's `kind`, known to this model or not.
    public var recordKind: String
    /// The records this one refers to: every object inside the record with an `object_type` and an
    /// `object_id` (an invoice's customer, its lines' products, …), whatever the record's kind.
    public var references: [RecordRef]

    public func idempotencyKey(connector: String) -> String {
        source.idempotencyKey(connector: connector)
    }

    /// Reads one event's header from its JSON; throws naming the member at fault.
    public init(json: Data) throws(ConnectorError) {
        let read: Result<EventHeader, JSONScanner.Failure> = json.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer)
            do throws(JSONScanner.Failure) {
                var reader = HeaderReader()
                let header = try reader.read(&scanner)
                try scanner.expectEnd()
                return reader.problem.map { .failure(JSONScanner.Failure(offset: -1, message: $0)) } ?? .success(header)
            } catch {
                return .failure(error)
            }
        }
        switch read {
        case .success(let header): self = header
        case .failure(let failure) where failure.offset < 0: throw ConnectorError(.protocol, "not an event: \(failure.message)")
        case .failure(let failure): throw ConnectorError(.protocol, "not JSON: \(failure.message) (at byte \(failure.offset))")
        }
    }

    init(schemaVersion: Int, type: String, source: SourceRef, tenant: String?, entity: String?, correlationID: String,
         occurredAt: String, orderingKey: String?, recordKind: String, references: [RecordRef]) {
        self.schemaVersion = schemaVersion
        self.type = type
        self.source = source
        self.tenant = tenant
        self.entity = entity
        self.correlationID = correlationID
        self.occurredAt = occurredAt
        self.orderingKey = orderingKey
        self.recordKind = recordKind
        self.references = references
    }
}

extension SourceRef {
    /// Source connector + object type + object id + version: equal keys are the same change,
    /// however often it is polled or pushed.
    public func idempotencyKey(connector: String) -> String {
        "\(connector):\(objectType):\(objectID):\(version ?? "-")"
    }
}

/// A `source.poll` or `webhook.handle` answer as the host reads it, in one pass over the line: each
/// event's header and where its bytes lie, the elements that are not events (with why), and the
/// answer's own members. Nothing of a record is decoded.
public struct EventPage: Sendable {
    public struct Entry: Sendable {
        public var header: EventHeader
        /// The event exactly as the source wrote it.
        public var json: Data
    }

    /// An element of `events` that is not an event, kept as sent.
    public struct Reject: Sendable {
        /// `events[<index>]: <what is wrong>`, naming the member.
        public var problem: String
        public var json: Data
    }

    public var events: [Entry] = []
    public var rejects: [Reject] = []
    public var cursor: String?
    public var hasMore = false
    public var replayKey: String?
    /// The result's members the page does not read itself (`webhook.handle`'s `response`), as JSON.
    public var others: [String: Data] = [:]

    /// Which answer a page is: a poll's must say `events` and `has_more` (a page without them would
    /// store no cursor and start its stream over); a webhook's may leave `events` out.
    public enum Kind: Sendable {
        case poll, webhook
    }

    /// Reads the `result` of a response line. A line that is not JSON, or a result that is not an
    /// object, or whose own members are missing or of the wrong type, is a `protocol` error; an event
    /// element at fault is only a reject.
    public init(reading message: RPCMessage, as kind: Kind) throws(ConnectorError) {
        guard let range = message.payloadRange else { throw ConnectorError(.protocol, "invalid result: missing \"result\"") }
        let line = message.line
        let read: Result<EventPage, JSONScanner.Failure> = line.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer, from: range.lowerBound)
            do throws(JSONScanner.Failure) {
                let page = try EventPage(scanning: &scanner, line: line, kind: kind)
                return scanner.index == range.upperBound ? .success(page) : .failure(scanner.failure("the result ends early"))
            } catch {
                return .failure(error)
            }
        }
        switch read {
        case .success(let page): self = page
        case .failure(let failure): throw ConnectorError(.protocol, "invalid result: \(failure.message) (at byte \(failure.offset))")
        }
    }

    private init(scanning scanner: inout JSONScanner, line: Data, kind: Kind) throws(JSONScanner.Failure) {
        var sawEvents = false, sawHasMore = false
        let base = line.startIndex
        func bytes(_ range: Range<Int>) -> Data { line[(base + range.lowerBound)..<(base + range.upperBound)] }
        var members = try scanner.openObject()
        while let key = try scanner.nextKey(&members) {
            if key.equals("events") {
                sawEvents = true
                var elements = try scanner.openArray()
                var index = 0
                while try scanner.nextElement(&elements) {
                    _ = scanner.peek()
                    let start = scanner.index
                    var reader = HeaderReader()
                    let header = try reader.read(&scanner)
                    let json = Data(bytes(start..<scanner.index))
                    if let problem = reader.problem {
                        rejects.append(Reject(problem: "events[\(index)]: \(problem)", json: json))
                    } else {
                        events.append(Entry(header: header, json: json))
                    }
                    index += 1
                }
            } else if key.equals("cursor") {
                guard let cursor = try scanner.stringOrNull() else { throw scanner.failure("\"cursor\" must be a string or null") }
                self.cursor = cursor?.value
            } else if key.equals("replay_key") {
                guard let replayKey = try scanner.stringOrNull() else { throw scanner.failure("\"replay_key\" must be a string or null") }
                self.replayKey = replayKey?.value
            } else if key.equals("has_more") {
                sawHasMore = true
                switch scanner.peek() {
                case UInt8(ascii: "t"), UInt8(ascii: "f"): hasMore = bytes(try scanner.skipValue()).first == UInt8(ascii: "t")
                default: throw scanner.failure("\"has_more\" must be a boolean")
                }
            } else {
                others[key.value] = Data(bytes(try scanner.skipValue()))
            }
        }
        if kind == .poll, !(sawEvents && sawHasMore) {
            throw scanner.failure("a source.poll result needs \"events\" and \"has_more\"")
        }
    }
}

/// Reads one event object's header members and walks its record for references and money, noting the
/// first problem instead of stopping: the element must still be scanned to find the next one.
struct HeaderReader {
    private(set) var problem: String?
    private var path: [PathStep] = []

    private enum PathStep {
        case key(JSONScanner.RawString)
        case index(Int)
    }

    /// The required members met so far.
    struct Seen: OptionSet {
        let rawValue: UInt8
        static let schemaVersion = Seen(rawValue: 1 << 0), type = Seen(rawValue: 1 << 1), source = Seen(rawValue: 1 << 2)
        static let objectType = Seen(rawValue: 1 << 3), objectID = Seen(rawValue: 1 << 4), correlationID = Seen(rawValue: 1 << 5)
        static let occurredAt = Seen(rawValue: 1 << 6), record = Seen(rawValue: 1 << 7)
        static let required: [(Seen, String)] = [
            (.schemaVersion, "schema_version"), (.type, "type"), (.source, "source"), (.objectType, "source.object_type"),
            (.objectID, "source.object_id"), (.correlationID, "correlation_id"), (.occurredAt, "occurred_at"), (.record, "record"),
        ]
    }

    private mutating func note(_ problem: @autoclosure () -> String) {
        if self.problem == nil { self.problem = problem() }
    }

    mutating func read(_ scanner: inout JSONScanner) throws(JSONScanner.Failure) -> EventHeader {
        var header = EventHeader(schemaVersion: 0, type: "", source: SourceRef(objectType: "", objectID: "", version: nil), tenant: nil, entity: nil,
                                 correlationID: "", occurredAt: "", orderingKey: nil, recordKind: "", references: [])
        guard scanner.peek() == UInt8(ascii: "{") else {
            note("not an event: an event is an object")
            try scanner.skipValue()
            return header
        }
        var seen = Seen()
        var members = try scanner.openObject()
        while let key = try scanner.nextKey(&members) {
            if key.equals("schema_version") {
                seen.insert(.schemaVersion)
                switch try scanner.integer() {
                case .some(.some(let version)) where version >= 1: header.schemaVersion = Int(version)
                case .some: note("\"schema_version\" must be a positive integer")
                case .none: note("\"schema_version\" must be an integer"); try scanner.skipValue()
                }
            } else if key.equals("type") {
                header.type = try requiredString(&scanner, "type", .type, seen: &seen)
            } else if key.equals("correlation_id") {
                header.correlationID = try requiredString(&scanner, "correlation_id", .correlationID, seen: &seen)
            } else if key.equals("occurred_at") {
                header.occurredAt = try requiredString(&scanner, "occurred_at", .occurredAt, seen: &seen)
            } else if key.equals("tenant") {
                header.tenant = try optionalString(&scanner, "tenant")
            } else if key.equals("entity") {
                header.entity = try optionalString(&scanner, "entity")
            } else if key.equals("ordering_key") {
                header.orderingKey = try optionalString(&scanner, "ordering_key")
            } else if key.equals("source") {
                seen.insert(.source)
                header.source = try source(&scanner, seen: &seen)
            } else if key.equals("record") {
                seen.insert(.record)
                try record(&scanner, into: &header)
            } else {
                try scanner.skipValue()
            }
        }
        for (member, name) in Seen.required where !seen.contains(member) && (seen.contains(.source) || !name.hasPrefix("source.")) {
            note("missing \"\(name)\"")
        }
        return header
    }

    private mutating func requiredString(_ scanner: inout JSONScanner, _ name: String, _ member: Seen,
                                         seen: inout Seen) throws(JSONScanner.Failure) -> String {
        seen.insert(member)
        if scanner.peek() == UInt8(ascii: "\"") { return try scanner.string().value }
        note("\"\(name)\" must be a string")
        try scanner.skipValue()
        return ""
    }

    private mutating func optionalString(_ scanner: inout JSONScanner, _ name: String) throws(JSONScanner.Failure) -> String? {
        if let value = try scanner.stringOrNull() { return value?.value }
        note("\"\(name)\" must be a string or null")
        try scanner.skipValue()
        return nil
    }

    private mutating func source(_ scanner: inout JSONScanner, seen: inout Seen) throws(JSONScanner.Failure) -> SourceRef {
        var source = SourceRef(objectType: "", objectID: "", version: nil)
        guard scanner.peek() == UInt8(ascii: "{") else {
            note("\"source\" must be an object")
            try scanner.skipValue()
            return source
        }
        var members = try scanner.openObject()
        while let key = try scanner.nextKey(&members) {
            if key.equals("object_type") {
                source.objectType = try requiredString(&scanner, "source.object_type", .objectType, seen: &seen)
            } else if key.equals("object_id") {
                source.objectID = try requiredString(&scanner, "source.object_id", .objectID, seen: &seen)
            } else if key.equals("version") {
                source.version = try optionalString(&scanner, "source.version")
            } else if key.equals("connector") {
                source.connector = try optionalString(&scanner, "source.connector")
            } else {
                try scanner.skipValue()
            }
        }
        return source
    }

    /// `{"kind": K, K: {…}}`: its kind, and a walk of everything in it.
    private mutating func record(_ scanner: inout JSONScanner, into header: inout EventHeader) throws(JSONScanner.Failure) {
        guard scanner.peek() == UInt8(ascii: "{") else {
            note("\"record\" must be an object")
            try scanner.skipValue()
            return
        }
        path = []
        var kind: String?
        var bodies: [(name: JSONScanner.RawString, first: UInt8?)] = []  // the other members, by the first byte of their value
        var members = try scanner.openObject()
        while let key = try scanner.nextKey(&members) {
            if key.equals("kind") {
                guard scanner.peek() == UInt8(ascii: "\"") else {
                    note("\"record.kind\" must be a string")
                    try scanner.skipValue()
                    continue
                }
                kind = try scanner.string().value
            } else {
                bodies.append((key, scanner.peek()))
                path.append(.key(key))
                try walk(&scanner, into: &header.references)
                path.removeLast()
            }
        }
        path = []
        guard let kind else { return note("missing \"record.kind\"") }
        header.recordKind = kind
        guard let body = bodies.first(where: { $0.name.value == kind }) else {
            return note("missing \"record.\(kind)\": a record of kind \"\(kind)\" carries it")
        }
        if body.first != UInt8(ascii: "{") { note("\"record.\(kind)\" must be an object") }
    }

    /// Walks a value inside a record: collects references, and checks that money (`*_minor`) is an integer.
    private mutating func walk(_ scanner: inout JSONScanner, into references: inout [RecordRef]) throws(JSONScanner.Failure) {
        switch scanner.peek() {
        case UInt8(ascii: "{"):
            var objectType: String?, objectID: String?
            var members = try scanner.openObject()
            while let key = try scanner.nextKey(&members) {
                if key.equals("object_type") || key.equals("object_id"), scanner.peek() == UInt8(ascii: "\"") {
                    let value = try scanner.string().value
                    if key.equals("object_type") { objectType = value } else { objectID = value }
                    continue
                }
                if key.hasSuffix("_minor") {
                    _ = scanner.peek()
                    let start = scanner.index
                    switch try scanner.integer() {
                    case .some(.some): continue
                    case .some(.none):
                        if problem == nil {
                            let found = String(decoding: UnsafeRawBufferPointer(rebasing: scanner.bytes[start..<scanner.index]), as: UTF8.self)
                            let integral = !found.contains(where: { ".eE".contains($0) })
                            problem = integral ? "\(pathText(key)) does not fit in 64 bits: \(found)"
                                : "\(pathText(key)) must be an integer (money is in minor units, written without a fraction or an exponent), found \(found)"
                        }
                        continue
                    case .none:
                        if scanner.peek() == UInt8(ascii: "n") { break }  // null: an absent amount
                        if problem == nil { problem = "\(pathText(key)) must be an integer (money is in minor units), not \(Self.kind(of: scanner.peek()))" }
                    }
                }
                path.append(.key(key))
                try walk(&scanner, into: &references)
                path.removeLast()
            }
            if let objectType, let objectID { references.append(RecordRef(objectType: objectType, objectID: objectID)) }
        case UInt8(ascii: "["):
            var elements = try scanner.openArray()
            var index = 0
            while try scanner.nextElement(&elements) {
                path.append(.index(index))
                try walk(&scanner, into: &references)
                path.removeLast()
                index += 1
            }
        default:
            try scanner.skipValue()
        }
    }

    /// `"record.<member>…"` down to `last`, for a problem's message.
    private func pathText(_ last: JSONScanner.RawString) -> String {
        var text = "record"
        for step in path {
            switch step {
            case .key(let key): text += ".\(key.value)"
            case .index(let index): text += "[\(index)]"
            }
        }
        return "\"\(text).\(last.value)\""
    }

    private static func kind(of byte: UInt8?) -> String {
        switch byte {
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "{"): "an object"
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        default: "a value"
        }
    }
}
