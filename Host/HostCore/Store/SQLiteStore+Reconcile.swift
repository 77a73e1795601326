import ConnectorProtocol
import Foundation
import GRDB
public import HostAdmin

/// Reconciliation's part of the store: the reports of each run, what the host knows of a record a
/// target lacks, and the deliveries a repair queues.
extension SQLiteStore {

    /// Stores a run's report with its audit entry, in one transaction; returns the report with its id.
    public func save(_ report: DriftReport, actor: String) async throws -> DriftReport {
        try await submit { db in
            let json = try JSONEncoder().encode(report)
            try db.execute(sql: """
                INSERT INTO reconcile_runs (name, started_at, finished_at, outcome, drift, report) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [report.name, report.startedAt, report.finishedAt, report.outcome.rawValue, report.drift, json])
            var stored = report
            stored.id = db.lastInsertedRowID
            try db.execute(sql: """
                DELETE FROM reconcile_runs WHERE name = ? AND id <= (
                    SELECT id FROM reconcile_runs WHERE name = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                """, arguments: [report.name, report.name, Store.driftReportsKept])
            let detail = report.error.map { "\(report.outcome.rawValue): \($0)" }
                ?? "\(report.outcome.rawValue): \(report.drift) difference(s) counted, tolerance \(report.tolerance), \(report.from)..\(report.to)"
            try self.appendAudit(db, at: report.finishedAt, correlationID: nil, actor: actor, action: "reconcile.run",
                                 subject: "reconcile \(report.name) #\(stored.id ?? 0)", detail: detail)
            return stored
        }
    }

    /// The reports of `name`, newest first; without a name, the latest of each reconciliation.
    public func driftReports(name: String?, limit: Int) async throws -> [DriftReport] {
        // Decoded in the read: rows are not Sendable, and the read must be the async one (a sync read
        // would hold a cooperative thread for the query).
        try await reader.read { db -> [DriftReport] in
            let rows = if let name {
                try Row.fetchAll(db, sql: "SELECT id, report FROM reconcile_runs WHERE name = ? ORDER BY id DESC LIMIT ?", arguments: [name, limit])
            } else {
                try Row.fetchAll(db, sql: """
                    SELECT id, report FROM reconcile_runs WHERE id IN (SELECT MAX(id) FROM reconcile_runs GROUP BY name) ORDER BY name
                    """)
            }
            return try rows.map { row in
                var report = try JSONDecoder().decode(DriftReport.self, from: row[1] as Data)
                report.id = row[0]
                return report
            }
        }
    }

    /// Keyed by object id, for the records of one kind; a record the host never received is absent.
    /// The events are found through the idempotency key's unique index (`<connector>:<type>:<id>:<version>`).
    public func recordsInHost(source: String, target: String, objectType: String, objectIDs: [String]) async throws -> [String: Store.RecordInHost] {
        try await reader.read { db in
            var found: [String: Store.RecordInHost] = [:]
            let events = try db.cachedStatement(sql: """
                SELECT id, type, tenant, entity FROM events WHERE idempotency_key > ? AND idempotency_key < ? AND connector = ? AND object_type = ? AND object_id = ?
                ORDER BY id
                """)
            let deliveries = try db.cachedStatement(sql: """
                SELECT id, route, created_at, updated_at, state FROM deliveries WHERE event_id = ? AND target = ? AND state IN ('pending', 'delivered') ORDER BY id
                """)
            for objectID in objectIDs {
                let prefix = "\(source):\(objectType):\(objectID):"
                // ';' follows ':' in every collation the key can have: the range holds exactly the keys with the prefix.
                let rows = try Row.fetchAll(events, arguments: [prefix, "\(prefix.dropLast());", source, objectType, objectID])
                guard let latest = rows.last else { continue }
                var record = Store.RecordInHost(eventID: latest[0], eventType: latest[1], tenant: latest[2], entity: latest[3], pending: [])
                for row in rows {
                    for delivery in try Row.fetchAll(deliveries, arguments: [row[0] as Int64, target]) {
                        if delivery[4] as String == "pending" {
                            record.pending.append(Store.RecordInHost.Delivery(id: delivery[0], route: delivery[1], at: delivery[2]))
                        } else if (delivery[3] as Int64) >= record.lastDelivered?.at ?? .min {
                            record.lastDelivered = Store.RecordInHost.Delivery(id: delivery[0], route: delivery[1], at: delivery[3])
                        }
                    }
                }
                found[objectID] = record
            }
            return found
        }
    }

    /// Queues a new delivery of each event on its route, as ingest would have, with an audit entry each.
    /// - Returns: the new delivery ids, in the order given.
    public func requeue(_ requests: [(eventID: Int64, route: RouteConfig)], report: Int64, actor: String) async throws -> [Int64] {
        try await submit { db in
            let now = Store.now()
            var ids: [Int64] = []
            for (eventID, route) in requests {
                guard let event = try Row.fetchOne(db, sql: "SELECT tenant, ordering_key, correlation_id, idempotency_key FROM events WHERE id = ?",
                                                   arguments: [eventID]) else {
                    throw ConnectorError(.permanent, "event \(eventID) is no longer in the store")
                }
                try db.execute(sql: """
                    INSERT INTO deliveries (event_id, route, target, tenant, ordering_key, state, next_attempt_at, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)
                    """, arguments: [eventID, route.id, route.to, event[0] as String?, event[1] as String?, now, now, now])
                let id = db.lastInsertedRowID
                ids.append(id)
                try self.appendAudit(db, at: now, correlationID: event[2], actor: actor, action: "reconcile.repair",
                                     subject: "delivery \(id) route \(route.id)",
                                     detail: "re-delivers \(event[3] as String), missing in \(route.to) (reconcile report #\(report))")
            }
            return ids
        }
    }
}
