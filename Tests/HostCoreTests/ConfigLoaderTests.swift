import ConnectorProtocol
import Foundation
@testable import HostCore
import Testing

/// A temporary configuration directory with a fake plugin executable in it.
struct ConfigFixture {
    let directory: URL
    var hostPath: String { directory.appendingPathComponent("host.toml").path }
    var pluginDirectory: String { directory.appendingPathComponent("plugins").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory.appendingPathComponent("plugins").path, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.appendingPathComponent("connectors.d").path, withIntermediateDirectories: true)
        let plugin = directory.appendingPathComponent("plugins/connector-fake").path
        try "#!/bin/sh\nexit 0\n".write(toFile: plugin, atomically: true, encoding: .utf8)
        chmod(plugin, 0o755)
    }

    func write(_ text: String, to name: String = "host.toml") throws {
        try text.write(toFile: directory.appendingPathComponent(name).path, atomically: true, encoding: .utf8)
    }

    func problems() -> [ConfigProblem] {
        do {
            _ = try ConfigLoader.load(path: hostPath)
            return []
        } catch {
            return error.problems
        }
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

@Suite struct ConfigLoaderTests {
    /// /metrics and /healthz default to a loopback listener of their own; "" turns them off.
    @Test func theMetricsListenerDefaultsToLoopback() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("[http]\nlisten = \"0.0.0.0:8480\"\nmax_connections = 50\nheader_timeout_ms = 2000\nbody_timeout_ms = 3000\nidle_timeout_ms = 4000\n")
        let http = try #require(try ConfigLoader.load(path: fixture.hostPath).http)
        #expect(http.metricsListen == HTTPSettings.Address(host: "127.0.0.1", port: 9480))
        let limits: [Int] = [http.maxConnections, http.headerTimeoutMilliseconds, http.bodyTimeoutMilliseconds, http.idleTimeoutMilliseconds]
        #expect(limits == [50, 2000, 3000, 4000])
        try fixture.write("[http]\nlisten = \"0.0.0.0:8480\"\nmetrics_listen = \"\"\n")
        #expect(try ConfigLoader.load(path: fixture.hostPath).http?.metricsListen == nil)
        try fixture.write("[http]\nlisten = \"0.0.0.0:8480\"\nmax_connections = 0\n")
        #expect(fixture.problems().map { $0.key } == ["http.max_connections"])
    }

    /// `[store]`: SQLite by default; PostgreSQL by URL, its password never in the file, TLS verified by default.
    @Test func theStoreIsSQLiteUnlessAPostgreSQLURLIsGiven() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("")
        #expect(try ConfigLoader.load(path: fixture.hostPath).store == .sqlite)
        try fixture.write("[store]\nkind = \"postgres\"\nurl = \"postgres://connector_host@db.internal/connector_host\"\npassword_file = \"pg.password\"\npool_size = 4\n")
        guard case .postgres(let settings) = try ConfigLoader.load(path: fixture.hostPath).store else {
            Issue.record("not a PostgreSQL store")
            return
        }
        #expect(settings.url == "postgres://connector_host@db.internal:5432/connector_host" && settings.tls == .verifyFull && settings.poolSize == 4)
        #expect(settings.passwordFile == fixture.directory.appendingPathComponent("pg.password").path && settings.passwordCredential == "postgres-password")

        try fixture.write("[store]\nkind = \"postgres\"\nurl = \"postgres://connector_host:s3cret@db.internal/connector_host\"\n")
        let problems = fixture.problems()
        #expect(problems.map(\.key) == ["store.url"] && problems[0].message.contains("never goes in the configuration") && problems[0].line == 3)
        #expect(!problems[0].message.contains("s3cret"), "the password is not repeated in the message")
        try fixture.write("[store]\nkind = \"postgres\"\nurl = \"mysql://a@b/c\"\ntls = \"maybe\"\n")
        #expect(fixture.problems().map(\.key) == ["store.url", "store.tls"])
        try fixture.write("[store]\nkind = \"sqlite\"\nurl = \"postgres://a@b/c\"\n")
        #expect(fixture.problems().map { "\($0.key): \($0.message)" } == ["store.url: applies to kind = \"postgres\" only"])
        try fixture.write("[store]\nkind = \"postgres\"\n")
        #expect(fixture.problems().map { "\($0.key): \($0.message)" } == ["store.url: is required"])
    }

    @Test func validConfigWithDropIn() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("""
            state_dir = "state"
            runtime_dir = "/tmp/rt"
            plugin_dirs = ["/nonexistent", "plugins"]

            [supervisor]
            ping_interval_ms = 250

            [[connector]]
            id = "stripe-eu"
            plugin = "fake"
            tenant = "acme"
            entity = "acme-fr"
            [connector.config]
            emit = 5
            nested = { a = [1, 2] }
            """)
        try fixture.write("[[connector]]\nid = \"odoo\"\nplugin = \"fake\"\n", to: "connectors.d/odoo.toml")
        let config = try ConfigLoader.load(path: fixture.hostPath)
        #expect(config.stateDirectory == fixture.directory.appendingPathComponent("state").standardizedFileURL.path)
        #expect(config.runtimeDirectory == "/tmp/rt")
        #expect(config.adminSocket == "/tmp/rt/admin.sock")
        #expect(config.supervisor.pingIntervalMilliseconds == 250)
        #expect(config.connectors.map(\.id) == ["stripe-eu", "odoo"])
        let stripe = config.connectors[0]
        #expect(stripe.tenant == "acme")
        #expect(stripe.entity == "acme-fr")
        #expect(stripe.config == ["emit": 5, "nested": ["a": [1, 2]]])
        #expect(stripe.executable.hasSuffix("plugins/connector-fake"))
    }

    @Test func errorsNameFileLineAndKey() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("""
            plugin_dirs = ["plugins"]
            log_level = "loud"

            [[connector]]
            id = "a"
            plugin = "fake"

            [[connector]]
            id = "b"
            plugin = "missing"
            colour = "blue"
            """)
        let problems = fixture.problems()
        let text = problems.map(\.description)
        #expect(problems.count == 3, "\(text)")
        #expect(problems.contains { $0.key == "log_level" && $0.line == 2 && $0.message.contains("loud") }, "\(text)")
        #expect(problems.contains { $0.key == "connector[1].plugin" && $0.line == 10 && $0.message.contains("connector-missing") }, "\(text)")
        #expect(problems.contains { $0.key == "connector[1].colour" && $0.line == 11 && $0.message == "unknown key" }, "\(text)")
        #expect(text.allSatisfy { $0.hasPrefix(fixture.hostPath + ":") })
    }

    @Test func syntaxErrorCarriesLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("plugin_dirs = [\"plugins\"]\n\n[[connector]]\nid = \"a\n")
        let problems = fixture.problems()
        #expect(problems.count == 1)
        #expect(problems.first?.line == 4)
        #expect(problems.first?.message.contains("TOML syntax error") == true)
    }

    @Test func duplicateIDAcrossFilesNamesTheFirst() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("plugin_dirs = [\"plugins\"]\n[[connector]]\nid = \"a\"\nplugin = \"fake\"\n")
        try fixture.write("# second\n[[connector]]\nid = \"a\"\nplugin = \"fake\"\n", to: "connectors.d/dup.toml")
        let problems = fixture.problems()
        #expect(problems.count == 1)
        #expect(problems.first?.file.hasSuffix("connectors.d/dup.toml") == true)
        #expect(problems.first?.line == 3)
        #expect(problems.first?.message.contains("host.toml:2") == true)
    }

    @Test func dropInMayNotSetHostKeys() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("plugin_dirs = [\"plugins\"]\n")
        try fixture.write("state_dir = \"/x\"\n", to: "connectors.d/bad.toml")
        let problems = fixture.problems()
        #expect(problems.count == 1)
        #expect(problems.first?.key == "state_dir")
        #expect(problems.first?.message.contains("host.toml") == true)
    }

    @Test func sha256PinIsChecked() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let actual = ConfigLoader.fileSHA256(fixture.pluginDirectory + "/connector-fake")!
        try fixture.write("plugin_dirs = [\"plugins\"]\n[[connector]]\nid = \"a\"\nplugin = \"fake\"\nsha256 = \"\(actual)\"\n")
        #expect(fixture.problems().isEmpty)
        let wrong = String(repeating: "0", count: 64)
        try fixture.write("plugin_dirs = [\"plugins\"]\n[[connector]]\nid = \"a\"\nplugin = \"fake\"\nsha256 = \"\(wrong)\"\n")
        let problems = fixture.problems()
        #expect(problems.count == 1)
        #expect(problems.first?.key == "connector[0].sha256")
        #expect(problems.first?.line == 5)
    }

    @Test func typesAndRequiredKeysAreChecked() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("""
            plugin_dirs = "plugins"
            [supervisor]
            crash_limit = -1
            [[connector]]
            plugin = "Bad Name"
            """)
        let keys = Set(fixture.problems().map(\.key))
        #expect(keys == ["plugin_dirs", "supervisor.crash_limit", "connector[0].id", "connector[0].plugin"])
    }

    @Test func keyLocatorFindsKeysInTheRightTable() {
        let locator = KeyLocator(text: """
            id = "root"
            [[connector]]
            id = "a"
            [connector.config]
            id = "inner"
            [[connector]]
              "id" = "b"
            """)
        #expect(locator.line(key: "id", table: nil, index: nil) == 1)
        #expect(locator.line(key: "id", table: "connector", index: 0) == 3)
        #expect(locator.line(key: "id", table: "connector", index: 1) == 7)
        #expect(locator.line(key: nil, table: "connector", index: 1) == 6)
        #expect(locator.line(key: "missing", table: "connector", index: 1) == 6)
    }
}

