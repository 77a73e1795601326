public import ConnectorProtocol
public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The plugin's end of its Unix socket: writes whole lines under a lock, reads on a thread of its
/// own, and matches responses to the requests this side sent.
///
/// Blocking sockets instead of SwiftNIO keep plugin binaries small; one reader thread per plugin is
/// all the concurrency the transport needs.
public final class HostConnection: Sendable {
    private let fd: Int32
    private let writeLock = Mutex<Void>(())
    private let pending = Mutex<[RPCID: CheckedContinuation<RPCMessage, any Error>]>([:])
    private let nextID = Atomic<Int64>(1)
    private let credentialsChanges = Atomic<Int>(0)
    let codec = RPCCodec()
    let maxLineBytes: Int
    /// Lines the reader may hand over before the consumer has taken them: beyond this the reader
    /// stops reading, the socket fills, and the host's writes wait. Backpressure, not memory growth.
    let readCredits = DispatchSemaphore(value: 256)

    init(socketPath: String, maxLineBytes: Int = RPCCodec.defaultMaxLineBytes) throws(ConnectorError) {
        fd = try UnixSocket.connect(path: socketPath)
        self.maxLineBytes = maxLineBytes
    }

    deinit { close(fd) }

    // MARK: Sending

    /// Writes one complete line (it must end in "\n"). Lines from concurrent callers never interleave.
    public func writeLine(_ data: Data) throws(ConnectorError) {
        let failure: Int32? = writeLock.withLock { _ in
            data.withUnsafeBytes { UnixSocket.writeAll(fd, $0) }
        }
        if let failure {
            throw ConnectorError(.transient, "write to host failed: \(String(cString: strerror(failure)))")
        }
    }

    /// Sends a request to the host and waits for its answer.
    public func request<P: Encodable, R: Decodable>(_ method: String, _ params: P, as: R.Type) async throws -> R {
        let id = RPCID.number(nextID.wrappingAdd(1, ordering: .relaxed).oldValue)
        let line = try codec.request(id: id, method: method, params: params)
        let message = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RPCMessage, any Error>) in
            pending.withLock { $0[id] = continuation }
            do {
                try writeLine(line)
            } catch {
                if let continuation = pending.withLock({ $0.removeValue(forKey: id) }) {
                    continuation.resume(throwing: error)
                }
            }
        }
        if case .errorResponse(_, let error) = message.kind {
            throw error.connectorError
        }
        return try codec.result(R.self, of: message)
    }

    /// How many `credentials.changed` notifications the host has sent: a value read from the vault
    /// before the count moved may be out of date.
    public var credentialsGeneration: Int { credentialsChanges.load(ordering: .acquiring) }

    func credentialsChanged() {
        credentialsChanges.wrappingAdd(1, ordering: .releasing)
    }

    /// One of this connector's secrets from the host's vault, by name. Keep the value in memory only:
    /// never log it, never write it to disk.
    public func secret(_ name: String) async throws -> String {
        try await request(Method.credentialsGet, CredentialsGetParams(name: name), as: CredentialsGetResult.self).value
    }

    /// Stores a value the plugin obtained itself (a refreshed OAuth token) in the vault, sealed.
    @discardableResult
    public func storeSecret(_ name: String, value: String) async throws -> Int {
        try await request(Method.credentialsUpdate, CredentialsUpdateParams(name: name, value: value), as: CredentialsUpdateResult.self).version
    }

    /// Reports the plugin's gauges (`metrics`); the host exports each as
    /// `connector_host_plugin_gauge{connector, name}` and shows them in `hostctl connectors --json`.
    public func report(gauges: [String: Double]) {
        try? notify(Method.metrics, MetricsParams(gauges: gauges))
    }

    /// Sends a notification (no answer expected).
    public func notify<P: Encodable>(_ method: String, _ params: P) throws {
        try writeLine(try codec.notification(method: method, params: params))
    }

    // MARK: Receiving

    /// Hands a response to the request waiting for it. Returns false for an unknown id.
    func resolve(_ message: RPCMessage, id: RPCID) -> Bool {
        guard let continuation = pending.withLock({ $0.removeValue(forKey: id) }) else { return false }
        continuation.resume(returning: message)
        return true
    }

    /// Fails every request still waiting (the host went away).
    func failAllPending(_ error: ConnectorError) {
        let waiting = pending.withLock { table in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for continuation in waiting { continuation.resume(throwing: error) }
    }

    /// Starts the reader thread; lines and oversize reports arrive on the returned stream, which
    /// finishes when the host closes the socket.
    func incoming() -> AsyncStream<LineFramer.Output> {
        let (stream, continuation) = AsyncStream.makeStream(of: LineFramer.Output.self)
        let fd = self.fd
        let maxLineBytes = self.maxLineBytes
        let credits = readCredits
        let thread = Thread {
            var framer = LineFramer(maxLineBytes: maxLineBytes)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
            defer { buffer.deallocate() }
            while true {
                let count = read(fd, buffer.baseAddress, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                for output in framer.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) {
                    credits.wait()
                    continuation.yield(output)
                }
            }
            continuation.finish()
        }
        thread.name = "host-socket-reader"
        thread.start()
        return stream
    }
}
