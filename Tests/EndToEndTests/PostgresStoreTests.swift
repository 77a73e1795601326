import Foundation
import HostAdmin
import Testing

/// The PostgreSQL server `scripts/test` starts for the tests (CONNECTOR_HOST_TEST_POSTGRES, its password in
/// CONNECTOR_HOST_TEST_POSTGRES_PASSWORD): a new database per test, made with psql.
enum TestPostgres {
    static let url: URLComponents? = ProcessInfo.processInfo.environment["CONNECTOR_HOST_TEST_POSTGRES"].flatMap(URLComponents.init(string:))
    static let password = ProcessInfo.processInfo.environment["CONNECTOR_HOST_TEST_POSTGRES_PASSWORD"] ?? ""
    /// Without a server the tests are skipped, unless scripts/test requires them.
    static var available: Bool { url != nil || ProcessInfo.processInfo.environment["CONNECTOR_HOST_REQUIRE_POSTGRES"] == "1" }

    /// A new empty database: its `[store]` table, with the password in a file of the daemon's (mode 0600).
    static func store(for daemon: DaemonHarness) throws -> String {
        guard let url, let host = url.host, let user = url.user else { throw HarnessError("CONNECTOR_HOST_TEST_POSTGRES names no server") }
        let database = "daemon_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        let created = try psql("CREATE DATABASE \(database)")
        guard created.status == 0 else { throw HarnessError("psql: \(created.stderr)") }
        let passwordFile = daemon.path("postgres.password")
        _ = FileManager.default.createFile(atPath: passwordFile, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return "[store]\nkind = \"postgres\"\nurl = \"postgres://\(user)@\(host):\(url.port ?? 5432)/\(database)\"\npassword_file = \"\(passwordFile)\"\ntls = \"disable\"\n"
    }

    /// Runs SQL on the maintenance database.
    static func psql(_ sql: String, database: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        guard var url else { throw HarnessError("CONNECTOR_HOST_TEST_POSTGRES names no server") }
        if let database { url.path = "/\(database)" }
        return try DaemonHarness.run("/usr/bin/env", ["PGPASSWORD=\(password)", "psql", url.string ?? "", "-v", "ON_ERROR_STOP=1", "-tAc", sql])
    }
}

/// The network between the daemon and PostgreSQL: a TCP proxy (Tests/Fakes/common/tcp_proxy.py) that
/// the test cuts (killed: every connection through it dies) and mends (started again on the same port).
final class PostgresLink {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes/common/tcp_proxy.py").path
    let target: String
    let log: String
    private(set) var port = 0
    private var process: Process?

    init(to target: String, log: String) throws {
        self.target = target
        self.log = log
        try mend()
    }

    deinit { cut() }

    func mend() throws {
        let process = Process()
        let url = try launchLoopbackFake(process, "/usr/bin/env", ["python3", Self.script, "--to", target, "--port", String(port)], log: log, name: "the TCP proxy")
        port = Int(url.split(separator: ":").last ?? "") ?? 0
        self.process = process
    }