/// `[[reconcile]]` tables.
@Suite struct ReconcileConfigTests {
    let connectors = """
        plugin_dirs = ["plugins"]

        [[connector]]
        id = "stripe"
        plugin = "fake"

        [[connector]]
        id = "odoo"
        plugin = "fake"

        """

    @Test func aReconcileTableWithItsDefaultsAndSchedules() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write(connectors + """
            [[reconcile]]
            name = "stripe-books"
            source = "stripe"
            target = "odoo"
            types = ["invoice", "payment", "refund"]
            daily_at = "02:30"
            tolerance = 2
            amount_tolerance_minor = 1
            grace = "1h"
            count_unreferenced = true

            [[reconcile]]
            name = "nightly"
            source = "stripe"
            target = "odoo"
            every = "6h"
            """)
        try fixture.write("""
            [[reconcile]]
            name = "on-demand"
            source = "odoo"
            target = "stripe"
            window_days = 7
            margin_days = 0
            """, to: "connectors.d/more.toml")
        let config = try ConfigLoader.load(path: fixture.hostPath)
        #expect(config.reconciles.map(\.name) == ["stripe-books", "nightly", "on-demand"])
        let books = config.reconciles[0]
        #expect(books.objectTypes == ["invoice", "payment", "refund"])
        #expect(books.schedule == .daily(minuteOfDay: 150))
        #expect(books.tolerance == 2 && books.amountToleranceMinor == 1 && books.graceSeconds == 3600)
        #expect(books.windowDays == 35 && books.marginDays == 1 && books.countUnreferenced)
        #expect(!config.reconciles[1].countUnreferenced)
        #expect(books.origin.hasSuffix("host.toml:10"))
        #expect(config.reconciles[1].schedule == .every(seconds: 21_600))
        #expect(config.reconciles[1].objectTypes == ["invoice", "payment"])
        #expect(config.reconciles[2].schedule == .onDemand)
        #expect(config.reconciles[2].windowDays == 7 && config.reconciles[2].marginDays == 0)
    }

    @Test func mistakesAreNamedWithTheirLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write(connectors + """
            [[reconcile]]
            name = "a"
            source = "strip"
            target = "odoo"
            types = ["invoices"]
            every = "10s"

            [[reconcile]]
            name = "a"
            source = "odoo"
            target = "odoo"
            daily_at = "25:00"
            tolerance = -1
            colour = "red"

            [[reconcile]]
            name = "b"
            source = "stripe"
            target = "odoo"
            every = "1h"
            daily_at = "01:00"
            window_days = 400
            """)
        let problems = fixture.problems()
        let text = problems.map { "\($0.key) \($0.line ?? 0): \($0.message)" }
        #expect(text.contains("reconcile[0].source 12: no connector with id \"strip\": did you mean stripe?"), "\(text)")
        #expect(text.contains { $0.hasPrefix("reconcile[0].types 14:") && $0.contains("did you mean invoice?") }, "\(text)")
        #expect(text.contains { $0.hasPrefix("reconcile[0].every 15:") && $0.contains("at least a minute") }, "\(text)")
        #expect(text.contains("reconcile[1].target 20: is the source itself; a reconciliation compares two connectors"), "\(text)")
        #expect(text.contains { $0.hasPrefix("reconcile[1].daily_at 21:") && $0.contains("HH:MM") }, "\(text)")
        #expect(text.contains("reconcile[1].tolerance 22: must be a whole number, 0 or more"), "\(text)")
        #expect(text.contains("reconcile[1].colour 23: unknown key"), "\(text)")
        #expect(text.contains { $0.hasPrefix("reconcile[2].daily_at 30:") && $0.contains("not both") }, "\(text)")
        #expect(text.contains { $0.hasPrefix("reconcile[2].window_days 31:") && $0.contains("at most 366") }, "\(text)")
        #expect(problems.count == 9, "\(text)")
    }
}
