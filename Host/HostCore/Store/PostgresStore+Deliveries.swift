import ConnectorProtocol
import Foundation
import NIOCore
import PostgresNIO
import Synchronization

// The PostgreSQL store's outbox: the same rules as the SQLite store's (SQLiteStore.swift), where they
// are explained; only the SQL dialect differs.
extension PostgresStore: DeliveryQueue {
    public func dueDeliveries(route: String, now: Int64, limit: Int, excludingTenants excluded: [String], inHand: Set<Int64>) async throws -> [DeliveryJob] {
        // Read and claimed in one statement: rows another host is claiming right now are skipped, rows
        // it claimed are left alone until its claim expires. An earlier delivery of the same ordering key
        // holds the later ones back whoever has claimed it. The row lock is `NO KEY UPDATE`, as the claim's
        // own update takes: a `FOR UPDATE` also blocked the key-share locks that inserting attempts takes on
        // their delivery (its foreign key), and another host's outcomes waited for this query. Its shape
        // keeps one plan whatever the planner knows of the tables: the pending index in id order up to the
        // limit, the events read only for a delivery waiting on a dependency, and the claimed rows by their
        // keys (a join with the events made the planner hash the whole events table for every read).
        let found = try await rows("""
            WITH due AS (
                SELECT d.id FROM deliveries d
                WHERE d.route = \(route) AND d.state = 'pending' AND d.next_attempt_at <= \(now)
                  AND (d.claimed_until IS NULL OR d.claimed_until < \(now))
                  AND NOT (COALESCE(d.tenant, '') = ANY(\(excluded)::text[])) AND NOT (d.id = ANY(\(Array(inHand))::int8[]))
                  AND (d.ordering_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM deliveries p
                      WHERE p.route = d.route AND p.ordering_key = d.ordering_key AND p.state = 'pending' AND p.id < d.id
                        AND (p.last_error_class IS DISTINCT FROM 'dependency' OR p.next_attempt_at <= \(now) OR EXISTS (
                            SELECT 1 FROM events pe JOIN events de ON de.id = d.event_id
                            WHERE pe.id = p.event_id AND pe.object_type = de.object_type AND pe.object_id = de.object_id))))
                ORDER BY d.id
                LIMIT \(Int64(limit))
                FOR NO KEY UPDATE OF d SKIP LOCKED
            ), claimed AS (
                UPDATE deliveries SET claimed_by = \(member), claimed_until = \(now + leaseMilliseconds)
                WHERE deliveries.id = ANY(ARRAY(SELECT id FROM due))
                RETURNING deliveries.id, deliveries.event_id, deliveries.target, deliveries.attempts, deliveries.created_at,
                          deliveries.ordering_key, deliveries.tenant
            )
            SELECT d.id, d.event_id, d.target, d.attempts, d.created_at, d.ordering_key, d.tenant,
                   e.correlation_id, e.idempotency_key, e.connector, e.payload, e.object_type, e.object_id, e.refs, e.type
            FROM claimed d JOIN events e ON e.id = d.event_id
            ORDER BY d.id
            """)
        let jobs = try found.map { row in
            let (id, eventID, target, attempts, createdAt, orderingKey, tenant) = try row.decode((Int64, Int64, String, Int32, Int64, String?, String?).self)
            let random = row.makeRandomAccess()
            let payload = try random[10].decode(ByteBuffer.self)
            return DeliveryJob(
                deliveryID: id, eventID: eventID, route: route, target: target, attempts: Int(attempts), createdAt: createdAt,
                orderingKey: orderingKey, tenant: tenant, correlationID: try random[7].decode(String.self),
                idempotencyKey: try random[8].decode(String.self), sourceConnector: try random[9].decode(String.self),
                payload: Data(payload.readableBytesView), objectType: try random[11].decode(String.self), objectID: try random[12].decode(String.self),
                references: SQLiteStore.lines(try random[13].decode(String.self)), eventType: try random[14].decode(String.self)
            )
        }
        holdings.withLock { $0.claimed.formUnion(jobs.map(\.deliveryID)) }
        return jobs
    }

