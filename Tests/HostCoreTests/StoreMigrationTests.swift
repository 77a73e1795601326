import ConnectorProtocol
import Foundation
import HostAdmin
import Logging
import PostgresNIO
@testable import HostCore
import Testing

/// Upgrading in place: stores made by earlier schemas (Tests/Fixtures/store-v2, store-v3 and store-v4, see
/// their READMEs; v4 is the one before the current) open with the current version, migrate, and lose nothing.
@Suite struct StoreMigrationTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    @Test(arguments: ["store-v2", "store-v3", "store-v4"]) func aStoreMadeByAnEarlierSchemaOpensWithEverythingInIt(_ name: String) async throws {
        let fixture = Self.fixtures.appendingPathComponent(name)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for file in ["connector-host.sqlite", "vault.key"] {
            try FileManager.default.copyItem(at: fixture.appendingPathComponent(file), to: directory.appendingPathComponent(file))
            // git keeps no mode but 644 or 755; the vault refuses a key others can read.
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: directory.appendingPathComponent(file).path)
        }
        let store = try SQLiteStore(path: directory.appendingPathComponent("connector-host.sqlite").path)

        let queue = try await store.queue(now: Store.now())
        let counts = Dictionary(queue.map { ("\($0.route) \($0.state)", $0.count) }) { a, b in a + b }
        #expect(counts == ["shop->erp delivered": 6, "shop->erp dead": 3, "shop->crm pending": 3])
        #expect(try await store.deadLetters(route: nil, limit: 10).map(\.eventType) == Array(repeating: "payment.succeeded", count: 3))
        // The pending deliveries are still due, with their attempts and ordering keys.
        let pending = try await store.dueDeliveries(route: "shop->crm", now: Store.now() + 86_400_000, limit: 10)
        #expect(pending.map(\.orderingKey) == ["cus_0", "cus_1", "cus_2"])
        #expect(pending.allSatisfy { $0.attempts > 0 })
        // The sealed secret opens with the store's master key.
        let source = Vault.KeySource.resolve(keyFile: directory.appendingPathComponent("vault.key").path, stateDirectory: directory.path, environment: [:])
        let vault = try await Vault.open(store: store, source: source, logger: Logger(label: "test"))
        #expect(try await vault.read(connector: "erp", name: "api_key", requester: "erp").value == "s3cret-value")
        // The audit chain made before the upgrade still verifies, and new rows extend it.
        let before = try await store.trace(correlationID: "sample-shop-2").audit.map(\.action)
        #expect(before == ["delivery.dead"])
        try await store.audit(correlationID: "x", actor: "test", action: "after.upgrade", subject: "s", detail: "d")
        let verified = try await vault.verifyAudit()
        #expect(verified.problems.isEmpty)
        #expect(verified.rows >= 5 && verified.authenticated == verified.rows)
        // The upgraded vault sealed where its authenticated rows begin: its first row with an HMAC.
        try await store.rawExecuteForTests("DROP TRIGGER audit_no_update; UPDATE audit SET mac = NULL")
        #expect(try await vault.verifyAudit().problems.filter { $0.kind == "unauthenticated" }.count == verified.rows)
        // v4's table is there, empty.
        #expect(try await store.intakeRejects(connector: nil, limit: 10).isEmpty)
        // v5's table is there, empty, and takes a report.
        #expect(try await store.driftReports(name: nil, limit: 10).isEmpty)
        let report = DriftReport(name: "books", source: "shop", target: "erp", entity: nil, from: "2026-01-01", to: "2026-01-31", startedAt: 1,
                                 finishedAt: 2, trigger: .operator, outcome: .clean, error: nil, tolerance: 0, drift: 0, totals: [], items: [])
        let stored = try await store.save(report, actor: "test")
        #expect(try await store.driftReports(name: "books", limit: 5) == [stored])
        // The new column is there: a dependency answer naming a record is kept.
        let job = try #require(pending.first)
        try await store.record(DeliveryOutcome(job: job, startedAt: 0, finishedAt: Store.now(), result: .failed(
            .dependency(on: RecordRef(objectType: "invoice", objectID: "in_1"), "waiting"), .retry(at: Store.now() + 60_000))))
    }
}

/// Upgrading a PostgreSQL store in place: a database made at PostgreSQL schema v1 (Tests/Fixtures/postgres-v1,
/// see its README), loaded with psql into a new database, opens with the current version, migrates, and
/// loses nothing.
@Suite struct PostgresMigrationTests {
    @Test(.enabled(if: StoreUnderTest.postgres != nil)) func aDatabaseMadeBySchemaV1OpensWithEverythingInIt() async throws {
        let environment = ProcessInfo.processInfo.environment
        var url = try #require(environment["CONNECTOR_HOST_TEST_POSTGRES"].flatMap(URLComponents.init(string:)))
        let password = environment["CONNECTOR_HOST_TEST_POSTGRES_PASSWORD"] ?? ""
        let database = "migrate_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        let fixture = StoreMigrationTests.fixtures.appendingPathComponent("postgres-v1")
        func psql(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["PGPASSWORD=\(password)", "psql", url.string ?? "", "-q", "-v", "ON_ERROR_STOP=1"] + arguments
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "psql \(arguments.first ?? "")")
        }
        try psql(["-c", "CREATE DATABASE \(database)"])
        url.path = "/\(database)"
        try psql(["-f", fixture.appendingPathComponent("dump.sql").path])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("vault.key").path
        try FileManager.default.copyItem(atPath: fixture.appendingPathComponent("vault.key").path, toPath: keyFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)

        let store = try await PostgresStore(
            configuration: .init(host: url.host ?? "", port: url.port ?? 5432, username: url.user ?? "", password: password, database: database, tls: .disable),
            member: "upgraded", logger: Logger(label: "test"))
        defer { store.close() }
        let queue = try await store.queue(now: Store.now())
        let counts = Dictionary(queue.map { ("\($0.route) \($0.state)", $0.count) }) { a, b in a + b }
        #expect(counts == ["shop->erp delivered": 6, "shop->erp dead": 3, "shop->crm pending": 3])
        #expect(try await store.deadLetters(route: nil, limit: 10).map(\.eventType) == Array(repeating: "payment.succeeded", count: 3))
        #expect(try await store.cursor(connector: "shop", stream: "synthetic") != nil)
        // The pending deliveries are due, claimed by this host now (v2's columns).
        let pending = try await store.dueDeliveries(route: "shop->crm", now: Store.now() + 86_400_000, limit: 10)
        #expect(pending.map(\.orderingKey) == ["cus_0", "cus_1", "cus_2"])
        #expect(pending.allSatisfy { $0.attempts > 0 })
        try await store.heartbeat()
        #expect(try await store.cluster().members.map(\.claimed) == [3])
        let source = Vault.KeySource.resolve(keyFile: keyFile, stateDirectory: directory.path, environment: [:])
        let vault = try await Vault.open(store: store, source: source, logger: Logger(label: "test"))
        #expect(try await vault.read(connector: "erp", name: "api_key", requester: "erp").value == "s3cret-value")
        try await store.audit(correlationID: "x", actor: "test", action: "after.upgrade", subject: "s", detail: "d")
        let verified = try await vault.verifyAudit()
        #expect(verified.problems.isEmpty && verified.rows >= 5 && verified.authenticated == verified.rows)
        // v2's source leases work on the upgraded database.
        #expect(try await store.holdSource("shop"))
    }
}
