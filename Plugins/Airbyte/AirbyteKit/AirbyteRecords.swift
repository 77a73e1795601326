public import ConnectorProtocol
import Crypto
import Foundation

/// A record as the host takes it: an event, or a reject saying why it cannot be one.
public enum AirbyteRecordOutcome: Sendable, Equatable {
    case event(Event)
    case reject(SourceReject)

    public var event: Event? { if case .event(let event) = self { event } else { nil } }
    public var reject: SourceReject? { if case .reject(let reject) = self { reject } else { nil } }
}

/// What the host needs of a stream of the source's catalog: how its records are told apart and ordered.
public struct AirbyteStream: Sendable, Equatable {
    public var name: String
    public var namespace: String?
    /// Paths of the fields that identify a record (several: a composite key); empty: none.
    public var primaryKey: [[String]]
    /// The path of the field that grows with each change (`updated_at`); empty: none.
    public var cursorField: [String]
    /// Whether the source reads it incrementally (from the state) or whole every time.
    public var incremental: Bool

    public init(name: String, namespace: String? = nil, primaryKey: [[String]], cursorField: [String], incremental: Bool) {
        self.name = name
        self.namespace = namespace
        self.primaryKey = primaryKey
        self.cursorField = cursorField
        self.incremental = incremental
    }

    /// How it is read, for an operator: `users (incremental by updated_at, key id)`.
    public var summary: String {
        let mode = incremental ? "incremental by \(cursorField.joined(separator: "."))" : "whole each read"
        let key = primaryKey.isEmpty ? "no key: a record is its fields' digest" : "key " + primaryKey.map { $0.joined(separator: ".") }.joined(separator: "+")
        return "\(name) (\(mode), \(key))"
    }
}

/// Airbyte records as the host's events. Pure: the connector reads the source, this maps.
///
/// A record's identity is its stream and primary key (the object), its version the value of its cursor
/// field (`updated_at`) and a digest of its fields; the idempotency key is made of these,
/// so a record read twice (a part of a chunk read again after a crash, an unchanged record of a full
/// refresh) is stored once.
public struct AirbyteRecords: Sendable {
    public let connector: ConnectorInfo
    public let streams: [String: AirbyteStream]
    public let mappings: [String: StreamMapping]

    public init(connector: ConnectorInfo, streams: [AirbyteStream], mappings: [String: StreamMapping]) {
        self.connector = connector
        self.streams = Dictionary(streams.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.mappings = mappings
    }

    /// The event of a record, or the reject that says why there is none.
    public func event(stream name: String, data: [String: JSONValue], emittedAt: Int64) -> AirbyteRecordOutcome {
        let stream = streams[name] ?? AirbyteStream(name: name, primaryKey: [], cursorField: [], incremental: false)
        let record = JSONValue.object(data)
        var keyParts: [String] = []
        for path in stream.primaryKey {
            guard let value = Self.value(at: path, in: record).flatMap(Self.text) else {
                return .reject(SourceReject(problem: "a record of stream \(name) has no primary key field \(path.joined(separator: "."))",
                                            source: nil, record: record))
            }
            keyParts.append(value)
        }
        let digest = Self.digest(record)
        let objectID = keyParts.isEmpty ? digest : keyParts.joined(separator: "|")
        let cursorValue = stream.cursorField.isEmpty ? nil : Self.value(at: stream.cursorField, in: record).flatMap(Self.text)
        // Two changes within one tick of the cursor field are two versions still: the digest tells them apart.
        let version = cursorValue.map { "\($0)#\(digest)" } ?? digest
        let source = SourceRef(objectType: name, objectID: objectID, version: version)
        let occurredAt = cursorValue.flatMap(Self.timestamp) ?? Self.timestamp(milliseconds: emittedAt)
        let canonical: Record
        if let mapping = mappings[name] {
            switch mapping.record(from: record) {
            case .success(let mapped): canonical = mapped
            case .failure(let problem):
                return .reject(SourceReject(problem: "a record of stream \(name) as a \(mapping.kind): \(problem)", source: source, record: record))
            }
        } else {
            var generic: [String: JSONValue] = ["stream": .string(name), "primary_key": .array(keyParts.map(JSONValue.string)), "data": record]
            if let namespace = stream.namespace { generic["namespace"] = .string(namespace) }
            canonical = .other(kind: "record", value: .object(generic))
        }
        return .event(Event(
            type: "\(canonical.kind).upserted", source: source, tenant: connector.tenant, entity: connector.entity,
            correlationID: "\(connector.id):\(name):\(objectID):\(version)", occurredAt: occurredAt,
            orderingKey: "\(name):\(objectID)", record: canonical))
    }

    static func value(at path: [String], in json: JSONValue) -> JSONValue? {
        var current: JSONValue? = json
        for member in path { current = current?[member] }
        return current == .null ? nil : current
    }

    /// A key or cursor value as text: strings as they are, numbers in digits, true/false.
    static func text(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text.isEmpty ? nil : text
        case .int(let number): String(number)
        case .double(let number): number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): String(flag)
        case .null, .array, .object: nil
        }
    }

    /// 16 hex digits of the SHA-256 of the record's fields (keys sorted): the same fields, the same digest.
    static func digest(_ record: JSONValue) -> String {
        // A record read from JSON holds no number JSON cannot (the decoder refuses them).
        Hex.encode(SHA256.hash(data: (try? record.canonicalJSON()) ?? Data()).prefix(8))
    }

    /// A cursor value that is a date and time (RFC 3339, or ISO 8601 without a zone: UTC), as RFC 3339.
    static func timestamp(_ text: String) -> String? {
        guard text.count >= 19, text.utf8.dropFirst(4).first == UInt8(ascii: "-") else { return nil }
        if (try? Date(text, strategy: .iso8601)) != nil { return text }
        let trimmed = text.prefix(19)
        guard let date = try? Date("\(trimmed)Z", strategy: .iso8601) else { return nil }
        return date.formatted(.iso8601)
    }

    static func timestamp(milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(.iso8601)
    }
}

