import ConnectorProtocol
import Crypto
public import Foundation
import HostAdmin
public import Logging
import NIOCore
public import PostgresNIO
import Synchronization

/// The daemon's durable state on PostgreSQL (postgres-nio's pooled client): the tables and rules of
/// ``SQLiteStore``, for hosts that share one database. Every write is one transaction. The audit chain
/// stays one chain: a transaction that appends to it takes a transaction-scoped advisory lock first, so
/// rows are appended one writer at a time, with ids given under that lock (no gaps), and verify as on
/// SQLite. (A chain per host, merged on reading, would spare the lock but make `verify` a merge of
/// chains that can each be cut at its end unseen; audit rows are few next to events.)
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    private let running: Task<Void, Never>
    /// Tasks that hold a connection for as long as the store is open (the host lock).
    private let held = Mutex<[Task<Void, Never>]>([])
    let auditKeyState = Mutex<SymmetricKey?>(nil)
    var auditKey: SymmetricKey? { auditKeyState.withLock { $0 } }
    /// This host's name among the members of the database (`[store] member`).
    public let member: String
    public let leaseMilliseconds: Int64
    let startedAt = Store.now()
    /// What this host holds: the token of each source lease, the deliveries it claimed and has not settled,
    /// and who listens for other hosts' work.
    let holdings = Mutex(Holdings())
    /// Rows added since the planner's statistics were last gathered (PostgresStore+Statistics.swift).
    let tableGrowth = Mutex(TableGrowth())

    /// The advisory lock key of audit appends.
    static let auditLock: Int64 = 0x636F_6E6E_6175_6474

    /// Connects (the pool runs until ``close()``) and migrates the database. `member`: this host's name
    /// among the hosts sharing it; `leaseMilliseconds`: how long its heartbeat, leases and claims last.
    public init(configuration: PostgresClient.Configuration, member: String = ProcessInfo.processInfo.hostName, leaseMilliseconds: Int64 = 10_000,
                logger: Logger) async throws {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.member = member
        self.leaseMilliseconds = leaseMilliseconds
        running = Task { await client.run() }
        do {
            try await PostgresSchema.migrate(client, logger: logger)
        } catch {
            running.cancel()
            throw error
        }
    }

    deinit { close() }

    /// Closes the pool's connections.
    public func close() {
        for task in held.withLock({ $0 }) { task.cancel() }
        running.cancel()
    }

    /// Keeps `task` until the store closes, then cancels it.
    func keep(_ task: Task<Void, Never>) {
        held.withLock { $0.append(task) }
    }

    // MARK: Helpers

    /// Runs `work` in a transaction on a pooled connection. An error of `work` is thrown as it is (the
    /// store's callers tell a replay or a refused rotation by its type), after the rollback.
    func transaction<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = logger
        do {
            return try await leased { connection in try await connection.withTransaction(logger: logger) { try await work($0) } }
        } catch let error as PostgresTransactionError {
            if let rollback = error.rollbackError {
                logger.warning("a transaction's rollback failed", metadata: ["store.error": "\(Self.described(rollback))"])
            }
            throw Self.described(error.closureError ?? error.beginError ?? error.commitError ?? error)
        } catch {
            throw Self.described(error)
        }
    }

    /// Every row of a query.
    func rows(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [PostgresRow] {
        let logger = logger
        do {
            if let connection { return try await connection.query(query, logger: logger).collect() }
            return try await leased { connection in try await connection.query(query, logger: logger).collect() }
        } catch {
            throw connection == nil ? Self.described(error) : error
        }
    }

    /// How long a store operation waits for a connection before it fails (the pool itself would wait for
    /// as long as the server is away, and the daemon would not know: intake would hang instead of pausing).
    static let connectionWait: Duration = .seconds(20)
    /// How long a store operation may take in all. A statement sent just as the network went away can
    /// wait on its connection for good; its caller must not (a route worker waiting on outcomes it was
    /// recording kept its deliveries claimed, renewed by every heartbeat, long after the server was back).
    static let operationWait: Duration = .seconds(60)

    /// Runs `work` on a pooled connection, or fails when none can be had within ``connectionWait`` or
    /// when it has not finished within ``operationWait``.
    func leased<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.leased(client, within: Self.operationWait, work)
    }

    /// Runs `work` (on a connection already held), answering its caller within `limit` whatever it does.
    static func bounded<T: Sendable>(within limit: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await raced(connectionWait: nil, limit: limit) { race in
            race.leased()
            return try await work()
        }
    }

    /// The caller is answered at the first of: `work`'s result, no connection after ``connectionWait``,
    /// no result after `limit` (nil: no limit, for migrations). `work` is then cancelled but not waited
    /// for: a statement stuck on a dead connection ends when its connection is closed, without its caller.
    static func leased<T: Sendable>(_ client: PostgresClient, within limit: Duration?,
                                    _ work: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await raced(connectionWait: connectionWait, limit: limit) { race in
            try await client.withConnection { connection in
                race.leased()
                return try await work(connection)
            }
        }
    }

    /// Runs `work` in a task of its own and answers with its result, unless it has not leased a connection
    /// within `connectionWait` or finished within `limit`: then it is cancelled, and the caller answered.
    private static func raced<T: Sendable>(connectionWait: Duration?, limit: Duration?,
                                           _ work: @escaping @Sendable (LeaseRace<T>) async throws -> T) async throws -> T {
        let race = LeaseRace<T>()
        let running = Task {
            do { race.finish(.success(try await work(race))) } catch { race.finish(.failure(error)) }
        }
        let timer = Task {
            var waited = Duration.zero
            if let connectionWait {
                try? await Task.sleep(for: connectionWait)
                if Task.isCancelled { return }
                let error = HostError(.store, "PostgreSQL cannot be reached: no connection within \(connectionWait.components.seconds) s")
                if race.finishUnlessLeased(error) {
                    running.cancel()
                    return
                }
                waited = connectionWait
            }
            guard let limit else { return }
            try? await Task.sleep(for: limit - waited)
            if Task.isCancelled { return }
            race.finish(.failure(HostError(.store, "PostgreSQL did not answer within \(limit.components.seconds) s")))
            running.cancel()
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await race.value()
        } onCancel: {
            running.cancel()
            race.finish(.failure(CancellationError()))
        }
    }

    /// A PostgreSQL error as the operator reads it (in `hostctl health`, the journal): what the server
    /// said, or why it cannot be reached — never the statement or its values (events, sealed secrets).
    static func described(_ error: any Error) -> any Error {
        // The pool's own errors name its internals; what they mean is that no connection can be made.
        if "\(type(of: error))" == "ConnectionPoolError" {
            return HostError(.store, "PostgreSQL cannot be reached: connecting keeps failing (the pool tries again with a growing pause, up to a minute)")
        }
        guard let error = error as? PSQLError else { return error }
        if let message = error.serverInfo?[.message] {
            return HostError(.store, "PostgreSQL refused: \(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))")
        }
        let cause = error.underlying.map { ": \($0)" } ?? ""
        return HostError(.store, "PostgreSQL cannot be reached (\(error.code))\(cause)")
    }

    /// Appends an audit row under the audit lock, with the vault's HMAC when it has given its key, and
    /// seals the new head with that key (`sealHead` false: the caller seals once after several rows).
    func appendAudit(_ connection: PostgresConnection, at: Int64, correlationID: String?, actor: String, action: String, subject: String,
                     detail: String, sealHead: Bool = true) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.auditLock))", logger: logger)
        let head = try await rows("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", on: connection).first?.decode((Int64, String).self)
        let id = (head?.0 ?? 0) + 1
        let previous = head?.1 ?? ""
        let hash = Store.auditHash(previous: previous, at: at, correlationID: correlationID, actor: actor, action: action, subject: subject, detail: detail)
        let key = auditKey
        let mac = key.map { Store.auditMAC(hash: hash, key: $0) }
        try await connection.query("""
            INSERT INTO audit (id, at, correlation_id, actor, action, subject, detail, prev_hash, hash, mac)
            VALUES (\(id), \(at), \(correlationID), \(actor), \(action), \(subject), \(detail), \(previous), \(hash), \(mac))
            """, logger: logger)
        if sealHead { try await self.sealHead(connection) }
    }

    /// Writes the sealed audit head (the last row's id and hash under the audit key) in the transaction
    /// that moved it: removing rows from the end leaves it pointing past the last one.
    func sealHead(_ connection: PostgresConnection) async throws {
        guard let key = auditKey,
              let head = try await rows("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", on: connection).first?.decode((Int64, String).self)
        else { return }
        let sealed = ByteBuffer(bytes: Store.AuditHead(id: head.0, hash: head.1).sealed(key: key))
        try await connection.query("""
            INSERT INTO vault_meta (name, sealed) VALUES ('audit-head', \(sealed)) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed
            """, logger: logger)
    }
}

