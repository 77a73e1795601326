import ConnectorProtocol
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs a ``Connector`` as a plugin process: connect, handshake, serve requests until `shutdown`
/// or until the host closes the socket.
public enum ConnectorRunner {
    /// The plugin's whole `main`. Never returns: exits 0 after a clean shutdown, 1 when the host
    /// cannot be reached or the handshake fails, 0 when the host closes the connection.
    public static func serve<C: Connector>(_ type: C.Type) async -> Never {
        signal(SIGPIPE, SIG_IGN)
        if CommandLine.arguments.dropFirst().first == "--describe" {
            // What `connector-hostd --check-config` reads: the plugin and its capabilities, no host needed.
            let description = PluginDescription(plugin: C.plugin, capabilities: Session<C>.capabilities)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            FileHandle.standardOutput.write((try? encoder.encode(description)) ?? Data())
            FileHandle.standardOutput.write(Data("\n".utf8))
            exit(0)
        }
        if CommandLine.arguments.dropFirst().first == "--check-config" {
            // What `connector-hostd --check-config` asks: the problem of the `[connector.config]` table on stdin.
            let input = FileHandle.standardInput.readDataToEndOfFile()
            let problem: String? = if let config = try? JSONDecoder().decode(JSONValue.self, from: input) {
                C.configProblem(config)
            } else {
                "the configuration given on stdin is not JSON"
            }
            let answer: JSONValue = ["config_problem": problem.map { .string($0) } ?? .null]
            FileHandle.standardOutput.write(((try? JSONEncoder().encode(answer)) ?? Data()) + Data("\n".utf8))
            exit(0)
        }
        let environment = ProcessInfo.processInfo.environment
        guard let socketPath = environment[PluginEnvironment.socket], let token = environment[PluginEnvironment.token]
        else {
            fail("\(C.plugin.name): \(PluginEnvironment.socket) and \(PluginEnvironment.token) are not set; plugins are started by connector-hostd")
        }
        let connection: HostConnection
        do {
            connection = try HostConnection(socketPath: socketPath)
        } catch {
            fail("\(C.plugin.name): cannot reach the host: \(error)")
        }
        let session = Session<C>(connection: connection)
        await session.run(token: token)
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(1)
    }
}

/// One connection's life: the handshake, then dispatch of every request to its own task.
final class Session<C: Connector>: Sendable {
    private let connection: HostConnection
    private let ready = ReadyGate<C>()
    private let inFlight = Mutex<[RPCID: Task<Void, Never>]>([:])

    init(connection: HostConnection) {
        self.connection = connection
    }

    func run(token: String) async -> Never {
        let incoming = connection.incoming()
        let handshake = Task { await self.handshake(token: token) }
        for await output in incoming {
            switch output {
            case .oversized(let bytes):
                try? connection.writeLine(
                    connection.codec.parseErrorLine(ConnectorError(.protocol, "line of \(bytes) bytes exceeds the limit of \(connection.maxLineBytes)"))
                )
            case .line(let line):
                await receive(line)
            }
            connection.readCredits.signal()
        }
        // The host closed the socket: it stopped or died. Nothing can be delivered any more.
        handshake.cancel()
        connection.failAllPending(ConnectorError(.transient, "host closed the connection"))
        exit(0)
    }

    private func handshake(token: String) async {
        let capabilities = Self.capabilities
        let params = InitializeParams(
            protocolVersions: ProtocolVersion.supported,
            plugin: C.plugin,
            capabilities: capabilities,
            token: token
        )
        do {
            let result = try await connection.request(Method.initialize, params, as: InitializeResult.self)
            guard ProtocolVersion.supported.contains(result.protocolVersion) else {
                ConnectorRunner.fail("\(C.plugin.name): host picked protocol version \(result.protocolVersion), this plugin speaks \(ProtocolVersion.supported)")
            }
            let logLevel = result.config["log_level"]?.stringValue.flatMap(Logger.Level.init(rawValue:)) ?? .info
            let connection = self.connection
            var logger = Logger(label: result.connector.id) { _ in HostLogHandler(connection: connection) }
            logger.logLevel = logLevel
            let context = ConnectorContext(
                connector: result.connector,
                config: result.config,
                protocolVersion: result.protocolVersion,
                logger: logger,
                host: connection
            )
            ready.open(try await C(context: context))
        } catch {
            ConnectorRunner.fail("\(C.plugin.name): handshake failed: \(error)")
        }
    }