    public func nextDue(route: String) async throws -> Int64? {
        // As on SQLite, a time still to come; or when another host's claim expires (before that, that
        // host's notice of what it settled wakes this one). Two plain minimums: this runs whenever a worker
        // finds nothing due, and one that checked each delivery's ordering key kept the server busy.
        let now = Store.now()
        return try await rows("""
            SELECT LEAST(
                (SELECT MIN(next_attempt_at) FROM deliveries WHERE route = \(route) AND state = 'pending' AND next_attempt_at > \(now)),
                (SELECT MIN(claimed_until) + 1 FROM deliveries WHERE route = \(route) AND state = 'pending' AND claimed_until >= \(now)))
            """).first?.decode(Int64?.self) ?? nil
    }

    public func links(target: String, canonicalIDs: [String]) async throws -> [Store.KnownLink] {
        guard !canonicalIDs.isEmpty else { return [] }
        return try await rows("""
            SELECT canonical_id, object_type, source_id, external_id FROM links WHERE connector = \(target) AND canonical_id = ANY(\(canonicalIDs)::text[])
            """).map { row in
            let (canonical, objectType, sourceID, externalID) = try row.decode((String, String, String, String).self)
            return Store.KnownLink(canonicalKey: canonical, link: Link(connector: target, objectType: objectType, sourceID: sourceID, externalID: externalID))
        }
    }

    public func record(_ outcomes: [DeliveryOutcome]) async throws -> Set<Int64> {
        guard !outcomes.isEmpty else { return [] }
        let superseded = try await transaction { connection in
            var superseded: Set<Int64> = []
            // Deliveries, the bulk of every batch, in three statements whatever their number (one round
            // trip per statement per delivery made the outbox four times slower than SQLite's); failures one by one.
            try await self.recordDelivered(outcomes, on: connection)
            for outcome in outcomes {
                guard case .failed = outcome.result else { continue }
                if try await self.record(outcome, on: connection) { superseded.insert(outcome.job.deliveryID) }
            }
            try await self.wakeWaiting(after: outcomes, on: connection)
            // What waited behind a settled delivery (its ordering key) may go now, on any host.
            let settled = outcomes.filter { if case .failed(_, .retry) = $0.result { false } else { true } }
            try await self.notifyWork(routes: Set(settled.map(\.job.route)), on: connection)
            return superseded
        }
        settled(outcomes.map(\.job.deliveryID))
        return superseded
    }

