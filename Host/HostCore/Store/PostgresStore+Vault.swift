import ConnectorProtocol
public import Foundation
public import HostAdmin
import NIOCore
import PostgresNIO

// Sealed secrets and reconciliation reports on PostgreSQL: the SQLite store's statements
// (SQLiteStore+Vault.swift, SQLiteStore+Reconcile.swift) in PostgreSQL's dialect.
extension PostgresStore: SecretStorage {
    public func sealedSecret(connector: String, name: String) async throws -> Store.SealedSecret? {
        try await rows("SELECT version, sealed FROM secrets WHERE connector = \(connector) AND name = \(name)").first.map { row in
            let (version, sealed) = try row.decode((Int32, ByteBuffer).self)
            return Store.SealedSecret(connector: connector, name: name, version: Int(version), sealed: Data(sealed.readableBytesView))
        }
    }

    public func allSealedSecrets() async throws -> [Store.SealedSecret] {
        try await rows("SELECT connector, name, version, sealed FROM secrets ORDER BY connector, name").map { row in
            let (connector, name, version, sealed) = try row.decode((String, String, Int32, ByteBuffer).self)
            return Store.SealedSecret(connector: connector, name: name, version: Int(version), sealed: Data(sealed.readableBytesView))
        }
    }

    public func putSecret(connector: String, name: String, mustExist: Bool, actor: String, action: String,
                          seal: @escaping @Sendable (Int) throws -> Data) async throws -> Int {
        try await transaction { connection in
            let now = Store.now()
            // The row locked: two hosts setting one secret at once write versions one after the other.
            let current = try await self.rows("SELECT version FROM secrets WHERE connector = \(connector) AND name = \(name) FOR UPDATE", on: connection)
                .first?.decode(Int32.self)
            if mustExist, current == nil {
                throw HostError(.secretNotFound, "no secret \(name) for connector \(connector) to rotate; set it first with hostctl secret set \(connector) \(name)")
            }
            let version = Int(current ?? 0) + 1
            let sealed = ByteBuffer(bytes: try seal(version))
            try await connection.query("""
                INSERT INTO secrets (connector, name, version, sealed, created_at, updated_at, updated_by)
                VALUES (\(connector), \(name), \(Int32(version)), \(sealed), \(now), \(now), \(actor))
                ON CONFLICT (connector, name) DO UPDATE SET version = excluded.version, sealed = excluded.sealed,
                    updated_at = excluded.updated_at, updated_by = excluded.updated_by
                """, logger: self.logger)
            try await self.appendAudit(connection, at: now, correlationID: nil, actor: actor, action: action, subject: "secret \(connector)/\(name)",
                                       detail: "version \(version)")
            return version
        }
    }

    public func deleteSecret(connector: String, name: String, actor: String) async throws -> Bool {
        try await transaction { connection in
            let deleted = try await self.rows("DELETE FROM secrets WHERE connector = \(connector) AND name = \(name) RETURNING 1", on: connection)
            guard !deleted.isEmpty else { return false }
            try await self.appendAudit(connection, at: Store.now(), correlationID: nil, actor: actor, action: "secret.delete",
                                       subject: "secret \(connector)/\(name)", detail: "deleted")
            return true
        }
    }

    public func secretInfos(connector: String?) async throws -> [SecretInfo] {
        try await rows("""
            SELECT connector, name, version, created_at, updated_at, updated_by FROM secrets
            WHERE (\(connector)::text IS NULL OR connector = \(connector)) ORDER BY connector, name
            """).map { row in
            let (connector, name, version, created, updated, by) = try row.decode((String, String, Int32, Int64, Int64, String).self)
            return SecretInfo(connector: connector, name: name, version: Int(version), createdAt: created, updatedAt: updated, updatedBy: by)
        }
    }

    public func vaultMeta(_ name: String) async throws -> Data? {
        try await rows("SELECT sealed FROM vault_meta WHERE name = \(name)").first.map { Data(try $0.decode(ByteBuffer.self).readableBytesView) }
    }

