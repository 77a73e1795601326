public import ConnectorKit
public import ConnectorProtocol

/// The `[connector.config]` table of a HubSpot connector: one instance per HubSpot account (portal).
/// Secrets are named, never given: the token, the client secret and the refresh token live in the vault.
/// Every problem names its key.
public struct HubSpotSettings: Sendable, Equatable {
    public enum Auth: String, Sendable, Equatable {
        /// A private app's access token (`pat-…`): it does not expire.
        case privateApp = "private_app"
        /// A public app's OAuth tokens: 30-minute access tokens refreshed with the refresh token.
        case oauth
    }

    /// `https://api.hubapi.com`, or a fake on loopback in tests.
    public var apiBase: String
    public var auth: Auth
    /// Vault secret holding the private app's token.
    public var tokenSecret: String
    /// OAuth: the app's client id (not a secret), and the vault names of its client secret and refresh token.
    public var clientID: String?
    public var clientSecretSecret: String
    public var refreshTokenSecret: String
    public var tokenURL: String
    /// Vault secret(s) holding the app's client secret, which signs webhooks (the second during a roll).
    public var webhookSecrets: [String]
    /// The scheme and host HubSpot calls (`https://hooks.example.com`, as configured in the app), with
    /// the path a reverse proxy puts before the host's own: v3 signatures cover the whole URL, whose
    /// `/hooks/<id>` path and query are the request's own.
    public var webhookPublicURL: String?
    public var webhookToleranceSeconds: Int
    /// Object types read, each a stream: `companies`, `contacts`, `deals`, and `archived` (their deletions).
    public var streams: [String]
    /// Where the first read starts: epoch milliseconds (records modified since).
    public var sinceMilliseconds: Int64
    /// Records per search page (1–200).
    public var pageSize: Int
    /// How far behind now a search reads: HubSpot's search index lags writes by a few seconds.
    public var searchLagMilliseconds: Int64
    /// How far behind its cursor a caught-up stream searches again, for records indexed late (0: never).
    public var lookbackMilliseconds: Int64
    /// Deal stages (`dealstage` values) that mean won: a deal in one becomes an order.
    public var wonStages: [String]
    /// Deal stages that mean lost.
    public var lostStages: [String]
    /// The account's currency, for amounts of deals without `deal_currency_code`.
    public var currency: CurrencyCode
    /// The company property holding a VAT number, if the account has one.
    public var vatProperty: String?
    /// Company properties the account-status sink writes (canonical member → HubSpot property).
    public var statusProperties: [String: String]
    public var timeoutSeconds: Int

    public typealias Problem = ConfigTable.Problem

    public static let objectStreams = ["companies", "contacts", "deals"]
    public static let archivedStream = "archived"

    public static let keys: Set<String> = [
        "api_base", "auth", "token_secret", "client_id", "client_secret_secret", "refresh_token_secret", "token_url", "webhook_secret",
        "webhook_secret_next", "webhook_public_url", "webhook_tolerance_s", "streams", "since", "page_size", "search_lag_ms", "lookback_ms", "won_stages",
        "lost_stages", "currency", "vat_property", "status_properties", "timeout_s", "log_level",
    ]

    public init(_ config: JSONValue) throws(Problem) {
        let table = try ConfigTable(config, known: Self.keys, connector: "the HubSpot connector")
        apiBase = try table.baseURL("api_base", default: "https://api.hubapi.com")
        auth = Auth(rawValue: try table.choice("auth", among: ["private_app", "oauth"]))!
        tokenSecret = try table.string("token_secret", default: "access_token")
        clientID = try table.string("client_id")
        if auth == .oauth, clientID?.isEmpty ?? true {
            throw Problem(key: "client_id", message: "is required with auth = \"oauth\" (the app's client id)")
        }
        clientSecretSecret = try table.string("client_secret_secret", default: "client_secret")
        refreshTokenSecret = try table.string("refresh_token_secret", default: "refresh_token")
        tokenURL = try table.string("token_url", default: apiBase + "/oauth/v1/token")
        webhookSecrets = [try table.string("webhook_secret", default: "client_secret")] + (try table.string("webhook_secret_next").map { [$0] } ?? [])
        webhookPublicURL = try table.string("webhook_public_url")
        if var url = webhookPublicURL {
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                throw Problem(key: "webhook_public_url", message: "\"\(url)\" must be the scheme and host HubSpot calls (https://hooks.example.com), with the path a proxy puts before the host's /hooks/… if any")
            }
            while url.hasSuffix("/") { url.removeLast() }
            guard !url.hasSuffix("/hooks") && !url.contains("/hooks/") else {
                throw Problem(key: "webhook_public_url", message: "\"\(url)\" must stop before /hooks/<connector id>: the request's own path and query follow it")
            }
            webhookPublicURL = url
        }
        webhookToleranceSeconds = try table.int("webhook_tolerance_s", default: 300, in: 1...86_400, "must be a positive number of seconds (at most a day)")
        streams = try table.strings("streams", default: Self.objectStreams + [Self.archivedStream])
        for (index, stream) in streams.enumerated() where !(Self.objectStreams + [Self.archivedStream]).contains(stream) {
            throw Problem(key: "streams[\(index)]", message: "\"\(stream)\" is not one of \((Self.objectStreams + [Self.archivedStream]).joined(separator: ", "))")
        }
        sinceMilliseconds = try Self.instant(table, "since", default: 0)
        pageSize = try table.int("page_size", default: 100, in: 1...200, "must be between 1 and 200 (HubSpot's search pages hold at most 200)")
        searchLagMilliseconds = Int64(try table.int("search_lag_ms", default: 5_000, in: 0...600_000, "must be between 0 and 600000 milliseconds"))
        lookbackMilliseconds = Int64(try table.int("lookback_ms", default: 60_000, in: 0...3_600_000, "must be between 0 and 3600000 milliseconds"))
        wonStages = try table.strings("won_stages", default: ["closedwon"])
        lostStages = try table.strings("lost_stages", default: ["closedlost"])
        let code = try table.required("currency")
        guard let currency = CurrencyCode(code.uppercased()) else {
            throw Problem(key: "currency", message: "\"\(code)\" is not an ISO 4217 currency code (the account's company currency, e.g. \"EUR\")")
        }
        self.currency = currency
        vatProperty = try table.string("vat_property")
        statusProperties = try table.fieldNames("status_properties", members: AccountStatus.fieldMembers, what: "an account status")
        timeoutSeconds = try table.int("timeout_s", default: 30, in: 1...3_600, "must be a positive number of seconds (at most an hour)")
    }

    /// An instant given as epoch milliseconds or as an RFC 3339 date or date-time.
    static func instant(_ table: ConfigTable, _ key: String, default fallback: Int64) throws(Problem) -> Int64 {
        if let number = try? table.int(key) { return number }
        guard let text = try table.string(key) else { return fallback }
        guard let milliseconds = HubSpotTime.milliseconds(text.count == 10 ? text + "T00:00:00Z" : text) else {
            throw Problem(key: table.name(key), message: "\"\(text)\" is not a date (YYYY-MM-DD), an RFC 3339 time or epoch milliseconds")
        }
        return milliseconds
    }
}
