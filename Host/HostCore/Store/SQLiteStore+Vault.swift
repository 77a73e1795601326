public import Crypto
public import Foundation
import GRDB
import Synchronization
public import HostAdmin

// The vault's and the audit trail's SQL. The cryptography is in Vault.swift: this file stores and
// reads sealed bytes only.
extension SQLiteStore {
    /// From now on audit rows carry an HMAC under this key.
    public func useAuditKey(_ key: SymmetricKey) {
        auditSeal.key.withLock { $0 = key }
    }

    // MARK: Secrets


    public func sealedSecret(connector: String, name: String) async throws -> Store.SealedSecret? {
        try await reader.read { db in
            try Row.fetchOne(db, sql: "SELECT version, sealed FROM secrets WHERE connector = ? AND name = ?", arguments: [connector, name])
                .map { Store.SealedSecret(connector: connector, name: name, version: $0[0], sealed: $0[1]) }
        }
    }

    public func allSealedSecrets() async throws -> [Store.SealedSecret] {
        try await reader.read { db in
            try Row.fetchAll(db, sql: "SELECT connector, name, version, sealed FROM secrets ORDER BY connector, name")
                .map { Store.SealedSecret(connector: $0[0], name: $0[1], version: $0[2], sealed: $0[3]) }
        }
    }

    /// Stores the next version of a secret, sealed by `seal(version)`, and audits it. `mustExist`:
    /// rotation of an existing secret. Returns the version written.
    public func putSecret(
        connector: String, name: String, mustExist: Bool, actor: String, action: String,
        seal: @escaping @Sendable (Int) throws -> Data
    ) async throws -> Int {
        try await submit { db in
            let now = Store.now()
            let current = try Int.fetchOne(db, sql: "SELECT version FROM secrets WHERE connector = ? AND name = ?", arguments: [connector, name])
            if mustExist, current == nil {
                throw HostError(.secretNotFound, "no secret \(name) for connector \(connector) to rotate; set it first with hostctl secret set \(connector) \(name)")
            }
            let version = (current ?? 0) + 1
            try db.execute(sql: """
                INSERT INTO secrets (connector, name, version, sealed, created_at, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (connector, name) DO UPDATE SET version = excluded.version, sealed = excluded.sealed,
                    updated_at = excluded.updated_at, updated_by = excluded.updated_by
                """, arguments: [connector, name, version, try seal(version), now, now, actor])
            try self.appendAudit(db, at: now, correlationID: nil, actor: actor, action: action,
                                 subject: "secret \(connector)/\(name)", detail: "version \(version)")
            return version
        }
    }

    public func deleteSecret(connector: String, name: String, actor: String) async throws -> Bool {
        try await submit { db in
            try db.execute(sql: "DELETE FROM secrets WHERE connector = ? AND name = ?", arguments: [connector, name])
            guard db.changesCount > 0 else { return false }
            try self.appendAudit(db, at: Store.now(), correlationID: nil, actor: actor, action: "secret.delete",
                                 subject: "secret \(connector)/\(name)", detail: "deleted")
            return true
        }
    }

    public func secretInfos(connector: String?) async throws -> [SecretInfo] {
        try await reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT connector, name, version, created_at, updated_at, updated_by FROM secrets
                WHERE (? IS NULL OR connector = ?) ORDER BY connector, name
                """, arguments: [connector, connector]).map {
                SecretInfo(connector: $0[0], name: $0[1], version: $0[2], createdAt: $0[3], updatedAt: $0[4], updatedBy: $0[5])
            }
        }
    }

    public func vaultMeta(_ name: String) async throws -> Data? {
        try await reader.read { db in
            try Data.fetchOne(db, sql: "SELECT sealed FROM vault_meta WHERE name = ?", arguments: [name])
        }
    }

    public func setVaultMeta(_ values: [String: Data]) async throws {
        try await submit { db in
            for (name, sealed) in values {
                try db.execute(sql: """
                    INSERT INTO vault_meta (name, sealed) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed
                    """, arguments: [name, sealed])
            }
        }
    }

    /// Replaces every sealed value at once (rekey): all or nothing.
    public func resealAll(secrets: [Store.SealedSecret], meta: [String: Data], actor: String) async throws {
        try await submit { db in
            for secret in secrets {
                try db.execute(sql: "UPDATE secrets SET sealed = ? WHERE connector = ? AND name = ? AND version = ?",
                               arguments: [secret.sealed, secret.connector, secret.name, secret.version])
                guard db.changesCount == 1 else {
                    throw HostError(.vault, "secret \(secret.connector)/\(secret.name) changed during the rekey; run it again")
                }
            }
            for (name, sealed) in meta {
                try db.execute(sql: "UPDATE vault_meta SET sealed = ? WHERE name = ?", arguments: [sealed, name])
            }
            try self.appendAudit(db, at: Store.now(), correlationID: nil, actor: actor, action: "vault.rekey",
                                 subject: "vault", detail: "\(secrets.count) secret(s) sealed under a new master key")
        }
    }

    // MARK: Audit verification

    /// The last audit row's id and hash; nil while the trail is empty.
    public func auditHead() async throws -> Store.AuditHead? {
        try await reader.read { db in
            try Row.fetchOne(db, sql: "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").map { Store.AuditHead(id: $0[0], hash: $0[1]) }
        }
    }

    /// Where an upgraded vault's authenticated rows begin: its first row with an HMAC, or the next row.
    public func firstAuditRowToAuthenticate() async throws -> Int64 {
        try await reader.read { db in
            if let first = try Int64.fetchOne(db, sql: "SELECT min(id) FROM audit WHERE mac IS NOT NULL") { return first }
            return (try Int64.fetchOne(db, sql: "SELECT max(id) FROM audit") ?? 0) + 1
        }
    }

    /// Walks the audit chain: every row must hash to its stored hash, point at the row before it and
    /// follow it without a gap in ids; from `authenticatedFrom` (the vault's sealed record; nil when
    /// that record is gone) every row must carry a valid HMAC, and the last row must be the sealed head.
    public func verifyAudit(authenticatedFrom start: Int64?) async throws -> AuditVerification {
        let key = auditKey
        return try await reader.read { db in
            var check = Store.AuditChainCheck(key: key, authenticatedFrom: start)
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT id, at, correlation_id, actor, action, subject, detail, prev_hash, hash, mac FROM audit ORDER BY id
                """)
            while let row = try cursor.next() {
                check.add(Store.AuditRow(id: row[0], at: row[1], correlationID: row[2], actor: row[3], action: row[4], subject: row[5], detail: row[6],
                                         previousHash: row[7], hash: row[8], mac: row[9]))
            }
            let sealedHead = try Data.fetchOne(db, sql: "SELECT sealed FROM vault_meta WHERE name = 'audit-head'")
            return try check.finish(sealedHead: sealedHead) { id in
                try String.fetchOne(db, sql: "SELECT hash FROM audit WHERE id = ?", arguments: [id])
            }
        }
    }
}

extension SQLiteStore {
    /// Forgets webhook replay keys older than the cut-off: senders do not replay that late, and a
    /// signature that old fails the timestamp tolerance anyway.
    public func pruneWebhookReplays(olderThan cutoff: Int64) async throws {
        try await submit { db in try db.execute(sql: "DELETE FROM webhook_replays WHERE seen_at < ?", arguments: [cutoff]) }
    }
}
