public import ConnectorProtocol

/// What to do after a failed attempt, by error class, as a pure function of the attempt and the clock.
///
/// - transient, rate_limited, cancelled, protocol hiccups: retry with exponential backoff and jitter,
///   never sooner than the sink's retry-after, until the route's attempt or age limit; then dead-letter.
/// - dependency: retried later (never sooner than the floor, 5 s unless the route says otherwise), bounded
///   by the same limits; the store also makes it due the moment what it waits for is delivered.
/// - auth: retried once the operator resumes the paused connector (the caller pauses it).
/// - permanent, not_supported: dead-letter at once.
public struct DeliveryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var maxAgeMilliseconds: Int64
    public var baseBackoffMilliseconds: Int64 = 500
    public var maxBackoffMilliseconds: Int64 = 10 * 60 * 1000
    public var dependencyFloorMilliseconds: Int64 = 5_000

    public init(maxAttempts: Int, maxAgeMilliseconds: Int64) {
        self.maxAttempts = maxAttempts
        self.maxAgeMilliseconds = maxAgeMilliseconds
    }

    public enum Decision: Sendable, Equatable {
        case retry(at: Int64)
        case dead(reason: String)
        /// Keep the delivery pending and pause the target connector until an operator resumes it.
        case pauseTarget(retryAt: Int64)
    }

    /// - Parameters:
    ///   - attempt: the number of the attempt that just failed (1 for the first).
    ///   - jitter: a random factor in 0.75…1.25, passed in so the policy stays deterministic under test.
    public func decide(_ error: ConnectorError, attempt: Int, createdAt: Int64, now: Int64, jitter: Double) -> Decision {
        switch error.code {
        case .permanent, .notSupported:
            return .dead(reason: error.message)
        case .auth:
            return .pauseTarget(retryAt: now)
        default:
            break
        }
        if attempt >= maxAttempts {
            return .dead(reason: "gave up after \(attempt) attempts; last error: \(error.code.name): \(error.message)")
        }
        var delay = Int64(Double(backoff(attempt: attempt)) * jitter)
        // The floor holds after the jitter: a dependency is retried no sooner than documented.
        if error.code == .dependency { delay = max(delay, dependencyFloorMilliseconds) }
        if let retryAfter = error.retryAfterMilliseconds { delay = max(delay, retryAfter) }
        let at = now + delay
        if at - createdAt > maxAgeMilliseconds {
            return .dead(reason: "older than the route's max_age; last error: \(error.code.name): \(error.message)")
        }
        return .retry(at: at)
    }

    /// base × 2^(attempt-1), capped.
    public func backoff(attempt: Int) -> Int64 {
        var delay = baseBackoffMilliseconds
        for _ in 1..<max(attempt, 1) {
            delay *= 2
            if delay >= maxBackoffMilliseconds { return maxBackoffMilliseconds }
        }
        return min(delay, maxBackoffMilliseconds)
    }
}

/// A token bucket: `rate` tokens per second, holding at most `burst`.
public struct TokenBucket: Sendable, Equatable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var updatedAt: Double?

    public init(count: Int, perSeconds: Int, burst: Int? = nil) {
        rate = Double(count) / Double(perSeconds)
        self.burst = Double(burst ?? max(1, count / max(perSeconds, 1)))
        tokens = self.burst
    }

    /// Takes one token at `now` (seconds). Returns 0 when one was available, or how many seconds to
    /// wait before trying again.
    public mutating func take(now: Double) -> Double {
        tokens = available(now: now)
        updatedAt = now
        if tokens >= 1 {
            tokens -= 1
            return 0
        }
        return (1 - tokens) / rate
    }

    /// How many seconds until a token is there at `now` (0: one is), without taking it.
    public func wait(now: Double) -> Double {
        let tokens = available(now: now)
        return tokens >= 1 ? 0 : (1 - tokens) / rate
    }

    /// The tokens there at `now`, refilled since the last take.
    private func available(now: Double) -> Double {
        updatedAt.map { min(burst, tokens + (now - $0) * rate) } ?? tokens
    }
}

/// A circuit breaker per target: it opens after consecutive transient failures, lets one probe
/// through after a cool-down (half-open), and closes on the probe's success.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: String, Sendable, Equatable {
        case closed, open
        case halfOpen = "half_open"
    }

    public let threshold: Int
    public let baseCooldown: Double
    public let maxCooldown: Double
    public private(set) var state: State = .closed
    private var failures = 0
    private var cooldown: Double
    private var openedAt: Double = 0
    private var probing = false

    public init(threshold: Int = 5, cooldownSeconds: Double = 1, maxCooldownSeconds: Double = 60) {
        self.threshold = threshold
        self.baseCooldown = cooldownSeconds
        self.maxCooldown = maxCooldownSeconds
        self.cooldown = cooldownSeconds
    }

    /// Whether a delivery may go now; when not, how long to wait. In half-open, only one probe at a time.
    public mutating func admit(now: Double) -> Double? {
        switch state {
        case .closed:
            return nil
        case .open:
            let wait = openedAt + cooldown - now
            if wait > 0 { return wait }
            state = .halfOpen
            probing = true
            return nil
        case .halfOpen:
            if probing { return 0.05 }
            probing = true
            return nil
        }
    }

    /// Whether no delivery may go now (without changing the state): how long until one may.
    public func blockedFor(now: Double) -> Double? {
        switch state {
        case .closed: nil
        case .open: openedAt + cooldown - now > 0 ? openedAt + cooldown - now : nil
        case .halfOpen: probing ? 0.05 : nil
        }
    }

    public mutating func succeeded() {
        state = .closed
        failures = 0
        cooldown = baseCooldown
        probing = false
    }

    /// A failure that says the target is unwell (network, 5xx, timeouts, rate limits).
    public mutating func failed(now: Double) {
        probing = false
        switch state {
        case .halfOpen:
            cooldown = min(cooldown * 2, maxCooldown)
            state = .open
            openedAt = now
        case .closed:
            failures += 1
            if failures >= threshold {
                state = .open
                openedAt = now
            }
        case .open:
            openedAt = now
        }
    }

    /// A failure that says nothing about the target's health (validation, a missing dependency).
    public mutating func neutral() {
        probing = false
        if state == .halfOpen { state = .closed }
        failures = 0
    }
}
