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
    /// Company id (or `"*"`) → sales journal id (else Odoo's default).
    public var saleJournals: [String: Int64]
    /// Company id (or `"*"`) → currency code (or `"*"`) → bank journal id where payments are booked:
    /// the processor's clearing journal of the currency its balance holds the money in (Stripe keeps a
    /// balance per currency). Written `{ "1" = 7 }` for any currency or `{ "1" = { USD = 7, EUR = 9 } }`.
    /// Unset: Odoo's default bank journal.
    public var bankJournals: [String: [String: Int64]]
    /// Company id (or `"*"`) → `account.account` id where processor fees are booked (an expense), as a
    /// journal entry of their own against the account the payment landed on. A fee with none set is a
    /// dead letter saying so (the payment itself is booked).
    public var feeAccounts: [String: Int64]
    /// Company id (or `"*"`) → `account.account` id where disputed money is booked while the processor
    /// holds it back (and where it stays if the dispute is lost: a chargeback expense, or a receivable
    /// finance clears). A dispute with none set is a dead letter saying so.
    public var disputeAccounts: [String: Int64]
    /// Most Odoo calls in flight at once (Odoo's workers are few; each delivery is 2–4 calls).
    public var maxConcurrency: Int
    /// How far (minor units) Odoo's computed invoice total may differ from the source's before the
    /// invoice is left in draft and the delivery dead-lettered. 0: exactly equal.
    public var totalToleranceMinor: Int64
    /// Where the source streams start on their first poll (`YYYY-MM-DD HH:MM:SS`, UTC). Unset: the
    /// time of the first poll, i.e. changes from then on.
    public var sourceSince: String?
    /// How far back (seconds) a caught-up source stream reads again for records committed late: Odoo
    /// stamps `write_date` with the start of the transaction, so a slow write (a payment) becomes
    /// visible after faster ones stamped later have moved the cursor past it. 0: never.
    public var sourceOverlapSeconds: Int

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var key: String
        public var message: String
        public var description: String { "\(key): \(message)" }
    }

    /// Every key of the table: a misspelt key is an error, not a silently ignored setting.
    public static let keys: Set<String> = [
        "url", "database", "login", "api_key_secret", "protocol", "timeout_s", "companies", "taxes", "sale_journals",
        "bank_journals", "fee_accounts", "dispute_accounts", "max_concurrency", "total_tolerance_minor", "source_since", "source_overlap_s", "log_level",
    ]

    public init(_ config: JSONValue) throws(Problem) {
        for key in (config.objectValue ?? [:]).keys.sorted() where !Self.keys.contains(key) {
            throw Problem(key: key, message: "is not a setting of the Odoo connector (known: \(Self.keys.sorted().joined(separator: ", ")))")
        }
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
        var journals: [String: [String: Int64]] = [:]
        for (company, value) in config["bank_journals"]?.objectValue ?? [:] {
            if let id = value.intValue {
                guard id > 0 else { throw Problem(key: "bank_journals.\(company)", message: "must be a positive Odoo id") }
                journals[company] = ["*": id]
                continue
            }
            guard value.objectValue != nil else {
                throw Problem(key: "bank_journals.\(company)", message: "must be a journal id, or a table of currency = journal id")
            }
            let byCurrency = try Self.ids(value, "", prefix: "bank_journals.\(company)")
            for currency in byCurrency.keys where currency != "*" && CurrencyCode(currency) == nil {
                throw Problem(key: "bank_journals.\(company).\(currency)", message: "is not an ISO 4217 currency code (e.g. EUR) or \"*\"")
            }
            journals[company] = byCurrency
        }
        bankJournals = journals
        feeAccounts = try Self.ids(config, "fee_accounts")
        disputeAccounts = try Self.ids(config, "dispute_accounts")
        maxConcurrency = Int(config["max_concurrency"]?.intValue ?? 4)
        guard (1...64).contains(maxConcurrency) else { throw Problem(key: "max_concurrency", message: "must be between 1 and 64") }
        totalToleranceMinor = config["total_tolerance_minor"]?.intValue ?? 0
        guard totalToleranceMinor >= 0 else { throw Problem(key: "total_tolerance_minor", message: "must not be negative") }
        sourceSince = config["source_since"]?.stringValue
        if let since = sourceSince, OdooCursor.parse(odooDateTime: since) == nil {
            throw Problem(key: "source_since", message: "\"\(since)\" is not a date and time as YYYY-MM-DD HH:MM:SS (UTC)")
        }
        sourceOverlapSeconds = Int(config["source_overlap_s"]?.intValue ?? 120)
        guard (0...3_600).contains(sourceOverlapSeconds) else { throw Problem(key: "source_overlap_s", message: "must be between 0 and 3600") }
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

    /// A table of name = Odoo id (`config[key]`, or `config` itself when `key` is empty).
    static func ids(_ config: JSONValue, _ key: String, prefix: String? = nil) throws(Problem) -> [String: Int64] {
        var ids: [String: Int64] = [:]
        for (name, value) in (key.isEmpty ? config : config[key])?.objectValue ?? [:] {
            guard let id = value.intValue, id > 0 else { throw Problem(key: "\(prefix ?? key).\(name)", message: "must be a positive Odoo id") }
            ids[name] = id
        }
        return ids
    }

    /// The bank journal for money in `currency` of a company: its own table over the `*` one, the
    /// currency's entry over the `*` entry.
    public func bankJournal(company: Int64?, currency: CurrencyCode) -> Int64? {
        for table in [company.flatMap { bankJournals[String($0)] }, bankJournals["*"]].compactMap({ $0 }) {
            if let id = table[currency.code] ?? table["*"] { return id }
        }
        return nil
    }

    /// Whether a company has a journal of its own for money in `currency` (not only an any-currency one).
    public func hasBankJournal(company: Int64?, exactly currency: CurrencyCode) -> Bool {
        [company.flatMap { bankJournals[String($0)] }, bankJournals["*"]].contains { $0?[currency.code] != nil }
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

    /// A per-company setting (keyed by company id, `"*"` for every company).
    public static func lookup(_ table: [String: Int64], company: Int64?) -> Int64? {
        company.flatMap { table[String($0)] } ?? table["*"]
    }

    /// The legal entity of an Odoo company, for events the source emits.
    public func entity(forCompany company: Int64?) -> String? {
        guard let company else { return nil }
        return companies.first { $0.value == company }?.key
    }

    /// Tax ids by rate for a company: its own mapping over the `*` defaults.
    public func taxes(forCompany company: Int64?) -> [String: Int64] {
        var mapped = taxes["*"] ?? [:]
        if let company { mapped.merge(taxes[String(company)] ?? [:]) { $1 } }
        return mapped
    }
}