extension StreamMapping {
    /// The canonical record of an Airbyte record, or what is missing.
    func record(from json: JSONValue) -> Result<Record, MappingProblem> {
        func field(_ member: String) -> String? {
            fields[member].flatMap { AirbyteRecords.value(at: $0.split(separator: ".").map(String.init), in: json) }.flatMap(AirbyteRecords.text)
        }
        func required(_ member: String) -> Result<String, MappingProblem> {
            guard let path = fields[member] else { return .failure(MappingProblem("no field is mapped to its \(member)")) }
            return field(member).map { .success($0) } ?? .failure(MappingProblem("its \(member) field \(path) is missing or empty"))
        }
        func currency() -> CurrencyCode? { field("currency").flatMap { CurrencyCode($0.uppercased()) } }
        func flag(_ member: String, default fallback: Bool) -> Bool { field(member).map { $0 == "true" || $0 == "1" } ?? fallback }
        switch kind {
        case "customer":
            return required("name").map { name in
                let address = Address(line1: field("address.line1"), line2: field("address.line2"), city: field("address.city"),
                                      postalCode: field("address.postal_code"), state: field("address.state"), country: field("address.country"))
                let hasAddress = [address.line1, address.line2, address.city, address.postalCode, address.state, address.country].contains { $0 != nil }
                return .customer(Customer(name: name, email: field("email"), phone: field("phone"), isCompany: flag("is_company", default: false),
                                          vat: field("vat"), address: hasAddress ? address : nil, currency: currency()))
            }
        case "contact":
            let email = field("email")
            let name = field("name") ?? [field("first_name"), field("last_name")].compactMap { $0 }.joined(separator: " ")
            guard let display = name.isEmpty ? email : name else { return .failure(MappingProblem("it has neither a name nor an email")) }
            return .success(.contact(Contact(name: display, firstName: field("first_name"), lastName: field("last_name"), email: email,
                                             phone: field("phone"), title: field("title"))))
        case "company":
            return required("name").map { name in
                .company(Company(name: name, domain: field("domain"), vat: field("vat"), phone: field("phone"), industry: field("industry"),
                                 currency: currency(), email: field("email")))
            }
        default:
            return required("name").map { name in
                .product(Product(name: name, sku: field("sku"), description: field("description"), active: flag("active", default: true)))
            }
        }
    }
}

/// Why a record cannot be the canonical record its stream is mapped to.
public struct MappingProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
