import ConnectorProtocol
public import Crypto
import Foundation
public import HostAdmin
import NIOCore
import PostgresNIO
import Synchronization

// What `hostctl` reads and changes, and the audit trail, on PostgreSQL: the SQLite store's queries
// (SQLiteStore.swift, SQLiteStore+Vault.swift) in PostgreSQL's dialect.
extension PostgresStore: OperatorQueries {
    public func queue(now: Int64) async throws -> [QueueRow] {
        try await rows("""
            SELECT route, target, state, COUNT(*), MIN(CASE WHEN state = 'pending' THEN created_at END)
            FROM deliveries GROUP BY route, target, state ORDER BY route, state
            """).map { row in
            let (route, target, state, count, oldest) = try row.decode((String, String, String, Int64, Int64?).self)
            return QueueRow(route: route, target: target, state: state, count: Int(count), oldestAgeSeconds: oldest.map { Double(now - $0) / 1000 })
        }
    }

    public func duplicates() async throws -> [String: Int] {
        Dictionary(uniqueKeysWithValues: try await rows("SELECT connector, duplicates FROM source_stats").map { row in
            let (connector, count) = try row.decode((String, Int64).self)
            return (connector, Int(count))
        })
    }

    public func intakeRejects(connector: String?, limit: Int) async throws -> [IntakeReject] {
        try await rows("""
            SELECT id, connector, stream, rejected_at, reason, payload FROM intake_rejects
            WHERE (\(connector)::text IS NULL OR connector = \(connector)) ORDER BY id LIMIT \(Int64(limit))
            """).map { row in
            let (id, connector, stream, at, reason, payload) = try row.decode((Int64, String, String?, Int64, String, ByteBuffer).self)
            return IntakeReject(id: id, connector: connector, stream: stream, rejectedAt: at, reason: reason, payload: String(buffer: payload))
        }
    }

    public func deadLetters(route: String?, limit: Int) async throws -> [DeadLetterSummary] {
        try await rows("""
            SELECT d.id, d.route, d.target, e.type, e.correlation_id, e.idempotency_key, l.error_class, l.reason, l.dead_at, d.attempts
            FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id JOIN events e ON e.id = d.event_id
            WHERE (\(route)::text IS NULL OR d.route = \(route)) ORDER BY d.id LIMIT \(Int64(limit))
            """).map(Self.deadLetter)
    }

    public func deadLetter(id: Int64) async throws -> DeadLetterDetail? {
        guard let row = try await rows("""
            SELECT d.id, d.route, d.target, e.type, e.correlation_id, e.idempotency_key, l.error_class, l.reason, l.dead_at, d.attempts, e.payload
            FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id JOIN events e ON e.id = d.event_id
            WHERE d.id = \(id)
            """).first else { return nil }
        let payload = try row.makeRandomAccess()[10].decode(ByteBuffer.self)
        let event = try RPCCodec().decodeJSON(JSONValue.self, from: Data(payload.readableBytesView))
        return DeadLetterDetail(summary: try Self.deadLetter(row), event: event, attempts: try await attempts(deliveryID: id))
    }

    public func replay(ids: [Int64]?, route: String?, actor: String) async throws -> [Int64] {
        try await transaction { connection in
            let now = Store.now()
            let targets = try await self.deadIDs(ids: ids, route: route, on: connection)
            for id in targets {
                try await connection.query("""
                    UPDATE deliveries SET state = 'pending', next_attempt_at = \(now), updated_at = \(now) WHERE id = \(id) AND state = 'dead'
                    """, logger: self.logger)
                try await connection.query("DELETE FROM dead_letters WHERE delivery_id = \(id)", logger: self.logger)
                try await self.appendAudit(connection, at: now, correlationID: try await self.correlation(deliveryID: id, on: connection), actor: actor,
                                           action: "dlq.replay", subject: "delivery \(id)", detail: "replayed by operator")
            }
            return targets
        }
    }

    public func discard(ids: [Int64], actor: String) async throws -> [Int64] {
        try await transaction { connection in
            let now = Store.now()
            let targets = try await self.deadIDs(ids: ids, route: nil, on: connection)
            for id in targets {
                try await connection.query("UPDATE deliveries SET state = 'discarded', updated_at = \(now) WHERE id = \(id) AND state = 'dead'",
                                           logger: self.logger)
                try await connection.query("DELETE FROM dead_letters WHERE delivery_id = \(id)", logger: self.logger)
                try await self.appendAudit(connection, at: now, correlationID: try await self.correlation(deliveryID: id, on: connection), actor: actor,
                                           action: "dlq.discard", subject: "delivery \(id)", detail: "discarded by operator")
            }
            return targets
        }
    }

