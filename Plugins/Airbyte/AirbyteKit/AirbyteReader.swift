public import ConnectorProtocol
import Foundation
public import Logging
import Synchronization

/// Reads an Airbyte source for the host, one page per `source.poll`: the first poll starts `read` from the
/// state the host stored (its cursor), and later polls take what that run has checkpointed, until it ends;
/// the next poll after that starts the next run. A run that fails ends with its error on the poll after its
/// last checkpointed records (the host backs off and polls again, which starts a new run).
public final class AirbyteReader: Sendable {
    /// The only stream the host polls: every stream of the source, read in one run.
    public static let stream = "records"
    /// How long a poll waits for records: the host polls again at once when it says there are more.
    static let pollWait: Duration = .seconds(5)
    /// How long checkpointed records wait for more before a poll takes them.
    static let gather: Duration = .milliseconds(500)

    let settings: AirbyteSettings
    let connector: ConnectorInfo
    let workspace: AirbyteWorkspace
    let logger: Logger
    let secret: @Sendable (String) async throws -> String

    private struct State {
        var run: ReadRun?
        /// A run's error, for the poll after its last records.
        var failure: ConnectorError?
        var catalog: (json: JSONValue, records: AirbyteRecords, offered: [String])?
        var stopped = false
        /// Numbers the configuration files of `check` and `discover`: an operator's check may run beside a poll's discover.
        var runs = 0
    }
    private let state = Mutex(State())

    public init(settings: AirbyteSettings, connector: ConnectorInfo, workspace: AirbyteWorkspace, logger: Logger,
                secret: @escaping @Sendable (String) async throws -> String) {
        self.settings = settings
        self.connector = connector
        self.workspace = workspace
        self.logger = logger
        self.secret = secret
    }

    /// One page of records and the state after them.
    public func poll(_ params: PollParams) async throws -> PollResult {
        guard params.stream == Self.stream else {
            throw ConnectorError(.permanent, "the Airbyte connector has one stream, \"\(Self.stream)\" (not \"\(params.stream)\")")
        }
        if let failure = state.withLock({ state -> ConnectorError? in
            defer { state.failure = nil }
            return state.failure
        }) {
            throw failure
        }
        if let run = state.withLock({ $0.run }), let page = run.lastPage(after: params.cursor) {
            logger.notice("the host asks again for the last page (it did not keep it): the same page again",
                          metadata: ["connector.id": "\(connector.id)", "airbyte.records": "\(page.events.count + page.rejects.count)"])
            return PollResult(events: page.events, cursor: page.cursor, hasMore: true, rejects: page.rejects)
        }
        let run = try await currentRun(from: params.cursor)
        let clock = ContinuousClock()
        let deadline = clock.now + Self.pollWait
        var firstReady: ContinuousClock.Instant?
        let idleLimit = Duration.seconds(settings.idleTimeoutSeconds)
        run.stopIfIdle(longerThan: idleLimit)
        var (ready, waiting, ended) = run.progress
        while !Task.isCancelled && ready < params.maxEvents && waiting < params.maxEvents && !ended && clock.now < deadline {
            run.stopIfIdle(longerThan: idleLimit)
            if ready + waiting > 0 {
                let since = firstReady ?? clock.now
                firstReady = since
                if clock.now - since >= Self.gather { break }
            }
            try await Task.sleep(for: .milliseconds(20))
            (ready, waiting, ended) = run.progress
        }
        // Records that have waited for their STATE as long as a poll waits, or a page of them, go under
        // the state before them: a source that checkpoints rarely (or, reading whole, never) is not held
        // in memory to its end.
        let page = run.take(limit: params.maxEvents, uncommitted: !ended)
        var more = true
        if run.isOver {
            more = false
            finish(run)
            if state.withLock({ $0.failure != nil }) { more = true }  // its error, on the next poll
        }
        return PollResult(events: page.events, cursor: page.cursor ?? params.cursor, hasMore: more, rejects: page.rejects)
    }

