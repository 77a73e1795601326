public import Foundation
import Synchronization

/// Slows a connector's requests down before a vendor answers 429, from the quota its answers report
/// (HubSpot's `X-HubSpot-RateLimit-*`, Salesforce's `Sforce-Limit-Info`): while more than a reserve of
/// the window's requests remain, no wait; below it, the remaining requests are spread over what is left
/// of the window. A vendor that reports nothing (Chargebee: 150 to 3,500 a minute by plan) is paced by
/// a fixed ``Budget`` instead: at most so many requests start in any window. The arithmetic is ``Pacing`` (pure, tested without a clock); this class holds it for
/// the concurrent requests of one plugin.
public final class RatePacer: Sendable {
    /// What an answer says about the vendor's quota.
    public struct Quota: Sendable, Equatable {
        public var remaining: Int
        public var limit: Int
        /// How long the window the quota counts is.
        public var windowMilliseconds: Int64

        public init(remaining: Int, limit: Int, windowMilliseconds: Int64) {
            self.remaining = remaining
            self.limit = limit
            self.windowMilliseconds = windowMilliseconds
        }
    }

    /// At most `limit` requests start in any `windowMilliseconds` (a sliding window, so in any clock
    /// minute too): the start times of the last `limit` requests are kept.
    public struct Budget: Sendable, Equatable {
        public var limit: Int
        public var windowMilliseconds: Int64
        var starts: [Int64] = []

        public init(limit: Int, windowMilliseconds: Int64) {
            self.limit = limit
            self.windowMilliseconds = windowMilliseconds
        }

        /// When a request asked for at `now` may start (the time is booked for it).
        mutating func slot(at now: Int64) -> Int64 {
            guard limit > 0 else { return now }
            let slot = starts.count < limit ? now : max(now, starts[starts.count - limit] + windowMilliseconds)
            starts.append(slot)
            if starts.count > limit { starts.removeFirst(starts.count - limit) }
            return slot
        }
    }

    /// The pacing arithmetic: the last quota seen, when, and the requests sent since.
    public struct Pacing: Sendable, Equatable {
        /// The share of a window's requests kept in reserve before pacing starts.
        public var reserve: Double
        public var maxDelayMilliseconds: Int64
        var quota: Quota?
        var observedAt: Int64 = 0
        var budget: Budget?

        public init(reserve: Double = 0.1, maxDelayMilliseconds: Int64 = 60_000, budget: Budget? = nil) {
            self.reserve = reserve
            self.maxDelayMilliseconds = maxDelayMilliseconds
            self.budget = budget
        }

        public mutating func observe(_ quota: Quota, at now: Int64) {
            self.quota = quota
            observedAt = now
        }

        /// How long the next request waits at `now`, which counts it as sent.
        public mutating func next(at now: Int64) -> Int64 {
            var budgeted: Int64 = 0
            if var budget {
                budgeted = budget.slot(at: now) - now
                self.budget = budget
            }
            return max(budgeted, quotaWait(at: now))
        }

        mutating func quotaWait(at now: Int64) -> Int64 {
            guard var quota, quota.limit > 0 else { return 0 }
            let windowEnd = observedAt + quota.windowMilliseconds
            guard now < windowEnd else {
                self.quota = nil  // a new window: its quota is unknown until the next answer
                return 0
            }
            let kept = max(1, Int((Double(quota.limit) * reserve).rounded(.up)))
            defer { quota.remaining = max(quota.remaining - 1, 0); self.quota = quota }
            guard quota.remaining <= kept else { return 0 }
            let left = windowEnd - now
            let wait = quota.remaining > 0 ? left / Int64(quota.remaining) : left
            return min(wait, maxDelayMilliseconds)
        }
    }

    private let state: Mutex<Pacing>
    private let clock: @Sendable () -> Int64
    private let quota: @Sendable (HTTPResponse) -> Quota?

    /// - Parameter quota: reads a vendor's quota from an answer (``hubSpotQuota(_:)``, ``salesforceQuota(_:)``).
    public init(_ pacing: Pacing = Pacing(), quota: @escaping @Sendable (HTTPResponse) -> Quota?,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000) }) {
        state = Mutex(pacing)
        self.quota = quota
        self.clock = clock
    }

    /// Paces by a fixed budget alone: at most `requests` start in any `windowMilliseconds`.
    public convenience init(budget requests: Int, windowMilliseconds: Int64 = 60_000,
                            clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000) }) {
        self.init(Pacing(maxDelayMilliseconds: windowMilliseconds, budget: Budget(limit: requests, windowMilliseconds: windowMilliseconds)),
                  quota: { _ in nil }, clock: clock)
    }

    /// Waits as long as the quota asks before a request.
    public func pace() async throws {
        let wait = state.withLock { $0.next(at: clock()) }
        if wait > 0 { try await Task.sleep(for: .milliseconds(wait)) }
    }

    /// Takes in what an answer says about the quota.
    public func observe(_ response: HTTPResponse) {
        guard let quota = quota(response) else { return }
        state.withLock { $0.observe(quota, at: clock()) }
    }

    /// HubSpot: `X-HubSpot-RateLimit-Remaining` of `-Max` in `-Interval-Milliseconds`.
    public static func hubSpotQuota(_ response: HTTPResponse) -> Quota? {
        guard let remaining = response.header("X-HubSpot-RateLimit-Remaining").flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
              let limit = response.header("X-HubSpot-RateLimit-Max").flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
              let window = response.header("X-HubSpot-RateLimit-Interval-Milliseconds").flatMap({ Int64($0.trimmingCharacters(in: .whitespaces)) }),
              remaining >= 0, limit > 0, window > 0 else { return nil }
        return Quota(remaining: remaining, limit: limit, windowMilliseconds: window)
    }

    /// Salesforce: `Sforce-Limit-Info: api-usage=18/5000` (requests used of the rolling 24 hours'), with
    /// an optional `;per-app-api-usage=…` after it.
    public static func salesforceQuota(_ response: HTTPResponse) -> Quota? {
        guard let info = response.header("Sforce-Limit-Info") else { return nil }
        for part in info.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0] == "api-usage" else { continue }
            let counts = pair[1].split(separator: "/")
            guard counts.count == 2, let used = Int(counts[0]), let limit = Int(counts[1]), used >= 0, limit > 0 else { return nil }
            return Quota(remaining: max(limit - used, 0), limit: limit, windowMilliseconds: 86_400_000)
        }
        return nil
    }
}