    /// The delivered outcomes of a batch: their attempts, their deliveries' state and the links they leave,
    /// each as one `… FROM UNNEST` statement (a nullable text as a value and a flag, as in ``EventColumns``).
    private func recordDelivered(_ outcomes: [DeliveryOutcome], on connection: PostgresConnection) async throws {
        var ids: [Int64] = [], numbers: [Int32] = [], started: [Int64] = [], finished: [Int64] = [], kinds: [String] = []
        var externals: [String] = [], hasExternal: [Bool] = []
        // Upserted in order; a later one of the same key wins, as it would one statement at a time.
        var links: [String: (connector: String, canonicalID: String, objectType: String, sourceID: String, externalID: String, at: Int64)] = [:]
        var linkOrder: [String] = []
        func link(_ value: (connector: String, canonicalID: String, objectType: String, sourceID: String, externalID: String, at: Int64)) {
            let key = "\(value.connector)\u{1F}\(value.canonicalID)"
            if links.updateValue(value, forKey: key) == nil { linkOrder.append(key) }
        }
        for outcome in outcomes {
            guard case .delivered(let externalID, let duplicate, let produced, let canonical) = outcome.result else { continue }
            let job = outcome.job
            ids.append(job.deliveryID)
            numbers.append(Int32(job.attempts + 1))
            started.append(outcome.startedAt)
            finished.append(outcome.finishedAt)
            kinds.append(duplicate ? "duplicate" : "delivered")
            externals.append(externalID ?? "")
            hasExternal.append(externalID != nil)
            if let externalID, let canonical {
                link((job.target, canonical.id, canonical.objectType, canonical.objectID, externalID, outcome.finishedAt))
            }
            if let canonical, let written = canonical.writtenAs {
                // The way back: the target's record, as its own events name it, is the source's record.
                link((job.sourceConnector, "\(job.target):\(written.objectType):\(written.objectID)", written.objectType, written.objectID,
                      "\(canonical.objectType):\(canonical.objectID)", outcome.finishedAt))
            }
            for produced in produced {
                link((job.target, "\(job.sourceConnector):\(produced.objectType):\(produced.sourceID)", produced.objectType, produced.sourceID,
                      produced.externalID, outcome.finishedAt))
            }
        }
        guard !ids.isEmpty else { return }
        try await warnOfLostClaims(ids, on: connection)
        try await connection.query("""
            INSERT INTO attempts (delivery_id, number, started_at, finished_at, outcome)
            SELECT * FROM UNNEST(\(ids)::int8[], \(numbers)::int4[], \(started)::int8[], \(finished)::int8[], \(kinds)::text[])
            """, logger: logger)
        try await connection.query("""
            UPDATE deliveries SET state = 'delivered', attempts = u.number, updated_at = u.finished, external_id = CASE WHEN u.has_external THEN u.external END,
                last_error = NULL, last_error_class = NULL, claimed_by = NULL, claimed_until = NULL
            FROM UNNEST(\(ids)::int8[], \(numbers)::int4[], \(finished)::int8[], \(externals)::text[], \(hasExternal)::bool[])
                 AS u(id, number, finished, external, has_external)
            WHERE deliveries.id = u.id AND deliveries.state = 'pending'
            """, logger: logger)
        guard !linkOrder.isEmpty else { return }
        let rows = linkOrder.compactMap { links[$0] }
        try await connection.query("""
            INSERT INTO links (connector, canonical_id, object_type, source_id, external_id, updated_at)
            SELECT * FROM UNNEST(\(rows.map(\.connector))::text[], \(rows.map(\.canonicalID))::text[], \(rows.map(\.objectType))::text[],
                                 \(rows.map(\.sourceID))::text[], \(rows.map(\.externalID))::text[], \(rows.map(\.at))::int8[])
            ON CONFLICT (connector, canonical_id) DO UPDATE SET external_id = excluded.external_id, updated_at = excluded.updated_at
            """, logger: logger)
    }

    /// Says so when deliveries this host has delivered had passed to another host meanwhile (their claim
    /// expired unrenewed) or were settled by one: the target may have seen them twice, which its
    /// idempotency key makes harmless, but a lease too short for the hosts' pauses shows here first.
    private func warnOfLostClaims(_ ids: [Int64], on connection: PostgresConnection) async throws {
        let lost = try await rows("""
            SELECT count(*) FROM deliveries WHERE id = ANY(\(ids)::int8[]) AND (state <> 'pending' OR claimed_by <> \(member))
            """, on: connection).first?.decode(Int64.self) ?? 0
        guard lost > 0 else { return }
        logger.warning("deliveries made after another host took them over: they may have reached their target twice (idempotency keys absorb it); if this recurs, raise [store] lease_seconds", metadata: [
            "deliveries.count": "\(lost)", "store.member": "\(member)", "store.lease_ms": "\(leaseMilliseconds)",
        ])
    }

    /// Deliveries waiting for a record just delivered, or waiting in the ordering key of one, are due now.
    private func wakeWaiting(after outcomes: [DeliveryOutcome], on connection: PostgresConnection) async throws {
        guard try await rows("""
            SELECT 1 FROM deliveries WHERE state = 'pending' AND last_error_class = 'dependency' LIMIT 1
            """, on: connection).first != nil else { return }
        for outcome in outcomes {
            guard case .delivered = outcome.result else { continue }
            let job = outcome.job
            let now = outcome.finishedAt
            try await connection.query("""
                UPDATE deliveries SET next_attempt_at = \(now)
                WHERE waiting_for = \(job.canonicalID) AND target = \(job.target) AND state = 'pending' AND next_attempt_at > \(now)
                """, logger: logger)
            if let key = job.orderingKey {
                try await connection.query("""
                    UPDATE deliveries SET next_attempt_at = \(now)
                    WHERE route = \(job.route) AND ordering_key = \(key) AND state = 'pending' AND last_error_class = 'dependency' AND next_attempt_at > \(now)
                    """, logger: logger)
            }
        }
    }

