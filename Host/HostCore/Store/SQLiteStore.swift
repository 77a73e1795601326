public import ConnectorProtocol
import Crypto
public import Foundation
import GRDB
public import HostAdmin
import Synchronization

/// The daemon's durable state on SQLite (WAL, `synchronous = FULL`): events, the delivery outbox,
/// attempts, dead letters, cursors, links and the audit chain. All SQL lives in this file and
/// Schema.swift; nothing else opens the database.
public final class SQLiteStore: HostStore {
    private let pool: DatabasePool
    private let committer: GroupCommitter
    /// The database file.
    let path: String
    let codec = RPCCodec()
    /// Authenticates audit rows once the vault has opened (see ``useAuditKey(_:)``), and seals the head.
    let auditSeal: AuditSeal
    var auditKey: SymmetricKey? { auditSeal.key.withLock { $0 } }

    /// For the store's other files: reads, and writes through the group committer.
    var reader: DatabasePool { pool }

    func submit<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await committer.submit(work)
    }

    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let extra = ProcessInfo.processInfo.environment["CONNECTOR_HOST_SQLITE_PRAGMAS"]
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            if let extra { try db.execute(sql: extra) }
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Schema.migrator.migrate(pool)
        let seal = AuditSeal()
        auditSeal = seal
        committer = GroupCommitter(pool: pool, beforeCommit: seal.sealHeadIfWritten)
    }


    // MARK: Ingest


    /// Stores a page of events from one source and its new cursor in one transaction, with one
    /// delivery per matching route. An event whose idempotency key is already stored is dropped,
    /// counted and audited.
    public func ingest(
        connector: String, stream: String?, incoming: [Store.Incoming], rejects: [Store.Reject], cursor: String?, routes: [RouteConfig],
        replayKey: String?
    ) async throws -> Store.IngestResult {
        let rows = incoming.map { item -> (EventHeader, String, Data, String) in
            let refs = Store.references(item.header, connector: connector).joined(separator: "\n")
            return (item.header, item.header.idempotencyKey(connector: connector), item.payload, refs)
        }
        let routes = routes.filter { $0.from == connector }
        return try await committer.submit { db in
            let now = Store.now()
            var result = Store.IngestResult(stored: [], duplicates: 0)
            if let replayKey {
                // A webhook delivery seen before is a replay: nothing of it is stored.
                try db.execute(sql: "INSERT INTO webhook_replays (connector, replay_key, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                               arguments: [connector, replayKey, now])
                guard db.changesCount > 0 else { throw ReplayedDelivery() }
            }
            let insertEvent = try db.cachedStatement(sql: """
                INSERT INTO events (idempotency_key, connector, type, object_type, object_id, tenant, entity,
                                    correlation_id, ordering_key, received_at, refs, payload)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING
                """)
            let insertDelivery = try db.cachedStatement(sql: """
                INSERT INTO deliveries (event_id, route, target, tenant, ordering_key, state, next_attempt_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)
                """)
            for (event, key, payload, refs) in rows {
                var insert = DirectStatement(insertEvent, in: db)
                insert.bind(key)
                insert.bind(connector)
                insert.bind(event.type)
                insert.bind(event.source.objectType)
                insert.bind(event.source.objectID)
                insert.bind(event.tenant)
                insert.bind(event.entity)
                insert.bind(event.correlationID)
                insert.bind(event.orderingKey)
                insert.bind(now)
                insert.bind(refs)
                insert.bind(payload)
                try insert.execute()
                guard db.changesCount > 0 else {
                    result.duplicates += 1
                    try self.appendAudit(db, at: now, correlationID: event.correlationID, actor: connector,
                                         action: "event.duplicate", subject: key, detail: "dropped: already stored")
                    continue
                }
                let eventID = db.lastInsertedRowID
                result.stored.append(eventID)
                for route in routes where route.matches(type: event.type, tenant: event.tenant, entity: event.entity) {
                    var delivery = DirectStatement(insertDelivery, in: db)
                    delivery.bind(eventID)
                    delivery.bind(route.id)
                    delivery.bind(route.to)
                    delivery.bind(event.tenant)
                    delivery.bind(event.orderingKey)
                    delivery.bind(now)
                    delivery.bind(now)
                    delivery.bind(now)
                    try delivery.execute()
                }
            }
            for reject in rejects {
                try db.execute(sql: "INSERT INTO intake_rejects (connector, stream, rejected_at, reason, payload) VALUES (?, ?, ?, ?, ?)",
                               arguments: [connector, stream, now, reject.reason, reject.payload])
                try self.appendAudit(db, at: now, correlationID: nil, actor: connector, action: "event.rejected",
                                     subject: "\(connector)/\(stream ?? "webhook") #\(db.lastInsertedRowID)", detail: reject.reason)
            }
            if result.duplicates > 0 {
                try db.execute(sql: """
                    INSERT INTO source_stats (connector, duplicates) VALUES (?, ?)
                    ON CONFLICT (connector) DO UPDATE SET duplicates = duplicates + excluded.duplicates
                    """, arguments: [connector, result.duplicates])
            }
            if let stream {
                try db.execute(sql: """
                    INSERT INTO cursors (connector, stream, cursor, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (connector, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at
                    """, arguments: [connector, stream, cursor, now])
            }
            return result
        }
    }

    public func cursor(connector: String, stream: String) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT cursor FROM cursors WHERE connector = ? AND stream = ?", arguments: [connector, stream])
        }
    }

    // MARK: Delivery

    /// Due deliveries of a route, at most one per ordering key: the oldest pending one. A key whose
    /// oldest pending delivery is waiting for a retry holds back the later ones, except a delivery
    /// that waits for another record (its last answer was `dependency`): that one lets the rest of its
    /// key pass while it waits — the record it waits for may be among them (a payment before its
    /// invoice) — and holds back only later events of its own object, which must not overtake it. When
    /// its retry is due it holds its key again: the rest of the key would run beside it (a payment
    /// finding its invoice half written).
    public func dueDeliveries(route: String, now: Int64, limit: Int, excludingTenants excluded: [String], inHand: Set<Int64>) async throws -> [DeliveryJob] {
        // Tenants whose circuit is open or who are paused ("" for deliveries without a tenant).
        let exclusion = excluded.isEmpty ? "" : "AND COALESCE(d.tenant, '') NOT IN (\(Array(repeating: "?", count: excluded.count).joined(separator: ",")))"
        // The deliveries in hand are read past rather than named in the statement (one cached statement).
        let arguments = StatementArguments([route, now] as [any DatabaseValueConvertible]) + StatementArguments(excluded) + [now, limit + inHand.count]
        return try await pool.read { db in
            // Read through a cursor: each value straight from the statement into the job, without a
            // copied row of `DatabaseValue`s first (most of this read's time went to those copies).
            let rows = try Row.fetchCursor(db.cachedStatement(sql: """
                SELECT d.id, d.event_id, d.target, d.attempts, d.created_at, d.ordering_key, d.tenant,
                       e.correlation_id, e.idempotency_key, e.connector, e.payload, e.object_type, e.object_id, e.refs, e.type
                FROM deliveries d JOIN events e ON e.id = d.event_id
                WHERE d.route = ? AND d.state = 'pending' AND d.next_attempt_at <= ? \(exclusion)
                  AND (d.ordering_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM deliveries p
                      WHERE p.route = d.route AND p.ordering_key = d.ordering_key AND p.state = 'pending' AND p.id < d.id
                        AND (p.last_error_class IS NOT 'dependency' OR p.next_attempt_at <= ? OR EXISTS (
                            SELECT 1 FROM events pe WHERE pe.id = p.event_id AND pe.object_type = e.object_type AND pe.object_id = e.object_id))))
                ORDER BY d.id
                LIMIT ?
                """), arguments: arguments)
            return try Array(rows.filter { row in !inHand.contains(row[0]) }.prefix(limit).map { row in
                DeliveryJob(
                    deliveryID: row[0], eventID: row[1], route: route, target: row[2], attempts: row[3],
                    createdAt: row[4], orderingKey: row[5], tenant: row[6], correlationID: row[7],
                    idempotencyKey: row[8], sourceConnector: row[9], payload: row[10],
                    objectType: row[11], objectID: row[12], references: Self.lines(row[13]),
                    eventType: row[14]
                )
            })
        }
    }

    /// A stored list of references (`refs`: one per line), split on the byte: `String.split` walks
    /// grapheme clusters, which cost more than the rest of the row.
    static func lines(_ text: String) -> [String] {
        text.utf8.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
    }

    /// When the route's next pending delivery becomes due, if any.
    public func nextDue(route: String) async throws -> Int64? {
        try await pool.read { db in
            // Only a time still to come: a pending delivery whose time has passed and that is not due waits
            // for an earlier one of its ordering key, whose own time is the one that counts (a worker that
            // took the past times for due ones looked again every millisecond).
            try Int64.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM deliveries WHERE route = ? AND state = 'pending' AND next_attempt_at > ?",
                               arguments: [route, Store.now()])
        }
    }


    /// Links the target already has for these canonical ids (the records events refer to).
    public func links(target: String, canonicalIDs: [String]) async throws -> [Store.KnownLink] {
        guard !canonicalIDs.isEmpty else { return [] }
        // The ids as one JSON array: one prepared statement for any number of them (an `IN (?, ?, …)`
        // list was a new statement to compile for each batch).
        let list = String(decoding: try codec.json(canonicalIDs), as: UTF8.self)
        return try await pool.read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT canonical_id, object_type, source_id, external_id FROM links
                WHERE connector = ? AND canonical_id IN (SELECT value FROM json_each(?))
                """), arguments: [target, list]).map {
                Store.KnownLink(canonicalKey: $0[0], link: Link(connector: target, objectType: $0[1], sourceID: $0[2], externalID: $0[3]))
            }
        }
    }

    /// Records the outcomes of a batch in one transaction. Returns the deliveries that were to be
    /// dead-lettered but were superseded instead (see ``supersedingDelivery(of:in:)``).
    @discardableResult
    public func record(_ outcomes: [DeliveryOutcome]) async throws -> Set<Int64> {
        guard !outcomes.isEmpty else { return [] }
        return try await committer.submit { db in
            var superseded: Set<Int64> = []
            for outcome in outcomes {
                if try self.record(outcome, in: db) { superseded.insert(outcome.job.deliveryID) }
            }
            try self.wakeWaiting(after: outcomes, in: db)
            return superseded
        }
    }

    /// Deliveries waiting for a record that was just delivered, or waiting in the ordering key of one,
    /// are due now. One indexed look first: almost always nothing waits, and then nothing more is done.
    /// The index is named: left to itself, SQLite's planner scanned every pending delivery instead
    /// (70 ms a batch with 150,000 queued, most of the daemon's time end to end).
    private func wakeWaiting(after outcomes: [DeliveryOutcome], in db: Database) throws {
        guard try Bool.fetchOne(db.cachedStatement(sql: """
            SELECT EXISTS (SELECT 1 FROM deliveries INDEXED BY deliveries_dependency WHERE state = 'pending' AND last_error_class = 'dependency')
            """)) == true else { return }
        let byRecord = try db.cachedStatement(sql: """
            UPDATE deliveries SET next_attempt_at = ? WHERE waiting_for = ? AND target = ? AND state = 'pending' AND next_attempt_at > ?
            """)
        let byKey = try db.cachedStatement(sql: """
            UPDATE deliveries SET next_attempt_at = ?
            WHERE route = ? AND ordering_key = ? AND state = 'pending' AND last_error_class = 'dependency' AND next_attempt_at > ?
            """)
        for outcome in outcomes {
            guard case .delivered = outcome.result else { continue }
            let job = outcome.job
            let now = outcome.finishedAt
            try byRecord.execute(arguments: [now, job.canonicalID, job.target, now])
            if let key = job.orderingKey { try byKey.execute(arguments: [now, job.route, key, now]) }
        }
    }

    /// A later pending delivery of the same object on the same route and ordering key. Events carry
    /// the whole record, so a failed delivery of an older version is superseded by it, not an error
    /// for the operator: replaying a history dead-letters nothing that a later event settles (an
    /// invoice cancelled in the target since, then voided by its next event). If the later one fails
    /// too, it is dead-lettered itself, with the record as it is now.
    private func supersedingDelivery(of job: DeliveryJob, in db: Database) throws -> (id: Int64, type: String)? {
        guard let key = job.orderingKey else { return nil }
        guard let row = try Row.fetchOne(db, sql: """
            SELECT d.id, e.type FROM deliveries d JOIN events e ON e.id = d.event_id
            WHERE d.route = ? AND d.ordering_key = ? AND d.state = 'pending' AND d.id > ?
              AND e.connector = ? AND e.object_type = ? AND e.object_id = ?
            ORDER BY d.id LIMIT 1
            """, arguments: [job.route, key, job.deliveryID, job.sourceConnector, job.objectType, job.objectID]) else { return nil }
        return (row[0], row[1])
    }

    /// Records one outcome; true when a delivery to dead-letter was superseded instead.
    private func record(_ outcome: DeliveryOutcome, in db: Database) throws -> Bool {
        let job = outcome.job
        let now = outcome.finishedAt
        let attempt = job.attempts + 1
        switch outcome.result {
        case .delivered(let externalID, let duplicate, let links, let canonical):
            // Bound directly (see DirectStatement): these run for every delivery.
            var insertAttempt = DirectStatement(try db.cachedStatement(sql: """
                INSERT INTO attempts (delivery_id, number, started_at, finished_at, outcome) VALUES (?, ?, ?, ?, ?)
                """), in: db)
            insertAttempt.bind(job.deliveryID)
            insertAttempt.bind(Int64(attempt))
            insertAttempt.bind(outcome.startedAt)
            insertAttempt.bind(now)
            insertAttempt.bind(duplicate ? "duplicate" : "delivered")
            try insertAttempt.execute()
            var markDelivered = DirectStatement(try db.cachedStatement(sql: """
                UPDATE deliveries SET state = 'delivered', attempts = ?, updated_at = ?, external_id = ?, last_error = NULL, last_error_class = NULL
                WHERE id = ? AND state = 'pending'
                """), in: db)
            markDelivered.bind(Int64(attempt))
            markDelivered.bind(now)
            markDelivered.bind(externalID)
            markDelivered.bind(job.deliveryID)
            try markDelivered.execute()
            let upsertStatement = try db.cachedStatement(sql: """
                INSERT INTO links (connector, canonical_id, object_type, source_id, external_id, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (connector, canonical_id) DO UPDATE SET external_id = excluded.external_id, updated_at = excluded.updated_at
                """)
            func upsert(_ connector: String, _ canonicalID: String, _ objectType: String, _ sourceID: String, _ externalID: String) throws {
                var statement = DirectStatement(upsertStatement, in: db)
                statement.bind(connector)
                statement.bind(canonicalID)
                statement.bind(objectType)
                statement.bind(sourceID)
                statement.bind(externalID)
                statement.bind(now)
                try statement.execute()
            }
            if let externalID, let canonical {
                try upsert(job.target, canonical.id, canonical.objectType, canonical.objectID, externalID)
            }
            if let canonical, let written = canonical.writtenAs {
                // The way back: the target's record, as its own events name it, is the source's record, whose
                // external id here reads `<object type>:<object id>` in the source's own terms.
                try upsert(job.sourceConnector, "\(job.target):\(written.objectType):\(written.objectID)", written.objectType,
                           written.objectID, "\(canonical.objectType):\(canonical.objectID)")
            }
            for link in links {
                try upsert(job.target, "\(job.sourceConnector):\(link.objectType):\(link.sourceID)", link.objectType, link.sourceID, link.externalID)
            }
            return false
        case .failed(let error, let next):
            let details = try error.details.map { String(decoding: try RPCCodec().json($0), as: UTF8.self) }
            try db.execute(sql: """
                INSERT INTO attempts (delivery_id, number, started_at, finished_at, outcome, error, details) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [job.deliveryID, attempt, outcome.startedAt, now, error.code.name, error.message, details])
            switch next {
            case .retry(let at):
                let waitingFor = error.waitingFor.map { "\(job.sourceConnector):\($0.objectType):\($0.objectID)" }
                try db.execute(sql: """
                    UPDATE deliveries SET attempts = ?, next_attempt_at = ?, updated_at = ?, last_error = ?, last_error_class = ?, waiting_for = ?
                    WHERE id = ? AND state = 'pending'
                    """, arguments: [attempt, at, now, error.message, error.code.name, waitingFor, job.deliveryID])
                return false
            case .dead(let reason):
                if let later = try supersedingDelivery(of: job, in: db) {
                    try db.execute(sql: """
                        UPDATE deliveries SET state = 'discarded', attempts = ?, updated_at = ?, last_error = ?, last_error_class = ?, waiting_for = NULL
                        WHERE id = ? AND state = 'pending'
                        """, arguments: [attempt, now, "superseded by delivery \(later.id) (\(later.type)); last error: \(error.message)", error.code.name, job.deliveryID])
                    try appendAudit(db, at: now, correlationID: job.correlationID, actor: "host", action: "delivery.superseded",
                                    subject: "delivery \(job.deliveryID) route \(job.route)",
                                    detail: "by delivery \(later.id) (\(later.type)) of the same object; \(error.code.name): \(reason)")
                    return true
                }
                try db.execute(sql: """
                    UPDATE deliveries SET state = 'dead', attempts = ?, updated_at = ?, last_error = ?, last_error_class = ?
                    WHERE id = ? AND state = 'pending'
                    """, arguments: [attempt, now, error.message, error.code.name, job.deliveryID])
                try db.execute(sql: """
                    INSERT INTO dead_letters (delivery_id, dead_at, error_class, reason) VALUES (?, ?, ?, ?)
                    ON CONFLICT (delivery_id) DO UPDATE SET dead_at = excluded.dead_at, error_class = excluded.error_class, reason = excluded.reason
                    """, arguments: [job.deliveryID, now, error.code.name, reason])
                try appendAudit(db, at: now, correlationID: job.correlationID, actor: "host", action: "delivery.dead",
                                subject: "delivery \(job.deliveryID) route \(job.route)", detail: "\(error.code.name): \(reason)")
                return false
            }
        }
    }

    // MARK: Operator views

    public func queue(now: Int64) async throws -> [QueueRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT route, target, state, COUNT(*), MIN(CASE WHEN state = 'pending' THEN created_at END)
                FROM deliveries GROUP BY route, target, state ORDER BY route, state
                """).map { row in
                QueueRow(route: row[0], target: row[1], state: row[2], count: row[3],
                         oldestAgeSeconds: (row[4] as Int64?).map { Double(now - $0) / 1000 })
            }
        }
    }

    public func duplicates() async throws -> [String: Int] {
        try await pool.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT connector, duplicates FROM source_stats").map { ($0[0], $0[1]) })
        }
    }

    /// Events rejected at intake, oldest first.
    public func intakeRejects(connector: String?, limit: Int) async throws -> [IntakeReject] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, connector, stream, rejected_at, reason, payload FROM intake_rejects
                WHERE (? IS NULL OR connector = ?) ORDER BY id LIMIT ?
                """, arguments: [connector, connector, limit]).map {
                IntakeReject(id: $0[0], connector: $0[1], stream: $0[2], rejectedAt: $0[3], reason: $0[4],
                             payload: String(decoding: $0[5] as Data, as: UTF8.self))
            }
        }
    }

    public func deadLetters(route: String?, limit: Int) async throws -> [DeadLetterSummary] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.id, d.route, d.target, e.type, e.correlation_id, e.idempotency_key, l.error_class, l.reason, l.dead_at, d.attempts
                FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id JOIN events e ON e.id = d.event_id
                WHERE (? IS NULL OR d.route = ?) ORDER BY d.id LIMIT ?
                """, arguments: [route, route, limit]).map(Self.deadLetter)
        }
    }

    public func deadLetter(id: Int64) async throws -> DeadLetterDetail? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT d.id, d.route, d.target, e.type, e.correlation_id, e.idempotency_key, l.error_class, l.reason, l.dead_at, d.attempts, e.payload
                FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id JOIN events e ON e.id = d.event_id
                WHERE d.id = ?
                """, arguments: [id]) else { return nil }
            let event = try RPCCodec().decodeJSON(JSONValue.self, from: row[10])
            return DeadLetterDetail(summary: Self.deadLetter(row), event: event, attempts: try Self.attempts(db, deliveryID: id))
        }
    }

    /// Puts dead letters back in the queue, same event, same idempotency key. Returns the ids replayed.
    public func replay(ids: [Int64]?, route: String?, actor: String) async throws -> [Int64] {
        try await committer.submit { db in
            let now = Store.now()
            let targets = try Self.deadIDs(db, ids: ids, route: route)
            for id in targets {
                try db.execute(sql: """
                    UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'dead'
                    """, arguments: [now, now, id])
                try db.execute(sql: "DELETE FROM dead_letters WHERE delivery_id = ?", arguments: [id])
                try self.appendAudit(db, at: now, correlationID: try Self.correlation(db, deliveryID: id), actor: actor,
                                     action: "dlq.replay", subject: "delivery \(id)", detail: "replayed by operator")
            }
            return targets
        }
    }

    /// Gives up on dead letters for good. Returns the ids discarded.
    public func discard(ids: [Int64], actor: String) async throws -> [Int64] {
        try await committer.submit { db in
            let now = Store.now()
            let targets = try Self.deadIDs(db, ids: ids, route: nil)
            for id in targets {
                try db.execute(sql: "UPDATE deliveries SET state = 'discarded', updated_at = ? WHERE id = ? AND state = 'dead'", arguments: [now, id])
                try db.execute(sql: "DELETE FROM dead_letters WHERE delivery_id = ?", arguments: [id])
                try self.appendAudit(db, at: now, correlationID: try Self.correlation(db, deliveryID: id), actor: actor,
                                     action: "dlq.discard", subject: "delivery \(id)", detail: "discarded by operator")
            }
            return targets
        }
    }

    /// Everything known about one correlation id, in order.
    public func trace(correlationID: String) async throws -> TraceResult {
        try await pool.read { db in
            let events = try Row.fetchAll(db, sql: """
                SELECT id, idempotency_key, connector, type, object_type, object_id, received_at FROM events
                WHERE correlation_id = ? ORDER BY id
                """, arguments: [correlationID])
            var traced: [TraceResult.TracedEvent] = []
            for event in events {
                let eventID: Int64 = event[0]
                let canonical = "\(event[2] as String):\(event[4] as String):\(event[5] as String)"
                let deliveries = try Row.fetchAll(db, sql: """
                    SELECT id, route, target, state, attempts, external_id, last_error FROM deliveries WHERE event_id = ? ORDER BY id
                    """, arguments: [eventID]).map { row in
                    TraceResult.TracedDelivery(
                        id: row[0], route: row[1], target: row[2], state: row[3], attempts: try Self.attempts(db, deliveryID: row[0]),
                        externalID: row[5], lastError: row[6]
                    )
                }
                let links = try Row.fetchAll(db, sql: "SELECT connector, external_id FROM links WHERE canonical_id = ? ORDER BY connector", arguments: [canonical])
                    .map { TraceResult.TracedLink(connector: $0[0], externalID: $0[1]) }
                traced.append(.init(id: eventID, idempotencyKey: event[1], connector: event[2], type: event[3], receivedAt: event[6],
                                    deliveries: deliveries, links: links))
            }
            let audit = try Row.fetchAll(db, sql: """
                SELECT id, at, actor, action, subject, detail FROM audit WHERE correlation_id = ? ORDER BY id
                """, arguments: [correlationID]).map {
                AuditRecord(id: $0[0], at: $0[1], actor: $0[2], action: $0[3], subject: $0[4], detail: $0[5])
            }
            return TraceResult(correlationID: correlationID, events: traced, audit: audit)
        }
    }

    /// An audit record for an operator or supervisor action.
    public func audit(correlationID: String?, actor: String, action: String, subject: String, detail: String) async throws {
        try await committer.submit { db in
            try self.appendAudit(db, at: Store.now(), correlationID: correlationID, actor: actor, action: action, subject: subject, detail: detail)
        }
    }

    // MARK: Helpers


    /// Appends an audit row: its hash covers the previous row's hash and its own fields, and with the
    /// vault's audit key an HMAC of that hash makes the chain impossible to rewrite without the key.
    func appendAudit(_ db: Database, at: Int64, correlationID: String?, actor: String, action: String, subject: String, detail: String) throws {
        let previous = try String.fetchOne(db, sql: "SELECT hash FROM audit ORDER BY id DESC LIMIT 1") ?? ""
        let hash = Store.auditHash(previous: previous, at: at, correlationID: correlationID, actor: actor, action: action, subject: subject, detail: detail)
        let key = auditKey
        let mac = key.map { Store.auditMAC(hash: hash, key: $0) }
        try db.execute(sql: """
            INSERT INTO audit (at, correlation_id, actor, action, subject, detail, prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [at, correlationID, actor, action, subject, detail, previous, hash, mac])
        if key != nil { auditSeal.headMoved() }
    }


    private static func deadIDs(_ db: Database, ids: [Int64]?, route: String?) throws -> [Int64] {
        if let ids {
            guard !ids.isEmpty else { return [] }
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
            return try Int64.fetchAll(db, sql: "SELECT delivery_id FROM dead_letters WHERE delivery_id IN (\(marks)) ORDER BY delivery_id",
                                      arguments: StatementArguments(ids))
        }
        return try Int64.fetchAll(db, sql: """
            SELECT l.delivery_id FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id WHERE d.route = ? ORDER BY l.delivery_id
            """, arguments: [route])
    }

    private static func correlation(_ db: Database, deliveryID: Int64) throws -> String? {
        try String.fetchOne(db, sql: "SELECT e.correlation_id FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?", arguments: [deliveryID])
    }

    private static func attempts(_ db: Database, deliveryID: Int64) throws -> [AttemptRecord] {
        try Row.fetchAll(db, sql: """
            SELECT number, started_at, finished_at, outcome, error, details FROM attempts WHERE delivery_id = ? ORDER BY id
            """, arguments: [deliveryID]).map {
            AttemptRecord(number: $0[0], startedAt: $0[1], finishedAt: $0[2], outcome: $0[3], error: $0[4], details: $0[5])
        }
    }

    private static func deadLetter(_ row: Row) -> DeadLetterSummary {
        DeadLetterSummary(id: row[0], route: row[1], target: row[2], eventType: row[3], correlationID: row[4],
                          idempotencyKey: row[5], errorClass: row[6], reason: row[7], deadAt: row[8], attempts: row[9])
    }
}


/// A delivery handed to a worker.
public struct DeliveryJob: Sendable {
    public let deliveryID: Int64
    public let eventID: Int64
    public let route: String
    public let target: String
    /// Attempts made before this one.
    public let attempts: Int
    public let createdAt: Int64
    public let orderingKey: String?
    public let tenant: String?
    public let correlationID: String
    public let idempotencyKey: String
    public let sourceConnector: String
    /// The event as the source sent it.
    public let payload: Data
    public let objectType: String
    public let objectID: String
    /// Canonical ids of the event's record and the records it refers to.
    public let references: [String]
    public let eventType: String

    public var canonicalID: String { "\(sourceConnector):\(objectType):\(objectID)" }
}

public struct DeliveryOutcome: Sendable {
    public struct Canonical: Sendable {
        public var id: String
        public var objectType: String
        public var objectID: String
        /// How the target names the record it wrote when it is a source (``DeliverResult/sourceRef``).
        public var writtenAs: RecordRef? = nil
    }

    public enum Next: Sendable, Equatable {
        case retry(at: Int64)
        case dead(reason: String)
    }

    public enum Result: Sendable {
        case delivered(externalID: String?, duplicate: Bool, links: [Link], canonical: Canonical?)
        case failed(ConnectorError, Next)
    }

    public var job: DeliveryJob
    public var startedAt: Int64
    public var finishedAt: Int64
    public var result: Result
}

/// Runs the work of many callers in one write transaction: durability costs one fsync per group,
/// not per event. The first caller to find no commit running leads, in its own task, until the
/// queue is empty; the others wait for their result.
final class GroupCommitter: Sendable {
    private struct Waiting {
        var work: @Sendable (Database) throws -> any Sendable
        var slot: ResultSlot
    }
    private let pool: DatabasePool
    private let state = Mutex<(queue: [Waiting], leading: Bool)>(([], false))
    /// Runs last in each group's transaction (the audit head is sealed there, once per group).
    private let beforeCommit: @Sendable (Database) throws -> Void

    init(pool: DatabasePool, beforeCommit: @escaping @Sendable (Database) throws -> Void = { _ in }) {
        self.pool = pool
        self.beforeCommit = beforeCommit
    }

    func submit<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let slot = ResultSlot()
        let lead = state.withLock { state -> Bool in
            state.queue.append(Waiting(work: { try work($0) }, slot: slot))
            if state.leading { return false }
            state.leading = true
            return true
        }
        // The leader commits on a task of its own: a caller cancelled meanwhile (every reload cancels
        // some) must not fail the writes of the others in its group.
        if lead { Task { await self.lead() } }
        return try await slot.value() as! T
    }

    /// Commits groups until no one is waiting.
    private func lead() async {
        while true {
            let group = state.withLock { state -> [Waiting] in
                defer { state.queue.removeAll() }
                if state.queue.isEmpty { state.leading = false }
                return state.queue
            }
            if group.isEmpty { return }
            var results: [Result<any Sendable, any Error>]
            do {
                results = try await pool.write { db in
                    var results: [Result<any Sendable, any Error>] = []
                    for waiting in group {
                        // Each caller's work in a savepoint: one failure does not undo the others.
                        var outcome: Result<any Sendable, any Error> = .failure(CancellationError())
                        try db.inSavepoint {
                            do {
                                outcome = .success(try waiting.work(db))
                                return .commit
                            } catch {
                                outcome = .failure(error)
                                return .rollback
                            }
                        }
                        results.append(outcome)
                    }
                    try self.beforeCommit(db)
                    return results
                }
            } catch {
                results = Array(repeating: .failure(error), count: group.count)
            }
            for (waiting, result) in zip(group, results) {
                waiting.slot.fill(result)
            }
        }
    }
}

/// The audit key, and the sealed head: the last audit row's id and hash, authenticated with that key.
/// The head is written once per transaction that appended rows (not once per row), in that
/// transaction: removing rows from the end leaves it pointing past the last one.
final class AuditSeal: Sendable {
    let key = Mutex<SymmetricKey?>(nil)
    private let moved = Mutex(false)

    func headMoved() { moved.withLock { $0 = true } }

    /// Called last in every write transaction of the store (writes are serialized).
    @Sendable func sealHeadIfWritten(_ db: Database) throws {
        let written = moved.withLock { moved in
            defer { moved = false }
            return moved
        }
        guard written, let key = key.withLock({ $0 }),
              let row = try Row.fetchOne(db, sql: "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1") else { return }
        try db.execute(sql: """
            INSERT INTO vault_meta (name, sealed) VALUES ('audit-head', ?) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed
            """, arguments: [Store.AuditHead(id: row[0], hash: row[1]).sealed(key: key)])
    }
}

/// One result, filled once, awaited once.
final class ResultSlot: Sendable {
    private let state = Mutex<(result: Result<any Sendable, any Error>?, waiter: CheckedContinuation<any Sendable, any Error>?)>((nil, nil))

    func fill(_ result: Result<any Sendable, any Error>) {
        let waiter = state.withLock { state in
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> any Sendable {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

extension SQLiteStore: StoreTestAccess {
    func rawExecuteForTests(_ sql: String) async throws {
        try await pool.write { db in try db.execute(sql: sql) }
    }

    func replayKeysForTests() async throws -> [String] {
        try await reader.read { db in try String.fetchAll(db, sql: "SELECT replay_key FROM webhook_replays ORDER BY replay_key") }
    }

    func auditRowsForTests() async throws -> [Store.AuditRow] {
        try await reader.read { db in
            try Row.fetchAll(db, sql: "SELECT id, at, correlation_id, actor, action, subject, detail, prev_hash, hash, mac FROM audit ORDER BY id").map {
                Store.AuditRow(id: $0[0], at: $0[1], correlationID: $0[2], actor: $0[3], action: $0[4], subject: $0[5], detail: $0[6],
                               previousHash: $0[7], hash: $0[8], mac: $0[9])
            }
        }
    }

    func dropAuditGuardsForTests() async throws {
        try await rawExecuteForTests("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete")
    }

    /// The database file and its write-ahead log.
    func storedBytesForTests() async throws -> Data {
        [path, path + "-wal"].compactMap { FileManager.default.contents(atPath: $0) }.reduce(Data(), +)
    }
}
