import CHostSupport
import ConnectorProtocol
import Foundation
import HostAdmin
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The admin socket: JSON-RPC lines from hostctl, answered from the supervisor's state.
/// Peers must be root, the daemon's user, or in the daemon's group.
public struct AdminServer: Service {
    let path: String
    let supervisor: Supervisor
    let pipeline: Pipeline
    let configPath: String
    /// The store, as `hostctl status` names it (`sqlite PATH`, `postgres URL`).
    let storeDescription: String
    let vault: Vault
    let listeners: HTTPListeners
    let reconciler: Reconciler
    let logger: Logger

    public init(path: String, supervisor: Supervisor, pipeline: Pipeline, vault: Vault, listeners: HTTPListeners = HTTPListeners(),
                reconciler: Reconciler, configPath: String, store: String, logger: Logger) {
        self.path = path
        self.storeDescription = store
        self.reconciler = reconciler
        self.listeners = listeners
        self.supervisor = supervisor
        self.pipeline = pipeline
        self.vault = vault
        self.configPath = configPath
        self.logger = logger
    }

    /// Operator actions go to the audit trail; a failure to record one is logged, not fatal.
    private func audit(_ action: String, subject: String, detail: String, actor: String) async {
        do {
            try await pipeline.store.audit(correlationID: nil, actor: actor, action: action, subject: subject, detail: detail)
        } catch {
            logger.error("cannot write an audit record", metadata: ["audit.action": "\(action)", "store.error": "\(error)"])
        }
    }