    /// A later pending delivery of the same object on the same route and ordering key.
    private func supersedingDelivery(of job: DeliveryJob, on connection: PostgresConnection) async throws -> (id: Int64, type: String)? {
        guard let key = job.orderingKey else { return nil }
        return try await rows("""
            SELECT d.id, e.type FROM deliveries d JOIN events e ON e.id = d.event_id
            WHERE d.route = \(job.route) AND d.ordering_key = \(key) AND d.state = 'pending' AND d.id > \(job.deliveryID)
              AND e.connector = \(job.sourceConnector) AND e.object_type = \(job.objectType) AND e.object_id = \(job.objectID)
            ORDER BY d.id LIMIT 1
            """, on: connection).first.map { try $0.decode((Int64, String).self) }.map { (id: $0.0, type: $0.1) }
    }

    /// Records one outcome; true when a delivery to dead-letter was superseded instead.
    private func record(_ outcome: DeliveryOutcome, on connection: PostgresConnection) async throws -> Bool {
        let job = outcome.job
        let now = outcome.finishedAt
        let attempt = Int32(job.attempts + 1)
        switch outcome.result {
        case .delivered:
            return false  // recorded with the batch's others (recordDelivered)
        case .failed(let error, let next):
            let details = try error.details.map { String(decoding: try RPCCodec().json($0), as: UTF8.self) }
            try await connection.query("""
                INSERT INTO attempts (delivery_id, number, started_at, finished_at, outcome, error, details)
                VALUES (\(job.deliveryID), \(attempt), \(outcome.startedAt), \(now), \(error.code.name), \(error.message), \(details))
                """, logger: logger)
            // A claim that expired while this host was still at it, and that another host took: the
            // delivery is that host's now; this failed attempt is kept, but decides nothing.
            let holder = try await rows("SELECT claimed_by FROM deliveries WHERE id = \(job.deliveryID) FOR NO KEY UPDATE", on: connection).first?.decode(String?.self)
            if let holder, holder != member { return false }
            switch next {
            case .retry(let at):
                let waitingFor = error.waitingFor.map { "\(job.sourceConnector):\($0.objectType):\($0.objectID)" }
                try await connection.query("""
                    UPDATE deliveries SET attempts = \(attempt), next_attempt_at = \(at), updated_at = \(now), last_error = \(error.message),
                        last_error_class = \(error.code.name), waiting_for = \(waitingFor), claimed_by = NULL, claimed_until = NULL
                    WHERE id = \(job.deliveryID) AND state = 'pending'
                    """, logger: logger)
                return false
            case .dead(let reason):
                if let later = try await supersedingDelivery(of: job, on: connection) {
                    let note = "superseded by delivery \(later.id) (\(later.type)); last error: \(error.message)"
                    try await connection.query("""
                        UPDATE deliveries SET state = 'discarded', attempts = \(attempt), updated_at = \(now), last_error = \(note),
                            last_error_class = \(error.code.name), waiting_for = NULL, claimed_by = NULL, claimed_until = NULL
                        WHERE id = \(job.deliveryID) AND state = 'pending'
                        """, logger: logger)
                    try await appendAudit(connection, at: now, correlationID: job.correlationID, actor: "host", action: "delivery.superseded",
                                          subject: "delivery \(job.deliveryID) route \(job.route)",
                                          detail: "by delivery \(later.id) (\(later.type)) of the same object; \(error.code.name): \(reason)")
                    return true
                }
                try await connection.query("""
                    UPDATE deliveries SET state = 'dead', attempts = \(attempt), updated_at = \(now), last_error = \(error.message),
                        last_error_class = \(error.code.name), claimed_by = NULL, claimed_until = NULL
                    WHERE id = \(job.deliveryID) AND state = 'pending'
                    """, logger: logger)
                try await connection.query("""
                    INSERT INTO dead_letters (delivery_id, dead_at, error_class, reason) VALUES (\(job.deliveryID), \(now), \(error.code.name), \(reason))
                    ON CONFLICT (delivery_id) DO UPDATE SET dead_at = excluded.dead_at, error_class = excluded.error_class, reason = excluded.reason
                    """, logger: logger)
                try await appendAudit(connection, at: now, correlationID: job.correlationID, actor: "host", action: "delivery.dead",
                                      subject: "delivery \(job.deliveryID) route \(job.route)", detail: "\(error.code.name): \(reason)")
                return false
            }
        }
    }
}