// MARK: Intake

extension PostgresStore: EventIntake {
    public func ingest(connector: String, stream: String?, incoming: [Store.Incoming], rejects: [Store.Reject], cursor: String?, routes: [RouteConfig],
                       replayKey: String?) async throws -> Store.IngestResult {
        let routes = routes.filter { $0.from == connector }
        let columns = EventColumns(incoming, connector: connector)
        let (result, added) = try await transaction { connection in
            let now = Store.now()
            if stream != nil { try await self.checkFence(connector: connector, on: connection) }
            if let replayKey {
                // A webhook delivery seen before is a replay: nothing of it is stored.
                let inserted = try await self.rows("""
                    INSERT INTO webhook_replays (connector, replay_key, seen_at) VALUES (\(connector), \(replayKey), \(now))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """, on: connection)
                guard !inserted.isEmpty else { throw ReplayedDelivery() }
            }
            var storedByKey: [String: Int64] = [:]
            if !incoming.isEmpty {
                let inserted = try await self.rows("""
                    INSERT INTO events (idempotency_key, connector, type, object_type, object_id, tenant, entity, correlation_id, ordering_key,
                                        received_at, refs, payload)
                    SELECT k, \(connector), t, ot, oi, CASE WHEN tn THEN te END, CASE WHEN enn THEN en END, c, CASE WHEN okn THEN ok END, \(now), r, p
                    FROM UNNEST(\(columns.keys)::text[], \(columns.types)::text[], \(columns.objectTypes)::text[], \(columns.objectIDs)::text[], \(columns.tenants)::text[], \(columns.hasTenant)::bool[],
                                \(columns.entities)::text[], \(columns.hasEntity)::bool[], \(columns.correlations)::text[], \(columns.orderingKeys)::text[], \(columns.hasOrderingKey)::bool[],
                                \(columns.references)::text[], \(columns.payloads)::bytea[])
                         WITH ORDINALITY AS x(k, t, ot, oi, te, tn, en, enn, c, ok, okn, r, p, n)
                    ORDER BY n
                    ON CONFLICT (idempotency_key) DO NOTHING
                    RETURNING id, idempotency_key
                    """, on: connection)
                for row in inserted {
                    let (id, key) = try row.decode((Int64, String).self)
                    storedByKey[key] = id
                }
            }
            var result = Store.IngestResult(stored: [], duplicates: 0)
            var deliveryEvents: [Int64] = [], deliveryRoutes: [String] = [], deliveryTargets: [String] = []
            var deliveryTenants: [String] = [], deliveryHasTenant: [Bool] = [], deliveryKeys: [String] = [], deliveryHasKey: [Bool] = []
            var dropped: [(key: String, correlationID: String)] = []
            var claimed: Set<String> = []
            for (index, item) in incoming.enumerated() {
                let event = item.header
                // The first of a page's copies of a key is the one stored; the rest are duplicates.
                guard let id = storedByKey[columns.keys[index]], claimed.insert(columns.keys[index]).inserted else {
                    dropped.append((columns.keys[index], event.correlationID))
                    continue
                }
                result.stored.append(id)
                for route in routes where route.matches(type: event.type, tenant: event.tenant, entity: event.entity) {
                    deliveryEvents.append(id)
                    deliveryRoutes.append(route.id)
                    deliveryTargets.append(route.to)
                    deliveryTenants.append(event.tenant ?? "")
                    deliveryHasTenant.append(event.tenant != nil)
                    deliveryKeys.append(event.orderingKey ?? "")
                    deliveryHasKey.append(event.orderingKey != nil)
                }
            }
            if !deliveryEvents.isEmpty {
                try await connection.query("""
                    INSERT INTO deliveries (event_id, route, target, tenant, ordering_key, state, next_attempt_at, created_at, updated_at)
                    SELECT e, r, t, CASE WHEN tn THEN te END, CASE WHEN okn THEN ok END, 'pending', \(now), \(now), \(now)
                    FROM UNNEST(\(deliveryEvents)::int8[], \(deliveryRoutes)::text[], \(deliveryTargets)::text[], \(deliveryTenants)::text[],
                                \(deliveryHasTenant)::bool[], \(deliveryKeys)::text[], \(deliveryHasKey)::bool[])
                         WITH ORDINALITY AS x(e, r, t, te, tn, ok, okn, n)
                    ORDER BY n
                    """, logger: self.logger)
                try await self.notifyWork(routes: Set(deliveryRoutes), on: connection)
            }
            result.duplicates = dropped.count
            for duplicate in dropped {
                try await self.appendAudit(connection, at: now, correlationID: duplicate.correlationID, actor: connector, action: "event.duplicate",
                                           subject: duplicate.key, detail: "dropped: already stored", sealHead: false)
            }
            for reject in rejects {
                let id = try await self.rows("""
                    INSERT INTO intake_rejects (connector, stream, rejected_at, reason, payload)
                    VALUES (\(connector), \(stream), \(now), \(reject.reason), \(ByteBuffer(bytes: reject.payload))) RETURNING id
                    """, on: connection).first?.decode(Int64.self) ?? 0
                try await self.appendAudit(connection, at: now, correlationID: nil, actor: connector, action: "event.rejected",
                                           subject: "\(connector)/\(stream ?? "webhook") #\(id)", detail: reject.reason, sealHead: false)
            }
            if !dropped.isEmpty || !rejects.isEmpty { try await self.sealHead(connection) }
            if result.duplicates > 0 {
                try await connection.query("""
                    INSERT INTO source_stats (connector, duplicates) VALUES (\(connector), \(Int64(result.duplicates)))
                    ON CONFLICT (connector) DO UPDATE SET duplicates = source_stats.duplicates + excluded.duplicates
                    """, logger: self.logger)
            }
            if let stream {
                try await connection.query("""
                    INSERT INTO cursors (connector, stream, cursor, updated_at) VALUES (\(connector), \(stream), \(cursor), \(now))
                    ON CONFLICT (connector, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at
                    """, logger: self.logger)
            }
            return (result, result.stored.count + deliveryEvents.count)
        }
        grew(by: added)
        return result
    }

    public func cursor(connector: String, stream: String) async throws -> String? {
        try await rows("SELECT cursor FROM cursors WHERE connector = \(connector) AND stream = \(stream)").first?.decode(String?.self) ?? nil
    }

    public func pruneWebhookReplays(olderThan cutoff: Int64) async throws {
        try await client.query("DELETE FROM webhook_replays WHERE seen_at < \(cutoff)", logger: logger)
    }
}

/// The first answer of ``PostgresStore/leased(_:within:_:)``'s work and its timer, given once to the caller.
final class LeaseRace<T: Sendable>: Sendable {
    private struct State {
        var isLeased = false
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }
    private let state = Mutex(State())

    func leased() {
        state.withLock { $0.isLeased = true }
    }

    func finish(_ result: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    /// Finishes with `error` unless a connection was leased; true when it did.
    func finishUnlessLeased(_ error: any Error) -> Bool {
        let finished = state.withLock { state -> (Bool, CheckedContinuation<T, any Error>?) in
            guard !state.isLeased, state.result == nil else { return (false, nil) }
            state.result = .failure(error)
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        finished.1?.resume(throwing: error)
        return finished.0
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
