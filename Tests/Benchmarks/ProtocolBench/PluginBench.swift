// The plugin-socket measurements: the host's own pieces (ServerBootstrap on a Unix socket,
// LineFrameDecoder, NIOAsyncChannel, RPCConnection) talking to the real connector-sample process.
import ConnectorProtocol
import Foundation
import HostCore
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct PluginFigures: Encodable, Sendable {
    struct Concurrent: Encodable, Sendable {
        var concurrency: Int
        var requests: Int
        var seconds: Double
        var requestsPerSecond: Double
        var latency: LatencyStats

        enum CodingKeys: String, CodingKey {
            case concurrency, requests, seconds
            case requestsPerSecond = "requests_per_second"
            case latency = "latency_us"
        }
    }

    /// The plugin process's health after each phase: memory, and what it says is in flight.
    struct Process: Encodable, Sendable {
        var rssAfterRoundTripsKiB: Int?
        var rssAfterConcurrentKiB: Int?
        var rssAfterOneWayKiB: Int?
        var peakRSSKiB: Int?
        /// `in_flight` in the answer to a ping sent when nothing else is: 0 or 1 (itself) when healthy.
        var inFlightWhenIdle: Int

        enum CodingKeys: String, CodingKey {
            case rssAfterRoundTripsKiB = "rss_after_round_trips_kib"
            case rssAfterConcurrentKiB = "rss_after_concurrent_kib"
            case rssAfterOneWayKiB = "rss_after_one_way_kib"
            case peakRSSKiB = "peak_rss_kib"
            case inFlightWhenIdle = "in_flight_when_idle"
        }
    }

    var roundTrip: LatencyStats
    var concurrent: Concurrent
    var oneWay: OneWayFigure
    var process: Process

    enum CodingKeys: String, CodingKey {
        case concurrent
        case roundTrip = "round_trip_us"
        case oneWay = "one_way"
        case process = "plugin_process"
    }
}

enum PluginBench {
    /// Longest wait for any single answer; a healthy plugin answers in microseconds.
    static let requestTimeout = Duration.seconds(30)
    static let connectTimeout = Duration.seconds(10)

    /// Spawns the plugin, serves its connection like the daemon does, measures, and stops it.
    /// The plugin is stopped and the temporary directory removed on every path out.
    static func run(_ options: Options, lines: SampleLines) async throws -> PluginFigures {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/plugin.sock"

        let server: NIOAsyncChannel<NIOAsyncChannel<Frame, ByteBuffer>, Never>
        do {
            // The same listener as ConnectorInstance.runOnce.
            server = try await LineSocket.listen(path: socketPath, mode: 0o600, replacingExisting: true)
        } catch {
            throw BenchError("cannot listen on \(socketPath): \(error)")
        }

        let token = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined()
        let environment = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            PluginEnvironment.socket: socketPath,
            PluginEnvironment.token: token,
            PluginEnvironment.connectorID: "bench",
        ]
        let spawned: ChildProcesses.Spawned
        do {
            spawned = try await ChildProcesses.shared.spawn(executable: options.plugin, environment: environment)
        } catch {
            try? await server.channel.close()
            throw BenchError("cannot start \(options.plugin): \(error)")
        }
        let pid = spawned.pid
        forwardOutput(fd: spawned.output)
        let exit = Task { await ChildProcesses.shared.waitForExit(pid) }

        // Stop waiting for the connection if the plugin exits first or takes too long. (Closing the
        // listener ends the accept loop; once a plugin connected it is closed already.)
        Task {
            _ = await exit.value
            try? await server.channel.close()
        }
        let acceptTimer = Task {
            try await Task.sleep(for: connectTimeout)
            try? await server.channel.close()
        }

