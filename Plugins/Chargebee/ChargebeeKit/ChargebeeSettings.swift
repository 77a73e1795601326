public import ConnectorKit
public import ConnectorProtocol

/// The `[connector.config]` table of a Chargebee connector: one instance per Chargebee site. The API
/// key lives in the vault. Every problem names its key.
public struct ChargebeeSettings: Sendable, Equatable {
    /// `https://{site}.chargebee.com/api/v2`, or `api_base` (a fake on loopback in tests).
    public var apiBase: String
    public var site: String?
    /// Vault secret holding the site's API key (HTTP Basic user, empty password).
    public var apiKeySecret: String
    /// Vault secret(s) with the webhook endpoint's Basic-auth password (the second during a roll), and its user.
    public var webhookUser: String
    public var webhookPasswords: [String]
    /// Where the first read starts, epoch seconds (Chargebee's time stamps are seconds).
    public var sinceSeconds: Int64
    /// Records per list call (1–100).
    public var pageSize: Int
    /// The lists read once, from `since` to the first poll, by `updated_at` windows, before the events
    /// feed (which covers what changes after; a site's feed may not reach back to `since`).
    public var backfill: [String]
    /// The width of one backfill window, seconds.
    public var backfillWindowSeconds: Int64
    public var timeoutSeconds: Int
    /// The most requests this connector starts in a minute (Chargebee reports no quota; plans allow 150
    /// to 3,500 a minute per site, shared with every other client of the site, so the default leaves a
    /// fifth of the smallest plan's to them). 0: unpaced.
    public var requestsPerMinute: Int

    public typealias Problem = ConfigTable.Problem

    public static let keys: Set<String> = [
        "site", "api_base", "api_key_secret", "webhook_user", "webhook_password_secret", "webhook_password_secret_next", "since", "page_size",
        "timeout_s", "log_level", "backfill", "backfill_window_days", "requests_per_minute",
    ]

    public init(_ config: JSONValue) throws(Problem) {
        let table = try ConfigTable(config, known: Self.keys, connector: "the Chargebee connector")
        site = try table.string("site")
        if let base = try table.baseURL("api_base") {
            apiBase = base
        } else if let site {
            guard !site.isEmpty, site.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                throw Problem(key: "site", message: "\"\(site)\" is not a Chargebee site name (the part before .chargebee.com)")
            }
            apiBase = "https://\(site).chargebee.com/api/v2"
        } else {
            throw Problem(key: "site", message: "is required (the part before .chargebee.com), or api_base")
        }
        apiKeySecret = try table.string("api_key_secret", default: "api_key")
        webhookUser = try table.string("webhook_user", default: "chargebee")
        webhookPasswords = [try table.string("webhook_password_secret", default: "webhook_password")]
            + (try table.string("webhook_password_secret_next").map { [$0] } ?? [])
        sinceSeconds = (try table.int("since")) ?? 0
        pageSize = try table.int("page_size", default: 100, in: 1...100, "must be between 1 and 100 (Chargebee's lists hold at most 100)")
        backfill = try table.strings("backfill", default: ChargebeeBackfill.resources)
        for (index, resource) in backfill.enumerated() where !ChargebeeBackfill.resources.contains(resource) {
            throw Problem(key: "backfill[\(index)]", message: "\"\(resource)\" is not one of \(ChargebeeBackfill.resources.joined(separator: ", "))")
        }
        backfillWindowSeconds = Int64(try table.int("backfill_window_days", default: 30, in: 1...3_660, "must be a number of days (1 to 3660)")) * 86_400
        requestsPerMinute = try table.int("requests_per_minute", default: 120, in: 0...100_000, "must be a number of requests (0: unpaced)")
        timeoutSeconds = try table.int("timeout_s", default: 30, in: 1...3_600, "must be a positive number of seconds (at most an hour)")
    }
}
