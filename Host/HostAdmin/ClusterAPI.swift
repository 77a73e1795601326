// Admin API of several hosts on one store: its members, who polls which source, what each has claimed.

extension AdminMethod {
    public static let cluster = "cluster"
}

/// A host registered on the store.
public struct ClusterMember: Codable, Sendable, Equatable {
    public var name: String
    /// `alive` (its heartbeat is within the lease), `lost` (it stopped beating without leaving) or `left`.
    public var state: String
    public var startedAt: Int64
    /// Unix ms of its last heartbeat.
    public var heartbeatAt: Int64
    public var version: String
    public var pid: Int32
    /// Source connectors whose lease it holds now.
    public var sources: [String]
    /// Deliveries it has claimed and not yet settled.
    public var claimed: Int

    public init(name: String, state: String, startedAt: Int64, heartbeatAt: Int64, version: String, pid: Int32, sources: [String], claimed: Int) {
        self.name = name
        self.state = state
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.version = version
        self.pid = pid
        self.sources = sources
        self.claimed = claimed
    }

    enum CodingKeys: String, CodingKey {
        case name, state, version, pid, sources, claimed
        case startedAt = "started_at"
        case heartbeatAt = "heartbeat_at"
    }
}

/// Who may poll a source: one host at a time, until `expiresAt` unless it renews.
public struct SourceLease: Codable, Sendable, Equatable {
    public var connector: String
    public var holder: String
    /// Grows each time the lease changes hands: a cursor is written only under the current one.
    public var token: Int64
    public var acquiredAt: Int64
    public var expiresAt: Int64

    public init(connector: String, holder: String, token: Int64, acquiredAt: Int64, expiresAt: Int64) {
        self.connector = connector
        self.holder = holder
        self.token = token
        self.acquiredAt = acquiredAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case connector, holder, token
        case acquiredAt = "acquired_at"
        case expiresAt = "expires_at"
    }
}

public struct ClusterResult: Codable, Sendable, Equatable {
    /// `sqlite` (one host) or `postgres`.
    public var store: String
    /// This host's name among the members.
    public var member: String
    public var leaseMilliseconds: Int64
    /// Unix ms when the store answered.
    public var now: Int64
    public var members: [ClusterMember]
    public var leases: [SourceLease]

    public init(store: String, member: String, leaseMilliseconds: Int64, now: Int64, members: [ClusterMember], leases: [SourceLease]) {
        self.store = store
        self.member = member
        self.leaseMilliseconds = leaseMilliseconds
        self.now = now
        self.members = members
        self.leases = leases
    }

    enum CodingKeys: String, CodingKey {
        case store, member, now, members, leases
        case leaseMilliseconds = "lease_ms"
    }
}
