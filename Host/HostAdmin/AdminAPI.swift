// The admin socket's API: JSON-RPC 2.0 lines, like the plugin protocol, over the daemon's
// admin socket. hostctl, the daemon and the tests share these types.
import ConnectorProtocol

public enum BuildInfo {
    /// The version of connector-hostd and hostctl built from this tree.
    public static let version = "0.5.0"
}

public enum AdminMethod {
    public static let hello = "hello"
    public static let status = "status"
    /// Forwards `check` to a connector's plugin: do its configuration and credentials work?
    public static let check = "check"
    public static let connectors = "connectors"
    public static let health = "health"
    public static let restart = "restart"
    public static let pause = "pause"
    public static let resume = "resume"
    public static let reload = "reload"
}

public struct HelloParams: Codable, Sendable {
    public var clientVersion: String
    public init(clientVersion: String) { self.clientVersion = clientVersion }
    enum CodingKeys: String, CodingKey { case clientVersion = "client_version" }
}

public struct HelloResult: Codable, Sendable {
    public var daemonVersion: String
    public init(daemonVersion: String) { self.daemonVersion = daemonVersion }
    enum CodingKeys: String, CodingKey { case daemonVersion = "daemon_version" }
}

/// One connector instance as the operator sees it.
public struct ConnectorStatus: Codable, Sendable, Equatable {
    public var id: String
    public var plugin: String
    public var tenant: String?
    public var entity: String?
    /// starting, running, paused, backoff, stopping, stopped or failed.
    public var state: String
    public var pid: Int32?
    public var uptimeSeconds: Double?
    public var restarts: Int
    public var lastError: String?
    public var paused: Bool
    public var protocolErrors: Int
    public var pluginVersion: String?
    public var protocolVersion: Int?
    /// closed, open or half_open: the target's circuit breaker.
    public var circuit: String?
    /// The gauges the plugin reported last (`metrics`), by name.
    public var gauges: [String: Double]?

    public init(id: String, plugin: String, tenant: String?, entity: String?, state: String, pid: Int32?, uptimeSeconds: Double?, restarts: Int, lastError: String?, paused: Bool, protocolErrors: Int, pluginVersion: String?, protocolVersion: Int?) {
        self.id = id
        self.plugin = plugin
        self.tenant = tenant
        self.entity = entity
        self.state = state
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.restarts = restarts
        self.lastError = lastError
        self.paused = paused
        self.protocolErrors = protocolErrors
        self.pluginVersion = pluginVersion
        self.protocolVersion = protocolVersion
    }

    enum CodingKeys: String, CodingKey {
        case id, plugin, tenant, entity, state, pid, restarts, paused
        case uptimeSeconds = "uptime_seconds"
        case lastError = "last_error"
        case protocolErrors = "protocol_errors"
        case pluginVersion = "plugin_version"
        case protocolVersion = "protocol_version"
        case circuit, gauges
    }

    /// Every key is always present (null when unknown), so scripts can rely on the shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(plugin, forKey: .plugin)
        try container.encode(tenant, forKey: .tenant)
        try container.encode(entity, forKey: .entity)
        try container.encode(state, forKey: .state)
        try container.encode(pid, forKey: .pid)
        try container.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try container.encode(restarts, forKey: .restarts)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(paused, forKey: .paused)
        try container.encode(protocolErrors, forKey: .protocolErrors)
        try container.encode(pluginVersion, forKey: .pluginVersion)
        try container.encode(protocolVersion, forKey: .protocolVersion)
        try container.encode(circuit, forKey: .circuit)
        try container.encode(gauges ?? [:], forKey: .gauges)
    }
}

public struct StatusResult: Codable, Sendable {
    public var daemonVersion: String
    public var pid: Int32
    public var uptimeSeconds: Double
    public var configPath: String
    public var health: String
    /// Connector count by state.
    public var connectors: [String: Int]
    /// Where webhooks are taken (`POST /hooks/{connector-id}`), when a listener is configured.
    public var webhooks: String?
    /// Where `/metrics` and `/healthz` are served.
    public var metrics: String?
    /// The store: `sqlite PATH` or `postgres URL` (no password); nil from a daemon before it said.
    public var store: String?
    /// This host's name among the hosts sharing the store.
    public var member: String?

    public init(daemonVersion: String, pid: Int32, uptimeSeconds: Double, configPath: String, health: String, connectors: [String: Int],
                webhooks: String? = nil, metrics: String? = nil, store: String? = nil, member: String? = nil) {
        self.member = member
        self.daemonVersion = daemonVersion
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.configPath = configPath
        self.health = health
        self.connectors = connectors
        self.webhooks = webhooks
        self.metrics = metrics
        self.store = store
    }

    enum CodingKeys: String, CodingKey {
        case pid, health, connectors, webhooks, metrics, store, member
        case daemonVersion = "daemon_version"
        case uptimeSeconds = "uptime_seconds"
        case configPath = "config_path"
    }
}

public struct HealthResult: Codable, Sendable {
    /// `healthy` or `degraded`.
    public var status: String
    public var problems: [String]

    public init(status: String, problems: [String]) {
        self.status = status
        self.problems = problems
    }
}

public struct ConnectorTarget: Codable, Sendable {
    public var id: String
    public init(id: String) { self.id = id }
}

public struct RestartParams: Codable, Sendable {
    public var id: String?
    /// Restart every connector in state `failed`.
    public var failed: Bool
    public init(id: String?, failed: Bool) {
        self.id = id
        self.failed = failed
    }
}

public struct AffectedConnectors: Codable, Sendable {
    public var ids: [String]
    public init(ids: [String]) { self.ids = ids }
}

public struct ReloadResult: Codable, Sendable {
    public var started: [String]
    public var stopped: [String]
    public var restarted: [String]
    public var unchanged: [String]
    /// Route ids (`from->to`, with `@tenant` when scoped) as the new configuration has them.
    public var routesAdded: [String] = []
    public var routesRemoved: [String] = []
    public var routesChanged: [String] = []
    /// Changes that need a daemon restart to apply (state_dir, admin_socket, …).
    public var warnings: [String]

    public init(started: [String], stopped: [String], restarted: [String], unchanged: [String], warnings: [String]) {
        self.started = started
        self.stopped = stopped
        self.restarted = restarted
        self.unchanged = unchanged
        self.warnings = warnings
    }

    enum CodingKeys: String, CodingKey {
        case started, stopped, restarted, unchanged, warnings
        case routesAdded = "routes_added"
        case routesRemoved = "routes_removed"
        case routesChanged = "routes_changed"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        started = try container.decode([String].self, forKey: .started)
        stopped = try container.decode([String].self, forKey: .stopped)
        restarted = try container.decode([String].self, forKey: .restarted)
        unchanged = try container.decode([String].self, forKey: .unchanged)
        warnings = try container.decode([String].self, forKey: .warnings)
        routesAdded = try container.decodeIfPresent([String].self, forKey: .routesAdded) ?? []
        routesRemoved = try container.decodeIfPresent([String].self, forKey: .routesRemoved) ?? []
        routesChanged = try container.decodeIfPresent([String].self, forKey: .routesChanged) ?? []
    }
}