        let figures: PluginFigures
        do {
            let accepted = try await server.executeThenClose { inbound -> NIOAsyncChannel<Frame, ByteBuffer>? in
                for try await child in inbound { return child }
                return nil
            }
            acceptTimer.cancel()
            let timedOut = (try? await acceptTimer.value) != nil
            guard let child = accepted else {
                throw BenchError(timedOut ? "the plugin did not connect within \(connectTimeout)" : "the plugin exited before connecting")
            }
            figures = try await session(child, token: token, pid: pid, options: options, lines: lines)
        } catch {
            acceptTimer.cancel()
            let status = await stop(pid: pid, exit: exit, grace: .milliseconds(200))
            throw BenchError("\(error) (plugin \(status))")
        }
        let status = await stop(pid: pid, exit: exit, grace: .seconds(2))
        if case .exited(0) = status {} else {
            FileHandle.standardError.write(Data("protocol-bench: warning: plugin \(status) after shutdown\n".utf8))
        }
        return figures
    }

    // MARK: The connection

    /// Runs the inbound loop in a child task and the measurements in this one; ends with `shutdown`.
    private static func session(
        _ child: NIOAsyncChannel<Frame, ByteBuffer>, token: String, pid: pid_t, options: Options, lines: SampleLines
    ) async throws -> PluginFigures {
        try await child.executeThenClose { inbound, _ in
            let rpc = RPCConnection(channel: child.channel)
            let (handshakes, handshaken) = AsyncStream.makeStream(of: Result<Void, BenchError>.self)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer {
                        handshaken.finish()
                        rpc.failAll(BenchError("the plugin closed the connection"))
                    }
                    try await receiveLoop(inbound, rpc: rpc, token: token, handshaken: handshaken)
                }
                group.addTask { await rpc.expireRequests() }
                defer { group.cancelAll() }

                let timer = Task {
                    try await Task.sleep(for: connectTimeout)
                    handshaken.yield(.failure(BenchError("no initialize from the plugin within \(connectTimeout)")))
                }
                var iterator = handshakes.makeAsyncIterator()
                let outcome = await iterator.next()
                timer.cancel()
                switch outcome {
                case .success?: break
                case .failure(let error)?: throw error
                case nil: throw BenchError("the plugin closed the connection before initialize")
                }

                let figures = try await measure(rpc, pid: pid, options: options, lines: lines)
                _ = try await rpc.request(
                    Method.shutdown, ShutdownParams(deadlineMilliseconds: 1000), as: EmptyParams.self, timeout: .seconds(3)
                )
                return figures
            }
        }
    }

    /// The host's side of every line the plugin sends, as ConnectorInstance.serve/receive does it:
    /// answer `initialize`, hand responses to their requests, drop the plugin's `log` notifications.
    private static func receiveLoop(
        _ inbound: NIOAsyncChannelInboundStream<Frame>, rpc: RPCConnection, token: String,
        handshaken: AsyncStream<Result<Void, BenchError>>.Continuation
    ) async throws {
        let codec = rpc.codec
        var complaints = 0
        func complain(_ message: String) {
            complaints += 1
            if complaints <= 5 {
                FileHandle.standardError.write(Data("protocol-bench: warning: \(message)\n".utf8))
            }
        }
        for try await frame in inbound {
            guard case .line(let buffer) = frame else {
                complain("the plugin sent an oversized line")
                continue
            }
            let line = buffer.withUnsafeReadableBytes { Data($0) }
            let message: RPCMessage
            do {
                message = try codec.decode(line: line)
            } catch {
                complain("unreadable line from the plugin: \(error.message)")
                continue
            }
            switch message.kind {
            case .response(let id), .errorResponse(.some(let id), _):
                if rpc.resolve(message) != .delivered { complain("answer to unknown or abandoned request \(id)") }
            case .request(let id, Method.initialize):
                do {
                    try await rpc.send(try initializeAnswer(message, id: id, codec: codec, token: token))
                    handshaken.yield(.success(()))
                } catch let error as BenchError {
                    try? await rpc.send(codec.errorResponse(id: id, error: ConnectorError(.protocol, error.description)))
                    handshaken.yield(.failure(error))
                }
            case .request(let id, let method):
                complain("unexpected request \"\(method)\" from the plugin")
                try await rpc.send(codec.errorResponse(
                    id: id,
                    error: RPCErrorObject(
                        code: RPCErrorObject.methodNotFound, message: "unknown method \"\(method)\"",
                        data: .init(errorClass: ConnectorError.Code.notSupported.name)
                    )
                ))
            case .notification, .errorResponse(.none, _):
                break  // `log` lines and the like: not part of what is measured.
            }
        }
    }

    private static func initializeAnswer(_ message: RPCMessage, id: RPCID, codec: RPCCodec, token: String) throws(BenchError) -> Data {
        let params: InitializeParams
        do {
            params = try codec.params(InitializeParams.self, of: message)
        } catch {
            throw BenchError("bad initialize params: \(error.message)")
        }
        guard params.token == token else { throw BenchError("the plugin presented the wrong token") }
        guard let version = ProtocolVersion.negotiate(offered: params.protocolVersions) else {
            throw BenchError("no common protocol version: plugin offers \(params.protocolVersions)")
        }
        let result = InitializeResult(
            protocolVersion: version,
            connector: ConnectorInfo(id: "bench", plugin: params.plugin.name),
            config: .object([:]),
            host: HostInfo(name: "protocol-bench", version: "0"),
            limits: Limits(maxLineBytes: RPCCodec.defaultMaxLineBytes, maxInFlight: 64)
        )
        do {
            return try codec.response(id: id, result: result)
        } catch {
            throw BenchError("cannot encode the initialize answer: \(error)")
        }
    }

    // MARK: Measurements

    @discardableResult
    private static func ping(_ rpc: RPCConnection) async throws -> PingResult {
        try await rpc.request(Method.ping, EmptyParams(), as: PingResult.self, timeout: requestTimeout)
    }

    private static func measure(_ rpc: RPCConnection, pid: pid_t, options: Options, lines: SampleLines) async throws -> PluginFigures {
        // 1. Sequential round trips.
        for _ in 0..<options.warmup { try await ping(rpc) }
        var samples: [UInt64] = []
        samples.reserveCapacity(options.iterations)
        for _ in 0..<options.iterations {
            let start = monotonicNanoseconds()
            try await ping(rpc)
            samples.append(monotonicNanoseconds() - start)
        }
        let roundTrip = LatencyStats(nanoseconds: samples)
        samples = []
        let rssAfterRoundTrips = memoryKiB(pid: pid, field: "VmRSS")

        // 2. Many requests in flight.
        let concurrent = try await concurrentPings(rpc, concurrency: options.concurrency, total: options.requests)
        let rssAfterConcurrent = memoryKiB(pid: pid, field: "VmRSS")

        // 3. One-way notifications, then one ping: the plugin reads lines in order, so its answer
        // means every notification before it was read and decoded.
        let start = monotonicNanoseconds()
        for index in 0..<options.oneWay {
            // Queue writes as the daemon does, waiting for one in 1,024 to keep the queue bounded.
            if index % 1024 == 1023 { try await rpc.send(lines.notification) } else { rpc.write(lines.notification) }
        }
        try await ping(rpc)
        let oneWay = OneWayFigure(
            messages: options.oneWay, lineBytes: lines.notification.count,
            nanoseconds: monotonicNanoseconds() - start
        )
        let process = PluginFigures.Process(
            rssAfterRoundTripsKiB: rssAfterRoundTrips,
            rssAfterConcurrentKiB: rssAfterConcurrent,
            rssAfterOneWayKiB: memoryKiB(pid: pid, field: "VmRSS"),
            peakRSSKiB: memoryKiB(pid: pid, field: "VmHWM"),
            inFlightWhenIdle: try await ping(rpc).inFlight
        )
        return PluginFigures(roundTrip: roundTrip, concurrent: concurrent, oneWay: oneWay, process: process)
    }

    private static func concurrentPings(_ rpc: RPCConnection, concurrency: Int, total: Int) async throws -> PluginFigures.Concurrent {
        // A short warm-up at the same concurrency, then the measured run.
        _ = try await pings(rpc, concurrency: concurrency, total: min(total, concurrency * 20))
        let start = monotonicNanoseconds()
        let samples = try await pings(rpc, concurrency: concurrency, total: total)
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        return PluginFigures.Concurrent(
            concurrency: concurrency, requests: total, seconds: seconds,
            requestsPerSecond: Double(total) / seconds, latency: LatencyStats(nanoseconds: samples)
        )
    }

    /// `total` pings from `concurrency` tasks, each sending its next as soon as one is answered.
    /// Returns every round trip in nanoseconds.
    private static func pings(_ rpc: RPCConnection, concurrency: Int, total: Int) async throws -> [UInt64] {
        let tickets = Tickets(total)
        return try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var local: [UInt64] = []
                    local.reserveCapacity(total / concurrency + 1)
                    while tickets.take() {
                        let sent = monotonicNanoseconds()
                        try await ping(rpc)
                        local.append(monotonicNanoseconds() - sent)
                    }
                    return local
                }
            }
            var all: [UInt64] = []
            all.reserveCapacity(total)
            for try await part in group { all += part }
            return all
        }
    }

    // MARK: Process helpers

    /// Waits for the plugin to exit; after `grace`, SIGKILL.
    private static func stop(pid: pid_t, exit: Task<ExitStatus, Never>, grace: Duration) async -> ExitStatus {
        let first = await withTaskGroup(of: ExitStatus?.self) { group in
            group.addTask { await exit.value }
            group.addTask {
                try? await Task.sleep(for: grace)
                return nil
            }
            let first = await group.next() ?? nil
            if first == nil { kill(pid, SIGKILL) }
            group.cancelAll()
            return first
        }
        if let first { return first }
        return await exit.value
    }

    /// Copies the plugin's stdout and stderr to ours, so a crash explains itself.
    private static func forwardOutput(fd: Int32) {
        let thread = Thread {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
            defer {
                buffer.deallocate()
                close(fd)
            }
            while true {
                let count = read(fd, buffer.baseAddress, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                _ = write(STDERR_FILENO, buffer.baseAddress, count)
            }
        }
        thread.name = "plugin-output"
        thread.start()
    }

    private static func makeTemporaryDirectory() throws(BenchError) -> String {
        var template = Array("/tmp/protocol-bench.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
        }
        guard let path = made else {
            throw BenchError("mkdtemp: \(String(cString: strerror(errno)))")
        }
        return path
    }

    /// A memory figure of a process from /proc/PID/status: VmRSS (resident now) or VmHWM (peak).
    static func memoryKiB(pid: pid_t, field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            // "VmRSS:\t   27608 kB"
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }
}

/// Hands out a fixed number of turns to the tasks that share them.
final class Tickets: Sendable {
    private let left: Atomic<Int>
    init(_ count: Int) { left = Atomic(count) }
    func take() -> Bool { left.subtract(1, ordering: .relaxed).newValue >= 0 }
}
