public import ConnectorKit
public import ConnectorProtocol

/// `[connector.config]` of an Airbyte source:
///
/// ```toml
/// [connector.config]
/// command = ["/var/lib/connector-host/airbyte/source-faker/bin/source-faker"]
/// streams = ["users", "purchases"]          # every stream the source offers when absent
/// [connector.config.source]                 # the source's own configuration (its `spec`)
/// count = 1000
/// [connector.config.secrets]                # members of it taken from the vault: member = secret name
/// "credentials.api_key" = "api_key"
/// [connector.config.primary_key]            # for a stream whose source names no key: field, or fields
/// customers = "id"
/// [connector.config.map.users]              # a stream as canonical records (else generic `record`s)
/// kind = "customer"
/// name = "name"
/// email = "email"
/// "address.city" = "address.city"
/// ```
public struct AirbyteSettings: Sendable, Equatable {
    /// The source's executable and any arguments before the Airbyte command (`spec`, `read`, …).
    public var command: [String]
    /// The streams read; empty: every stream `discover` lists.
    public var streams: [String]
    /// The source's configuration, without its secrets.
    public var source: JSONValue
    /// Members of the source's configuration (dotted paths) filled from vault secrets, by secret name.
    public var secrets: [String: String]
    /// Streams read as canonical records, by stream name.
    public var mappings: [String: StreamMapping]
    /// The key of a stream whose source names none (a CSV file's rows), by stream name: field paths.
    public var primaryKeys: [String: [[String]]]
    /// Most records held read but not yet taken by the host: the source waits beyond that.
    public var bufferedRecords: Int
    /// How long a read may write nothing before it is stopped as hung (and read again from the last state).
    public var idleTimeoutSeconds: Int

    public static let known: Set<String> = ["command", "streams", "source", "secrets", "map", "primary_key", "buffered_records", "idle_timeout_s"]

    public init(command: [String], streams: [String] = [], source: JSONValue = .object([:]), secrets: [String: String] = [:],
                mappings: [String: StreamMapping] = [:], primaryKeys: [String: [[String]]] = [:], bufferedRecords: Int = 20_000,
                idleTimeoutSeconds: Int = 600) {
        self.command = command
        self.streams = streams
        self.source = source
        self.secrets = secrets
        self.mappings = mappings
        self.primaryKeys = primaryKeys
        self.bufferedRecords = bufferedRecords
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    public init(_ config: JSONValue) throws(ConfigTable.Problem) {
        let table = try ConfigTable(config, known: Self.known, connector: "the Airbyte connector")
        if let single = try? table.string("command"), !single.isEmpty {
            command = [single]
        } else {
            command = try table.strings("command", default: [])
        }
        guard !command.isEmpty else {
            throw ConfigTable.Problem(key: "command", message: "is required: the Airbyte source's executable (scripts/airbyte-install prints it), as a string or an array")
        }
        streams = try table.strings("streams", default: [])
        _ = try table.table("source")
        source = config["source"] ?? .object([:])
        let secretTable = try table.table("secrets")
        var secrets: [String: String] = [:]
        for member in secretTable.keys { secrets[member] = try secretTable.required(member) }
        self.secrets = secrets
        let maps = try table.table("map")
        var mappings: [String: StreamMapping] = [:]
        for stream in maps.keys {
            mappings[stream] = try StreamMapping(try maps.table(stream))
            if !streams.isEmpty && !streams.contains(stream) {
                throw ConfigTable.Problem(key: maps.name(stream), message: "maps a stream that is not read (streams: \(streams.joined(separator: ", ")))")
            }
        }
        self.mappings = mappings
        let keys = try table.table("primary_key")
        var primaryKeys: [String: [[String]]] = [:]
        for stream in keys.keys {
            let fields = if case .string(let field)? = config["primary_key"]?[stream] { [field] } else { try keys.strings(stream, default: []) }
            guard !fields.isEmpty, !fields.contains(where: \.isEmpty) else {
                throw ConfigTable.Problem(key: keys.name(stream), message: "must name the key's field (\"id\"), or its fields ([\"order\", \"line\"])")
            }
            if !streams.isEmpty && !streams.contains(stream) {
                throw ConfigTable.Problem(key: keys.name(stream), message: "is the key of a stream that is not read (streams: \(streams.joined(separator: ", ")))")
            }
            primaryKeys[stream] = fields.map { $0.split(separator: ".").map(String.init) }
        }
        self.primaryKeys = primaryKeys
        bufferedRecords = try table.int("buffered_records", default: 20_000, in: 100...1_000_000)
        idleTimeoutSeconds = try table.int("idle_timeout_s", default: 600, in: 1...86_400)
    }
}

/// A stream's records as canonical records of one kind: each member of the record read from a field of
/// the Airbyte record (a dotted path into nested objects).
public struct StreamMapping: Sendable, Equatable {
    public var kind: String
    /// Canonical member → field path.
    public var fields: [String: String]

    /// The kinds a stream can be mapped to, and the members each takes (the first is required).
    public static let members: [String: [String]] = [
        "customer": ["name", "email", "phone", "vat", "is_company", "currency",
                     "address.line1", "address.line2", "address.city", "address.postal_code", "address.state", "address.country"],
        "contact": ["name", "first_name", "last_name", "email", "phone", "title"],
        "company": ["name", "domain", "vat", "phone", "industry", "email", "currency"],
        "product": ["name", "sku", "description", "active"],
    ]

    public init(kind: String, fields: [String: String]) {
        self.kind = kind
        self.fields = fields
    }

    init(_ table: ConfigTable) throws(ConfigTable.Problem) {
        kind = try table.choice("kind", among: ["customer", "contact", "company", "product"])
        let members = Self.members[kind] ?? []
        var fields: [String: String] = [:]
        for member in table.keys where member != "kind" {
            guard members.contains(member) else {
                let hint = Spelling.closest(to: member, in: members).map { "did you mean \($0)? " } ?? ""
                throw ConfigTable.Problem(key: table.name(member), message: "is not a member of a \(kind) (\(hint)known: \(members.joined(separator: ", ")))")
            }
            fields[member] = try table.required(member)
        }
        guard fields["name"] != nil || (kind == "contact" && fields["email"] != nil) else {
            throw ConfigTable.Problem(key: table.name("name"), message: "is required: the field that holds the \(kind)'s name")
        }
        self.fields = fields
    }
}