    /// The run the host's cursor continues: the current one when its last page carried that cursor, else a
    /// new one from it (the host lost more than the last page — it restarted — or this is the first poll).
    /// Pages under the same state have cursors of their own, so a page lost that way is read again.
    private func currentRun(from cursor: String?) async throws -> ReadRun {
        if let run = state.withLock({ $0.run }) {
            if run.takenCursor == cursor { return run }
            logger.notice("the host's cursor is not where this run's pages left it: reading again from the host's",
                          metadata: ["connector.id": "\(connector.id)"])
            run.stop()
            finish(run, quietly: true)
        }
        let catalog = try await configuredCatalog()
        let checkpoints: AirbyteCheckpoints
        do {
            checkpoints = try AirbyteCheckpoints(cursor: cursor)
        } catch {
            throw ConnectorError(.permanent, "connector \(connector.id): \(error.description)")
        }
        var arguments = ["read", "--config", try await writeConfiguration(as: Self.readConfiguration), "--catalog", try workspace.write("catalog.json", AirbyteJSON.encoder().encode(catalog.json))]
        if !checkpoints.state.isEmpty {
            arguments += ["--state", try workspace.write("state.json", Data(checkpoints.state.cursor.utf8))]
        }
        let run = try ReadRun(settings: settings, records: catalog.records, checkpoints: checkpoints, arguments: arguments,
                              workspace: workspace, environment: environment, logger: logger)
        let stopped = state.withLock { state -> Bool in
            if !state.stopped { state.run = run }
            return state.stopped
        }
        if stopped {
            run.stop()
            throw ConnectorError(.cancelled, "the connector is stopping")
        }
        logger.info("Airbyte read started", metadata: ["airbyte.pid": "\(run.process.processIdentifier)", "airbyte.resumed": "\(!checkpoints.state.isEmpty)"])
        return run
    }

    /// Forgets an ended run; keeps its error for the next poll.
    private func finish(_ run: ReadRun, quietly: Bool = false) {
        workspace.remove(Self.readConfiguration)
        let failure = quietly ? nil : run.failure
        state.withLock { state in
            if state.run === run { state.run = nil }
            if let failure { state.failure = failure }
        }
        let lost = run.uncommitted
        if lost > 0 {
            logger.notice("records read after the source's last STATE are not kept: the next read reads them again",
                          metadata: ["airbyte.records": "\(lost)"])
        }
        if let failure { logger.error("Airbyte read failed", metadata: ["error.class": "\(failure.code)", "error.message": "\(failure.message)"]) }
    }

    /// The configured catalog of the chosen streams, from `discover` (once per plugin run).
    func configuredCatalog() async throws -> (json: JSONValue, records: AirbyteRecords, offered: [String]) {
        if let catalog = state.withLock({ $0.catalog }) { return catalog }
        let messages = try await runOnce("discover")
        guard let catalog = messages.lazy.compactMap({ if case .catalog(let catalog) = $0 { catalog } else { nil } }).first else {
            throw Self.failure(of: messages, doing: "discover", missing: "CATALOG")
        }
        let configured: (catalog: JSONValue, streams: [AirbyteStream])
        let offered = AirbyteCatalog(catalog)
        do {
            configured = try offered.configured(settings.streams, primaryKeys: settings.primaryKeys)
        } catch {
            throw ConnectorError(.permanent, "[connector.config] streams of \(connector.id): \(error.description)")
        }
        let result = (json: configured.catalog, records: AirbyteRecords(connector: connector, streams: configured.streams, mappings: settings.mappings),
                      offered: offered.names)
        state.withLock { $0.catalog = result }
        return result
    }

    /// `check`: whether the source reaches its system with this configuration, and then which of the
    /// streams it offers are read, and how (its `discover`).
    public func check() async throws -> CheckResult {
        let messages = try await runOnce("check")
        for message in messages {
            if case .connectionStatus(let succeeded, let text) = message {
                let said = "Airbyte source \(settings.command[0]): \(text ?? (succeeded ? "check succeeded" : "check failed"))"
                guard succeeded else { return CheckResult(ok: false, message: said) }
                do {
                    let catalog = try await configuredCatalog()
                    let streams = catalog.records.streams.values.sorted { $0.name < $1.name }
                    return CheckResult(ok: true, message: "\(said); reads \(streams.count) of its \(catalog.offered.count) streams: "
                                       + streams.map(\.summary).joined(separator: ", "))
                } catch let error as ConnectorError {
                    return CheckResult(ok: false, message: "\(said); but \(error.message)")
                }
            }
        }
        throw Self.failure(of: messages, doing: "check", missing: "CONNECTION_STATUS")
    }

    public func stop() {
        let run = state.withLock { state -> ReadRun? in
            state.stopped = true
            defer { state.run = nil }
            return state.run
        }
        run?.stop()
        workspace.removeAll()
    }

    /// The configuration file of the read (one runs at a time).
    static let readConfiguration = "config.read.json"