    private func receive(_ line: Data) async {
        let codec = connection.codec
        let message: RPCMessage
        do {
            message = try codec.decode(line: line)
        } catch {
            try? connection.writeLine(codec.parseErrorLine(error))
            return
        }
        switch message.kind {
        case .response(let id):
            _ = connection.resolve(message, id: id)
        case .errorResponse(let id?, _):
            _ = connection.resolve(message, id: id)
        case .errorResponse(nil, let error):
            // The host could not parse something we sent. Log it locally; there is nothing to answer.
            FileHandle.standardError.write(Data("\(C.plugin.name): host reported: \(error.message)\n".utf8))
        case .notification(Method.cancel):
            if let params = try? codec.params(CancelParams.self, of: message) {
                inFlight.withLock { $0[params.id] }?.cancel()
            }
        case .notification(Method.credentialsChanged):
            connection.credentialsChanged()
        case .notification:
            break  // Unknown notifications are ignored, as JSON-RPC allows.
        case .request(let id, Method.shutdown):
            let deadline = (try? codec.params(ShutdownParams.self, of: message))?.deadlineMilliseconds ?? 5000
            if let connector = ready.current {
                _ = await withTaskGroup(of: Bool.self) { group in
                    group.addTask { await connector.shutdown(); return true }
                    group.addTask { try? await Task.sleep(for: .milliseconds(deadline)); return false }
                    let first = await group.next()
                    group.cancelAll()
                    return first
                }
            }
            try? connection.writeLine(try codec.response(id: id, result: EmptyParams()))
            exit(0)
        case .request(let id, let method):
            // Created and registered under the lock: the task's own removal takes the same lock, so
            // it can never run before the registration and leave a finished task in the table.
            inFlight.withLock { table in
                table[id] = Task {
                    let answer = await self.answer(id: id, method: method, message: message)
                    self.inFlight.withLock { _ = $0.removeValue(forKey: id) }
                    try? self.connection.writeLine(answer)
                }
            }
        }
    }

    private func answer(id: RPCID, method: String, message: RPCMessage) async -> Data {
        let codec = connection.codec
        do {
            let connector = try await ready.wait()
            switch method {
            case Method.ping:
                try await connector.ping()
                return try codec.response(id: id, result: PingResult(inFlight: inFlight.withLock { $0.count }))
            case Method.check:
                return try codec.response(id: id, result: try await connector.check())
            case Method.sourcePoll:
                let params = try codec.params(PollParams.self, of: message)
                return try codec.response(id: id, result: try await connector.poll(params))
            case Method.sinkDeliver:
                let params = try codec.params(DeliveryItem.self, of: message).result.get()
                return try codec.response(id: id, result: try await connector.deliver(params))
            case Method.webhookHandle:
                let params = try codec.params(WebhookParams.self, of: message)
                return try codec.response(id: id, result: try await connector.handleWebhook(params))
            case Method.sinkDeliverBatch:
                // Events this plugin cannot read (of a newer schema, or not of its model) are refused one
                // by one, never misread; the others are delivered.
                let batch = try codec.params(DeliveryBatch.self, of: message)
                let items = batch.deliveries.map(\.result)
                var delivered = await connector.deliverBatch(items.compactMap { try? $0.get() }, concurrency: batch.atOnce).makeIterator()
                let results = items.map { item in item.map { _ in delivered.next()! }.flatMap { $0 } }
                return try codec.response(id: id, result: DeliverBatchResult(results: results.map(DeliverItemResult.init)))
            case Method.reconcileSnapshot:
                let params = try codec.params(ReconcileParams.self, of: message)
                try params.validate()
                return try codec.response(id: id, result: try await connector.reconcileSnapshot(params))
            default:
                return codec.errorResponse(
                    id: id,
                    error: RPCErrorObject(code: RPCErrorObject.methodNotFound, message: "unknown method \"\(method)\"", data: .init(errorClass: ConnectorError.Code.notSupported.name))
                )
            }
        } catch let error as ConnectorError {
            return codec.errorResponse(id: id, error: error)
        } catch is CancellationError {
            return codec.errorResponse(id: id, error: ConnectorError(.cancelled, "request \(id) was cancelled"))
        } catch {
            return codec.errorResponse(id: id, error: ConnectorError(.transient, "\(error)"))
        }
    }
}

