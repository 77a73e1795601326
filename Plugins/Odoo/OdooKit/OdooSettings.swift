public import ConnectorProtocol

/// The `[connector.config]` table of an Odoo connector. Every problem names its key.
public struct OdooSettings: Sendable, Equatable {
    public var url: String
    public var database: String
    public var login: String
    /// The name of the vault secret holding the API key (`hostctl secret set <id> <name>`).
    public var apiKeySecret: String
    /// nil: detect (JSON-2 from Odoo 19 on).
    public var protocolChoice: OdooProtocol?
    public var timeoutSeconds: Int
    /// Legal entity (the event's `entity`) → Odoo company id.
    public var companies: [String: Int64]
    /// Tax rate as the source writes it ("20", "5.5") → `account.tax` id, per company id ("*" for any).
    public var taxes: [String: [String: Int64]]
    /// Company id → sales journal id (else Odoo's default).
    public var saleJournals: [String: Int64]
    /// Company id → bank journal id for payments (else Odoo's default).
    public var bankJournals: [String: Int64]

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var key: String
        public var message: String
        public var description: String { "\(key): \(message)" }
    }

    public init(_ config: JSONValue) throws(Problem) {
        func required(_ key: String) throws(Problem) -> String {
            guard let value = config[key]?.stringValue, !value.isEmpty else { throw Problem(key: key, message: "is required (a string)") }
            return value
        }
        url = try required("url")
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw Problem(key: "url", message: "\"\(url)\" is not an http:// or https:// address")
        }
        database = try required("database")
        login = try required("login")
        apiKeySecret = config["api_key_secret"]?.stringValue ?? "api_key"
        switch config["protocol"]?.stringValue ?? "auto" {
        case "auto": protocolChoice = nil
        case "jsonrpc": protocolChoice = .jsonRPC
        case "json2": protocolChoice = .json2
        case let other: throw Problem(key: "protocol", message: "\"\(other)\" is not one of auto, jsonrpc, json2")
        }
        timeoutSeconds = Int(config["timeout_s"]?.intValue ?? 30)
        guard timeoutSeconds > 0 else { throw Problem(key: "timeout_s", message: "must be a positive number of seconds") }
        companies = try Self.ids(config, "companies")
        saleJournals = try Self.ids(config, "sale_journals")
        bankJournals = try Self.ids(config, "bank_journals")
        var taxes: [String: [String: Int64]] = [:]
        for (company, table) in config["taxes"]?.objectValue ?? [:] {
            guard let rates = table.objectValue else { throw Problem(key: "taxes.\(company)", message: "must be a table of rate = tax id") }
            var mapped: [String: Int64] = [:]
            for (rate, id) in rates {
                guard let id = id.intValue, id > 0 else { throw Problem(key: "taxes.\(company).\(rate)", message: "must be an account.tax id") }
                mapped[rate] = id
            }
            taxes[company] = mapped
        }
        self.taxes = taxes
    }

    static func ids(_ config: JSONValue, _ key: String) throws(Problem) -> [String: Int64] {
        var ids: [String: Int64] = [:]
        for (name, value) in config[key]?.objectValue ?? [:] {
            guard let id = value.intValue, id > 0 else { throw Problem(key: "\(key).\(name)", message: "must be a positive Odoo id") }
            ids[name] = id
        }
        return ids
    }

    /// The Odoo company of an event's legal entity: nil when none is configured (single-company
    /// databases); an entity that is not mapped while others are is a mapping error.
    public func company(forEntity entity: String?) throws(Problem) -> Int64? {
        guard !companies.isEmpty else { return nil }
        guard let entity, let id = companies[entity] else {
            throw Problem(key: "companies", message: "no Odoo company is mapped for legal entity \(entity.map { "\"\($0)\"" } ?? "(none)")")
        }
        return id
    }

    /// Tax ids by rate for a company: its own mapping over the `*` defaults.
    public func taxes(forCompany company: Int64?) -> [String: Int64] {
        var mapped = taxes["*"] ?? [:]
        if let company { mapped.merge(taxes[String(company)] ?? [:]) { $1 } }
        return mapped
    }
}
