import Foundation
public import HostAdmin
import PostgresNIO
import Synchronization

/// What one host holds on a shared database, in memory: the source leases it took, the deliveries it
/// claimed and has not settled, and the streams that hear of other hosts' work.
struct Holdings: Sendable {
    /// A source lease: the token it was taken with, and until when the database last said it is this
    /// host's (no other host can take it before then).
    struct Source: Sendable {
        var token: Int64
        var heldUntil: Int64
    }
    var sources: [String: Source] = [:]
    var claimed: Set<Int64> = []
    var listeners: [AsyncStream<String>.Continuation] = []
    /// The connection that holds this member's lock: the heartbeat goes through it, never waiting for
    /// the pool (a pool busy with a backlog delayed heartbeats past the lease, and claims expired under
    /// deliveries still in flight).
    var memberConnection: PostgresConnection?
}

// Several hosts on one PostgreSQL, the way River, Oban and graphile-worker share a database:
// - a member row per host, its heartbeat every third of the lease (`members.alive_until`);
// - a lease per source connector (`source_leases`): taken when free or expired, renewed by the
//   holder's heartbeat; its token grows when it changes hands, and a page's cursor is written only
//   under the token the poll began with (``checkFence(connector:on:)``), so a host that lost the lease
//   cannot move the cursor back;
// - a claim per delivery being delivered (`claimed_by`, `claimed_until`), taken with `FOR NO KEY UPDATE
//   SKIP LOCKED` by the query that reads the due deliveries, renewed by the heartbeat while in flight,
//   cleared when its outcome is recorded. A claim outlives a dead host by one lease at most. Per-key
//   order holds across hosts because a delivery is due only when no earlier one of its ordering key
//   is pending, claimed or not.
// - NOTIFY on new work, so that idle workers of other hosts wake without polling.
extension PostgresStore: HostCoordination {
    /// How long a member that stopped beating stays listed (ms): a week.
    static let membersKept: Int64 = 7 * 86_400_000

    /// The channel of work notices: a payload is `member<TAB>route`.
    static let workChannel = "connector_host_work"

    /// Its statements each commit on their own: one transaction holding the member row while it
    /// waited for a lease row (locked by a page being stored) and then for delivery rows (locked by
    /// outcomes being recorded) could deadlock with those. Claims locked right now are being settled:
    /// they are skipped, not waited for.
    public func heartbeat() async throws {
        let now = Store.now()
        let until = now + leaseMilliseconds
        let (claimed, own) = holdings.withLock { (Array($0.claimed), $0.memberConnection) }
        let beat: @Sendable (PostgresConnection) async throws -> Void = { connection in
            try await self.register(at: now, on: connection)
            let renewed = try await connection.query("""
                UPDATE source_leases SET expires_at = \(until) WHERE holder = \(self.member) AND expires_at >= \(now) RETURNING connector, token
                """, logger: self.logger).collect().map { try $0.decode((String, Int64).self) }
            self.holdings.withLock { holdings in
                for (connector, token) in renewed where holdings.sources[connector]?.token == token {
                    holdings.sources[connector]?.heldUntil = until
                }
            }
            try await self.shedExcessSources(now: now, on: connection)
            // A host gone for a week (stopped, or dead without leaving) is no longer listed.
            try await connection.query("DELETE FROM members WHERE alive_until < \(now - Self.membersKept)", logger: self.logger)
            if !claimed.isEmpty {
                try await connection.query("""
                    UPDATE deliveries SET claimed_until = \(until)
                    WHERE id IN (SELECT id FROM deliveries WHERE id = ANY(\(claimed)::int8[]) AND claimed_by = \(self.member) AND state = 'pending'
                                 FOR NO KEY UPDATE SKIP LOCKED)
                    """, logger: self.logger)
            }
        }
        if let own {
            try await Self.bounded(within: Self.operationWait) { try await beat(own) }
        } else {
            try await leased(beat)
        }
    }

