public import ConnectorKit
public import ConnectorProtocol

/// The `[connector.config]` table of a Salesforce connector: one instance per org. Secrets are named,
/// never given: the connected app's private key (JWT-bearer) or its client secret and refresh token
/// live in the vault. Every problem names its key.
public struct SalesforceSettings: Sendable, Equatable {
    public enum Auth: String, Sendable, Equatable {
        /// OAuth 2.0 JWT-bearer: an assertion signed with the connected app's private key, for `username`.
        case jwt
        /// OAuth 2.0 refresh token of a user who authorised the connected app.
        case refreshToken = "refresh_token"
    }

    /// `https://login.salesforce.com`, `https://test.salesforce.com`, a My Domain URL, or a fake on loopback.
    public var loginURL: String
    public var auth: Auth
    /// The connected app's consumer key.
    public var clientID: String
    /// JWT-bearer: the user the connector acts as, and the audience (the login host, not My Domain).
    public var username: String?
    public var audience: String
    public var privateKeySecret: String
    public var clientSecretSecret: String
    public var refreshTokenSecret: String
    /// `59.0`: the REST API version every path names.
    public var apiVersion: String
    /// Object streams read: `accounts`, `contacts`, `opportunities`, `products`.
    public var streams: [String]
    /// Where the first read starts (RFC 3339); nil: the org's whole history.
    public var since: String?
    /// Records per REST query page (`batchSize`, 200–2000) and per Bulk results page.
    public var pageSize: Int
    /// How far behind its cursor a caught-up stream reads again, for records committed late.
    public var lookbackSeconds: Int
    /// How long a caught-up stream waits before it asks Salesforce again (its polls in between cost nothing).
    public var idleIntervalSeconds: Int
    /// Whether a stream's first read of the history goes through a Bulk API 2.0 query job.
    public var bulkBackfill: Bool
    /// What a won opportunity's order is: a quotation (finance validates it in Odoo) or a confirmed
    /// order (confirmed in Odoo when its connector has `orders = "confirm"`).
    public var orderStatus: Order.Status
    /// The org's corporate currency: amounts of records without `CurrencyIsoCode`.
    public var currency: CurrencyCode
    /// Whether the org has multiple currencies (records carry `CurrencyIsoCode`).
    public var multiCurrency: Bool
    /// The Account field holding a VAT number, if the org has one.
    public var vatField: String?
    /// Account fields the account-status sink writes (canonical member → Account field).
    public var statusFields: [String: String]
    /// An Account external-id field holding the id of the customer in the books (the Odoo partner id):
    /// statuses of customers without a way back to an Account are upserted by it.
    public var statusKeyField: String?
    /// The share of the org's daily API requests kept for its other clients, in percent.
    public var apiReservePercent: Int
    /// How long reads and writes wait after the org's daily API requests ran out.
    public var limitBackoffSeconds: Int
    public var timeoutSeconds: Int

    public typealias Problem = ConfigTable.Problem

    public static let objectStreams = ["accounts", "contacts", "opportunities", "products"]

    public static let keys: Set<String> = [
        "login_url", "auth", "client_id", "username", "audience", "private_key_secret", "client_secret_secret", "refresh_token_secret",
        "api_version", "streams", "since", "order_status", "page_size", "lookback_s", "idle_interval_s", "bulk_backfill", "currency", "multi_currency", "vat_field",
        "status_fields", "status_key_field", "api_reserve_percent", "limit_backoff_s", "timeout_s", "log_level",
    ]

