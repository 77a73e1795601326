public import ConnectorKit
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
    /// What a canonical order becomes: a quotation the sales team confirms (`quotation`), or a
    /// confirmed sale order (`confirm`). Never an invoice: invoicing stays Odoo's.
    public var orders: OrderHandling
    /// The product lines without a product of their own are sold as (a catalogue id), if any.
    public var defaultOrderProduct: Int64?
    /// Whether the `account_status` stream reads customers' statuses (off: it reads nothing).
    public var accountStatus: Bool
    /// How a customer no partner carries the reference of yet is matched to an existing partner, in
    /// order (`vat`, `email`): the same customer known to two sources (a Stripe account and a
    /// Chargebee site after an acquisition) is one partner. Empty: every source customer is a partner
    /// of its own.
    public var partnerMatch: [PartnerKey]

    public enum PartnerKey: String, Sendable, Equatable, CaseIterable {
        case vat, email
    }

    public enum OrderHandling: String, Sendable, Equatable {
        case quotation, confirm
    }

    public typealias Problem = ConfigTable.Problem

    /// Every key of the table: a misspelt key is an error, not a silently ignored setting.
    public static let keys: Set<String> = [
        "url", "database", "login", "api_key_secret", "protocol", "timeout_s", "companies", "taxes", "sale_journals",
        "bank_journals", "fee_accounts", "dispute_accounts", "max_concurrency", "total_tolerance_minor", "source_since", "source_overlap_s", "log_level",
        "orders", "default_order_product", "account_status", "partner_match",
    ]

    public init(_ config: JSONValue) throws(Problem) {
        let table = try ConfigTable(config, known: Self.keys, connector: "the Odoo connector")
        url = try table.required("url")
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw Problem(key: "url", message: "\"\(url)\" is not an http:// or https:// address")
        }
        database = try table.required("database")
        login = try table.required("login")
        apiKeySecret = try table.string("api_key_secret", default: "api_key")
        protocolChoice = OdooProtocol(rawValue: try table.choice("protocol", among: ["auto", "jsonrpc", "json2"]))
        timeoutSeconds = try table.int("timeout_s", default: 30, in: 1...3_600, "must be a positive number of seconds (at most an hour)")
        companies = try table.ids("companies")
        saleJournals = try table.ids("sale_journals")
        var journals: [String: [String: Int64]] = [:]
        let bank = try table.table("bank_journals")
        for company in bank.keys {
            if let id = try? bank.int(company) {
                guard id > 0 else { throw Problem(key: bank.name(company), message: "must be a positive Odoo id") }
                journals[company] = ["*": id]
                continue
            }
            guard (try? bank.table(company)) != nil else {
                throw Problem(key: bank.name(company), message: "must be a journal id, or a table of currency = journal id")
            }
            let byCurrency = try bank.ids(company)
            for currency in byCurrency.keys where currency != "*" && CurrencyCode(currency) == nil {
                throw Problem(key: "\(bank.name(company)).\(currency)", message: "is not an ISO 4217 currency code (e.g. EUR) or \"*\"")
            }
            journals[company] = byCurrency
        }
        bankJournals = journals
        feeAccounts = try table.ids("fee_accounts")
        disputeAccounts = try table.ids("dispute_accounts")
        maxConcurrency = try table.int("max_concurrency", default: 4, in: 1...64)
        totalToleranceMinor = Int64(try table.int("total_tolerance_minor", default: 0, in: 0...Int.max, "must not be negative"))
        sourceSince = try table.string("source_since")
        if let since = sourceSince, OdooCursor.parse(odooDateTime: since) == nil {
            throw Problem(key: "source_since", message: "\"\(since)\" is not a date and time as YYYY-MM-DD HH:MM:SS (UTC)")
        }
        sourceOverlapSeconds = try table.int("source_overlap_s", default: 120, in: 0...3_600)
        orders = OrderHandling(rawValue: try table.choice("orders", among: ["quotation", "confirm"]))!
        defaultOrderProduct = try table.int("default_order_product")
        accountStatus = try table.bool("account_status", default: false)
        partnerMatch = try table.strings("partner_match", default: ["vat", "email"]).enumerated().map { index, key throws(Problem) in
            guard let match = PartnerKey(rawValue: key) else {
                throw Problem(key: "partner_match[\(index)]", message: "\"\(key)\" is not one of vat, email")
            }
            return match
        }
        if let product = defaultOrderProduct, product <= 0 {
            throw Problem(key: "default_order_product", message: "must be a positive Odoo id (a product.product)")
        }
        var taxes: [String: [String: Int64]] = [:]
        let byCompany = try table.table("taxes")
        for company in byCompany.keys {
            guard (try? byCompany.table(company)) != nil else { throw Problem(key: byCompany.name(company), message: "must be a table of rate = tax id") }
            taxes[company] = try byCompany.ids(company, what: "an account.tax id")
        }
        self.taxes = taxes
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