    public func setVaultMeta(_ values: [String: Data]) async throws {
        try await transaction { connection in
            for (name, sealed) in values {
                try await connection.query("""
                    INSERT INTO vault_meta (name, sealed) VALUES (\(name), \(ByteBuffer(bytes: sealed))) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed
                    """, logger: self.logger)
            }
        }
    }

    public func resealAll(secrets: [Store.SealedSecret], meta: [String: Data], actor: String) async throws {
        try await transaction { connection in
            for secret in secrets {
                let updated = try await self.rows("""
                    UPDATE secrets SET sealed = \(ByteBuffer(bytes: secret.sealed))
                    WHERE connector = \(secret.connector) AND name = \(secret.name) AND version = \(Int32(secret.version)) RETURNING 1
                    """, on: connection)
                guard updated.count == 1 else {
                    throw HostError(.vault, "secret \(secret.connector)/\(secret.name) changed during the rekey; run it again")
                }
            }
            for (name, sealed) in meta {
                try await connection.query("UPDATE vault_meta SET sealed = \(ByteBuffer(bytes: sealed)) WHERE name = \(name)", logger: self.logger)
            }
            try await self.appendAudit(connection, at: Store.now(), correlationID: nil, actor: actor, action: "vault.rekey",
                                       subject: "vault", detail: "\(secrets.count) secret(s) sealed under a new master key")
        }
    }
}

extension PostgresStore: ReconcileStorage {
    public func save(_ report: DriftReport, actor: String) async throws -> DriftReport {
        let json = ByteBuffer(bytes: try JSONEncoder().encode(report))
        return try await transaction { connection in
            let id = try await self.rows("""
                INSERT INTO reconcile_runs (name, started_at, finished_at, outcome, drift, report)
                VALUES (\(report.name), \(report.startedAt), \(report.finishedAt), \(report.outcome.rawValue), \(Int32(report.drift)), \(json)) RETURNING id
                """, on: connection).first?.decode(Int64.self)
            var stored = report
            stored.id = id
            try await connection.query("""
                DELETE FROM reconcile_runs WHERE name = \(report.name) AND id <= (
                    SELECT id FROM reconcile_runs WHERE name = \(report.name) ORDER BY id DESC LIMIT 1 OFFSET \(Int64(Store.driftReportsKept)))
                """, logger: self.logger)
            let detail = report.error.map { "\(report.outcome.rawValue): \($0)" }
                ?? "\(report.outcome.rawValue): \(report.drift) difference(s) counted, tolerance \(report.tolerance), \(report.from)..\(report.to)"
            try await self.appendAudit(connection, at: report.finishedAt, correlationID: nil, actor: actor, action: "reconcile.run",
                                       subject: "reconcile \(report.name) #\(id ?? 0)", detail: detail)
            return stored
        }
    }

    public func driftReports(name: String?, limit: Int) async throws -> [DriftReport] {
        let found = if let name {
            try await rows("SELECT id, report FROM reconcile_runs WHERE name = \(name) ORDER BY id DESC LIMIT \(Int64(limit))")
        } else {
            try await rows("SELECT id, report FROM reconcile_runs WHERE id IN (SELECT MAX(id) FROM reconcile_runs GROUP BY name) ORDER BY name")
        }
        return try found.map { row in
            let (id, json) = try row.decode((Int64, ByteBuffer).self)
            var report = try JSONDecoder().decode(DriftReport.self, from: Data(json.readableBytesView))
            report.id = id
            return report
        }
    }

