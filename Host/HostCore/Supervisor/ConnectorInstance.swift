import CHostSupport
import ConnectorProtocol
import Crypto
import Foundation
public import HostAdmin
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One configured connector: keeps its plugin process running, speaks the protocol with it, and
/// restarts it by the lifecycle state machine's rules.
public final class ConnectorInstance: Sendable {
    public enum Command: Sendable {
        case stop, restart, pause, resume
    }

    /// What ends a run, as seen by the tasks watching it.
    enum RunEvent: Sendable {
        case exited(ExitStatus)
        case ended(PluginLifecycle.EndReason)
    }

    struct Snapshot: Sendable {
        var lifecycle: PluginLifecycle
        var pid: pid_t?
        var readyAt: ContinuousClock.Instant?
        var protocolErrors = 0
        var plugin: PluginInfo?
        var protocolVersion: Int?
        var capabilities: Capabilities?
        var pauseReason: String?
        /// The plugin's own gauges (`metrics`), the latest value of each.
        var gauges: [String: Double] = [:]
        /// Counts the secrets stored for this connector while it runs.
        var credentialsEpoch = 0
    }

    public let config: ConnectorConfig
    let settings: SupervisorSettings
    let runtimeDirectory: String
    let logger: Logger
    /// Answers the plugin's own requests (credentials); nil: the host offers none.
    let requests: (any PluginRequestHandler)?
    let mailbox = Mailbox<Command>()
    /// Raised once the first run is up or has failed: the daemon is "ready" when every instance has settled.
    let settled = OneShot()
    private let snapshot: Mutex<Snapshot>
    private let connection = Mutex<RPCConnection?>(nil)
    private static let runCounter = Atomic<Int>(0)
    private static let codec = RPCCodec()

    init(config: ConnectorConfig, settings: SupervisorSettings, runtimeDirectory: String, logger: Logger, requests: (any PluginRequestHandler)? = nil) {
        self.requests = requests
        self.config = config
        self.settings = settings
        self.runtimeDirectory = runtimeDirectory
        var logger = logger
        logger[metadataKey: "connector.id"] = "\(config.id)"
        self.logger = logger
        let policy = PluginLifecycle.Policy(
            initialBackoff: .milliseconds(settings.restartBackoffMilliseconds),
            maxBackoff: .milliseconds(settings.restartBackoffMaxMilliseconds),
            crashLimit: settings.crashLimit,
            crashWindow: .seconds(settings.crashWindowSeconds),
            stableAfter: .seconds(settings.stableAfterSeconds)
        )
        self.snapshot = Mutex(Snapshot(lifecycle: PluginLifecycle(policy: policy)))
    }

    public var status: ConnectorStatus {
        snapshot.withLock { snapshot in
            let lifecycle = snapshot.lifecycle
            let state = lifecycle.paused && lifecycle.state == .running ? "paused" : lifecycle.state.rawValue
            var status = ConnectorStatus(
                id: config.id, plugin: config.plugin, tenant: config.tenant, entity: config.entity,
                state: state, pid: snapshot.pid,
                uptimeSeconds: snapshot.readyAt.map { Self.seconds($0.duration(to: .now)) },
                restarts: lifecycle.restarts, lastError: snapshot.pauseReason ?? lifecycle.lastError, paused: lifecycle.paused,
                protocolErrors: snapshot.protocolErrors, pluginVersion: snapshot.plugin?.version,
                protocolVersion: snapshot.protocolVersion
            )
            status.gauges = snapshot.gauges
            return status
        }
    }

    var state: PluginLifecycle.State { snapshot.withLock { $0.lifecycle.state } }

    /// Running, connected and not paused: ready for work.
    var isAvailable: Bool {
        snapshot.withLock { $0.lifecycle.state == .running && !$0.lifecycle.paused }
    }

    var capabilities: Capabilities? { snapshot.withLock { $0.capabilities } }


    static let proxyVariables = ["http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"]

    /// Which secrets of this connector's work began with: taken before asking the plugin, it is handed
    /// back to ``pauseForCredentials(_:epoch:)`` if the target refuses them.
    var credentialsEpoch: Int { snapshot.withLock { $0.credentialsEpoch } }