    /// Runs a command of the source (`check`, `discover`) to its end, with a configuration file of its
    /// own, and gathers its messages.
    func runOnce(_ command: String) async throws -> [AirbyteMessage] {
        let configuration = "config.\(command).\(state.withLock { state in state.runs += 1; return state.runs }).json"
        defer { workspace.remove(configuration) }
        let arguments = [command, "--config", try await writeConfiguration(as: configuration)]
        let messages = Locked<[AirbyteMessage]>([])
        let badLines = Locked(0)
        let logger = logger
        let process = try Self.launch(settings.command, arguments, workspace: workspace, environment: environment, onLine: { line in
            guard let message = Self.message(in: line, badLines: badLines, logger: logger) else { return }
            if case .log(let level, let text) = message { ReadRun.log(level, text, logger) }
            messages.withLock { $0.append(message) }
        }, logger: logger)
        let status = await process.wait()
        let gathered = messages.withLock { $0 }
        if status != 0, !gathered.contains(where: { if case .connectionStatus = $0 { true } else if case .catalog = $0 { true } else { false } }) {
            throw Self.failure(of: gathered, doing: arguments[0], status: status)
        }
        return gathered
    }

    /// A line of the source's as a message; a line that is not one is logged (the first ten of a run) and skipped.
    static func message(in line: Data, badLines: Locked<Int>, logger: Logger) -> AirbyteMessage? {
        do {
            return try AirbyteMessage.parse(line)
        } catch {
            let count = badLines.withLock { count in
                count += 1
                return count
            }
            if count <= 10 { logger.warning("the Airbyte source wrote a line that is not a message", metadata: ["airbyte.problem": "\(error)"]) }
            return nil
        }
    }

    /// The error a source's run ended with: its TRACE error, else its exit status (a crash: `transient`),
    /// else the message it should have written and did not (it will not next time either: `permanent`).
    static func failure(of messages: [AirbyteMessage], doing command: String, status: Int32? = nil, missing: String? = nil) -> ConnectorError {
        for case .trace(let trace) in messages.reversed() where trace.type == "ERROR" {
            return ConnectorError(trace.errorCode, "Airbyte \(command): \(trace.message ?? "failed") (\(trace.failureType ?? "no failure type"))")
        }
        if let status { return ConnectorError(.transient, "Airbyte \(command) exited with status \(status)") }
        return ConnectorError(.permanent, "Airbyte \(command) ended without a \(missing ?? "result") message (the source's log may say why)")
    }

    static func launch(_ command: [String], _ arguments: [String], workspace: AirbyteWorkspace, environment: [String: String],
                       onLine: @escaping @Sendable (Data) -> Void, logger: Logger) throws -> AirbyteSourceProcess {
        guard access(command[0], X_OK) == 0 else {
            let why = errno == ENOENT ? "there is no such file" : "it cannot be run (\(String(cString: strerror(errno))))"
            throw ConnectorError(.permanent, "cannot start the Airbyte source \(command[0]): \(why); install one with airbyte-install (README, \"The Airbyte connector\")")
        }
        do {
            return try AirbyteSourceProcess(command: command, arguments: arguments, directory: workspace.directory, environment: environment,
                                            onLine: onLine, onStderr: { line in logger.info("Airbyte source stderr", metadata: ["airbyte.stderr": "\(line)"]) })
        } catch {
            throw ConnectorError(.permanent, "cannot start the Airbyte source \(command[0]): \(error.localizedDescription)")
        }
    }

    /// The source's configuration file, with the vault's secrets in it.
    func writeConfiguration(as name: String) async throws -> String {
        var values: [String: String] = [:]
        for (path, name) in settings.secrets { values[path] = try await secret(name) }
        let config = AirbyteWorkspace.configuration(settings.source, secrets: values)
        return try workspace.write(name, AirbyteJSON.encoder().encode(config))
    }

    /// What the source runs with: a home of its own (the private folder), and the way out (proxies),
    /// never the host's socket or token.
    var environment: [String: String] {
        let own = ProcessInfo.processInfo.environment
        var environment = ["PATH": own["PATH"] ?? "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workspace.directory]
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"] { environment[name] = own[name] }
        return environment
    }
}

/// One `read`: the source's messages as checkpointed pages.
final class ReadRun: Sendable {
    private struct State {
        var checkpoints: AirbyteCheckpoints
        var exitStatus: Int32?
        var error: AirbyteTrace?
        /// When the source last wrote a line, or last waited for the host to take records.
        var lastOutput = ContinuousClock.now
        /// Stopped for writing nothing this long.
        var idle: Duration?
    }
    private let state: Locked<State>
    let process: AirbyteSourceProcess
    private let stopping = Locked(false)

