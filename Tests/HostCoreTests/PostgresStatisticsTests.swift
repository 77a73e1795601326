import ConnectorProtocol
import Foundation
@testable import HostCore
import PostgresNIO
import Testing

/// The PostgreSQL store gathers the planner's statistics itself as its tables grow: until autovacuum's
/// first `ANALYZE`, the planner takes a new database's tables for empty and picks plans that are
/// quadratic in a first backlog.
@Suite struct PostgresStatisticsTests {
    let route = RouteConfig(
        id: "r", from: "src", to: "erp", events: ["invoice.*", "payment.*"], tenant: nil, entity: nil,
        maxAttempts: 3, maxAgeSeconds: 3600, rateLimit: nil, concurrency: 4, retryBaseMilliseconds: 10, retryMaxMilliseconds: 100
    )

    /// What the planner believes of the deliveries table: -1 until it was first analyzed.
    func plannerRows(_ store: PostgresStore) async throws -> Int64 {
        try await store.rows("SELECT reltuples::int8 FROM pg_class WHERE oid = 'deliveries'::regclass").first?.decode(Int64.self) ?? -1
    }

    @Test(.enabled(if: StoreUnderTest.postgresHosts != nil)) func aFirstBacklogIsAnalyzed() async throws {
        let open = try #require(StoreUnderTest.postgresHosts)
        let store = try await open(["a"], 10_000)[0]
        defer { store.close() }
        #expect(try await plannerRows(store) == -1, "a new schema's tables are unknown to the planner")
        // Autovacuum stays out of it: whatever analyzes here is the store.
        try await store.rawExecuteForTests("ALTER TABLE events SET (autovacuum_enabled = false)")
        try await store.rawExecuteForTests("ALTER TABLE deliveries SET (autovacuum_enabled = false)")
        // 300 events, 200 deliveries: fewer rows than an ANALYZE waits for.
        _ = try await store.ingest(connector: "src", stream: nil, events: (0..<300).map(SyntheticFixture.event(index:)), cursor: nil, routes: [route])
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await plannerRows(store) == -1)
        // 1,200 more rows: the store analyzes, in the background, and the planner knows the table's size.
        _ = try await store.ingest(connector: "src", stream: nil, events: (300..<1_020).map(SyntheticFixture.event(index:)), cursor: nil, routes: [route])
        var rows = try await plannerRows(store)
        let deadline = ContinuousClock.now + .seconds(30)
        while rows < 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            rows = try await plannerRows(store)
        }
        #expect(rows == 680, "every delivery counted (two of each three events are routed)")
    }
}
