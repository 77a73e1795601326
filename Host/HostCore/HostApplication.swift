import Foundation
public import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// The daemon assembled: supervisor, admin socket and systemd notifications in one ServiceGroup,
/// shut down in reverse order on SIGTERM or SIGINT.
public struct HostApplication {
    public let config: HostConfig
    public let configPath: String
    public let logger: Logger
    /// Masks secret values in every log line; register each secret the daemon learns.
    public let redactor: Redactor

    public init(config: HostConfig, configPath: String, logger: Logger, redactor: Redactor) {
        self.config = config
        self.configPath = configPath
        self.logger = logger
        self.redactor = redactor
    }

    public func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        // Sockets and files we create are ours alone unless we say otherwise (the admin socket is 0660).
        umask(0o077)
        for directory in [config.stateDirectory, config.runtimeDirectory] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw HostError(.io, "cannot create \(directory)", cause: error)
            }
        }
        // Before anything else touches the state: one daemon per state directory.
        let lock = try StateDirectoryLock(directory: config.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        try AdminServer.claim(path: config.adminSocket)
        removeStalePluginSockets()

        let store: any HostStore
        let storeDescription: String
        switch config.store {
        case .sqlite:
            let storePath = "\(config.stateDirectory)/connector-host.sqlite"
            do {
                store = try SQLiteStore(path: storePath)
            } catch {
                throw HostError(.io, "cannot open the store \(storePath)", cause: error)
            }
            storeDescription = "sqlite \(storePath)"
        case .postgres(let settings):
            storeDescription = "postgres \(settings.url)"
            store = try await PostgresStore.open(settings, credentialsDirectory: ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"], logger: logger)
            logger.notice("store opened", metadata: ["store.kind": "postgres", "store.url": "\(settings.url)"])
        }
        let keySource = Vault.KeySource.resolve(keyFile: config.vaultKeyFile, stateDirectory: config.stateDirectory,
                                                environment: ProcessInfo.processInfo.environment)
        let vault = try await Vault.open(store: store, source: keySource, logger: logger, onValue: registerSecret)
        let supervisor = Supervisor(config: config, configPath: configPath, logger: logger, requests: VaultRequests(vault: vault))
        let metrics = HostMetrics()
        let pipeline = Pipeline(store: store, supervisor: supervisor, metrics: metrics, logger: logger)
        let listeners = HTTPListeners()
        let reconciler = Reconciler(store: store, supervisor: supervisor, pipeline: pipeline, metrics: metrics, logger: logger)
        let admin = AdminServer(path: config.adminSocket, supervisor: supervisor, pipeline: pipeline, vault: vault, listeners: listeners, reconciler: reconciler,
                                configPath: configPath, store: storeDescription, logger: logger)
        let systemd = SystemdService(supervisor: supervisor, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            // The heartbeat stops after the pipeline (services stop in reverse order): it leaves the cluster last.
            .init(service: Housekeeping(store: store, logger: logger)), .init(service: MemberHeartbeat(store: store, metrics: metrics, logger: logger)),
            .init(service: supervisor), .init(service: pipeline), .init(service: reconciler),
        ]
        if let http = config.http {
            let budget = DescriptorBudget(limit: DescriptorBudget.raiseSoftLimit(), connectors: config.connectors.count,
                                          configuredConnections: http.maxConnections)
            if budget.lowered(from: http.maxConnections) {
                logger.warning("the descriptor limit cannot hold max_connections beside the store and the plugins: fewer are accepted", metadata: [
                    "http.max_connections": "\(budget.webhookConnections)", "http.max_connections_configured": "\(http.maxConnections)",
                    "process.nofile_limit": "\(budget.limit)",
                ])
            }
            services.append(.init(service: HTTPService(settings: http, budget: budget, supervisor: supervisor, pipeline: pipeline,
                                                       metrics: metrics, listeners: listeners, health: { admin.health },
                                                       connectors: { admin.connectorStatuses }, logger: logger)))
        }
        services += [.init(service: admin), .init(service: systemd)]
        // Started in this order, stopped in reverse: systemd hears STOPPING=1 first, the admin socket
        // closes next, webhooks stop being accepted, and the supervisor stops the plugins last.
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info("connector-hostd starting", metadata: [
            "config.path": "\(configPath)", "connectors.count": "\(config.connectors.count)",
        ])
        try await group.run()
        logger.info("connector-hostd stopped")
    }

    /// Every secret value the vault opens or stores, so that logs never show it.
    private var registerSecret: @Sendable (String) -> Void {
        { [redactor] value in redactor.register(value) }
    }

    /// Plugin sockets of a previous daemon (its admin socket was just found dead, so they are too).
    private func removeStalePluginSockets() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: config.runtimeDirectory)) ?? []
        for name in names where name.hasPrefix("plugin-") && name.hasSuffix(".sock") {
            unlink("\(config.runtimeDirectory)/\(name)")
        }
    }
}
