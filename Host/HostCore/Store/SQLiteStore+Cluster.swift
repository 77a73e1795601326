import Foundation
public import HostAdmin

/// A SQLite store belongs to one machine (its state directory is locked by one daemon): one member that
/// holds every lease and needs no claims.
extension SQLiteStore {
    public var member: String { ProcessInfo.processInfo.hostName }
    public var leaseMilliseconds: Int64 { 0 }
    public func heartbeat() async throws {}
    public func holdSource(_ connector: String) async throws -> Bool { true }
    public func releaseClaims(_ ids: [Int64]) async throws {}
    public func leave() async throws {}

    public func cluster() async throws -> ClusterResult {
        let now = Store.now()
        let me = ClusterMember(name: member, state: "alive", startedAt: now, heartbeatAt: now, version: BuildInfo.version,
                               pid: getpid(), sources: [], claimed: 0)
        return ClusterResult(store: "sqlite", member: member, leaseMilliseconds: 0, now: now, members: [me], leases: [])
    }

    public func workNotices() -> AsyncStream<String> {
        AsyncStream { _ in }
    }
}
