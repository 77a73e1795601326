public import ConnectorProtocol
public import Foundation
import Logging
public import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What the line decoder hands up the pipeline.
public enum Frame: Sendable {
    case line(ByteBuffer)
    /// A line longer than the limit was discarded; `bytes` is its length.
    case oversized(Int)
}

/// Splits the byte stream into `\n`-terminated lines no longer than `maxLineBytes`. An oversized
/// line is skipped up to its newline and reported once, so one bad line costs the connection nothing.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame
    let maxLineBytes: Int
    /// Bytes of an oversized line thrown away so far.
    private var discarding = 0
    /// Bytes at the front of the buffer already searched for a newline.
    private var scanned = 0

    public init(maxLineBytes: Int = RPCCodec.defaultMaxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let newline = view[(view.startIndex + scanned)...].firstIndex(of: 0x0A) else {
            if discarding > 0 || buffer.readableBytes > maxLineBytes {
                discarding += buffer.readableBytes
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                scanned = 0
            } else {
                scanned = buffer.readableBytes
            }
            return .needMoreData
        }
        scanned = 0
        let length = newline - buffer.readerIndex
        if discarding > 0 || length > maxLineBytes {
            let total = discarding + length
            discarding = 0
            buffer.moveReaderIndex(forwardBy: length + 1)
            context.fireChannelRead(Self.wrapInboundOut(.oversized(total)))
            return .continue
        }
        var line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 0x0D {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        context.fireChannelRead(Self.wrapInboundOut(.line(line)))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A last line without its newline is incomplete: drop it.
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}

/// A connection carrying bounded lines: what plugin and admin sockets accept.
public typealias LineChannel = NIOAsyncChannel<Frame, ByteBuffer>

public enum LineSocket {
    /// Listens on a Unix socket at `path` (then set to `mode`) whose connections are split into lines
    /// of at most `maxLineBytes`.
    public static func listen(
        path: String, mode: UInt32, maxLineBytes: Int = RPCCodec.defaultMaxLineBytes, replacingExisting: Bool
    ) async throws -> NIOAsyncChannel<LineChannel, Never> {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: replacingExisting) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLineBytes: maxLineBytes)))
                    return try LineChannel(wrappingChannelSynchronously: channel)
                }
            }
        chmod(path, mode_t(mode))
        return server
    }
}

/// One side of a JSON-RPC connection over a NIO channel: sends requests with a deadline and
/// matches their responses. The owner runs the inbound loop, hands responses to ``resolve(_:)``, and
/// runs ``expireRequests(every:)`` beside it.
///
/// Requests are written straight into the channel without waiting for the write, and answers wake
/// the waiting task directly (no event-loop promise): two thread hops fewer per request. Deadlines are
/// enforced by one sweeper per connection instead of a timer per request, so a request also times out
/// when its write is stuck behind a peer that stopped reading.
public final class RPCConnection: Sendable {
    private struct Waiting {
        let slot: AnswerSlot
        let deadline: ContinuousClock.Instant
        let method: String
        let timeout: Duration
    }

    private let channel: any Channel
    private let pending = Mutex<[RPCID: Waiting]>([:])
    private let nextID = Atomic<Int64>(1)
    public let codec = RPCCodec()

    public init(channel: any Channel) {
        self.channel = channel
    }

    /// Queues one encoded line for writing; a failed write fails nothing but is visible as a closed channel.
    public func write(_ line: Data) {
        channel.writeAndFlush(ByteBuffer(bytes: line), promise: nil)
    }