    /// Pauses the connector because its target refused its credentials, unless a secret was stored since
    /// `epoch` (the refused work began before it, with the old secret or none): then nothing is paused
    /// and the work is simply tried again. A connector paused already keeps its reason (an operator's
    /// pause stays the operator's to lift). Returns whether this call paused it.
    @discardableResult
    func pauseForCredentials(_ message: String, epoch: Int) -> Bool {
        let reason = "auth: \(message)"
        let paused = snapshot.withLock { snapshot -> Bool in
            guard snapshot.credentialsEpoch == epoch, !snapshot.lifecycle.paused else { return false }
            snapshot.lifecycle.setPaused(true)
            snapshot.pauseReason = reason
            return true
        }
        if paused { logger.error("connector paused", metadata: ["connector.pause_reason": "\(reason)"]) }
        return paused
    }

    /// A secret of this connector's was stored: work refused from now on is refused with it. A connector
    /// the host paused because its credentials were refused is resumed to try the new one; returns
    /// whether it was. Counting and resuming are one step, so a refusal of the old secret that arrives
    /// later cannot pause it again. The caller logs and audits the resume.
    func credentialsStored() -> Bool {
        snapshot.withLock { snapshot -> Bool in
            snapshot.credentialsEpoch += 1
            guard snapshot.lifecycle.paused, snapshot.pauseReason?.hasPrefix("auth:") == true else { return false }
            snapshot.lifecycle.setPaused(false)
            snapshot.pauseReason = nil
            return true
        }
    }

    /// Sends a request to the plugin. Not connected, no answer in time, or a broken connection
    /// are `transient` errors; the plugin's own errors keep their class.
    func call<P: Encodable & Sendable, R: Decodable>(_ method: String, _ params: P, as type: R.Type, timeout: Duration) async throws -> R {
        let message = try await exchange(method, timeout: timeout) { connection, id in
            try connection.codec.request(id: id, method: method, params: params)
        }
        return try Self.codec.result(R.self, of: message)
    }

    /// Sends a notification if the plugin is connected (nothing is answered; a plugin not connected
    /// reads everything afresh when it starts).
    func notify<P: Encodable>(_ method: String, _ params: P) {
        guard let connection = connection.withLock({ $0 }), let line = try? connection.codec.notification(method: method, params: params) else { return }
        connection.write(line)
    }

    /// Like ``call(_:_:as:timeout:)`` with params already encoded; returns the whole answer line.
    func call(_ method: String, rawParams: Data, timeout: Duration) async throws -> RPCMessage {
        try await exchange(method, timeout: timeout) { connection, id in
            try connection.codec.request(id: id, method: method, rawParams: rawParams)
        }
    }

