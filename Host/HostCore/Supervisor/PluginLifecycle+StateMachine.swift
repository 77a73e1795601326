/// The life of one connector instance's plugin process, as a pure state machine: it decides
/// whether to restart, how long to back off, and when a crash loop becomes `failed`. The runner
/// feeds it events with the current time and acts on the returned actions; tests drive it with
/// made-up instants and no processes.
struct PluginLifecycle: Sendable {
    enum State: String, Sendable, Equatable {
        case starting, running, backoff, stopping, stopped, failed
    }

    struct Policy: Sendable, Equatable {
        var initialBackoff: Duration
        var maxBackoff: Duration
        /// This many failures within `crashWindow` make the connector `failed`.
        var crashLimit: Int
        var crashWindow: Duration
        /// A run at least this long resets the backoff.
        var stableAfter: Duration
    }

    /// Why a run of the plugin ended.
    enum EndReason: Sendable, Equatable {
        /// With the last line the plugin wrote on stdout/stderr when it failed: often why.
        case exited(ExitStatus, lastWords: String? = nil)
        case spawnFailed(String)
        case handshakeFailed(String)
        case handshakeTimedOut
        case hung(String)
        case connectionClosed
        case restartRequested
        case stopRequested

        var isFailure: Bool {
            switch self {
            case .restartRequested, .stopRequested: false
            default: true
            }
        }

        var description: String {
            switch self {
            case .exited(let status, let lastWords): "plugin \(status)" + (lastWords.map { ": \($0)" } ?? "")
            case .spawnFailed(let message): message
            case .handshakeFailed(let message): "handshake failed: \(message)"
            case .handshakeTimedOut: "no handshake before the deadline"
            case .hung(let message): "plugin hung: \(message)"
            case .connectionClosed: "plugin closed its connection"
            case .restartRequested: "restart requested"
            case .stopRequested: "stop requested"
            }
        }
    }

    enum Action: Sendable, Equatable {
        case restart(after: Duration)
        case fail(reason: String)
        case stop
    }

    let policy: Policy
    private(set) var state: State = .starting
    private(set) var restarts = 0
    private(set) var lastError: String?
    private(set) var paused = false
    private(set) var runStartedAt: ContinuousClock.Instant?
    private var failures: [ContinuousClock.Instant] = []
    private var consecutiveFailures = 0
    private var stopWanted = false

    init(policy: Policy) {
        self.policy = policy
    }

    mutating func starting(now: ContinuousClock.Instant) {
        state = .starting
        runStartedAt = now
    }

    mutating func ready() {
        if state == .starting { state = .running }
    }

    /// The current run ended; what next?
    mutating func ended(_ reason: EndReason, now: ContinuousClock.Instant) -> Action {
        if stopWanted || reason == .stopRequested {
            state = .stopped
            return .stop
        }
        defer { runStartedAt = nil }
        guard reason.isFailure else {
            restarts += 1
            state = .starting
            return .restart(after: .zero)
        }
        lastError = reason.description
        if let started = runStartedAt, started.duration(to: now) >= policy.stableAfter {
            consecutiveFailures = 0
        }
        failures.append(now)
        let window = policy.crashWindow
        failures.removeAll { $0.duration(to: now) > window }
        if failures.count >= policy.crashLimit {
            state = .failed
            return .fail(reason: "\(failures.count) failures within \(policy.crashWindow); last: \(reason.description)")
        }
        consecutiveFailures += 1
        restarts += 1
        state = .backoff
        return .restart(after: backoff(consecutiveFailures))
    }

    func backoff(_ failures: Int) -> Duration {
        var delay = policy.initialBackoff
        for _ in 1..<max(failures, 1) {
            delay *= 2
            if delay >= policy.maxBackoff { return policy.maxBackoff }
        }
        return min(delay, policy.maxBackoff)
    }

    /// An operator asked to stop (connector removed, daemon shutting down).
    mutating func requestStop() {
        stopWanted = true
        if state != .stopped { state = .stopping }
    }

    /// An operator asked for a restart: forget the crash history. Returns whether a failed or
    /// backing-off instance should start now.
    mutating func requestRestart() -> Bool {
        failures.removeAll()
        consecutiveFailures = 0
        return state == .failed || state == .backoff
    }

    mutating func setPaused(_ paused: Bool) {
        self.paused = paused
    }
}