    /// Writes one encoded line and waits until it is written.
    public func send(_ line: Data) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: line)).get()
    }

    /// Sends a request and waits at most `timeout` for its answer. An error response is thrown as
    /// the ``ConnectorError`` it carries; no answer in time throws ``HostError/Code/timeout``.
    public func request<P: Encodable, R: Decodable>(
        _ method: String, _ params: P, as: R.Type, timeout: Duration
    ) async throws -> R {
        let message = try await exchange(method, timeout: timeout) { try self.codec.request(id: $0, method: method, params: params) }
        return try codec.result(R.self, of: message)
    }

    /// Sends a request whose params are JSON already and returns the whole response line, so the
    /// caller can keep parts of it verbatim.
    public func request(_ method: String, rawParams: Data, timeout: Duration) async throws -> RPCMessage {
        try await exchange(method, timeout: timeout) { try self.codec.request(id: $0, method: method, rawParams: rawParams) }
    }

    /// Sends the line `encode` makes for a fresh id and waits for the answer; error answers throw.
    public func exchange(_ method: String, timeout: Duration, encode: (RPCID) throws -> Data) async throws -> RPCMessage {
        let id = RPCID.number(nextID.wrappingAdd(1, ordering: .relaxed).oldValue)
        let line = try encode(id)
        let slot = AnswerSlot()
        pending.withLock { $0[id] = Waiting(slot: slot, deadline: .now + timeout, method: method, timeout: timeout) }
        write(line)
        let message: RPCMessage
        do {
            message = try await withTaskCancellationHandler {
                try await slot.value()
            } onCancel: {
                self.complete(id, .failure(CancellationError()))
            }
        } catch let error where error is CancellationError || (error as? HostError)?.code == .timeout {
            // Tell the peer to stop working on it; a late answer is then only logged.
            if let cancel = try? codec.notification(method: Method.cancel, params: CancelParams(id: id)) {
                write(cancel)
            }
            throw error
        }
        if case .errorResponse(_, let error) = message.kind {
            throw error.connectorError
        }
        return message
    }

    /// Fails requests whose deadline passed; runs until cancelled. The owner of the connection runs it.
    public func expireRequests(every interval: Duration = .milliseconds(25)) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            let now = ContinuousClock.now
            let expired = pending.withLock { table -> [Waiting] in
                let ids = table.filter { $0.value.deadline <= now }.map(\.key)
                return ids.compactMap { table.removeValue(forKey: $0) }
            }
            for waiting in expired {
                waiting.slot.fill(.failure(HostError(.timeout, "no answer to \(waiting.method) within \(waiting.timeout)")))
            }
        }
    }

    public enum Resolution: Sendable, Equatable {
        /// Handed to the request waiting for it.
        case delivered
        /// An answer to a request this side sent but stopped waiting for (timed out or cancelled).
        case late
        /// This side never sent a request with that id: the peer is confused.
        case unknown
    }

    /// Hands a response to its waiting request.
    @discardableResult
    public func resolve(_ message: RPCMessage) -> Resolution {
        let id: RPCID?
        switch message.kind {
        case .response(let responseID): id = responseID
        case .errorResponse(let responseID, _): id = responseID
        default: id = nil
        }
        guard let id else { return .unknown }
        if complete(id, .success(message)) { return .delivered }
        if case .number(let number) = id, number > 0, number < nextID.load(ordering: .relaxed) { return .late }
        return .unknown
    }

    /// Fails every request still waiting (the peer went away).
    public func failAll(_ error: any Error) {
        let all = pending.withLock { table in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for waiting in all { waiting.slot.fill(.failure(error)) }
    }

    /// Whoever removes the entry fills its slot, so each is filled exactly once.
    @discardableResult
    private func complete(_ id: RPCID, _ result: Result<RPCMessage, any Error>) -> Bool {
        guard let waiting = pending.withLock({ $0.removeValue(forKey: id) }) else { return false }
        waiting.slot.fill(result)
        return true
    }
}

/// One answer, filled once, awaited once.
final class AnswerSlot: Sendable {
    private let state = Mutex<(result: Result<RPCMessage, any Error>?, waiter: CheckedContinuation<RPCMessage, any Error>?)>((nil, nil))

    func fill(_ result: Result<RPCMessage, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<RPCMessage, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> RPCMessage {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension Data {
    init(_ buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}