    private func exchange(_ method: String, timeout: Duration, encode: (RPCConnection, RPCID) throws -> Data) async throws -> RPCMessage {
        guard let connection = connection.withLock({ $0 }) else {
            throw ConnectorError(.transient, "connector \(config.id) is not connected")
        }
        do {
            return try await connection.exchange(method, timeout: timeout) { try encode(connection, $0) }
        } catch let error as ConnectorError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ConnectorError(.transient, "\(method) to \(config.id): \(error)")
        }
    }

    public func send(_ command: Command) { mailbox.post(command) }

    // MARK: Supervision loop

    /// Runs until the connector is stopped (removed by a reload, or the daemon shuts down).
    func run() async {
        while true {
            snapshot.withLock { $0.lifecycle.starting(now: .now) }
            let reason = await runOnce()
            let action = snapshot.withLock { snapshot in
                snapshot.pid = nil
                snapshot.readyAt = nil
                return snapshot.lifecycle.ended(reason, now: .now)
            }
            switch action {
            case .stop:
                logger.info("connector stopped")
                settled.raise()
                return
            case .restart(let delay):
                if reason.isFailure {
                    logger.warning("plugin run ended, restarting", metadata: [
                        "connector.end_reason": "\(reason.description)", "connector.backoff_ms": "\(delay.milliseconds)",
                    ])
                    settled.raise()
                }
                if await !waitDuringBackoff(delay) { return }
            case .fail(let why):
                logger.error("connector failed: restart limit reached; run hostctl restart to try again", metadata: ["connector.error": "\(why)"])
                settled.raise()
                if await !waitWhileFailed() { return }
            }
        }
    }

    /// Sleeps out a backoff, answering commands. Returns false if told to stop.
    private func waitDuringBackoff(_ delay: Duration) async -> Bool {
        // Jitter of ±20 % keeps restarts of many connectors from lining up.
        let jittered = delay * Double.random(in: 0.8...1.2)
        let deadline = ContinuousClock.now + jittered
        while ContinuousClock.now < deadline {
            let command = await withTaskGroup(of: Command?.self) { group in
                group.addTask { await self.mailbox.next() }
                group.addTask {
                    try? await Task.sleep(until: deadline)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            if Task.isCancelled { return false }
            switch command {
            case .none: return true
            case .stop: return stopRequested()
            case .restart: _ = snapshot.withLock { $0.lifecycle.requestRestart() }; return true
            case .pause: setPaused(true)
            case .resume: setPaused(false)
            }
        }
        return true
    }

    /// Waits in `failed` until an operator restarts or stops the connector.
    private func waitWhileFailed() async -> Bool {
        while let command = await mailbox.next() {
            switch command {
            case .stop: return stopRequested()
            case .restart:
                _ = snapshot.withLock { $0.lifecycle.requestRestart() }
                logger.info("connector restarted by operator")
                return true
            case .pause: setPaused(true)
            case .resume: setPaused(false)
            }
        }
        return false
    }

    private func stopRequested() -> Bool {
        snapshot.withLock { $0.lifecycle.requestStop() }
        _ = snapshot.withLock { $0.lifecycle.ended(.stopRequested, now: .now) }
        logger.info("connector stopped")
        return false
    }

    private func setPaused(_ paused: Bool) {
        snapshot.withLock {
            $0.lifecycle.setPaused(paused)
            $0.pauseReason = nil
        }
        logger.notice(paused ? "connector paused" : "connector resumed")
    }

    // MARK: One run of the plugin

    private func runOnce() async -> PluginLifecycle.EndReason {
        let run = Self.runCounter.wrappingAdd(1, ordering: .relaxed).oldValue
        let socketPath = "\(runtimeDirectory)/plugin-\(config.id).\(run).sock"
        let server: NIOAsyncChannel<LineChannel, Never>
        do {
            server = try await LineSocket.listen(path: socketPath, mode: 0o600, replacingExisting: true)
        } catch {
            return .spawnFailed("cannot listen on \(socketPath): \(error)")
        }
        defer { unlink(socketPath) }

        let token = Self.makeToken()
        var environment = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            PluginEnvironment.socket: socketPath,
            PluginEnvironment.token: token,
            PluginEnvironment.connectorID: config.id,
        ]
        // The only variables of the daemon's own environment a plugin inherits: how to reach the
        // outside world (libcurl reads them).
        let inherited = ProcessInfo.processInfo.environment
        for name in Self.proxyVariables { environment[name] = inherited[name] }
        if let pin = config.sha256, let actual = ConfigLoader.fileSHA256(config.executable), actual != pin {
            try? await server.channel.close()
            return .spawnFailed("\(config.executable) has sha256 \(actual), the pin says \(pin): refusing to start it")
        }
        let spawned: ChildProcesses.Spawned
        do {
            spawned = try await ChildProcesses.shared.spawn(executable: config.executable, environment: environment)
        } catch {
            try? await server.channel.close()
            return .spawnFailed(error.message)
        }
        let pid = spawned.pid
        snapshot.withLock { $0.pid = pid }
        logger.info("plugin started", metadata: ["plugin.pid": "\(pid)", "plugin.executable": "\(config.executable)"])
        let output = PluginOutputReader.start(fd: spawned.output, logger: logger)

        let handshaken = OneShot()
        return await withTaskGroup(of: RunEvent?.self) { group in
            group.addTask { .exited(await ChildProcesses.shared.waitForExit(pid)) }
            group.addTask { await self.serve(server: server, token: token, pid: pid, handshaken: handshaken) }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(self.settings.handshakeTimeoutMilliseconds))
                return handshaken.isRaised || Task.isCancelled ? nil : .ended(.handshakeTimedOut)
            }
            group.addTask { await self.pingUntilHung() }
            group.addTask { await self.waitForStopOrRestart() }

            var reason: PluginLifecycle.EndReason?
            while let event = await group.next() {
                switch event {
                case .exited(let status):
                    group.cancelAll()
                    // A closed connection is usually the first sign of an exit; the status says more.
                    if reason == nil || reason == .connectionClosed {
                        guard status != .exited(0) else { return .exited(status) }
                        return .exited(status, lastWords: await output.lastWords())
                    }
                    return reason!
                case .ended(let why):
                    guard reason == nil else { continue }
                    reason = why
                    if why == .connectionClosed {
                        // Usually the plugin is exiting: let it, so that its own status is what is
                        // reported, and end the group only if it lingers.
                        group.addTask {
                            try? await Task.sleep(for: .milliseconds(self.settings.shutdownGraceMilliseconds))
                            if !Task.isCancelled { await self.terminate(pid: pid, polite: false) }
                            return nil
                        }
                        continue
                    }
                    if why.isFailure {
                        logger.warning("stopping plugin", metadata: ["connector.end_reason": "\(why.description)"])
                    }
                    group.addTask {
                        await self.terminate(pid: pid, polite: !why.isFailure)
                        return nil
                    }
                case nil:
                    continue
                }
            }
            return reason ?? .connectionClosed
        }
    }

    /// Waits for stop or restart; pause and resume are applied on the spot. Cancellation means stop.
    private func waitForStopOrRestart() async -> RunEvent? {
        while true {
            guard let command = await mailbox.next() else {
                return Task.isCancelled ? nil : .ended(.stopRequested)
            }
            switch command {
            case .stop:
                snapshot.withLock { $0.lifecycle.requestStop() }
                return .ended(.stopRequested)
            case .restart:
                _ = snapshot.withLock { $0.lifecycle.requestRestart() }
                return .ended(.restartRequested)
            case .pause: setPaused(true)
            case .resume: setPaused(false)
            }
        }
    }

    /// Stops the process: `shutdown` when asked politely and the plugin is connected, then SIGTERM,
    /// then SIGKILL, each after the grace period. Cancellation (the process already exited, or the
    /// daemon is being torn down) skips straight to SIGKILL of whatever is left.
    private func terminate(pid: pid_t, polite: Bool) async {
        let grace = Duration.milliseconds(settings.shutdownGraceMilliseconds)
        do {
            if polite, let connection = connection.withLock({ $0 }) {
                _ = try? await connection.request(
                    Method.shutdown, ShutdownParams(deadlineMilliseconds: settings.shutdownGraceMilliseconds),
                    as: EmptyParams.self, timeout: grace
                )
                try await Task.sleep(for: grace)
            }
            kill(-pid, SIGTERM)
            kill(pid, SIGTERM)
            try await Task.sleep(for: grace)
            logger.warning("plugin ignored SIGTERM, sending SIGKILL", metadata: ["plugin.pid": "\(pid)"])
        } catch {
            // Cancelled: the exit was seen, or the daemon is going down. Make sure nothing is left.
        }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
    }

    /// Pings the plugin on the configured interval once it is connected; returns when one goes unanswered.
    private func pingUntilHung() async -> RunEvent? {
        let interval = Duration.milliseconds(settings.pingIntervalMilliseconds)
        let timeout = Duration.milliseconds(settings.pingTimeoutMilliseconds)
        while true {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return nil
            }
            guard let connection = connection.withLock({ $0 }) else { continue }
            do {
                _ = try await connection.request(Method.ping, EmptyParams(), as: PingResult.self, timeout: timeout)
            } catch is CancellationError {
                return nil
            } catch let error as HostError where error.code == .timeout {
                return .ended(.hung("no answer to ping within \(timeout)"))
            } catch {
                if Task.isCancelled { return nil }
                logger.warning("ping failed", metadata: ["connector.error": "\(error)"])
            }
        }
    }

    // MARK: The connection

    private func serve(
        server: NIOAsyncChannel<NIOAsyncChannel<Frame, ByteBuffer>, Never>,
        token: String, pid: pid_t, handshaken: OneShot
    ) async -> RunEvent? {
        do {
            let accepted = try await server.executeThenClose { inbound -> NIOAsyncChannel<Frame, ByteBuffer>? in
                for try await child in inbound { return child }
                return nil
            }
            guard let child = accepted else { return nil }
            let credentials = try await Self.peerCredentials(child.channel)
            guard credentials.uid == getuid() else {
                try? await child.channel.close()
                return .ended(.handshakeFailed("peer uid \(credentials.uid) is not the daemon's uid \(getuid())"))
            }
            return try await child.executeThenClose { inbound, _ in
                let rpc = RPCConnection(channel: child.channel)
                var frames = inbound.makeAsyncIterator()
                guard let first = try await frames.next() else { return .ended(.connectionClosed) }
                do {
                    try await handshake(first, rpc: rpc, token: token, peerPID: credentials.pid)
                } catch {
                    return .ended(.handshakeFailed("\(error)"))
                }
                handshaken.raise()
                connection.withLock { $0 = rpc }
                snapshot.withLock {
                    $0.lifecycle.ready()
                    $0.readyAt = .now
                }
                settled.raise()
                defer {
                    connection.withLock { $0 = nil }
                    rpc.failAll(HostError(.connectionClosed, "plugin connection closed"))
                }
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await rpc.expireRequests() }
                    defer { group.cancelAll() }
                    while let frame = try await frames.next() {
                        await receive(frame, rpc: rpc)
                    }
                    return .ended(.connectionClosed)
                }
            }
        } catch is CancellationError {
            return nil
        } catch {
            if Task.isCancelled { return nil }
            // After the handshake a failed read is the plugin's end going away (a reset when it died
            // with lines unread): its exit status, which follows, says why.
            return .ended(handshaken.isRaised ? .connectionClosed : .handshakeFailed(HostError.reason(error)))
        }
    }

    private func handshake(_ frame: Frame, rpc: RPCConnection, token: String, peerPID: pid_t) async throws(HostError) {
        let codec = rpc.codec
        func reject(_ id: RPCID?, _ error: ConnectorError) async -> HostError {
            rpc.write(codec.errorResponse(id: id, error: error))
            return HostError(.handshake, error.message)
        }
        guard case .line(let buffer) = frame else {
            throw await reject(nil, ConnectorError(.protocol, "first line is over the size limit"))
        }
        let message: RPCMessage
        do {
            message = try codec.decode(line: Data(buffer))
        } catch {
            throw await reject(nil, error)
        }
        guard case .request(let id, Method.initialize) = message.kind else {
            throw await reject(nil, ConnectorError(.protocol, "the first message must be an initialize request"))
        }
        let params: InitializeParams
        do {
            params = try codec.params(InitializeParams.self, of: message)
        } catch {
            throw await reject(id, error)
        }
        guard Self.constantTimeEqual(params.token, token) else {
            throw await reject(id, ConnectorError(.auth, "wrong token"))
        }
        guard let version = ProtocolVersion.negotiate(offered: params.protocolVersions) else {
            throw await reject(id, ConnectorError(
                .protocol, "no common protocol version: plugin offers \(params.protocolVersions), host speaks \(ProtocolVersion.supported)"
            ))
        }
        let result = InitializeResult(
            protocolVersion: version,
            connector: ConnectorInfo(id: config.id, plugin: config.plugin, tenant: config.tenant, entity: config.entity),
            config: config.config,
            host: HostInfo(name: "connector-hostd", version: BuildInfo.version),
            limits: Limits(maxLineBytes: RPCCodec.defaultMaxLineBytes, maxInFlight: 64)
        )
        do {
            try await rpc.send(try codec.response(id: id, result: result))
        } catch {
            throw HostError(.handshake, "cannot answer initialize", cause: error)
        }
        snapshot.withLock {
            $0.plugin = params.plugin
            $0.protocolVersion = version
            $0.capabilities = params.capabilities
        }
        logger.info("plugin connected", metadata: [
            "plugin.name": "\(params.plugin.name)", "plugin.version": "\(params.plugin.version)",
            "plugin.pid": "\(peerPID)", "protocol.version": "\(version)",
        ])
    }

    /// Handles one line the plugin sent after the handshake. Nothing a plugin sends can stop the host:
    /// broken lines are logged as protocol errors and answered when they carry an id.
    private func receive(_ frame: Frame, rpc: RPCConnection) async {
        let codec = rpc.codec
        let line: Data
        switch frame {
        case .oversized(let bytes):
            let error = ConnectorError(.protocol, "line of \(bytes) bytes exceeds the limit of \(RPCCodec.defaultMaxLineBytes) bytes")
            protocolError(error.message)
            rpc.write(codec.parseErrorLine(error))
            return
        case .line(let buffer):
            line = Data(buffer)
        }
        let message: RPCMessage
        do {
            message = try codec.decode(line: line)
        } catch {
            protocolError(error.message, excerpt: line)
            rpc.write(codec.parseErrorLine(error))
            return
        }
        switch message.kind {
        case .response(let id), .errorResponse(.some(let id), _):
            switch rpc.resolve(message) {
            case .delivered: break
            case .late: logger.debug("late answer from plugin", metadata: ["rpc.id": "\(id)"])
            case .unknown: protocolError("response to unknown request id \(id)")
            }
        case .errorResponse(.none, let error):
            logger.warning("plugin could not read a host message", metadata: ["plugin.error": "\(error.message)"])
        case .notification(Method.log):
            do {
                relayLog(try codec.params(LogParams.self, of: message))
            } catch {
                protocolError(error.message, excerpt: line)
            }
        case .notification(Method.metrics):
            do {
                keep(try codec.params(MetricsParams.self, of: message).gauges)
            } catch {
                protocolError(error.message, excerpt: line)
            }
        case .notification(Method.cancel):
            break  // The host runs no plugin-initiated work that could be cancelled yet.
        case .notification(let method):
            protocolError("unknown notification \"\(method)\"")
        case .request(let id, let method) where requests?.methods.contains(method) == true:
            let connector = config.id
            Task { [requests] in
                if let line = await requests?.answer(id: id, method: method, message: message, connector: connector) { rpc.write(line) }
            }
        case .request(let id, let method):
            protocolError("unknown method \"\(method)\"")
            rpc.write(codec.errorResponse(
                id: id,
                error: RPCErrorObject(
                    code: RPCErrorObject.methodNotFound, message: "unknown method \"\(method)\"",
                    data: .init(errorClass: ConnectorError.Code.notSupported.name)
                )
            ))
        }
    }

    /// Keeps a plugin's gauges; a bad name or value is a protocol error, and a connector keeps at most
    /// ``MetricsParams/maxGauges`` names.
    private func keep(_ gauges: [String: Double]) {
        for (name, value) in gauges.sorted(by: { $0.key < $1.key }) {
            if let problem = MetricsParams.problem(name: name, value: value) {
                protocolError("metrics: \(problem)")
                continue
            }
            let kept = snapshot.withLock { snapshot -> Bool in
                guard snapshot.gauges[name] != nil || snapshot.gauges.count < MetricsParams.maxGauges else { return false }
                snapshot.gauges[name] = value
                return true
            }
            if !kept { protocolError("metrics: more than \(MetricsParams.maxGauges) gauges; \(name) is not kept") }
        }
    }

    private func protocolError(_ message: String, excerpt: Data? = nil) {
        snapshot.withLock { $0.protocolErrors += 1 }
        var metadata: Logger.Metadata = ["protocol.error": "\(message)"]
        if let excerpt {
            metadata["protocol.line_excerpt"] = "\(String(decoding: excerpt.prefix(120), as: UTF8.self))"
        }
        logger.warning("plugin protocol error", metadata: metadata)
    }

    private func relayLog(_ params: LogParams) {
        let level = Logger.Level(rawValue: params.level) ?? .info
        var metadata: Logger.Metadata = ["log.source": "plugin"]
        for (key, value) in params.metadata { metadata[key] = "\(value)" }
        logger.log(level: level, "\(params.message)", metadata: metadata)
    }

    // MARK: Helpers

    static func makeToken() -> String {
        Hex.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    static func peerCredentials(_ channel: any Channel) async throws -> (pid: pid_t, uid: uid_t) {
        guard let provider = channel as? any SocketOptionProvider else {
            throw HostError(.peerRejected, "cannot read peer credentials")
        }
        let credentials: ch_ucred = try await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)).get()
        return (credentials.pid, credentials.uid)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// Copies a plugin's stdout and stderr into the host's log, a line at a time, on a thread that