    init(settings: AirbyteSettings, records: AirbyteRecords, checkpoints: AirbyteCheckpoints, arguments: [String], workspace: AirbyteWorkspace,
         environment: [String: String], logger: Logger) throws {
        let state = Locked(State(checkpoints: checkpoints))
        self.state = state
        let limit = settings.bufferedRecords
        let stopping = stopping
        let badLines = Locked(0)
        process = try AirbyteReader.launch(settings.command, arguments, workspace: workspace, environment: environment, onLine: { line in
            // A run being stopped is over: what it still writes (its last line cut short) is not read.
            guard !stopping.withLock({ $0 }) else { return }
            guard let message = AirbyteReader.message(in: line, badLines: badLines, logger: logger) else {
                state.withLock { $0.lastOutput = .now }
                return
            }
            switch message {
            case .record(let stream, _, let data, let emittedAt):
                let event = records.event(stream: stream, data: data, emittedAt: emittedAt)
                state.withLock { state in
                    switch event {
                    case .event(let event): state.checkpoints.record(event)
                    case .reject(let reject): state.checkpoints.reject(reject)
                    }
                }
            case .state(let checkpoint):
                state.withLock { $0.checkpoints.checkpoint(checkpoint) }
            case .log(let level, let text):
                Self.log(level, text, logger)
            case .trace(let trace) where trace.type == "ERROR":
                logger.error("the Airbyte source reports an error", metadata: ["airbyte.error": "\(trace.message ?? "")", "airbyte.failure_type": "\(trace.failureType ?? "")"])
                state.withLock { $0.error = trace }
            default:
                break
            }
            // Back-pressure: the source waits on its pipe while the host has not taken enough. Each look
            // also marks the source alive: a line just came, and waiting for the host is not its silence.
            while !stopping.withLock({ $0 }) && state.withLock({ state in
                state.lastOutput = .now
                return state.checkpoints.ready + state.checkpoints.uncommitted >= limit
            }) {
                usleep(5_000)
            }
        }, logger: logger)
        let process = process
        Task {
            let status = await process.wait()
            state.withLock { state in
                // Ended well: what follows the last STATE is read too.
                if status == 0 && state.error == nil { state.checkpoints.end() }
                state.exitStatus = status
            }
        }
    }

    static func log(_ level: String, _ text: String, _ logger: Logger) {
        switch level {
        case "FATAL", "ERROR": logger.error("Airbyte source: \(text)")
        case "WARN", "WARNING": logger.warning("Airbyte source: \(text)")
        default: logger.debug("Airbyte source: \(text)")
        }
    }

    /// Checkpointed records not yet taken, records waiting for their STATE, and whether the source has ended.
    var progress: (ready: Int, waiting: Int, ended: Bool) {
        state.withLock { ($0.checkpoints.ready, $0.checkpoints.uncommitted, $0.exitStatus != nil) }
    }

    var takenCursor: String? { state.withLock { $0.checkpoints.takenCursor } }
    func lastPage(after cursor: String?) -> (events: [Event], rejects: [SourceReject], cursor: String)? {
        state.withLock { $0.checkpoints.lastPage(after: cursor) }
    }
    var uncommitted: Int { state.withLock { $0.checkpoints.uncommitted } }

    /// Ended, and every checkpoint taken.
    var isOver: Bool {
        state.withLock { $0.exitStatus != nil && $0.checkpoints.ready == 0 && !$0.checkpoints.hasReadyState }
    }

    /// Stops a source that has written nothing for longer than `limit` (hung: a deadlock, a server that
    /// never answers); its run fails, to be read again from the last stored state.
    func stopIfIdle(longerThan limit: Duration) {
        let idle = state.withLock { state -> Bool in
            guard state.exitStatus == nil, state.idle == nil, ContinuousClock.now - state.lastOutput > limit else { return false }
            state.idle = limit
            return true
        }
        if idle { process.stop(grace: .seconds(2)) }
    }

    /// What the run ended with, when that is a failure.
    var failure: ConnectorError? {
        state.withLock { state in
            guard let status = state.exitStatus else { return nil }
            if let idle = state.idle {
                return ConnectorError(.transient, "the Airbyte source wrote nothing for \(idle.components.seconds) s (idle_timeout_s): stopped, to be read again from the last state")
            }
            if let error = state.error {
                return ConnectorError(error.errorCode, "Airbyte read: \(error.message ?? "failed") (\(error.failureType ?? "no failure type"))")
            }
            return status == 0 || stopping.withLock { $0 } ? nil : ConnectorError(.transient, "Airbyte read exited with status \(status)")
        }
    }

    func take(limit: Int, uncommitted: Bool) -> (events: [Event], rejects: [SourceReject], cursor: String?) {
        state.withLock { $0.checkpoints.take(limit: limit, uncommitted: uncommitted) }
    }

    func stop() {
        stopping.withLock { $0 = true }
        process.stop()
    }
}
