import HostAdmin
public import Logging
public import ServiceLifecycle

/// This host's heartbeat on a shared store: every third of the lease it renews its membership, the
/// source leases it holds and the claims of the deliveries it is delivering, and publishes what it sees
/// of the cluster as metrics. Stopped gracefully, it leaves: its sources and claims go to the other
/// hosts at once instead of after a lease. (On a store of one host there is nothing to beat.)
public struct MemberHeartbeat: Service {
    let store: any HostCoordination
    let metrics: HostMetrics
    let logger: Logger

    public init(store: any HostCoordination, metrics: HostMetrics, logger: Logger) {
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        guard store.leaseMilliseconds > 0 else {
            try? await gracefulShutdown()
            return
        }
        let interval = Duration.milliseconds(store.leaseMilliseconds / 3)
        var failing = false
        var lastMembers: Set<String> = []
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await store.heartbeat()
                if failing { logger.notice("heartbeat reaches the store again", metadata: ["store.member": "\(store.member)"]) }
                failing = false
                let cluster = try await store.cluster()
                lastMembers = metrics.cluster(cluster, previous: lastMembers)
            } catch {
                if !failing {
                    // Past one lease without a heartbeat, other hosts take this one's sources and deliveries;
                    // the fencing token keeps its late pages out.
                    logger.warning("heartbeat cannot reach the store", metadata: ["store.member": "\(store.member)", "store.error": "\(error)"])
                }
                failing = true
            }
            try? await Task.sleep(for: interval)
        }
        do {
            try await store.leave()
            logger.notice("left the cluster: sources and claims handed over", metadata: ["store.member": "\(store.member)"])
        } catch {
            logger.warning("could not leave the cluster: the others take over after a lease", metadata: ["store.error": "\(error)"])
        }
    }
}