extension Session {
    /// The capabilities announced in `initialize`: the connector's, with its batch limit.
    static var capabilities: Capabilities {
        var capabilities = C.capabilities
        if !capabilities.sinkEventTypes.isEmpty && capabilities.sinkBatch == 0 {
            capabilities.sinkBatch = C.deliverBatchLimit
        }
        return capabilities
    }
}

/// One delivery as a sink reads it: an event this plugin cannot read fails only itself, as a dead
/// letter saying why (its schema is newer than this plugin's model, or a member is not what the model
/// says), never misread and never retried. The host checks only an event's header (PROTOCOL.md 7).
struct DeliveryItem: Decodable {
    var result: Result<DeliverParams, ConnectorError>

    init(from decoder: any Decoder) throws {
        do {
            let params = try DeliverParams(from: decoder)
            result = ConnectorRunner.newerSchema(params.event.schemaVersion).map { .failure($0) } ?? .success(params)
        } catch let error as DecodingError where Self.isInEvent(error) {
            let probe = try? SchemaProbe(from: decoder)
            result = .failure(ConnectorRunner.newerSchema(probe?.event?.schemaVersion)
                ?? ConnectorError(.permanent, "this plugin cannot read the event: \(RPCCodec.describe(error, from: decoder.codingPath.count))",
                                  details: ["reason": "unreadable_event"]))
        }
    }

    private static func isInEvent(_ error: DecodingError) -> Bool {
        let context: DecodingError.Context
        switch error {
        case .dataCorrupted(let found), .keyNotFound(_, let found), .typeMismatch(_, let found), .valueNotFound(_, let found): context = found
        @unknown default: return false
        }
        return context.codingPath.contains { $0.stringValue == "event" }
    }
}

/// `sink.deliver_batch`'s params, each delivery read on its own.
struct DeliveryBatch: Decodable {
    var deliveries: [DeliveryItem]
    /// Most deliveries worked on at once; all of them when absent.
    var concurrency: Int?

    var atOnce: Int { concurrency ?? deliveries.count }
}

/// The schema version of a delivery's event, read apart from the rest.
struct SchemaProbe: Decodable {
    struct Version: Decodable {
        var schemaVersion: Int?
        enum CodingKeys: String, CodingKey { case schemaVersion = "schema_version" }
    }

    var event: Version?
}

extension ConnectorRunner {
    /// The error for an event of a schema version this plugin's model does not know: a dead letter that
    /// says to upgrade the plugin, rather than an event misread by an older model.
    static func newerSchema(_ version: Int?) -> ConnectorError? {
        guard let version, version > Event.currentSchemaVersion else { return nil }
        return ConnectorError(.permanent, "the event's schema_version is \(version) but this plugin knows canonical events up to version \(Event.currentSchemaVersion): upgrade the plugin, then replay",
                              details: ["reason": "schema_version", "schema_version": .int(Int64(version))])
    }
}

/// Holds the connector once the handshake made it; requests that arrive earlier wait for it.
final class ReadyGate<C: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<C, Never>])
        case ready(C)
    }
    private let state = Mutex<State>(.waiting([]))

    var current: C? {
        state.withLock { if case .ready(let value) = $0 { value } else { nil } }
    }

    func open(_ value: C) {
        let waiters = state.withLock { state -> [CheckedContinuation<C, Never>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .ready(value)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func wait() async throws -> C {
        if let value = current { return value }
        return await withCheckedContinuation { continuation in
            let value: C? = state.withLock { state in
                switch state {
                case .ready(let value): return value
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                }
            }
            if let value { continuation.resume(returning: value) }
        }
    }
}

/// A swift-log handler that sends each record to the host as a `log` notification.
struct HostLogHandler: LogHandler {
    let connection: HostConnection
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        for (key, value) in event.metadata ?? [:] { fields[key] = "\(value)" }
        let params = LogParams(level: event.level.rawValue, message: "\(event.message)", metadata: fields)
        if (try? connection.notify(Method.log, params)) == nil {
            FileHandle.standardError.write(Data("[\(event.level)] \(event.message)\n".utf8))
        }
    }
}