    public func trace(correlationID: String) async throws -> TraceResult {
        var traced: [TraceResult.TracedEvent] = []
        for row in try await rows("""
            SELECT id, idempotency_key, connector, type, object_type, object_id, received_at FROM events WHERE correlation_id = \(correlationID) ORDER BY id
            """) {
            let (eventID, key, connector, type, objectType, objectID, receivedAt) = try row.decode((Int64, String, String, String, String, String, Int64).self)
            var deliveries: [TraceResult.TracedDelivery] = []
            for delivery in try await rows("""
                SELECT id, route, target, state, attempts, external_id, last_error FROM deliveries WHERE event_id = \(eventID) ORDER BY id
                """) {
                let (id, route, target, state, _, externalID, lastError) = try delivery.decode((Int64, String, String, String, Int32, String?, String?).self)
                deliveries.append(TraceResult.TracedDelivery(id: id, route: route, target: target, state: state, attempts: try await attempts(deliveryID: id),
                                                             externalID: externalID, lastError: lastError))
            }
            let canonical = "\(connector):\(objectType):\(objectID)"
            let links = try await rows("SELECT connector, external_id FROM links WHERE canonical_id = \(canonical) ORDER BY connector").map { row in
                let (connector, externalID) = try row.decode((String, String).self)
                return TraceResult.TracedLink(connector: connector, externalID: externalID)
            }
            traced.append(.init(id: eventID, idempotencyKey: key, connector: connector, type: type, receivedAt: receivedAt, deliveries: deliveries, links: links))
        }
        let audit = try await rows("""
            SELECT id, at, actor, action, subject, detail FROM audit WHERE correlation_id = \(correlationID) ORDER BY id
            """).map { row in
            let (id, at, actor, action, subject, detail) = try row.decode((Int64, Int64, String, String, String, String).self)
            return AuditRecord(id: id, at: at, actor: actor, action: action, subject: subject, detail: detail)
        }
        return TraceResult(correlationID: correlationID, events: traced, audit: audit)
    }

    private func deadIDs(ids: [Int64]?, route: String?, on connection: PostgresConnection) async throws -> [Int64] {
        if let ids {
            guard !ids.isEmpty else { return [] }
            return try await rows("SELECT delivery_id FROM dead_letters WHERE delivery_id = ANY(\(ids)::int8[]) ORDER BY delivery_id", on: connection)
                .map { try $0.decode(Int64.self) }
        }
        return try await rows("""
            SELECT l.delivery_id FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id WHERE d.route = \(route) ORDER BY l.delivery_id
            """, on: connection).map { try $0.decode(Int64.self) }
    }

    private func correlation(deliveryID: Int64, on connection: PostgresConnection) async throws -> String? {
        try await rows("SELECT e.correlation_id FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = \(deliveryID)", on: connection)
            .first?.decode(String.self)
    }

    private func attempts(deliveryID: Int64) async throws -> [AttemptRecord] {
        try await rows("""
            SELECT number, started_at, finished_at, outcome, error, details FROM attempts WHERE delivery_id = \(deliveryID) ORDER BY id
            """).map { row in
            let (number, started, finished, outcome, error, details) = try row.decode((Int32, Int64, Int64, String, String?, String?).self)
            return AttemptRecord(number: Int(number), startedAt: started, finishedAt: finished, outcome: outcome, error: error, details: details)
        }
    }

    private static func deadLetter(_ row: PostgresRow) throws -> DeadLetterSummary {
        let random = row.makeRandomAccess()
        return DeadLetterSummary(id: try random[0].decode(Int64.self), route: try random[1].decode(String.self), target: try random[2].decode(String.self),
                                 eventType: try random[3].decode(String.self), correlationID: try random[4].decode(String.self),
                                 idempotencyKey: try random[5].decode(String.self), errorClass: try random[6].decode(String.self),
                                 reason: try random[7].decode(String.self), deadAt: try random[8].decode(Int64.self), attempts: Int(try random[9].decode(Int32.self)))
    }
}

extension PostgresStore: AuditTrail {
    public func audit(correlationID: String?, actor: String, action: String, subject: String, detail: String) async throws {
        try await transaction { connection in
            try await self.appendAudit(connection, at: Store.now(), correlationID: correlationID, actor: actor, action: action, subject: subject, detail: detail)
        }
    }

    public func useAuditKey(_ key: SymmetricKey) {
        auditKeyState.withLock { $0 = key }
    }

    public func auditHead() async throws -> Store.AuditHead? {
        try await rows("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").first.map { try $0.decode((Int64, String).self) }
            .map { Store.AuditHead(id: $0.0, hash: $0.1) }
    }

    public func firstAuditRowToAuthenticate() async throws -> Int64 {
        let first: Int64? = try await rows("SELECT min(id) FROM audit WHERE mac IS NOT NULL").first?.decode(Int64?.self) ?? nil
        if let first { return first }
        let last: Int64? = try await rows("SELECT max(id) FROM audit").first?.decode(Int64?.self) ?? nil
        return (last ?? 0) + 1
    }

    public func verifyAudit(authenticatedFrom start: Int64?) async throws -> AuditVerification {
        let key = auditKey
        // Read in one snapshot, so that rows appended meanwhile do not look like a moved head.
        return try await transaction { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: self.logger)
            var check = Store.AuditChainCheck(key: key, authenticatedFrom: start)
            let stream = try await connection.query("""
                SELECT id, at, correlation_id, actor, action, subject, detail, prev_hash, hash, mac FROM audit ORDER BY id
                """, logger: self.logger)
            for try await row in stream {
                let (id, at, correlationID, actor, action, subject, detail, previous, hash, mac)
                    = try row.decode((Int64, Int64, String?, String, String, String, String, String, String, String?).self)
                check.add(Store.AuditRow(id: id, at: at, correlationID: correlationID, actor: actor, action: action, subject: subject, detail: detail,
                                         previousHash: previous, hash: hash, mac: mac))
            }
            let sealedHead = try await self.rows("SELECT sealed FROM vault_meta WHERE name = 'audit-head'", on: connection).first
                .map { Data(try $0.decode(ByteBuffer.self).readableBytesView) }
            var headHash: String?
            if let headID = check.headToCheck(sealedHead: sealedHead) {
                headHash = try await self.rows("SELECT hash FROM audit WHERE id = \(headID)", on: connection).first?.decode(String.self)
            }
            return check.finish(sealedHead: sealedHead) { _ in headHash }
        }
    }
}
