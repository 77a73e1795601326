import ConnectorProtocol
@testable import HostCore
import Testing

@Suite struct DeliveryPolicyTests {
    var policy: DeliveryPolicy {
        var policy = DeliveryPolicy(maxAttempts: 5, maxAgeMilliseconds: 60_000)
        policy.baseBackoffMilliseconds = 100
        policy.maxBackoffMilliseconds = 1_000
        policy.dependencyFloorMilliseconds = 2_000
        return policy
    }

    @Test func transientRetriesWithExponentialBackoff() {
        let delays = (1...4).map { attempt -> Int64 in
            guard case .retry(let at) = policy.decide(ConnectorError(.transient, "503"), attempt: attempt, createdAt: 0, now: 0, jitter: 1) else {
                Issue.record("attempt \(attempt) should retry")
                return -1
            }
            return at
        }
        #expect(delays == [100, 200, 400, 800])
        #expect(policy.backoff(attempt: 10) == 1_000)
    }

    /// The documented floor holds whatever the jitter (it used to be applied before the jitter, and
    /// derived from retry_base_ms: retries came every 2–4 s under a 5 s floor).
    @Test func aDependencyIsNeverRetriedSoonerThanItsFloor() {
        for jitter in [0.75, 1.0, 1.25] {
            guard case .retry(let at) = policy.decide(ConnectorError(.dependency, "invoice not there"), attempt: 1, createdAt: 0, now: 0, jitter: jitter) else {
                Issue.record("a dependency retries")
                return
            }
            #expect(at >= 2_000)
        }
        let route = RouteConfig(id: "r", from: "a", to: "b", events: ["*"], tenant: nil, entity: nil, maxAttempts: 3, maxAgeSeconds: 60,
                                rateLimit: nil, concurrency: 1, retryBaseMilliseconds: 500, retryMaxMilliseconds: 20_000)
        #expect(route.dependencyRetryMilliseconds == 5_000)
    }

    /// A target down for a minute: its circuit's cool-down doubles on every failed probe, but never
    /// past the route's retry_max_ms (it grew to 60 s, so deliveries resumed a minute after Odoo did).
    @Test func aTargetsCircuitNeverStaysOpenLongerThanTheRoutesRetryMax() {
        let route = RouteConfig(id: "r", from: "a", to: "b", events: ["*"], tenant: nil, entity: nil, maxAttempts: 3, maxAgeSeconds: 60,
                                rateLimit: nil, concurrency: 1, retryBaseMilliseconds: 500, retryMaxMilliseconds: 20_000)
        #expect(RouteWorker.maxCooldownSeconds(route) == 20)
        var breaker = CircuitBreaker(maxCooldownSeconds: RouteWorker.maxCooldownSeconds(route))
        var now = 0.0
        for _ in 0..<5 { breaker.failed(now: now) }
        var longest = 0.0
        for _ in 0..<12 {  // a probe after each cool-down, failing while the target is down
            let wait = breaker.admit(now: now) ?? 0
            longest = max(longest, wait)
            now += wait
            if breaker.admit(now: now) == nil { breaker.failed(now: now) }
        }
        #expect(longest <= 20 && longest >= 16)
    }

    /// Batches as large as the sink takes (up to four of each request's share), two requests in flight
    /// at least, and the shares never adding up to more than the route's concurrency.
    @Test func requestsAreSizedByTheSinkWithinTheRoutesConcurrency() {
        typealias Plan = RouteWorker.RequestPlan
        func plan(_ sinkBatch: Int, _ concurrency: Int) -> [Int] {
            let plan = Plan(sinkBatch: sinkBatch, concurrency: concurrency)
            return [plan.size, plan.requests, plan.share]
        }
        #expect(plan(64, 32) == [64, 2, 16])
        #expect(plan(64, 512) == [64, 8, 64])
        #expect(plan(64, 4) == [8, 2, 2])
        #expect(plan(200, 16) == [32, 2, 8])
        #expect(plan(0, 16) == [1, 16, 1])
        #expect(plan(64, 1) == [1, 1, 1])
        #expect(plan(64, 3) == [4, 2, 1])
        for sinkBatch in [0, 1, 2, 7, 64, 200] {
            for concurrency in 1...600 {
                let plan = Plan(sinkBatch: sinkBatch, concurrency: concurrency)
                #expect(plan.requests * plan.share <= concurrency && plan.size <= max(1, sinkBatch) && plan.size >= 1, "\(sinkBatch) \(concurrency): \(plan)")
            }
        }
        #expect(Plan(sinkBatch: 64, concurrency: 32).timeout == .seconds(120))
        #expect(Plan(sinkBatch: 0, concurrency: 32).timeout == .seconds(30))
    }

    @Test func jitterScalesTheDelay() {
        #expect(policy.decide(ConnectorError(.transient, "x"), attempt: 1, createdAt: 0, now: 0, jitter: 0.75) == .retry(at: 75))
        #expect(policy.decide(ConnectorError(.transient, "x"), attempt: 1, createdAt: 0, now: 0, jitter: 1.25) == .retry(at: 125))
    }

