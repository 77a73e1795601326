public import ConnectorProtocol
public import Foundation
import Logging
public import NIOCore
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

/// One side of a JSON-RPC connection over a NIO channel: sends requests with a deadline and
/// matches their responses. The owner runs the inbound loop and hands responses to ``resolve(_:)``.
public final class RPCConnection: Sendable {
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let eventLoop: any EventLoop
    private let pending = Mutex<[RPCID: EventLoopPromise<RPCMessage>]>([:])
    private let nextID = Atomic<Int64>(1)
    public let codec = RPCCodec()

    public init(outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, eventLoop: any EventLoop) {
        self.outbound = outbound
        self.eventLoop = eventLoop
    }

    /// Sends one encoded line.
    public func send(_ line: Data) async throws {
        try await outbound.write(ByteBuffer(bytes: line))
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
        let promise = eventLoop.makePromise(of: RPCMessage.self)
        pending.withLock { $0[id] = promise }
        let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { [weak self] in
            self?.complete(id) { $0.fail(HostError(.timeout, "no answer to \(method) within \(timeout)")) }
        }
        defer { timer.cancel() }
        let message: RPCMessage
        do {
            message = try await withTaskCancellationHandler {
                // The deadline covers the write too: a peer that stops reading fills the socket, and
                // the write must not outwait the timeout that detects exactly that.
                try await withThrowingTaskGroup(of: RPCMessage?.self) { group in
                    group.addTask {
                        do {
                            try await self.send(line)
                        } catch {
                            self.complete(id) { $0.fail(error) }
                        }
                        return nil
                    }
                    group.addTask { try await promise.futureResult.get() }
                    defer { group.cancelAll() }
                    while let result = try await group.next() {
                        if let result { return result }
                    }
                    throw HostError(.connectionClosed, "no answer to \(method)")
                }
            } onCancel: {
                self.complete(id) { $0.fail(CancellationError()) }
            }
        } catch let error where error is CancellationError || (error as? HostError)?.code == .timeout {
            // Tell the peer to stop working on it; a late answer is then only logged.
            if let cancel = try? codec.notification(method: Method.cancel, params: CancelParams(id: id)) {
                try? await send(cancel)
            }
            throw error
        }
        if case .errorResponse(_, let error) = message.kind {
            throw error.connectorError
        }
        return message
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
        if complete(id, { $0.succeed(message) }) { return .delivered }
        if case .number(let number) = id, number > 0, number < nextID.load(ordering: .relaxed) { return .late }
        return .unknown
    }

    /// Fails every request still waiting (the peer went away).
    public func failAll(_ error: any Error) {
        let all = pending.withLock { table in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for promise in all { promise.fail(error) }
    }

    /// Whoever removes the promise completes it, so each is completed exactly once.
    @discardableResult
    private func complete(_ id: RPCID, _ body: (EventLoopPromise<RPCMessage>) -> Void) -> Bool {
        guard let promise = pending.withLock({ $0.removeValue(forKey: id) }) else { return false }
        body(promise)
        return true
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
