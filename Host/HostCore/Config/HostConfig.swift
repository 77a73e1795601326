public import ConnectorProtocol
import Foundation

/// The daemon's configuration: `host.toml` plus every `connectors.d/*.toml` beside it.
public struct HostConfig: Sendable, Equatable {
    public var stateDirectory: String
    public var runtimeDirectory: String
    public var pluginDirectories: [String]
    public var adminSocket: String
    public var logLevel: String
    /// `log_target`: "journal", "stderr" (JSON lines), or "auto": the journal when stderr is the
    /// journal stream systemd connected (`JOURNAL_STREAM`), stderr otherwise.
    public var logTarget: String = "auto"
    public var supervisor: SupervisorSettings
    public var connectors: [ConnectorConfig]
    public var routes: [RouteConfig]
    /// The vault's master key file, used unless systemd provides the `vault-master-key` credential.
    public var vaultKeyFile: String = ""
    /// The HTTP listener for webhooks, `/healthz` and `/metrics`; nil: none.
    public var http: HTTPSettings?
    /// `[[reconcile]]` tables: a source compared with a target, on a schedule or on demand.
    public var reconciles: [ReconcileConfig] = []
    /// `[store]`: where the daemon keeps its state.
    public var store: StoreSettings = .sqlite

    public static let defaultPath = "/etc/connector-host/host.toml"
    public static let defaultStateDirectory = "/var/lib/connector-host"
    public static let defaultRuntimeDirectory = "/run/connector-host"
    public static let defaultPluginDirectories = ["/usr/lib/connector-host/plugins", "/usr/local/lib/connector-host/plugins"]
}

/// One `[[connector]]` table: a plugin instance.
public struct ConnectorConfig: Sendable, Equatable {
    public var id: String
    public var plugin: String
    public var tenant: String?
    public var entity: String?
    /// Expected sha256 of the plugin binary, lowercase hex; the host refuses to start a binary that differs.
    public var sha256: String?
    /// The `[connector.config]` table, handed to the plugin in `initialize`.
    public var config: JSONValue
    /// The executable found for `plugin` in the plugin directories.
    public var executable: String
    /// Where the table was defined, for messages.
    public var origin: String
    /// How often a source is polled when it has nothing more to give.
    public var pollIntervalMilliseconds: Int
    /// Most events asked for in one `source.poll`.
    public var pollBatch: Int
}

/// One `[[route]]` table: events from one connector, delivered to another.
public struct RouteConfig: Sendable, Equatable {
    public var id: String
    public var from: String
    public var to: String
    /// Event-type patterns: `invoice.finalized`, `invoice.*`, `*`.
    public var events: [String]
    public var tenant: String?
    public var entity: String?
    public var maxAttempts: Int
    public var maxAgeSeconds: Int
    public var rateLimit: RateLimit?
    public var concurrency: Int
    /// First retry delay; doubles per attempt up to `retryMaxMilliseconds`.
    public var retryBaseMilliseconds: Int
    public var retryMaxMilliseconds: Int
    /// The least delay before a `dependency` is retried on schedule (it is also retried the moment
    /// what it waits for is delivered).
    public var dependencyRetryMilliseconds: Int

    public struct RateLimit: Sendable, Equatable {
        public var count: Int
        public var perSeconds: Int

        public init(count: Int, perSeconds: Int) {
            self.count = count
            self.perSeconds = perSeconds
        }
    }

    public init(
        id: String, from: String, to: String, events: [String], tenant: String?, entity: String?, maxAttempts: Int,
        maxAgeSeconds: Int, rateLimit: RateLimit?, concurrency: Int, retryBaseMilliseconds: Int, retryMaxMilliseconds: Int,
        dependencyRetryMilliseconds: Int = 5_000
    ) {
        self.id = id
        self.from = from
        self.to = to
        self.events = events
        self.tenant = tenant
        self.entity = entity
        self.maxAttempts = maxAttempts
        self.maxAgeSeconds = maxAgeSeconds
        self.rateLimit = rateLimit
        self.concurrency = concurrency
        self.retryBaseMilliseconds = retryBaseMilliseconds
        self.retryMaxMilliseconds = retryMaxMilliseconds
        self.dependencyRetryMilliseconds = dependencyRetryMilliseconds
    }

    /// Whether an event of this type, tenant and entity takes this route.
    public func matches(type: String, tenant: String?, entity: String?) -> Bool {
        if let wanted = self.tenant, wanted != tenant { return false }
        if let wanted = self.entity, wanted != entity { return false }
        return events.contains { Self.pattern($0, matches: type) }
    }

    static func pattern(_ pattern: String, matches type: String) -> Bool {
        if pattern == "*" || pattern == type { return true }
        if pattern.hasSuffix(".*") { return type.hasPrefix(pattern.dropLast()) }
        return false
    }
}

/// Timings of supervision; the `[supervisor]` table of host.toml.
public struct SupervisorSettings: Sendable, Equatable {
    public var handshakeTimeoutMilliseconds = 5_000
    public var pingIntervalMilliseconds = 5_000
    public var pingTimeoutMilliseconds = 3_000
    public var restartBackoffMilliseconds = 200
    public var restartBackoffMaxMilliseconds = 30_000
    public var crashLimit = 5
    public var crashWindowSeconds = 60
    /// A run longer than this resets the backoff.
    public var stableAfterSeconds = 30
    public var shutdownGraceMilliseconds = 3_000

