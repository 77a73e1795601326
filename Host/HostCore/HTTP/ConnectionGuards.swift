#if canImport(Glibc)
import Glibc
#endif
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What keeps a listener facing the internet from taking the daemon down: every connection must
/// send its request head, then its whole body, within a deadline (slow senders are cut off, not
/// waited for); at most so many connections are open at once (the rest wait in the kernel's
/// backlog, costing the daemon no descriptor); and the cap fits the process's descriptor limit with
/// room left for the store, the admin socket and the plugins.

/// The deadlines of one HTTP/1 connection, without I/O: which instant it must have made progress by.
struct RequestDeadlines {
    struct Timeouts: Equatable {
        /// From accepting the connection to a complete request head.
        var header: Duration
        /// From a request's head to its last body byte.
        var body: Duration
        /// From a response to the next request's complete head (keep-alive).
        var idle: Duration
    }

    enum Phase: Equatable { case awaitingHead, readingRequest, responding }

    let timeouts: Timeouts
    private(set) var phase = Phase.awaitingHead
    /// Nil while the daemon itself is answering: that time is ours, bounded by the plugin call's timeout.
    private(set) var deadline: ContinuousClock.Instant?
    private var requestRead = false, responseWritten = false

    init(timeouts: Timeouts, openedAt now: ContinuousClock.Instant) {
        self.timeouts = timeouts
        self.deadline = now + timeouts.header
    }

    mutating func readHead(at now: ContinuousClock.Instant) {
        phase = .readingRequest
        requestRead = false
        responseWritten = false
        deadline = now + timeouts.body
    }

    mutating func readEnd(at now: ContinuousClock.Instant) {
        requestRead = true
        settle(at: now)
    }

    /// An early answer (413 while the body still streams) keeps the body's deadline running.
    mutating func wroteResponseEnd(at now: ContinuousClock.Instant) {
        responseWritten = true
        settle(at: now)
    }

    func hasExpired(at now: ContinuousClock.Instant) -> Bool {
        deadline.map { now >= $0 } ?? false
    }

    private mutating func settle(at now: ContinuousClock.Instant) {
        switch (requestRead, responseWritten) {
        case (true, true):
            phase = .awaitingHead
            deadline = now + timeouts.idle
        case (true, false):
            phase = .responding
            deadline = nil
        case (false, _):
            break
        }
    }
}

/// Closes a connection that misses its `RequestDeadlines`; placed after the HTTP/1 codec.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var deadlines: RequestDeadlines
    private var timer: Scheduled<Void>?
    private let onTimeout: @Sendable (RequestDeadlines.Phase) -> Void

    init(timeouts: RequestDeadlines.Timeouts, onTimeout: @escaping @Sendable (RequestDeadlines.Phase) -> Void) {
        self.deadlines = RequestDeadlines(timeouts: timeouts, openedAt: .now)
        self.onTimeout = onTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        deadlines = RequestDeadlines(timeouts: deadlines.timeouts, openedAt: .now)
        arm(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: deadlines.readHead(at: .now); arm(context)
        case .end: deadlines.readEnd(at: .now); arm(context)
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            deadlines.wroteResponseEnd(at: .now)
            arm(context)
        }
        context.write(data, promise: promise)
    }

    /// One timer at a time, for the current deadline; it re-checks when it fires (the deadline may have moved).
    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        guard let deadline = deadlines.deadline else { return }
        let loop = context.eventLoop.assumeIsolated()
        timer = loop.scheduleTask(in: .init(max(.zero, deadline - .now))) { [self] in
            timer = nil
            if deadlines.hasExpired(at: .now) {
                onTimeout(deadlines.phase)
                context.close(promise: nil)
            } else {
                arm(context)
            }
        }
    }
}

/// At most `limit` open connections on one listener; reaching it is counted and logged (once a minute at most).
struct ConnectionCap: AvailableConnectionsDelegate {
    let limit: Int
    let listener: String
    let metrics: HostMetrics
    let logger: Logger
    private var open = 0
    private let lastLogged = LastLogged()

    init(limit: Int, listener: String, metrics: HostMetrics, logger: Logger) {
        self.limit = limit
        self.listener = listener
        self.metrics = metrics
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        metrics.httpConnections(listener: listener, open: open)
        guard open == limit else { return }
        metrics.httpConnectionLimitReached(listener: listener)
        let now = ContinuousClock.now
        let due = lastLogged.instant.withLock { last in
            guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
        if due {
            logger.warning("http connection limit reached: new connections wait until one closes", metadata: [
                "http.listener": "\(listener)", "http.max_connections": "\(limit)",
            ])
        }
    }

    mutating func connectionClosed() {
        open -= 1
        metrics.httpConnections(listener: listener, open: open)
    }

    func isAcceptingNewConnections() -> Bool { open < limit }

    private final class LastLogged: Sendable {
        let instant = Mutex<ContinuousClock.Instant?>(nil)
    }
}

/// How the daemon's file descriptors are shared: the store, the admin socket and its clients, the
/// plugins' sockets and pipes get a reserve; HTTP connections get what is left, at most what is configured.
public struct DescriptorBudget: Sendable, Equatable {
    /// The soft RLIMIT_NOFILE the daemon runs with.
    public var limit: Int
    /// Connections the webhook listener may hold open.
    public var webhookConnections: Int
    /// Connections the `/metrics` and `/healthz` listener may hold open.
    public var metricsConnections: Int

    /// The store's files, the admin socket and its clients, logs and the event loops' own descriptors.
    static let reserved = 256
    /// A plugin: its socket, the connection, stdin/stdout/stderr pipes, a pidfd, with room for a restart overlapping.
    static let perConnector = 12
    static let metricsConnectionsCap = 32
    static let fewestConnections = 8

    public init(limit: Int, connectors: Int, configuredConnections: Int) {
        self.limit = limit
        let spare = limit - Self.reserved - Self.perConnector * max(connectors, 16)
        metricsConnections = max(Self.fewestConnections / 2, min(Self.metricsConnectionsCap, spare / 8))
        webhookConnections = max(Self.fewestConnections, min(configuredConnections, spare - metricsConnections))
    }

    /// Whether the configured cap had to be lowered to fit the limit.
    public func lowered(from configuredConnections: Int) -> Bool { webhookConnections < configuredConnections }

    /// Raises the soft descriptor limit to the hard one (what `LimitNOFILE=` of the unit sets), and returns it.
    public static func raiseSoftLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return 1024 }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return Int(min(limits.rlim_cur, rlim_t(Int32.max)))  // RLIM_INFINITY is the largest value
    }
}
