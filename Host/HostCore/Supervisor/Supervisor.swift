import Foundation
public import HostAdmin
public import Logging
public import ServiceLifecycle
import Synchronization

/// Runs every configured connector instance and applies reloads: added connectors start, removed
/// ones stop, changed ones restart, untouched ones keep their process.
public final class Supervisor: Service, Sendable {
    private struct State {
        var config: HostConfig
        var instances: [String: ConnectorInstance]
    }

    private let configPath: String
    private let state: Mutex<State>
    private let logger: Logger
    private let requests: (any PluginRequestHandler)?
    private let launches: AsyncStream<ConnectorInstance>
    private let launch: AsyncStream<ConnectorInstance>.Continuation
    private let startedAt = ContinuousClock.now
    /// Rung after each successful reload.
    public let reloaded = Doorbell()

    public init(config: HostConfig, configPath: String, logger: Logger, requests: (any PluginRequestHandler)? = nil) {
        self.configPath = configPath
        self.logger = logger
        self.requests = requests
        (launches, launch) = AsyncStream.makeStream(of: ConnectorInstance.self)
        var instances: [String: ConnectorInstance] = [:]
        for connector in config.connectors {
            instances[connector.id] = ConnectorInstance(
                config: connector, settings: config.supervisor, runtimeDirectory: config.runtimeDirectory, logger: logger, requests: requests
            )
        }
        state = Mutex(State(config: config, instances: instances))
    }

    public func run() async throws {
        let initial = state.withLock { Array($0.instances.values) }
        await withDiscardingTaskGroup { group in
            for instance in initial {
                group.addTask { await instance.run() }
            }
            await withGracefulShutdownHandler {
                for await instance in launches {
                    group.addTask { await instance.run() }
                }
            } onGracefulShutdown: {
                self.logger.info("stopping connectors")
                self.launch.finish()
                for instance in self.state.withLock({ Array($0.instances.values) }) {
                    instance.send(.stop)
                }
            }
        }
        logger.info("all connectors stopped")
    }

    /// Returns once every connector has come up or given up on its first start.
    public func waitUntilStarted() async throws {
        for instance in state.withLock({ Array($0.instances.values) }) {
            await instance.settled.wait()
        }
    }

    // MARK: Operator actions

    public var connectors: [ConnectorStatus] {
        state.withLock { $0.instances.values.map(\.status) }.sorted { $0.id < $1.id }
    }

    public var uptime: Duration { startedAt.duration(to: .now) }

    public var health: HealthResult {
        let problems = connectors.compactMap { status -> String? in
            switch status.state {
            case "running": return nil
            case "paused": return "\(status.id): paused" + (status.lastError.map { " (\($0)); fix it, then hostctl resume \(status.id)" } ?? " by operator")
            case "failed": return "\(status.id): failed (\(status.lastError ?? "no error recorded")); run hostctl restart \(status.id)"
            default: return "\(status.id): \(status.state)" + (status.lastError.map { " (last error: \($0))" } ?? "")
            }
        }
        return HealthResult(status: problems.isEmpty ? "healthy" : "degraded", problems: problems)
    }

    public func statusLine() -> String {
        let counts = Dictionary(grouping: connectors, by: \.state).mapValues(\.count)
        let parts = counts.keys.sorted().map { "\(counts[$0]!) \($0)" }
        return parts.isEmpty ? "no connectors configured" : "connectors: " + parts.joined(separator: ", ")
    }

    /// The instance with this id, if configured.
    func existingInstance(_ id: String) -> ConnectorInstance? {
        state.withLock { $0.instances[id] }
    }

    var routes: [RouteConfig] { state.withLock { $0.config.routes } }
    var connectorConfigs: [ConnectorConfig] { state.withLock { $0.config.connectors } }
    var reconciles: [ReconcileConfig] { state.withLock { $0.config.reconciles } }

    func instance(_ id: String) throws(HostError) -> ConnectorInstance {
        guard let instance = state.withLock({ $0.instances[id] }) else {
            throw HostError(.unknownConnector, "no connector with id \"\(id)\"")
        }
        return instance
    }

    public func restart(id: String) throws(HostError) {
        try instance(id).send(.restart)
        logger.notice("restart requested by operator", metadata: ["connector.id": "\(id)"])
    }

    /// Restarts every connector in state `failed`; returns their ids.
    public func restartFailed() -> [String] {
        let failed = state.withLock { $0.instances.values.filter { $0.state == .failed } }
        for instance in failed { instance.send(.restart) }
        return failed.map(\.config.id).sorted()
    }

    public func pause(id: String) throws(HostError) { try instance(id).send(.pause) }
    public func resume(id: String) throws(HostError) { try instance(id).send(.resume) }

    /// Reads the configuration again and applies what changed among the connectors.
    public func reload() throws(ConfigError) -> ReloadResult {
        let new = try ConfigLoader.load(path: configPath)
        let result = state.withLock { state -> ReloadResult in
            var result = ReloadResult(started: [], stopped: [], restarted: [], unchanged: [], warnings: [])
            let old = state.config
            for (name, before, after) in [
                ("state_dir", old.stateDirectory, new.stateDirectory),
                ("runtime_dir", old.runtimeDirectory, new.runtimeDirectory),
                ("admin_socket", old.adminSocket, new.adminSocket),
                ("log_level", old.logLevel, new.logLevel),
            ] where before != after {
                result.warnings.append("\(name) changed from \(before) to \(after): restart the daemon to apply it")
            }
            if old.supervisor != new.supervisor {
                result.warnings.append("[supervisor] changed: applies to connectors started from now on")
            }
            if old.store != new.store {
                result.warnings.append("[store] changed: restart the daemon to apply it (it keeps the store it opened)")
            }
            let wanted = Dictionary(uniqueKeysWithValues: new.connectors.map { ($0.id, $0) })
            for (id, instance) in state.instances where wanted[id] == nil {
                instance.send(.stop)
                state.instances[id] = nil
                result.stopped.append(id)
            }
            for connector in new.connectors {
                if let existing = state.instances[connector.id] {
                    if existing.config.runsAsDefined(by: connector) {
                        result.unchanged.append(connector.id)
                        continue
                    }
                    existing.send(.stop)
                    result.restarted.append(connector.id)
                } else {
                    result.started.append(connector.id)
                }
                let instance = ConnectorInstance(
                    config: connector, settings: new.supervisor, runtimeDirectory: old.runtimeDirectory, logger: logger, requests: requests
                )
                state.instances[connector.id] = instance
                launch.yield(instance)
            }
            // A route change is normal work, reported by name (the pipeline applies it at once).
            let before = Dictionary(old.routes.map { ($0.id, $0) }) { first, _ in first }
            let after = Dictionary(new.routes.map { ($0.id, $0) }) { first, _ in first }
            result.routesAdded = after.keys.filter { before[$0] == nil }.sorted()
            result.routesRemoved = before.keys.filter { after[$0] == nil }.sorted()
            result.routesChanged = after.keys.filter { id in before[id].map { $0 != after[id] } ?? false }.sorted()
            state.config.connectors = new.connectors
            state.config.routes = new.routes
            state.config.reconciles = new.reconciles
            state.config.supervisor = new.supervisor
            return result
        }
        reloaded.ring()
        logger.notice("configuration reloaded", metadata: [
            "reload.started": "\(result.started)", "reload.stopped": "\(result.stopped)",
            "reload.restarted": "\(result.restarted)", "reload.unchanged": "\(result.unchanged.count)",
        ])
        return result
    }
}