    public func recordsInHost(source: String, target: String, objectType: String, objectIDs: [String]) async throws -> [String: Store.RecordInHost] {
        var found: [String: Store.RecordInHost] = [:]
        for objectID in objectIDs {
            let events = try await rows("""
                SELECT id, type, tenant, entity FROM events WHERE connector = \(source) AND object_type = \(objectType) AND object_id = \(objectID) ORDER BY id
                """).map { try $0.decode((Int64, String, String?, String?).self) }
            guard let latest = events.last else { continue }
            var record = Store.RecordInHost(eventID: latest.0, eventType: latest.1, tenant: latest.2, entity: latest.3, pending: [])
            let ids = events.map(\.0)
            for row in try await rows("""
                SELECT id, route, created_at, updated_at, state FROM deliveries
                WHERE event_id = ANY(\(ids)::int8[]) AND target = \(target) AND state IN ('pending', 'delivered') ORDER BY id
                """) {
                let (id, route, created, updated, state) = try row.decode((Int64, String, Int64, Int64, String).self)
                if state == "pending" {
                    record.pending.append(Store.RecordInHost.Delivery(id: id, route: route, at: created))
                } else if updated >= record.lastDelivered?.at ?? .min {
                    record.lastDelivered = Store.RecordInHost.Delivery(id: id, route: route, at: updated)
                }
            }
            found[objectID] = record
        }
        return found
    }

    public func requeue(_ requests: [(eventID: Int64, route: RouteConfig)], report: Int64, actor: String) async throws -> [Int64] {
        try await transaction { connection in
            let now = Store.now()
            var ids: [Int64] = []
            for (eventID, route) in requests {
                guard let event = try await self.rows("""
                    SELECT tenant, ordering_key, correlation_id, idempotency_key FROM events WHERE id = \(eventID)
                    """, on: connection).first?.decode((String?, String?, String, String).self) else {
                    throw ConnectorError(.permanent, "event \(eventID) is no longer in the store")
                }
                let id = try await self.rows("""
                    INSERT INTO deliveries (event_id, route, target, tenant, ordering_key, state, next_attempt_at, created_at, updated_at)
                    VALUES (\(eventID), \(route.id), \(route.to), \(event.0), \(event.1), 'pending', \(now), \(now), \(now)) RETURNING id
                    """, on: connection).first?.decode(Int64.self) ?? 0
                ids.append(id)
                try await self.appendAudit(connection, at: now, correlationID: event.2, actor: actor, action: "reconcile.repair",
                                           subject: "delivery \(id) route \(route.id)",
                                           detail: "re-delivers \(event.3), missing in \(route.to) (reconcile report #\(report))")
            }
            return ids
        }
    }
}

extension PostgresStore: StoreTestAccess {
    func rawExecuteForTests(_ sql: String) async throws {
        try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    func replayKeysForTests() async throws -> [String] {
        try await rows("SELECT replay_key FROM webhook_replays ORDER BY replay_key").map { try $0.decode(String.self) }
    }

    func auditRowsForTests() async throws -> [Store.AuditRow] {
        try await rows("SELECT id, at, correlation_id, actor, action, subject, detail, prev_hash, hash, mac FROM audit ORDER BY id").map { row in
            let (id, at, correlationID, actor, action, subject, detail, previous, hash, mac)
                = try row.decode((Int64, Int64, String?, String, String, String, String, String, String, String?).self)
            return Store.AuditRow(id: id, at: at, correlationID: correlationID, actor: actor, action: action, subject: subject, detail: detail,
                                  previousHash: previous, hash: hash, mac: mac)
        }
    }

    func dropAuditGuardsForTests() async throws {
        try await rawExecuteForTests("DROP TRIGGER audit_no_change ON audit")
        try await rawExecuteForTests("DROP TRIGGER audit_no_truncate ON audit")
    }

    /// Every sealed value and every audit row's text, as the server returns them.
    func storedBytesForTests() async throws -> Data {
        var bytes = Data()
        for row in try await rows("SELECT sealed FROM secrets UNION ALL SELECT sealed FROM vault_meta") {
            bytes += Data(try row.decode(ByteBuffer.self).readableBytesView)
        }
        for row in try await auditRowsForTests() { bytes += Data("\(row)".utf8) }
        return bytes
    }
}