    @Test func retryAfterIsHonoured() {
        let limited = ConnectorError(.rateLimited, "429", retryAfterMilliseconds: 30_000)
        #expect(policy.decide(limited, attempt: 1, createdAt: 0, now: 1_000, jitter: 1) == .retry(at: 31_000))
    }

    @Test func lastAttemptGoesToTheDeadLetterQueue() {
        guard case .dead(let reason) = policy.decide(ConnectorError(.transient, "timeout"), attempt: 5, createdAt: 0, now: 0, jitter: 1) else {
            Issue.record("should be dead")
            return
        }
        #expect(reason.contains("gave up after 5 attempts"))
        #expect(reason.contains("timeout"))
    }

    @Test func tooOldGoesToTheDeadLetterQueue() {
        guard case .dead(let reason) = policy.decide(ConnectorError(.transient, "x"), attempt: 1, createdAt: 0, now: 59_950, jitter: 1) else {
            Issue.record("should be dead")
            return
        }
        #expect(reason.contains("max_age"))
    }

    @Test func permanentIsDeadAtOnce() {
        #expect(policy.decide(ConnectorError(.permanent, "VAT invalid"), attempt: 1, createdAt: 0, now: 0, jitter: 1) == .dead(reason: "VAT invalid"))
        #expect(policy.decide(ConnectorError(.notSupported, "no sink"), attempt: 1, createdAt: 0, now: 0, jitter: 1) == .dead(reason: "no sink"))
    }

    @Test func authPausesTheTarget() {
        #expect(policy.decide(ConnectorError(.auth, "401"), attempt: 1, createdAt: 0, now: 7, jitter: 1) == .pauseTarget(retryAt: 7))
    }

    @Test func dependencyWaitsLongerButIsBounded() {
        #expect(policy.decide(ConnectorError(.dependency, "invoice missing"), attempt: 1, createdAt: 0, now: 0, jitter: 1) == .retry(at: 2_000))
        guard case .dead = policy.decide(ConnectorError(.dependency, "invoice missing"), attempt: 5, createdAt: 0, now: 0, jitter: 1) else {
            Issue.record("dependency retries are bounded too")
            return
        }
    }
}

@Suite struct TokenBucketTests {
    @Test func allowsTheRateAndMakesTheRestWait() {
        var bucket = TokenBucket(count: 10, perSeconds: 1, burst: 2)
        #expect(bucket.take(now: 0) == 0)
        #expect(bucket.take(now: 0) == 0)
        let wait = bucket.take(now: 0)
        #expect(abs(wait - 0.1) < 1e-9)
        #expect(bucket.take(now: 0.1) == 0)
    }

    @Test func doesNotHoardBeyondTheBurst() {
        var bucket = TokenBucket(count: 1, perSeconds: 1, burst: 1)
        #expect(bucket.take(now: 0) == 0)
        #expect(bucket.take(now: 100) == 0)
        #expect(bucket.take(now: 100) > 0)
    }

    @Test func perMinuteRates() {
        var bucket = TokenBucket(count: 60, perSeconds: 60)
        #expect(bucket.rate == 1)
        #expect(bucket.take(now: 0) == 0)
        #expect(abs(bucket.take(now: 0) - 1) < 1e-9)
    }
}

@Suite struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresAndProbesAfterCooldown() {
        var breaker = CircuitBreaker(threshold: 3, cooldownSeconds: 1, maxCooldownSeconds: 8)
        for _ in 0..<2 { breaker.failed(now: 0) }
        #expect(breaker.state == .closed)
        #expect(breaker.admit(now: 0) == nil)
        breaker.failed(now: 0)
        #expect(breaker.state == .open)
        #expect(breaker.admit(now: 0.5) == 0.5)
        #expect(breaker.admit(now: 1.0) == nil, "the probe goes through")
        #expect(breaker.state == .halfOpen)
        #expect(breaker.admit(now: 1.0) != nil, "only one probe at a time")
        breaker.succeeded()
        #expect(breaker.state == .closed)
        #expect(breaker.admit(now: 1.0) == nil)
    }

    @Test func aFailedProbeDoublesTheCooldown() {
        var breaker = CircuitBreaker(threshold: 1, cooldownSeconds: 1, maxCooldownSeconds: 3)
        breaker.failed(now: 0)
        #expect(breaker.admit(now: 1) == nil)
        breaker.failed(now: 1)
        #expect(breaker.state == .open)
        #expect(breaker.admit(now: 2.5) == 0.5)
        #expect(breaker.admit(now: 3) == nil)
        breaker.failed(now: 3)
        #expect(breaker.admit(now: 5.5) == 0.5, "capped at 3 s")
    }

    @Test func businessErrorsDoNotTripIt() {
        var breaker = CircuitBreaker(threshold: 2)
        breaker.failed(now: 0)
        breaker.neutral()
        breaker.failed(now: 0)
        #expect(breaker.state == .closed)
    }
}