    /// Removes a stale socket left by a daemon that died; refuses to touch a live one.
    public static func claim(path: String) throws(HostError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw HostError(.adminSocketInUse, "\(path) exists and is not a socket; remove it or choose another admin_socket")
        }
        if let client = try? AdminClient(socketPath: path, timeoutSeconds: 2) {
            _ = client
            throw HostError(.adminSocketInUse, "another connector-hostd is running on \(path)")
        }
        unlink(path)
    }

    public func run() async throws {
        try Self.claim(path: path)
        let server = try await LineSocket.listen(path: path, mode: 0o660, maxLineBytes: 1 << 20, replacingExisting: false)
        logger.info("admin socket listening", metadata: ["admin.socket": "\(path)"])
        defer { unlink(path) }
        do {
            try await cancelWhenGracefulShutdown {
                try await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in inbound {
                            group.addTask { await self.handle(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: stop accepting; hostctl sees the daemon go away.
        }
    }

    private func handle(_ connection: NIOAsyncChannel<Frame, ByteBuffer>) async {
        do {
            let peer = try await ConnectorInstance.peerCredentials(connection.channel)
            try await connection.executeThenClose { inbound, outbound in
                let codec = RPCCodec()
                guard Self.isAllowed(uid: peer.uid, pid: peer.pid) else {
                    logger.warning("admin connection refused", metadata: ["admin.peer_uid": "\(peer.uid)"])
                    let error = ConnectorError(.auth, "uid \(peer.uid) may not use the admin socket: be root or in the daemon's group")
                    try await outbound.write(ByteBuffer(bytes: codec.errorResponse(id: nil, error: error)))
                    return
                }
                let actor = Self.operatorName(uid: peer.uid)
                for try await frame in inbound {
                    guard case .line(let buffer) = frame else {
                        try await outbound.write(ByteBuffer(bytes: codec.parseErrorLine(ConnectorError(.protocol, "request too large"))))
                        continue
                    }
                    let answer = await answer(Data(buffer), codec: codec, actor: actor)
                    try await outbound.write(ByteBuffer(bytes: answer))
                }
            }
        } catch {
            logger.debug("admin connection ended", metadata: ["admin.error": "\(error)"])
        }
    }

    /// Connectors with the circuit state of their deliveries.
    var connectorStatuses: [ConnectorStatus] {
        let pollFailures = pipeline.pollFailures
        return supervisor.connectors.map { status in
            var status = status
            status.circuit = pipeline.circuitState(target: status.id).rawValue
            // A poll failing now says more than an older crash the plugin has recovered from.
            if let problem = pollFailures[status.id] {
                status.lastError = "poll failed \(problem.failures)×: \(problem.code?.name ?? "error"): \(problem.message)"
            }
            return status
        }
    }

    /// The supervisor's view plus the store and open circuits.
    var health: HealthResult {
        var problems = supervisor.health.problems
        if let storeError = pipeline.storeError { problems.append("store: \(storeError)") }
        // Which route and tenant are behind an open circuit, and which tenants a target refused.
        let scoped = pipeline.scopes.problems()
        for (scope, state) in scoped.circuits {
            let tenant = scope.tenant.isEmpty ? "" : " (tenant \(scope.tenant))"
            problems.append("\(scope.target): circuit \(state.rawValue) for route \(scope.route)\(tenant) after repeated transient failures")
        }
        for paused in scoped.paused {
            problems.append("\(paused.target): deliveries of tenant \(paused.tenant) paused: \(paused.reason) (store the secret again or hostctl resume \(paused.target))")
        }
        // A source that cannot be read loses nothing yet, but falls behind: say so once it is not a blip
        // (a refused key already shows as paused).
        // Only what is configured now: a connector or route a reload removed is no one's problem.
        let connectors = Set(supervisor.connectorConfigs.map(\.id))
        let routes = Set(supervisor.routes.map(\.id))
        for (id, problem) in pipeline.pollFailures.sorted(by: { $0.key < $1.key })
        where connectors.contains(id) && problem.code != .auth && (problem.failures >= 3 || problem.code == .permanent || problem.code == .protocol) {
            problems.append("\(id): polling fails (\(problem.failures) times in a row): \(problem.message)")
        }
        // Deliveries that keep failing lose nothing yet, but nothing reaches the target either (an
        // auth refusal already shows as paused; a dependency wait is not a failure of the target).
        for (id, problem) in pipeline.routeFailures.sorted(by: { $0.key < $1.key })
        where routes.contains(id) && problem.code != .auth && problem.failures >= Pipeline.RouteProblem.threshold {
            problems.append("route \(id): \(problem.failures) delivery attempts in a row failed; last: \(problem.code.name): \(problem.message)")
        }
        problems += reconciler.problems
        return HealthResult(status: problems.isEmpty ? "healthy" : "degraded", problems: problems)
    }

    /// Asks a sink for its snapshot and checks it against the host's links for that sink.
    private func reconcile(_ request: ReconcileRequest) async throws -> ReconcileReport {
        try request.params.validate()
        let instance = try supervisor.instance(request.connector)
        guard let capabilities = instance.capabilities else {
            throw ConnectorError(.transient, "connector \(request.connector) has not started yet (state \(instance.status.state)); try again once it runs")
        }
        guard capabilities.reconcile else {
            throw ConnectorError(.notSupported, "connector \(request.connector) (plugin \(instance.config.plugin)) cannot reconcile: its plugin does not announce capabilities.reconcile")
        }
        var params = request.params
        // Duplicates and unknown records are found on the items, whether or not the operator sees them.
        params.includeItems = true
        let snapshot: ReconcileSnapshot
        do {
            snapshot = try await instance.call(Method.reconcileSnapshot, params, as: ReconcileSnapshot.self, timeout: .seconds(120))
        } catch var error as ConnectorError {
            // The operator reads this in hostctl, without the daemon's log: say whose answer it was.
            error.message = "connector \(request.connector): \(error.message)"
            throw error
        }
        // A source's records carry no reference: nothing of the host's to check them against.
        let links = request.side == .source ? [] : try await pipeline.store.links(target: request.connector, canonicalIDs: Reconciliation.canonicalIDs(in: snapshot))
        return Reconciliation.report(snapshot: snapshot, links: links, includeItems: request.includeItems)
    }

    static func isAllowed(uid: uid_t, pid: pid_t) -> Bool {
        if uid == 0 || uid == geteuid() { return true }
        // Group membership: the peer's primary and supplementary groups, read from /proc.
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        let daemonGroup = getegid()
        for line in status.split(separator: "\n") where line.hasPrefix("Groups:") || line.hasPrefix("Gid:") {
            let ids = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().compactMap { gid_t($0) }
            if ids.contains(daemonGroup) { return true }
        }
        return false
    }

    /// An id the operator named that is not a dead letter is an error naming it (the others were acted on).
    static func requireAll(_ ids: [Int64]?, done: [Int64], verb: String) throws(ConnectorError) {
        let missing = (ids ?? []).filter { !done.contains($0) }
        guard !missing.isEmpty else { return }
        let named = missing.map(String.init).joined(separator: ", ")
        let prefix = done.isEmpty ? "" : "\(verb) \(done.map(String.init).joined(separator: ", ")); "
        throw ConnectorError(.permanent, "\(prefix)no dead letter \(named) (hostctl dlq list shows them)")
    }

    /// A route the configuration has, or one that still has dead letters.
    private func requireKnown(route: String) async throws {
        let routes = supervisor.routes.map(\.id)
        guard !routes.contains(route), try await pipeline.store.deadLetters(route: route, limit: 1).isEmpty else { return }
        let suggestion = Spelling.closest(to: route, in: routes).map { ": did you mean \($0)?" } ?? ""
        throw ConnectorError(.permanent, "no route \(route)\(suggestion)")
    }

    /// Who an operator action is audited as: the admin socket peer's user, e.g. `operator alice (uid 1000)`.
    static func operatorName(uid: UInt32) -> String {
        var entry = passwd(), found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let name = getpwuid_r(uid, &entry, &buffer, buffer.count, &found) == 0 && found != nil ? String(cString: entry.pw_name) : "?"
        return "operator \(name) (uid \(uid))"
    }

    private func answer(_ line: Data, codec: RPCCodec, actor: String) async -> Data {
        let message: RPCMessage
        do {
            message = try codec.decode(line: line)
        } catch {
            return codec.parseErrorLine(error)
        }
        guard case .request(let id, let method) = message.kind else {
            return codec.errorResponse(id: nil, error: ConnectorError(.protocol, "the admin socket takes requests only"))
        }
        do {
            switch method {
            case AdminMethod.hello:
                let params = try codec.params(HelloParams.self, of: message)
                if params.clientVersion != BuildInfo.version {
                    logger.notice("hostctl version differs", metadata: ["hostctl.version": "\(params.clientVersion)"])
                }
                return try codec.response(id: id, result: HelloResult(daemonVersion: BuildInfo.version))
            case AdminMethod.status:
                let connectors = supervisor.connectors
                return try codec.response(id: id, result: StatusResult(
                    daemonVersion: BuildInfo.version,
                    pid: getpid(),
                    uptimeSeconds: ConnectorInstance.seconds(supervisor.uptime),
                    configPath: configPath,
                    health: health.status,
                    connectors: Dictionary(grouping: connectors, by: \.state).mapValues(\.count),
                    webhooks: listeners.webhooks, metrics: listeners.metrics, store: storeDescription, member: pipeline.store.member
                ))
            case AdminMethod.cluster:
                return try codec.response(id: id, result: try await pipeline.store.cluster())
            case AdminMethod.connectors:
                return try codec.response(id: id, result: connectorStatuses)
            case AdminMethod.health:
                return try codec.response(id: id, result: health)
            case AdminMethod.queue:
                let store = pipeline.store
                return try codec.response(id: id, result: QueueResult(rows: try await store.queue(now: Store.now()), duplicates: try await store.duplicates()))
            case AdminMethod.dlqList:
                let params = try codec.params(DLQListParams.self, of: message)
                return try codec.response(id: id, result: try await pipeline.store.deadLetters(route: params.route, limit: params.limit))
            case AdminMethod.dlqRejects:
                let params = try codec.params(DLQRejectsParams.self, of: message)
                return try codec.response(id: id, result: try await pipeline.store.intakeRejects(connector: params.connector, limit: params.limit))
            case AdminMethod.dlqShow:
                let params = try codec.params(DLQShowParams.self, of: message)
                guard let detail = try await pipeline.store.deadLetter(id: params.id) else {
                    throw ConnectorError(.permanent, "no dead letter with id \(params.id)")
                }
                return try codec.response(id: id, result: detail)
            case AdminMethod.dlqReplay:
                let params = try codec.params(DLQActionParams.self, of: message)
                guard params.ids != nil || params.route != nil else { throw ConnectorError(.protocol, "replay needs ids or a route") }
                if let route = params.route { try await requireKnown(route: route) }
                let replayed = try await pipeline.store.replay(ids: params.ids, route: params.route, actor: actor)
                for route in Set(supervisor.routes.map(\.id)) { pipeline.doorbell(route: route).ring() }
                logger.notice("dead letters replayed", metadata: ["dlq.ids": "\(replayed)"])
                try Self.requireAll(params.ids, done: replayed, verb: "replayed")
                return try codec.response(id: id, result: DLQActionResult(ids: replayed))
            case AdminMethod.dlqDiscard:
                let params = try codec.params(DLQActionParams.self, of: message)
                let discarded = try await pipeline.store.discard(ids: params.ids ?? [], actor: actor)
                logger.notice("dead letters discarded", metadata: ["dlq.ids": "\(discarded)"])
                try Self.requireAll(params.ids, done: discarded, verb: "discarded")
                return try codec.response(id: id, result: DLQActionResult(ids: discarded))
            case AdminMethod.trace:
                let params = try codec.params(TraceParams.self, of: message)
                return try codec.response(id: id, result: try await pipeline.store.trace(correlationID: params.correlationID))
            case AdminMethod.check:
                let target = try codec.params(ConnectorTarget.self, of: message).id
                let instance = try supervisor.instance(target)
                let result = try await instance.call(Method.check, EmptyParams(), as: CheckResult.self, timeout: .seconds(30))
                await audit("connector.check", subject: target, detail: "\(result.ok ? "ok" : "not ok"): \(result.message)", actor: actor)
                return try codec.response(id: id, result: result)
            case AdminMethod.restart:
                let params = try codec.params(RestartParams.self, of: message)
                if params.failed {
                    return try codec.response(id: id, result: AffectedConnectors(ids: supervisor.restartFailed()))
                }
                guard let target = params.id else {
                    throw ConnectorError(.protocol, "restart needs an id or failed=true")
                }
                try supervisor.restart(id: target)
                await audit("connector.restart", subject: target, detail: "restarted by operator", actor: actor)
                return try codec.response(id: id, result: AffectedConnectors(ids: [target]))
            case AdminMethod.pause, AdminMethod.resume:
                let target = try codec.params(ConnectorTarget.self, of: message).id
                if method == AdminMethod.pause {
                    try supervisor.pause(id: target)
                } else {
                    try supervisor.resume(id: target)
                    pipeline.scopes.resume(target: target)  // and its tenants paused for refused credentials
                }
                logger.notice("operator \(method)d connector", metadata: ["connector.id": "\(target)"])
                await audit("connector.\(method)", subject: target, detail: "\(method)d by operator", actor: actor)
                return try codec.response(id: id, result: AffectedConnectors(ids: [target]))
            case AdminMethod.reload:
                let result = try supervisor.reload()
                await audit("config.reload", subject: configPath, detail: "started \(result.started), stopped \(result.stopped), restarted \(result.restarted)", actor: actor)
                return try codec.response(id: id, result: result)
            case AdminMethod.secretSet:
                // The value is never logged; only the connector, name and version are.
                let params = try codec.params(SecretSetParams.self, of: message)
                let version = try await vault.set(connector: params.connector, name: params.name, value: params.value, rotate: params.rotate, actor: actor)
                let instance = supervisor.existingInstance(params.connector)
                instance?.notify(Method.credentialsChanged, CredentialsChangedParams(name: params.name, version: version))
                // A connector the host paused because its credentials were refused tries again with the new
                // one, and so do its tenants; counted first, so that a refusal of the old secret answered
                // meanwhile pauses neither again.
                let resumed = instance?.credentialsStored() ?? false
                pipeline.scopes.resume(target: params.connector)
                let known = supervisor.connectorConfigs.contains { $0.id == params.connector }
                if resumed {
                    logger.notice("connector resumed: a secret was stored after its credentials were refused", metadata: ["connector.id": "\(params.connector)"])
                    await audit("connector.resume", subject: params.connector, detail: "resumed after secret \(params.name) was stored (credentials had been refused)", actor: actor)
                }
                return try codec.response(id: id, result: SecretSetResult(
                    connector: params.connector, name: params.name, version: version,
                    warning: known ? nil : "no connector \(params.connector) is configured; the secret is kept for when it is"
                ))
            case AdminMethod.secretList:
                let params = try codec.params(SecretListParams.self, of: message)
                return try codec.response(id: id, result: try await vault.list(connector: params.connector))
            case AdminMethod.secretDelete:
                let params = try codec.params(SecretRef.self, of: message)
                guard try await vault.delete(connector: params.connector, name: params.name, actor: actor) else {
                    throw ConnectorError(.permanent, "no secret \(params.name) for connector \(params.connector)")
                }
                supervisor.existingInstance(params.connector)?.notify(Method.credentialsChanged, CredentialsChangedParams(name: params.name, version: nil))
                return try codec.response(id: id, result: params)
            case AdminMethod.vaultRekey:
                return try codec.response(id: id, result: try await vault.rekey(actor: actor))
            case AdminMethod.reconcileSnapshot:
                let request = try codec.params(ReconcileRequest.self, of: message)
                let report = try await reconcile(request)
                let counts = report.snapshot.groups.map { "\($0.objectType) \($0.count)" }.joined(separator: ", ")
                await audit("reconcile.snapshot", subject: request.connector, detail: """
                    \(request.from)..\(request.to): \(counts); \(report.duplicates.count) duplicates, \
                    \(report.unknownToHost.count) unknown to the host, \(report.foreign) written by others
                    """, actor: actor)
                return try codec.response(id: id, result: report)
            case AdminMethod.reconcileRun:
                let request = try codec.params(ReconcileNameRequest.self, of: message)
                let report = try await reconciler.run(try reconciler.config(named: request.name), trigger: .operator, actor: actor)
                return try codec.response(id: id, result: report)
            case AdminMethod.reconcileReports:
                let request = try codec.params(ReconcileReportsRequest.self, of: message)
                if let name = request.name, !supervisor.reconciles.contains(where: { $0.name == name }) {
                    _ = try reconciler.config(named: name)
                }
                return try codec.response(id: id, result: try await pipeline.store.driftReports(name: request.name, limit: max(1, min(request.limit, Store.driftReportsKept))))
            case AdminMethod.reconcileRepair:
                let request = try codec.params(ReconcileNameRequest.self, of: message)
                let result = try await reconciler.repair(try reconciler.config(named: request.name), actor: actor)
                let counts = Dictionary(grouping: result.entries, by: \.action).map { "\($0.value.count) \($0.key.rawValue)" }.sorted().joined(separator: ", ")
                await audit("reconcile.repair", subject: "reconcile \(request.name) #\(result.reportID)",
                            detail: "\(counts.isEmpty ? "nothing missing" : counts); \(result.leftForAPerson) left for a person", actor: actor)
                return try codec.response(id: id, result: result)
            case AdminMethod.auditVerify:
                return try codec.response(id: id, result: try await vault.verifyAudit())
            default:
                return codec.errorResponse(id: id, error: RPCErrorObject(
                    code: RPCErrorObject.methodNotFound, message: "unknown admin method \"\(method)\"",
                    data: .init(errorClass: ConnectorError.Code.notSupported.name)
                ))
            }
        } catch let error as ConnectorError {
            return codec.errorResponse(id: id, error: error)
        } catch let error as HostError {
            return codec.errorResponse(id: id, error: ConnectorError(.permanent, error.message, details: ["code": .string(error.code.description)]))
        } catch let error as ConfigError {
            return codec.errorResponse(id: id, error: ConnectorError(
                .permanent, "configuration has errors; nothing was changed:\n\(error.description)",
                details: ["code": "config"]
            ))
        } catch {
            return codec.errorResponse(id: id, error: ConnectorError(.transient, "\(error)"))
        }
    }
}