    func cut() {
        if let process { stopLoopbackFake(process) }
        process = nil
    }
}

@Suite(.serialized) struct PostgresStoreTests {
    /// A daemon keeps its state in PostgreSQL: 300 events delivered once; `hostctl status` names the
    /// store (no password); a second daemon on the same database is refused, saying why; restarted, the
    /// daemon goes on from its cursor and delivers nothing twice; the password is in no log.
    @Test(.enabled(if: TestPostgres.available)) func aDaemonKeepsItsStateInPostgreSQL() throws {
        let daemon = try DaemonHarness()
        let store = try TestPostgres.store(for: daemon)
        let connectors = DaemonHarness.sample("src", "poll_batch = 100\n[connector.config]\nemit = 300")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp")
        try daemon.writeConfig(connectors: store + connectors)
        try daemon.start()
        try daemon.waitUntil("300 deliveries are done", timeout: 60) { try daemon.count("delivered") == 300 }
        #expect(Set(daemon.effects("effects")).count == 300 && daemon.effects("effects").count == 300)
        let status = try daemon.hostctl("status")
        let url = try #require(store.split(separator: "\n").first { $0.hasPrefix("url = ") }?.dropFirst(7).dropLast())
        #expect(status.stdout.contains("store:      postgres \(url)"), "\(status.stdout)")

        let second = try DaemonHarness()
        try second.writeConfig(connectors: store)
        try second.start(waitForReady: false)
        try second.waitUntil("the second daemon gives up", timeout: 20) { !second.isRunning }
        #expect(second.log.contains("another connector-hostd runs as member"), "\(second.log.suffix(1_000))")

        // A reload cannot move the daemon to another store: it says so and keeps the one it opened.
        try daemon.writeConfig(connectors: store + "lease_seconds = 20\n" + connectors)
        let reload = try daemon.hostctl("reload")
        #expect(reload.status == 0 && reload.stderr.contains("[store] changed: restart the daemon to apply it"), "\(reload)")

        #expect(try daemon.stop() == 0)
        try daemon.start()
        Thread.sleep(forTimeInterval: 1)  // a few polls from the stored cursor: nothing new
        #expect(try daemon.count("delivered") == 300 && daemon.count("pending") == 0)
        #expect(daemon.effects("effects").count == 300, "nothing delivered twice")
        let events = try TestPostgres.psql("SELECT count(*) FROM events", database: String(url.split(separator: "/").last ?? ""))
        #expect(events.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "300", "\(events)")
        #expect(!daemon.log.contains(TestPostgres.password) && !second.log.contains(TestPostgres.password))
        #expect(try daemon.stop() == 0)
    }

    /// The network to PostgreSQL cut for 30 s while events flow: intake pauses and `hostctl health` says
    /// why; once it is back, everything is delivered, once, and health is clear again.
    @Test(.enabled(if: TestPostgres.available))
    func aStoreCutOffForThirtySecondsLosesNothing() throws {
        let daemon = try DaemonHarness()
        let direct = try TestPostgres.store(for: daemon)
        let server = try #require(TestPostgres.url)
        let link = try PostgresLink(to: "\(server.host ?? ""):\(server.port ?? 5432)", log: daemon.path("proxy.log"))
        let store = direct.replacingOccurrences(of: "@\(server.host ?? ""):\(server.port ?? 5432)/", with: "@127.0.0.1:\(link.port)/")
        try daemon.writeConfig(connectors: store
            + DaemonHarness.sample("src", "poll_batch = 50\n[connector.config]\nemit = 3000\nemit_rate = 100")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp"))
        try daemon.start()
        try daemon.waitUntil("the first events are delivered", timeout: 30) { try daemon.count("delivered") >= 200 }
        link.cut()
        var health = (status: Int32(0), stdout: "", stderr: "")
        do {
            try daemon.waitUntil("health names the store", timeout: 60) {
                health = try daemon.hostctl("health")
                return health.status == 1 && health.stdout.contains("PostgreSQL cannot be reached")
            }
        } catch {
            Issue.record("health: \(health.status) \(health.stdout) \(health.stderr)\n\(daemon.log.split(separator: "\n").filter { !$0.contains("Connection creation failed") }.suffix(20).joined(separator: "\n"))")
            throw error
        }
        Thread.sleep(forTimeInterval: 30)
        try link.mend()
        do {
            try daemon.waitUntil("all 3,000 are delivered", timeout: 120) { try daemon.count("delivered") == 3_000 }
        } catch {
            Issue.record("proxy on \(link.port): \(daemon.log.split(separator: "\n").suffix(25).joined(separator: "\n"))")
            throw error
        }
        try daemon.waitUntil("health is clear again", timeout: 30) { try daemon.hostctl("health").status == 0 }
        let effects = daemon.effects("effects")
        #expect(effects.count == 3_000 && Set(effects).count == 3_000, "none lost, none twice: \(effects.count) effects, \(Set(effects).count) distinct")
        #expect(try daemon.stop() == 0)
    }
}