    public init() {}
}

/// The `[http]` table of host.toml.
public struct HTTPSettings: Sendable, Equatable {
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Webhooks (`POST /hooks/{connector-id}`) only.
    public var listen: Address?
    /// `/metrics` and `/healthz`: tenant names and volumes, so loopback unless the operator says otherwise.
    public var metricsListen: Address?
    public static let defaultMetricsListen = Address(host: "127.0.0.1", port: 9480)
    /// Larger webhook bodies are refused with 413.
    public var maxBodyBytes = 1 << 20
    /// Per connector; beyond it webhooks get 429 with Retry-After.
    public var webhookRateLimit = RouteConfig.RateLimit(count: 100, perSeconds: 1)
    /// Open connections on the webhook listener; more wait in the kernel's backlog. Lowered at start
    /// when the descriptor limit (LimitNOFILE) cannot hold them beside the store and the plugins.
    public var maxConnections = 1024
    /// A connection must send its request head this soon after it opens.
    public var headerTimeoutMilliseconds = 10_000
    /// A request's body must be complete this soon after its head.
    public var bodyTimeoutMilliseconds = 30_000
    /// A kept-alive connection must send its next request head this soon after a response.
    public var idleTimeoutMilliseconds = 60_000

    public init() {}
}

extension ConnectorConfig {
    /// Whether a running connector of this configuration is what `other` asks for: everything but
    /// where it is written (`origin`), so a line moved by an edit above it restarts nothing.
    public func runsAsDefined(by other: ConnectorConfig) -> Bool {
        var same = other
        same.origin = origin
        return self == same
    }
}

/// One `[[reconcile]]` table: a source's records compared with what a target holds for them.
public struct ReconcileConfig: Sendable, Equatable {
    public enum Schedule: Sendable, Equatable {
        /// Only when an operator runs it.
        case onDemand
        /// `every = "6h"`: at that interval from the daemon's start.
        case every(seconds: Int)
        /// `daily_at = "02:30"`: once a day at that time, UTC.
        case daily(minuteOfDay: Int)
    }

    public var name: String
    public var source: String
    public var target: String
    /// Canonical record kinds compared, e.g. `invoice`, `payment`, `refund`.
    public var objectTypes: [String]
    /// The days compared: the last `windowDays`, today (UTC) included.
    public var windowDays: Int
    public var schedule: Schedule
    /// Differences allowed before the pair counts as drifted (health degraded).
    public var tolerance: Int
    /// Amounts this far apart, in minor units, are equal (rounding in a target's tax engine).
    public var amountToleranceMinor: Int64
    /// A record missing in the target while its delivery waits in the queue is not drift for this long.
    public var graceSeconds: Int
    /// Days asked for beyond the window on each side, so a record dated a day apart on the sides is still matched.
    public var marginDays: Int
    /// Whether target records without any reference (typed in by hand, or written by another system)
    /// count as differences; they are listed either way.
    public var countUnreferenced: Bool
    /// Where the table was defined, for messages.
    public var origin: String

    public init(name: String, source: String, target: String, objectTypes: [String], windowDays: Int = 35, schedule: Schedule = .onDemand,
                tolerance: Int = 0, amountToleranceMinor: Int64 = 0, graceSeconds: Int = 1_800, marginDays: Int = 1, countUnreferenced: Bool = false,
                origin: String = "") {
        self.name = name
        self.source = source
        self.target = target
        self.objectTypes = objectTypes
        self.windowDays = windowDays
        self.schedule = schedule
        self.tolerance = tolerance
        self.amountToleranceMinor = amountToleranceMinor
        self.graceSeconds = graceSeconds
        self.marginDays = marginDays
        self.countUnreferenced = countUnreferenced
        self.origin = origin
    }
}

/// `[store]`: SQLite in the state directory (one machine, the default), or a PostgreSQL database.
public enum StoreSettings: Sendable, Equatable {
    case sqlite
    case postgres(PostgresSettings)

    /// `kind` in the configuration.
    public var kind: String {
        switch self {
        case .sqlite: "sqlite"
        case .postgres: "postgres"
        }
    }
}

/// `[store] kind = "postgres"`. The password is never in the configuration: it is read from the systemd
/// credential `password_credential` (`LoadCredential=`), else from `password_file` (readable by the
/// daemon's user only).
public struct PostgresSettings: Sendable, Equatable {
    public enum TLS: String, Sendable, Equatable, CaseIterable {
        /// No TLS (a database on loopback or a Unix socket).
        case disable
        /// TLS when the server offers it, unverified.
        case prefer
        /// TLS, the server's certificate verified against the system's trust store or `ca_file`, and its name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var passwordCredential: String = "postgres-password"
    public var passwordFile: String?
    public var tls: TLS = .verifyFull
    public var caFile: String?
    /// Connections the store may open.
    public var poolSize: Int = 10
    /// This host's name among the hosts sharing the database (default: the machine's host name). Each
    /// host needs its own: a second daemon under a name already running is refused.
    public var member: String = ProcessInfo.processInfo.hostName
    /// How long a host's heartbeat, its source leases and its delivery claims last: a host that dies
    /// leaves its sources and deliveries to the others after this long at most.
    public var leaseSeconds: Int = 10

    public init(host: String, port: Int = 5432, user: String, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
    }

    /// `postgres://user@host:port/database`, without a password.
    public var url: String { "postgres://\(user)@\(host):\(port)/\(database)" }
}
