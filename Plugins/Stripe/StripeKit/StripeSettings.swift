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

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var key: String
        public var message: String
        public var description: String { "\(key): \(message)" }
    }

    public static let keys: Set<String> = [
        "api_base", "api_key_secret", "stripe_version", "webhook_secret", "webhook_secret_next", "webhook_tolerance_s",
        "backfill_days", "page_size", "list_order", "timeout_s", "log_level",
    ]

    /// The API version this connector's mapping was written against.
    public static let defaultVersion = "2024-06-20"

    public init(_ config: JSONValue) throws(Problem) {
        for key in (config.objectValue ?? [:]).keys.sorted() where !Self.keys.contains(key) {
            throw Problem(key: key, message: "is not a setting of the Stripe connector (known: \(Self.keys.sorted().joined(separator: ", ")))")
        }
        apiBase = config["api_base"]?.stringValue ?? "https://api.stripe.com"
        if apiBase.hasSuffix("/") { apiBase.removeLast() }
        guard apiBase.hasPrefix("https://") || apiBase.hasPrefix("http://127.0.0.1") || apiBase.hasPrefix("http://localhost") else {
            throw Problem(key: "api_base", message: "\"\(apiBase)\" must be https:// (plain http only on loopback, for fakes)")
        }
        apiKeySecret = config["api_key_secret"]?.stringValue ?? "api_key"
        stripeVersion = config["stripe_version"]?.stringValue ?? Self.defaultVersion
        webhookSecrets = [config["webhook_secret"]?.stringValue ?? "webhook_secret"] + (config["webhook_secret_next"]?.stringValue.map { [$0] } ?? [])
        webhookToleranceSeconds = Int(config["webhook_tolerance_s"]?.intValue ?? 300)
        guard webhookToleranceSeconds > 0 else { throw Problem(key: "webhook_tolerance_s", message: "must be a positive number of seconds") }
        backfillDays = Int(config["backfill_days"]?.intValue ?? 30)
        guard (0...30).contains(backfillDays) else { throw Problem(key: "backfill_days", message: "must be between 0 and 30 (Stripe keeps events 30 days)") }
        pageSize = Int(config["page_size"]?.intValue ?? 100)
        guard (1...100).contains(pageSize) else { throw Problem(key: "page_size", message: "must be between 1 and 100") }
        switch config["list_order"]?.stringValue ?? "auto" {
        case "auto": listOrder = nil
        case let text:
            guard let order = ListOrder(rawValue: text) else { throw Problem(key: "list_order", message: "\"\(text)\" is not one of auto, newest_first, oldest_first") }
            listOrder = order
        }
        timeoutSeconds = Int(config["timeout_s"]?.intValue ?? 30)
        guard timeoutSeconds > 0 else { throw Problem(key: "timeout_s", message: "must be a positive number of seconds") }
    }
}
