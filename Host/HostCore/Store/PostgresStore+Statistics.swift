import PostgresNIO
import Synchronization

/// How much the busy tables grew since the planner's statistics of them were last gathered.
struct TableGrowth: Sendable {
    /// Rows this host added to events and deliveries since its last `ANALYZE`.
    var added: Int64 = 0
    /// The events and deliveries the last `ANALYZE` counted (0: none yet by this host).
    var analyzedRows: Int64 = 0
    var analyzing = false
}

// The planner's statistics of events and deliveries, gathered by the store itself as they grow. On a
// new database autovacuum analyzes only after its nap (a minute), and until then the planner takes the
// tables for empty: the query of due deliveries then checked each one's ordering key by walking every
// earlier pending delivery of its route, and a first backlog of 20,000 events took seconds per query
// (claims expired under deliveries in flight, and other hosts delivered them again). PostgreSQL's advice
// after a bulk load is an `ANALYZE`; a first sync or a backlog is one.
extension PostgresStore {
    /// Rows added at least this many, and as many as the tables had at the last `ANALYZE`, trigger one:
    /// each time they double (a first backlog of 100,000 rows is analyzed 7 times, not 25 as at every fifth).
    static let analyzeAfterRows: Int64 = 1_000

    /// Counts rows this host added; gathers the statistics afresh, in the background, once they are many.
    func grew(by rows: Int) {
        guard rows > 0 else { return }
        let due = tableGrowth.withLock { growth -> Bool in
            growth.added += Int64(rows)
            guard !growth.analyzing, growth.added >= max(Self.analyzeAfterRows, growth.analyzedRows) else { return false }
            growth.analyzing = true
            growth.added = 0
            return true
        }
        guard due else { return }
        Task {
            var counted: Int64?
            do {
                counted = try await leased { connection in
                    try await connection.query("ANALYZE events, deliveries", logger: self.logger)
                    return try await connection.query("""
                        SELECT sum(GREATEST(reltuples, 0))::int8 FROM pg_class WHERE oid IN ('events'::regclass, 'deliveries'::regclass)
                        """, logger: self.logger).collect().first?.decode(Int64.self)
                }
            } catch {
                logger.debug("cannot gather the planner's statistics", metadata: ["store.error": "\(Self.described(error))"])
            }
            tableGrowth.withLock { growth in
                growth.analyzing = false
                if let counted { growth.analyzedRows = max(0, counted) }
            }
        }
    }
}