    /// This host's member row, alive for one more lease.
    func register(at now: Int64, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO members (name, started_at, heartbeat_at, alive_until, left_at, version, pid)
            VALUES (\(member), \(startedAt), \(now), \(now + leaseMilliseconds), NULL, \(BuildInfo.version), \(getpid()))
            ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                alive_until = excluded.alive_until, left_at = NULL, version = excluded.version, pid = excluded.pid
            """, logger: logger)
    }

    /// Forgets what an earlier run under this member's name held: it is dead (this one holds the member's
    /// lock), so its claims and leases are free now rather than after their lease.
    func releaseWhatAnEarlierRunHeld(on connection: PostgresConnection) async throws {
        try await connection.query("""
            UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = \(member)
            """, logger: logger)
        try await connection.query("UPDATE source_leases SET expires_at = 0 WHERE holder = \(member)", logger: logger)
    }

    public func holdSource(_ connector: String) async throws -> Bool {
        let now = Store.now()
        // Held for more than half a lease still (the heartbeat renews it every third): no other host can
        // have it, and no write is needed. Asked before every poll, this was a write and a WAL flush each.
        let held = holdings.withLock { $0.sources[connector] }
        if let held, held.heldUntil - now > leaseMilliseconds / 2 { return true }
        // The token stays while this host holds the lease without a break (even past its expiry, when no
        // one took it meanwhile); it grows when the lease changes hands or this host starts again.
        let known = held?.token ?? 0
        // A lease this host does not hold yet is taken when it has expired, but beyond this host's fair
        // share only once it has been free for a whole lease: the sources spread over the live hosts, and
        // one that no other host takes (its plugin down there) is still polled.
        let beyondShare = known == 0 ? try await !withinFairShare(now: now) : false
        let freeSince = beyondShare ? now - leaseMilliseconds : now
        let token = try await rows("""
            INSERT INTO source_leases (connector, holder, token, acquired_at, expires_at)
            VALUES (\(connector), \(member), 1, \(now), \(now + leaseMilliseconds))
            ON CONFLICT (connector) DO UPDATE SET
                token = CASE WHEN source_leases.holder = excluded.holder AND source_leases.token = \(known) THEN source_leases.token
                             ELSE source_leases.token + 1 END,
                acquired_at = CASE WHEN source_leases.holder = excluded.holder AND source_leases.token = \(known) THEN source_leases.acquired_at
                                   ELSE excluded.acquired_at END,
                holder = excluded.holder, expires_at = excluded.expires_at
            WHERE (source_leases.holder = excluded.holder AND source_leases.token = \(known)) OR source_leases.expires_at < \(freeSince)
            RETURNING token
            """).first?.decode(Int64.self)
        holdings.withLock { holdings in
            if let token {
                if token != known, known != 0 || token != 1 {
                    logger.notice("source lease taken", metadata: ["connector.id": "\(connector)", "lease.token": "\(token)"])
                }
                holdings.sources[connector] = Holdings.Source(token: token, heldUntil: now + leaseMilliseconds)
            } else if holdings.sources.removeValue(forKey: connector) != nil {
                logger.notice("source lease lost to another host", metadata: ["connector.id": "\(connector)"])
            }
        }
        return token != nil
    }

    /// Whether this host holds fewer live leases than its fair share.
    func withinFairShare(now: Int64) async throws -> Bool {
        let (share, held) = try await fairShare(now: now, on: nil)
        return held < share
    }

    /// How many sources this host may hold (every lease ever taken over the live hosts, rounded up, this
    /// host counted) and how many it holds now.
    private func fairShare(now: Int64, on connection: PostgresConnection?) async throws -> (share: Int64, held: Int64) {
        let row = try await rows("""
            SELECT (SELECT count(*) FROM source_leases),
                   (SELECT count(*) FROM members WHERE alive_until >= \(now) AND left_at IS NULL AND name <> \(member)),
                   (SELECT count(*) FROM source_leases WHERE holder = \(member) AND expires_at >= \(now))
            """, on: connection).first?.decode((Int64, Int64, Int64).self)
        guard let (sources, others, held) = row else { return (.max, 0) }
        return ((max(sources, 1) + others) / (others + 1), held)
    }

    /// Gives back, at once, the leases this host holds beyond its fair share (the newest first): another
    /// host has joined and takes them on its next try. The pollers here do not take them back (see
    /// ``holdSource(_:)``); a page being stored meanwhile is fenced as any other.
    func shedExcessSources(now: Int64, on connection: PostgresConnection) async throws {
        let (share, held) = try await fairShare(now: now, on: connection)
        guard held > share else { return }
        let shed = try await rows("""
            UPDATE source_leases SET expires_at = \(now - 1)
            WHERE connector IN (SELECT connector FROM source_leases WHERE holder = \(member) AND expires_at >= \(now)
                                ORDER BY acquired_at, connector OFFSET \(share) FOR UPDATE SKIP LOCKED)
            RETURNING connector
            """, on: connection).map { try $0.decode(String.self) }
        guard !shed.isEmpty else { return }
        holdings.withLock { holdings in
            for connector in shed { holdings.sources.removeValue(forKey: connector) }
        }
        logger.notice("sources handed to the other hosts: this one held more than its share",
                      metadata: ["connectors": "\(shed.joined(separator: ","))", "cluster.share": "\(share)"])
    }

    /// In an ingest's transaction: refuses a page of `connector` unless this host still holds its lease
    /// under the token it took it with. The lease's row stays locked until the commit, so a host taking the
    /// lease over waits for the page, and then reads the cursor it wrote.
    func checkFence(connector: String, on connection: PostgresConnection) async throws {
        guard let token = holdings.withLock({ $0.sources[connector]?.token }) else { return }
        let lease = try await rows("SELECT holder, token FROM source_leases WHERE connector = \(connector) FOR SHARE", on: connection)
            .first?.decode((String, Int64).self)
        guard let lease, lease.0 == member, lease.1 == token else {
            holdings.withLock { _ = $0.sources.removeValue(forKey: connector) }
            throw LeaseLost(connector: connector)
        }
    }

    public func releaseClaims(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        // No longer renewed, whether or not the release below reaches the server: they expire at the latest.
        holdings.withLock { $0.claimed.subtract(ids) }
        _ = try await leased { connection in try await connection.query("""
            UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE id = ANY(\(ids)::int8[]) AND claimed_by = \(self.member)
            """, logger: self.logger) }
    }

    /// Settled deliveries are no longer this host's to renew.
    func settled(_ ids: some Sequence<Int64>) {
        holdings.withLock { $0.claimed.subtract(ids) }
    }

    public func leave() async throws {
        let now = Store.now()
        holdings.withLock { holdings in
            holdings.claimed = []
            holdings.sources = [:]
        }
        try await transaction { connection in
            try await connection.query("UPDATE members SET left_at = \(now), alive_until = \(now) WHERE name = \(self.member)", logger: self.logger)
            try await self.releaseWhatAnEarlierRunHeld(on: connection)
        }
    }

    public func cluster() async throws -> ClusterResult {
        let now = Store.now()
        let leases = try await rows("SELECT connector, holder, token, acquired_at, expires_at FROM source_leases ORDER BY connector").map { row in
            let (connector, holder, token, acquiredAt, expiresAt) = try row.decode((String, String, Int64, Int64, Int64).self)
            return SourceLease(connector: connector, holder: holder, token: token, acquiredAt: acquiredAt, expiresAt: expiresAt)
        }
        var claims: [String: Int] = [:]
        for row in try await rows("""
            SELECT claimed_by, count(*) FROM deliveries WHERE claimed_by IS NOT NULL AND state = 'pending' AND claimed_until >= \(now) GROUP BY claimed_by
            """) {
            let (member, count) = try row.decode((String, Int64).self)
            claims[member] = Int(count)
        }
        let members = try await rows("SELECT name, started_at, heartbeat_at, alive_until, left_at, version, pid FROM members ORDER BY name").map { row in
            let (name, startedAt, heartbeatAt, aliveUntil, leftAt, version, pid) = try row.decode((String, Int64, Int64, Int64, Int64?, String, Int32).self)
            let state = leftAt != nil ? "left" : (aliveUntil >= now ? "alive" : "lost")
            let sources = leases.filter { $0.holder == name && $0.expiresAt >= now }.map(\.connector)
            return ClusterMember(name: name, state: state, startedAt: startedAt, heartbeatAt: heartbeatAt, version: version, pid: pid,
                                 sources: sources, claimed: claims[name] ?? 0)
        }
        return ClusterResult(store: "postgres", member: member, leaseMilliseconds: leaseMilliseconds, now: now, members: members, leases: leases)
    }

    public func workNotices() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
        holdings.withLock { $0.listeners.append(continuation) }
        return stream
    }

    /// Tells the other hosts (on commit) that these routes have new work.
    func notifyWork(routes: Set<String>, on connection: PostgresConnection) async throws {
        guard !routes.isEmpty else { return }
        let payloads = routes.sorted().map { "\(member)\t\($0)" }
        try await connection.query("SELECT pg_notify(\(Self.workChannel), p) FROM UNNEST(\(payloads)::text[]) AS p", logger: logger)
    }

    /// A notice heard on the work channel: another host's goes to every listener.
    func heard(_ payload: String) {
        let parts = payload.split(separator: "\t", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0] != member else { return }
        for listener in holdings.withLock({ $0.listeners }) { listener.yield(parts[1]) }
    }
}
