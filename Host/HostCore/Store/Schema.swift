import GRDB

/// Versioned migrations. A migration that has shipped is never edited: add a new one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                -- Every event that entered, once: the idempotency key is unique.
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY,
                    idempotency_key TEXT NOT NULL UNIQUE,
                    connector TEXT NOT NULL,
                    type TEXT NOT NULL,
                    object_type TEXT NOT NULL,
                    object_id TEXT NOT NULL,
                    tenant TEXT,
                    entity TEXT,
                    correlation_id TEXT NOT NULL,
                    ordering_key TEXT,
                    received_at INTEGER NOT NULL,
                    -- Canonical ids of the records the event refers to, one per line (for link lookups).
                    refs TEXT NOT NULL,
                    -- The event exactly as the source plugin sent it.
                    payload BLOB NOT NULL
                );
                CREATE INDEX events_by_correlation ON events(correlation_id);

                -- The outbox: one row per event and matching route.
                CREATE TABLE deliveries (
                    id INTEGER PRIMARY KEY,
                    event_id INTEGER NOT NULL REFERENCES events(id),
                    route TEXT NOT NULL,
                    target TEXT NOT NULL,
                    tenant TEXT,
                    ordering_key TEXT,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'discarded')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    last_error TEXT,
                    last_error_class TEXT,
                    external_id TEXT
                );
                CREATE INDEX deliveries_pending ON deliveries(route, id) WHERE state = 'pending';
                CREATE INDEX deliveries_pending_order ON deliveries(route, ordering_key, id) WHERE state = 'pending';
                CREATE INDEX deliveries_by_event ON deliveries(event_id);

                -- Every attempt, with what the sink said.
                CREATE TABLE attempts (
                    id INTEGER PRIMARY KEY,
                    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
                    number INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    finished_at INTEGER NOT NULL,
                    outcome TEXT NOT NULL,
                    error TEXT,
                    details TEXT
                );
                CREATE INDEX attempts_by_delivery ON attempts(delivery_id);

                -- Deliveries parked for an operator, with why.
                CREATE TABLE dead_letters (
                    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries(id),
                    dead_at INTEGER NOT NULL,
                    error_class TEXT NOT NULL,
                    reason TEXT NOT NULL
                );

                CREATE TABLE cursors (
                    connector TEXT NOT NULL,
                    stream TEXT NOT NULL,
                    cursor TEXT,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (connector, stream)
                );

                -- Canonical id (source connector:object type:object id) <-> id in a target connector.
                CREATE TABLE links (
                    connector TEXT NOT NULL,
                    canonical_id TEXT NOT NULL,
                    object_type TEXT NOT NULL,
                    source_id TEXT NOT NULL,
                    external_id TEXT NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (connector, canonical_id)
                );

                -- Duplicates dropped at ingest, per connector.
                CREATE TABLE source_stats (
                    connector TEXT PRIMARY KEY,
                    duplicates INTEGER NOT NULL DEFAULT 0
                );

                -- Append-only; each row carries the hash of the previous one.
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY,
                    at INTEGER NOT NULL,
                    correlation_id TEXT,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE INDEX audit_by_correlation ON audit(correlation_id);
                CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
                CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
                """)
        }
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                -- Credentials, sealed with AES-256-GCM under the vault's master key; the associated data
                -- binds each value to its connector, name and version. Only the current version is kept.
                CREATE TABLE secrets (
                    connector TEXT NOT NULL,
                    name TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    sealed BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    updated_by TEXT NOT NULL,
                    PRIMARY KEY (connector, name)
                );

                -- The vault's own sealed values: a check value that tells whether a master key is the
                -- right one, and the key that authenticates audit rows.
                CREATE TABLE vault_meta (
                    name TEXT PRIMARY KEY,
                    sealed BLOB NOT NULL
                );

                -- Audit rows from now on also carry an HMAC of their hash under the vault's audit key:
                -- rewriting the chain needs that key, not just write access to the file.
                ALTER TABLE audit ADD COLUMN mac TEXT;

                -- Webhook deliveries already accepted, by the replay key the plugin derived from them
                -- (e.g. Stripe's timestamp and signature): a second copy is a replay. Pruned by age.
                CREATE TABLE webhook_replays (
                    connector TEXT NOT NULL,
                    replay_key TEXT NOT NULL,
                    seen_at INTEGER NOT NULL,
                    PRIMARY KEY (connector, replay_key)
                );
                CREATE INDEX webhook_replays_by_age ON webhook_replays(seen_at);
                """)
        }
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                -- The canonical id of the record a delivery waits for (a `dependency` answer naming it): the
                -- delivery is retried as soon as that record is delivered to the same target.
                ALTER TABLE deliveries ADD COLUMN waiting_for TEXT;
                CREATE INDEX deliveries_waiting ON deliveries(waiting_for) WHERE state = 'pending' AND waiting_for IS NOT NULL;
                -- Deliveries whose last answer was `dependency`: they do not hold back their ordering key, and
                -- are woken when a delivery of that key goes through. Few, so the index is small.
                CREATE INDEX deliveries_dependency ON deliveries(route, ordering_key) WHERE state = 'pending' AND last_error_class = 'dependency';
                -- The due-deliveries query asks of each earlier pending delivery of a key whether it waits on a
                -- dependency: with the error class in the index it never reads the table row.
                DROP INDEX deliveries_pending_order;
                CREATE INDEX deliveries_pending_key ON deliveries(route, ordering_key, id, last_error_class) WHERE state = 'pending';
                """)
        }
        migrator.registerMigration("v4") { db in
            try db.execute(sql: """
                -- Events a source sent that are not canonical events (a field missing or of the wrong type):
                -- kept as sent, with the reason, in the transaction that stores the rest of their page and
                -- moves the cursor past them. `hostctl dlq rejects` shows them; the fix is in the plugin.
                CREATE TABLE intake_rejects (
                    id INTEGER PRIMARY KEY,
                    connector TEXT NOT NULL,
                    stream TEXT,
                    rejected_at INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    payload BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v5") { db in
            try db.execute(sql: """
                -- Each run of a `[[reconcile]]`: the report as JSON (counts, totals, every record that differs),
                -- and what `hostctl reconcile report` and the drift gauges read without opening it.
                CREATE TABLE reconcile_runs (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    started_at INTEGER NOT NULL,
                    finished_at INTEGER NOT NULL,
                    outcome TEXT NOT NULL CHECK (outcome IN ('clean', 'drift', 'failed')),
                    drift INTEGER NOT NULL,
                    report BLOB NOT NULL
                );
                CREATE INDEX reconcile_runs_by_name ON reconcile_runs(name, id);
                """)
        }
        return migrator
    }
}
