import Logging
import PostgresNIO

/// The PostgreSQL store's versioned migrations, the same tables as the SQLite store's (Schema.swift)
/// in PostgreSQL's types. A migration that has shipped is never edited: add a new one. Hosts starting
/// together against one database migrate it once: under an advisory lock, each version in its own
/// transaction, recorded in `schema_migrations`.
enum PostgresSchema {
    /// The advisory lock key of migrations (any fixed number no other lock of ours uses).
    static let migrationLock: Int64 = 0x636F_6E6E_6D69_6772

    static let migrations: [(version: String, sql: [String])] = [
        ("v1", [
            """
            -- Every event that entered, once: the idempotency key is unique.
            CREATE TABLE events (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                idempotency_key TEXT NOT NULL UNIQUE,
                connector TEXT NOT NULL,
                type TEXT NOT NULL,
                object_type TEXT NOT NULL,
                object_id TEXT NOT NULL,
                tenant TEXT,
                entity TEXT,
                correlation_id TEXT NOT NULL,
                ordering_key TEXT,
                received_at BIGINT NOT NULL,
                -- Canonical ids of the records the event refers to, one per line (for link lookups).
                refs TEXT NOT NULL,
                -- The event exactly as the source plugin sent it.
                payload BYTEA NOT NULL
            )
            """,
            "CREATE INDEX events_by_correlation ON events (correlation_id)",
            "CREATE INDEX events_by_object ON events (connector, object_type, object_id)",
            """
            -- The outbox: one row per event and matching route.
            CREATE TABLE deliveries (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                event_id BIGINT NOT NULL REFERENCES events (id),
                route TEXT NOT NULL,
                target TEXT NOT NULL,
                tenant TEXT,
                ordering_key TEXT,
                state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'discarded')),
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                last_error TEXT,
                last_error_class TEXT,
                external_id TEXT,
                -- The canonical id of the record the delivery waits for (a `dependency` answer naming it).
                waiting_for TEXT
            )
            """,
            "CREATE INDEX deliveries_pending ON deliveries (route, id) WHERE state = 'pending'",
            "CREATE INDEX deliveries_pending_key ON deliveries (route, ordering_key, id) INCLUDE (last_error_class) WHERE state = 'pending'",
            "CREATE INDEX deliveries_by_event ON deliveries (event_id)",
            "CREATE INDEX deliveries_waiting ON deliveries (waiting_for) WHERE state = 'pending' AND waiting_for IS NOT NULL",
            "CREATE INDEX deliveries_dependency ON deliveries (route, ordering_key) WHERE state = 'pending' AND last_error_class = 'dependency'",
            """
            -- Every attempt, with what the sink said.
            CREATE TABLE attempts (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
                number INTEGER NOT NULL,
                started_at BIGINT NOT NULL,
                finished_at BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                error TEXT,
                details TEXT
            )
            """,
            "CREATE INDEX attempts_by_delivery ON attempts (delivery_id)",
            """
            -- Deliveries parked for an operator, with why.
            CREATE TABLE dead_letters (
                delivery_id BIGINT PRIMARY KEY REFERENCES deliveries (id),
                dead_at BIGINT NOT NULL,
                error_class TEXT NOT NULL,
                reason TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE cursors (
                connector TEXT NOT NULL,
                stream TEXT NOT NULL,
                cursor TEXT,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (connector, stream)
            )
            """,
            """
            -- Canonical id (source connector:object type:object id) <-> id in a target connector.
            CREATE TABLE links (
                connector TEXT NOT NULL,
                canonical_id TEXT NOT NULL,
                object_type TEXT NOT NULL,
                source_id TEXT NOT NULL,
                external_id TEXT NOT NULL,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (connector, canonical_id)
            )
            """,
            """
            -- Duplicates dropped at ingest, per connector.
            CREATE TABLE source_stats (
                connector TEXT PRIMARY KEY,
                duplicates BIGINT NOT NULL DEFAULT 0
            )
            """,
            """
            -- Append-only; each row carries the hash of the previous one, and with the vault's audit key an
            -- HMAC of its hash. Ids are given by the writer under the audit lock (no sequence: a rolled-back
            -- transaction would leave a gap, which verification reports).
            CREATE TABLE audit (
                id BIGINT PRIMARY KEY,
                at BIGINT NOT NULL,
                correlation_id TEXT,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                subject TEXT NOT NULL,
                detail TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                mac TEXT
            )
            """,
            "CREATE INDEX audit_by_correlation ON audit (correlation_id)",
            """
            CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit is append-only';
            END
            $$
            """,
            "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
            "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
            """
            -- Credentials, sealed with AES-256-GCM under the vault's master key. Only the current version is kept.
            CREATE TABLE secrets (
                connector TEXT NOT NULL,
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                sealed BYTEA NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                updated_by TEXT NOT NULL,
                PRIMARY KEY (connector, name)
            )
            """,
            """
            -- The vault's own sealed values: the master key's check value, the audit key, the audit head.
            CREATE TABLE vault_meta (
                name TEXT PRIMARY KEY,
                sealed BYTEA NOT NULL
            )
            """,
            """
            -- Webhook deliveries already accepted, by the replay key the plugin derived from them.
            CREATE TABLE webhook_replays (
                connector TEXT NOT NULL,
                replay_key TEXT NOT NULL,
                seen_at BIGINT NOT NULL,
                PRIMARY KEY (connector, replay_key)
            )
            """,
            "CREATE INDEX webhook_replays_by_age ON webhook_replays (seen_at)",
            """
            -- Events a source sent that are not canonical events, kept as sent with the reason.
            CREATE TABLE intake_rejects (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                connector TEXT NOT NULL,
                stream TEXT,
                rejected_at BIGINT NOT NULL,
                reason TEXT NOT NULL,
                payload BYTEA NOT NULL
            )
            """,
            """
            -- Each run of a `[[reconcile]]`: the report as JSON.
            CREATE TABLE reconcile_runs (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name TEXT NOT NULL,
                started_at BIGINT NOT NULL,
                finished_at BIGINT NOT NULL,
                outcome TEXT NOT NULL CHECK (outcome IN ('clean', 'drift', 'failed')),
                drift INTEGER NOT NULL,
                report BYTEA NOT NULL
            )
            """,
            "CREATE INDEX reconcile_runs_by_name ON reconcile_runs (name, id)",
        ]),
        ("v2", [
            """
            -- Several hosts on one database: each host (member) registers and beats its heart.
            CREATE TABLE members (
                name TEXT PRIMARY KEY,
                started_at BIGINT NOT NULL,
                heartbeat_at BIGINT NOT NULL,
                -- Alive while now <= alive_until (the last heartbeat plus the lease).
                alive_until BIGINT NOT NULL,
                left_at BIGINT,
                version TEXT NOT NULL,
                pid INTEGER NOT NULL
            )
            """,
            """
            -- One host at a time polls a source: the lease's holder. The token grows each time the lease
            -- changes hands; a cursor is written only by the holder of the token it read it under.
            CREATE TABLE source_leases (
                connector TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                token BIGINT NOT NULL,
                acquired_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            """,
            // A delivery being delivered is claimed by one host until claimed_until; expired, any host may take it.
            "ALTER TABLE deliveries ADD COLUMN claimed_by TEXT",
            "ALTER TABLE deliveries ADD COLUMN claimed_until BIGINT",
            "CREATE INDEX deliveries_claimed ON deliveries (claimed_by) WHERE claimed_by IS NOT NULL",
        ]),
    ]

    /// Applies the migrations this database lacks, each in a transaction, under the migration lock.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await PostgresStore.leased(client, within: nil) { connection in
            try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
            do {
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)
                    """, logger: logger)
                var applied: Set<String> = []
                for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(String.self) {
                    applied.insert(version)
                }
                for migration in migrations where !applied.contains(migration.version) {
                    try await connection.withTransaction(logger: logger) { connection in
                        for statement in migration.sql {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (\(migration.version), \(Store.now()))",
                                                   logger: logger)
                    }
                    logger.notice("store migrated", metadata: ["store.kind": "postgres", "store.version": "\(migration.version)"])
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
        }
    }
}
