public import ConnectorKit
public import ConnectorProtocol

/// The `[connector.config]` table of a Stripe connector: one instance per Stripe account. Every
/// problem names its key.
public struct StripeSettings: Sendable, Equatable {
    /// `https://api.stripe.com`, or a fake on loopback in tests.
    public var apiBase: String
    /// The vault secret holding the account's secret key (`sk_…` or a restricted `rk_…`).
    public var apiKeySecret: String
    /// The API version every request pins (`Stripe-Version`), so that the account's default
    /// version changing in the dashboard never changes the shapes this connector reads.
    public var stripeVersion: String
    /// Vault secrets holding the webhook endpoint's signing secret(s) (`whsec_…`); the second during a roll.
    public var webhookSecrets: [String]
    public var webhookToleranceSeconds: Int
    /// How many days of past events the first poll reads (Stripe keeps 30).
    public var backfillDays: Int
    /// Events per page (1–100).
    public var pageSize: Int
    /// How Stripe lists events: `auto` finds out (real Stripe: newest first; localstripe: oldest first).
    public var listOrder: ListOrder?
    public var timeoutSeconds: Int

    public enum ListOrder: String, Sendable, Codable {
        case newestFirst = "newest_first"
        case oldestFirst = "oldest_first"
    }

    public typealias Problem = ConfigTable.Problem

    public static let keys: Set<String> = [
        "api_base", "api_key_secret", "stripe_version", "webhook_secret", "webhook_secret_next", "webhook_tolerance_s",
        "backfill_days", "page_size", "list_order", "timeout_s", "log_level",
    ]

    /// The API version this connector's mapping was written against.
    public static let defaultVersion = "2024-06-20"

    public init(_ config: JSONValue) throws(Problem) {
        let table = try ConfigTable(config, known: Self.keys, connector: "the Stripe connector")
        apiBase = try table.baseURL("api_base", default: "https://api.stripe.com")
        apiKeySecret = try table.string("api_key_secret", default: "api_key")
        stripeVersion = try table.string("stripe_version", default: Self.defaultVersion)
        webhookSecrets = [try table.string("webhook_secret", default: "webhook_secret")] + (try table.string("webhook_secret_next").map { [$0] } ?? [])
        webhookToleranceSeconds = try table.int("webhook_tolerance_s", default: 300, in: 1...86_400, "must be a positive number of seconds (at most a day)")
        backfillDays = try table.int("backfill_days", default: 30, in: 0...30, "must be between 0 and 30 (Stripe keeps events 30 days)")
        pageSize = try table.int("page_size", default: 100, in: 1...100)
        listOrder = ListOrder(rawValue: try table.choice("list_order", among: ["auto", "newest_first", "oldest_first"]))
        timeoutSeconds = try table.int("timeout_s", default: 30, in: 1...3_600, "must be a positive number of seconds (at most an hour)")
    }
}