/// ends when the plugin's end of the pipe closes (so the last words of a crash are never lost).
enum PluginOutputReader {
    /// What a plugin wrote last, kept so that an exit can say why ("page_size: must be between 1 and 100").
    final class Output: Sendable {
        let lastLine = Mutex<String?>(nil)
        let closed = OneShot()

        /// The last line, once the pipe is drained (it closes with the process; a short wait at most).
        func lastWords() async -> String? {
            for _ in 0..<20 where !closed.isRaised {
                try? await Task.sleep(for: .milliseconds(10))
            }
            return lastLine.withLock { $0 }
        }
    }

    static func start(fd: Int32, logger: Logger) -> Output {
        let output = Output()
        let thread = Thread {
            var framer = LineFramer(maxLineBytes: 16 * 1024)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
            defer {
                buffer.deallocate()
                close(fd)
                output.closed.raise()
            }
            while true {
                let count = read(fd, buffer.baseAddress, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                for framed in framer.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) {
                    if case .line(let line) = framed, !line.isEmpty {
                        let text = String(decoding: line, as: UTF8.self)
                        logger.notice("plugin output", metadata: ["plugin.output": "\(text)"])
                        output.lastLine.withLock { $0 = String(text.prefix(300)) }
                    }
                }
            }
        }
        thread.name = "plugin-output"
        thread.start()
        return output
    }
}