    public init(_ config: JSONValue) throws(Problem) {
        let table = try ConfigTable(config, known: Self.keys, connector: "the Salesforce connector")
        loginURL = try table.baseURL("login_url", default: "https://login.salesforce.com")
        auth = Auth(rawValue: try table.choice("auth", among: ["jwt", "refresh_token"]))!
        clientID = try table.required("client_id")
        username = try table.string("username")
        if auth == .jwt, username?.isEmpty ?? true {
            throw Problem(key: "username", message: "is required with auth = \"jwt\" (the Salesforce user the connector acts as)")
        }
        audience = try table.string("audience", default: loginURL.contains("test.salesforce.com") ? "https://test.salesforce.com" : "https://login.salesforce.com")
        privateKeySecret = try table.string("private_key_secret", default: "private_key")
        clientSecretSecret = try table.string("client_secret_secret", default: "client_secret")
        refreshTokenSecret = try table.string("refresh_token_secret", default: "refresh_token")
        apiVersion = try table.string("api_version", default: "59.0")
        guard let major = apiVersion.split(separator: ".").first.flatMap({ Int($0) }), apiVersion.hasSuffix(".0"), major >= 46 else {
            throw Problem(key: "api_version", message: "\"\(apiVersion)\" must be a REST API version like \"59.0\" (46.0 or later: upsert results need it)")
        }
        streams = try table.strings("streams", default: Self.objectStreams)
        for (index, stream) in streams.enumerated() where !Self.objectStreams.contains(stream) {
            let hint = Spelling.closest(to: stream, in: Self.objectStreams).map { " (did you mean \($0)?)" } ?? ""
            throw Problem(key: "streams[\(index)]", message: "\"\(stream)\" is not one of \(Self.objectStreams.joined(separator: ", "))\(hint)")
        }
        since = try table.string("since").map { text throws(Problem) in
            let full = text.count == 10 ? text + "T00:00:00Z" : text
            guard let seconds = SalesforceTime.seconds(full) else {
                throw Problem(key: "since", message: "\"\(text)\" is not a date (YYYY-MM-DD) or an RFC 3339 time")
            }
            return SalesforceTime.soql(seconds)
        }
        orderStatus = try table.choice("order_status", among: ["quotation", "confirmed"]) == "confirmed" ? .confirmed : .quotation
        pageSize = try table.int("page_size", default: 2_000, in: 200...2_000, "must be between 200 and 2000 (Salesforce's query batch sizes)")
        lookbackSeconds = try table.int("lookback_s", default: 600, in: 0...86_400, "must be between 0 and 86400 seconds")
        idleIntervalSeconds = try table.int("idle_interval_s", default: 60, in: 0...86_400, "must be between 0 and 86400 seconds")
        bulkBackfill = try table.bool("bulk_backfill", default: true)
        let code = try table.required("currency")
        guard let currency = CurrencyCode(code.uppercased()) else {
            throw Problem(key: "currency", message: "\"\(code)\" is not an ISO 4217 currency code (the org's corporate currency, e.g. \"USD\")")
        }
        self.currency = currency
        multiCurrency = try table.bool("multi_currency", default: false)
        vatField = try table.string("vat_field")
        statusFields = try table.fieldNames("status_fields", members: AccountStatus.fieldMembers, what: "an account status")
        statusKeyField = try table.string("status_key_field")
        if let field = statusKeyField, !field.hasSuffix("__c") {
            throw Problem(key: "status_key_field", message: "\"\(field)\" must be a custom External ID field of Account (its name ends in __c)")
        }
        apiReservePercent = try table.int("api_reserve_percent", default: 10, in: 0...90, "must be between 0 and 90 percent")
        limitBackoffSeconds = try table.int("limit_backoff_s", default: 300, in: 1...3_600, "must be between 1 and 3600 seconds")
        timeoutSeconds = try table.int("timeout_s", default: 60, in: 1...3_600, "must be a positive number of seconds (at most an hour)")
    }

    /// What the org's Account description (`GET /sobjects/Account/describe`) says is wrong with the
    /// fields the status sink writes: a field that does not exist (or the user cannot see), one it cannot
    /// update, a key field that is not an External ID. Empty: nothing.
    public func statusFieldProblems(accountDescription: JSONValue) -> [String] {
        var fields: [String: JSONValue] = [:]
        for field in accountDescription["fields"]?.arrayValue ?? [] {
            if let name = field["name"]?.stringValue { fields[name.lowercased()] = field }
        }
        var problems: [String] = []
        for (member, name) in statusFields.sorted(by: { $0.key < $1.key }) {
            guard let field = fields[name.lowercased()] else {
                problems.append("status_fields.\(member): Account has no field \(name) (or the integration user cannot see it)")
                continue
            }
            if field["updateable"]?.boolValue == false { problems.append("status_fields.\(member): Account.\(name) cannot be updated by the integration user") }
        }
        if let key = statusKeyField {
            if let field = fields[key.lowercased()] {
                if field["externalId"]?.boolValue != true { problems.append("status_key_field: Account.\(key) is not an External ID field") }
            } else {
                problems.append("status_key_field: Account has no field \(key) (or the integration user cannot see it)")
            }
        }
        return problems
    }

    /// `https://…/services/oauth2/token` on the login host.
    public var tokenURL: String { loginURL + "/services/oauth2/token" }
}
