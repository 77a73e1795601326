import Synchronization

/// A token bucket per key (a route's tenants, the webhook listener's connectors).
final class RateLimiter: Sendable {
    private let buckets = Mutex<[String: TokenBucket]>([:])

    /// Takes a token of `key`'s bucket: 0 when one was there, else the seconds until one will be.
    func take(_ key: String, limit: RouteConfig.RateLimit) -> Double {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? TokenBucket(count: limit.count, perSeconds: limit.perSeconds)
            defer { buckets[key] = bucket }
            return bucket.take(now: RouteWorker.seconds())
        }
    }

    /// Seconds until `key`'s bucket has a token (0: it has one), without taking it.
    func wait(_ key: String, limit: RouteConfig.RateLimit) -> Double {
        buckets.withLock { buckets in
            (buckets[key] ?? TokenBucket(count: limit.count, perSeconds: limit.perSeconds)).wait(now: RouteWorker.seconds())
        }
    }

    /// Waits until a token of `key`'s bucket is taken (or the task is cancelled).
    func pace(_ key: String, limit: RouteConfig.RateLimit) async {
        while true {
            let wait = take(key, limit: limit)
            if wait <= 0 || Task.isCancelled { return }
            try? await Task.sleep(for: .milliseconds(Int(wait * 1000) + 1))
        }
    }
}
