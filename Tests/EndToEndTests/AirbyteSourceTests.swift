import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An Airbyte source from PyPI (airbyte-source-faker, installed by scripts/test with
/// scripts/airbyte-install) run by connector-airbyte under the real daemon: its streams become events
/// delivered to a sink, its STATE messages the connector's cursor.
enum AirbyteFaker {
    /// The `source-faker` command (CONNECTOR_HOST_AIRBYTE_FAKER); without it the tests are skipped, unless
    /// scripts/test requires them (CONNECTOR_HOST_REQUIRE_AIRBYTE=1).
    static let command = ProcessInfo.processInfo.environment["CONNECTOR_HOST_AIRBYTE_FAKER"]
    static var available: Bool { command != nil || ProcessInfo.processInfo.environment["CONNECTOR_HOST_REQUIRE_AIRBYTE"] == "1" }

    /// A connector reading faker's users, products and purchases: `count` users and purchases, up to 100
    /// products, a STATE every `slice` records, the same records on every run (seed), unless `updated`:
    /// then every read gives every record again with a new `updated_at`.
    static func connector(_ id: String, count: Int, slice: Int, pollBatch: Int = 100, pollInterval: Int = 500, updated: Bool = false,
                          entity: String? = nil) throws -> String {
        guard let command else { throw HarnessError("CONNECTOR_HOST_AIRBYTE_FAKER names no source-faker command") }
        return """
            [[connector]]
            id = "\(id)"
            plugin = "airbyte"
            poll_batch = \(pollBatch)
            poll_interval_ms = \(pollInterval)
            \(entity.map { "entity = \"\($0)\"" } ?? "")
            [connector.config]
            command = "\(command)"
            streams = ["users", "products", "purchases"]
            # Faker's process pool deadlocks now and then (a worker forked while a lock was held): stopped
            # after 10 s of silence, it is read again from the last state.
            idle_timeout_s = 10
            [connector.config.source]
            count = \(count)
            seed = 7
            records_per_slice = \(slice)
            always_updated = \(updated)
            parallelism = 1

            """
    }

    /// The objects of the effects a sample sink applied (`faker:users:7:…` → `users:7`), each once.
    static func objects(_ effects: [String]) -> [String] {
        effects.map { $0.split(separator: ":").dropFirst().prefix(2).joined(separator: ":") }
    }

    /// Waits until the sink has applied every one of `expected`; says what is missing when it has not.
    static func waitForEvery(_ expected: Set<String>, _ daemon: DaemonHarness, timeout: TimeInterval = 120) throws {
        do {
            try daemon.waitUntil("every faker record is delivered", timeout: timeout) { Set(objects(daemon.effects("effects"))) == expected }
        } catch {
            let seen = objects(daemon.effects("effects"))
            let missing = expected.subtracting(seen)
            let log = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
            Issue.record("""
                \(missing.count) of \(expected.count) missing (e.g. \(missing.sorted().prefix(5))), \(seen.count) effects, \(Set(seen).subtracting(expected).count) unexpected
                \(log.split(separator: "\n").filter { !$0.contains("\"debug\"") && !$0.contains("read started") }.suffix(12).joined(separator: "\n"))
                """)
            throw error
        }
    }

    static func expected(count: Int) -> Set<String> {
        Set((1...count).flatMap { ["users:\($0)", "purchases:\($0)"] } + (1...min(count, 100)).map { "products:\($0)" })
    }
}

extension DaemonHarness {
    /// Starts the daemon with `connectors`, the source `source` among them routed to a sample sink `erp`
    /// that writes what it applies to the file `effects`.
    func startIntoSampleSink(_ connectors: String, from source: String) throws {
        try writeConfig(connectors: connectors
            + Self.sample("erp", "[connector.config]\neffects_file = \"\(path("effects"))\"")
            + Self.route(source, "erp"))
        try start()
    }

    /// SIGKILLs the daemon, waits for it to be gone and starts it again.
    func killAndRestart() throws {
        let pid = try #require(daemonPID)
        kill(pid, SIGKILL)
        try waitUntil("the daemon is dead", timeout: 10) { !isRunning }
        try start()
    }
}

@Suite(.serialized) struct AirbyteSourceTests {
    /// Under the unit's MemoryDenyWriteExecute=yes, as the package runs it: the daemon, the plugin and
    /// faker (CPython and its libraries) need no memory that is writable and executable.
    @Test(.enabled(if: AirbyteFaker.available)) func everyStreamBecomesEventsAndTheNextReadGoesOnFromTheState() throws {
        let daemon = try DaemonHarness()
        daemon.launcher = [Self.fixtures + "/memory-deny-write-execute"]
        // One slice per stream (its STATE at its end): faker without always_updated emits nothing more of a
        // stream that has any state, so a read stopped mid-stream after a STATE (its pool deadlocks now and
        // then) would never finish it. A stream stopped before its STATE is read whole again.
        try daemon.startIntoSampleSink(try AirbyteFaker.connector("faker", count: 200, slice: 200), from: "faker")
        let expected = AirbyteFaker.expected(count: 200)
        try AirbyteFaker.waitForEvery(expected, daemon)
        let effects = daemon.effects("effects")
        #expect(effects.count == expected.count && Set(effects).count == effects.count, "each record once: \(effects.count) effects")
        #expect(effects.contains { $0.hasPrefix("faker:users:1:") })
        // The next read starts from the state the first one ended with: faker (no updates) has nothing new.
        try daemon.waitUntil("a second read has run from the stored state", timeout: 60) {
            (try String(contentsOfFile: daemon.logPath, encoding: .utf8)).contains("\"airbyte.resumed\":\"true\"")
        }
        Thread.sleep(forTimeInterval: 2)
        #expect(daemon.effects("effects").count == expected.count)
        let status = try daemon.connector("faker")
        #expect(status.state == "running", "\(status)")
        #expect(try daemon.stop() == 0)
    }

    @Test(.enabled(if: AirbyteFaker.available)) func aDaemonKilledWhileFakerIsReadLosesNothing() throws {
        // Faker starts each stream from its beginning again on every read (its state says only when it
        // last ran), with new `updated_at`s: after the kill every record comes again, as a new version.
        let daemon = try DaemonHarness()
        try daemon.startIntoSampleSink(try AirbyteFaker.connector("faker", count: 3_000, slice: 100, pollBatch: 200, pollInterval: 600_000, updated: true), from: "faker")
        try daemon.waitUntil("some records are delivered", timeout: 120) { daemon.effects("effects").count >= 1_000 }
        try daemon.killAndRestart()
        let expected = AirbyteFaker.expected(count: 3_000)
        try AirbyteFaker.waitForEvery(expected, daemon, timeout: 240)
        let effects = daemon.effects("effects")
        #expect(Set(effects).count == effects.count, "no effect applied twice")
        let log = try String(contentsOfFile: daemon.logPath, encoding: .utf8)
        #expect(log.contains("\"airbyte.resumed\":\"true\""), "the read after the restart is given the stored state")
        #expect(try daemon.stop() == 0)
    }

    /// Faker's users mapped to canonical customers reach Odoo as partners, one per user, each with the
    /// name and email faker gave it; its products and purchases (not routed) stay in the host.
    @Test(.enabled(if: AirbyteFaker.available)) func usersMappedToCustomersBecomeOdooPartners() throws {
        let daemon = try DaemonHarness()
        let odoo = try OdooServer(version: 17, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let faker = try AirbyteFaker.connector("faker", count: 40, slice: 40, entity: "acme-us") + """
            [connector.config.map.users]
            kind = "customer"
            name = "name"
            email = "email"
            phone = "telephone"
            "address.city" = "address.city"

            """
        try daemon.startWithOdooKey(odoo, connectors: faker + DaemonHarness.route("faker", "erp", events: #""customer.*""#))
        do {
            try daemon.waitUntil("40 users are partners in Odoo", timeout: 120) {
                try odoo.search("res.partner", [["ref", "=like", "ch:faker:users:%"]], fields: ["id"]).count == 40
            }
        } catch {
            let log = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
            Issue.record("queue: \((try? daemon.queue().rows) ?? []), dead letters: \((try? daemon.deadLetters().prefix(2).map { "\($0)" }) ?? [])\n\(log.split(separator: "\n").filter { !$0.contains("\"debug\"") }.suffix(15).joined(separator: "\n"))")
            throw error
        }
        let partners = try odoo.search("res.partner", [["ref", "=like", "ch:faker:users:%"]], fields: ["ref", "name", "email", "city"])
        #expect(Set(partners.compactMap { $0["ref"] as? String }) == Set((1...40).map { "ch:faker:users:\($0)" }))
        #expect(partners.allSatisfy { ($0["name"] as? String)?.isEmpty == false && ($0["email"] as? String)?.contains("@") == true && $0["city"] is String },
                "\(partners.prefix(3))")
        #expect(try daemon.deadLetters().isEmpty)
        #expect(try daemon.count("delivered") == 40)
        #expect(try daemon.stop() == 0)
    }

    /// A source (Tests/Fixtures/airbyte/counting_source.py) that reads on exactly from the state it is given.
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let countingSource = fixtures + "/airbyte/counting_source.py"

    /// A connector on the counting source: `source` its configuration, `settings` more of the connector's.
    static func counting(_ id: String, _ source: String, settings: String = "", pollBatch: Int = 100, pollInterval: Int = 60_000) -> String {
        "[[connector]]\nid = \"\(id)\"\nplugin = \"airbyte\"\npoll_batch = \(pollBatch)\npoll_interval_ms = \(pollInterval)\n"
            + "[connector.config]\ncommand = \"\(countingSource)\"\n\(settings)\n[connector.config.source]\n\(source)\n\n"
    }

    @Test func aDaemonKilledMidReadGoesOnFromTheLastStoredStateWithNothingLostOrRepeated() throws {
        let daemon = try DaemonHarness()
        try daemon.startIntoSampleSink(Self.counting("items", "total = 1500\nstate_every = 50\ndelay_ms = 2"), from: "items")
        try daemon.waitUntil("some items are delivered", timeout: 60) { daemon.effects("effects").count >= 300 }
        let before = daemon.effects("effects").count
        try daemon.killAndRestart()
        try daemon.waitUntil("items 1 to 1,500 are delivered", timeout: 120) { Set(AirbyteFaker.objects(daemon.effects("effects"))).count == 1_500 }
        // Each record once, object by object: what was stored before the kill was stored with the state
        // after it, and the read after the restart began there.
        let objects = AirbyteFaker.objects(daemon.effects("effects"))
        #expect(objects.count == 1_500 && Set(objects).count == 1_500, "\(objects.count) effects, \(before) before the kill")
        // Read from the start again, the items stored before the kill would have come again and been
        // dropped at intake as duplicates (their idempotency keys are the same): none were.
        #expect(try daemon.queue().duplicates["items"] ?? 0 == 0)
        let log = try String(contentsOfFile: daemon.logPath, encoding: .utf8)
        #expect(log.contains("\"airbyte.resumed\":\"true\""))
        #expect(try daemon.stop() == 0)
    }

    @Test func aSourceThatHangsIsStoppedAndReadAgainFromItsLastState() throws {
        let daemon = try DaemonHarness()
        // It checkpoints after items 1-3, writes 4 and then nothing: after 2 s it is stopped, and read again.
        try daemon.startIntoSampleSink(Self.counting("items", "total = 6\nstate_every = 3\nhang_at = 4", settings: "idle_timeout_s = 2"), from: "items")
        try daemon.waitUntil("items 1 to 6 are delivered", timeout: 60) { Set(AirbyteFaker.objects(daemon.effects("effects"))).count == 6 }
        #expect(AirbyteFaker.objects(daemon.effects("effects")).sorted() == (1...6).map { "items:\($0)" })
        let log = try String(contentsOfFile: daemon.logPath, encoding: .utf8)
        #expect(log.contains("the Airbyte source wrote nothing for 2 s (idle_timeout_s)"))
        #expect(try daemon.stop() == 0)
    }

    @Test func aSourceThatCrashesIsReadAgainFromItsLastStateAfterABackoff() throws {
        let daemon = try DaemonHarness()
        // It checkpoints after items 1-3, then dies after writing 4 and 5; run again from that state, it
        // writes 4-6 and ends well.
        try daemon.startIntoSampleSink(Self.counting("items", "total = 6\nstate_every = 3\ncrash_at = 5"), from: "items")
        try daemon.waitUntil("items 1 to 6 are delivered", timeout: 60) { Set(AirbyteFaker.objects(daemon.effects("effects"))).count == 6 }
        let effects = daemon.effects("effects")
        #expect(AirbyteFaker.objects(effects).sorted() == (1...6).map { "items:\($0)" }, "4 and 5 once each, from the run after the crash: \(effects)")
        #expect(try daemon.queue().duplicates["items"] ?? 0 == 0, "1 to 3 were not read again")
        let log = try String(contentsOfFile: daemon.logPath, encoding: .utf8)
        #expect(log.contains("the API went away"), "the source's error reaches the host's log")
        #expect(log.contains("records read after the source's last STATE are not kept"))
        #expect(try daemon.stop() == 0)
    }

    /// The plugin killed outright (SIGKILL: it cannot stop its source) while its source hangs: the plugin
    /// the host starts next kills that source, found by the `HOME` it was given, and removes the folder
    /// the source's configuration was in, then reads on from the last stored state.
    @Test func aPluginKilledOutrightLeavesNoSourceAndNoConfigurationBehind() throws {
        let daemon = try DaemonHarness()
        // It checkpoints after items 1-3, writes 4 and then nothing (idle_timeout_s is ten minutes).
        try daemon.startIntoSampleSink(Self.counting("items", "total = 6\nstate_every = 3\nhang_at = 4"), from: "items")
        try daemon.waitUntil("items 1 to 3 are delivered", timeout: 60) { Set(AirbyteFaker.objects(daemon.effects("effects"))).count == 3 }
        let runtime = daemon.path("run")
        let folders = try FileManager.default.contentsOfDirectory(atPath: runtime).filter { $0.hasPrefix("airbyte-items.") }
        #expect(folders.count == 1, "\(folders)")
        let folder = "\(runtime)/\(try #require(folders.first))"
        let sources = Self.processes(home: folder)
        #expect(!sources.isEmpty, "the hung source runs with HOME=\(folder)")
        let plugin = try #require(try daemon.connector("items").pid)
        kill(plugin, SIGKILL)
        try daemon.waitUntil("items 4 to 6 are delivered by the next plugin", timeout: 60) {
            Set(AirbyteFaker.objects(daemon.effects("effects"))).count == 6
        }
        #expect(sources.allSatisfy(DaemonHarness.isDead), "the hung source was killed")
        #expect(!FileManager.default.fileExists(atPath: folder), "its folder, with the source's configuration, is gone")
        #expect(daemon.log.contains("an earlier run of this plugin was killed"))
        #expect(AirbyteFaker.objects(daemon.effects("effects")).sorted() == (1...6).map { "items:\($0)" })
        #expect(try daemon.stop() == 0)
    }

    /// `hostctl check` runs the source's `check`, then says which of its streams are read and how (its
    /// `discover`); a stream the configuration names that the source does not offer fails the check.
    @Test func checkSaysWhichStreamsAreReadAndHow() throws {
        let daemon = try DaemonHarness()
        try daemon.startIntoSampleSink(
            Self.counting("items", "total = 3") + Self.counting("typo", "total = 3", settings: "streams = [\"itemz\"]")
                + Self.counting("refused", "refuse_check = true"), from: "items")
        let good = try daemon.hostctl("check", "items")
        #expect(good.status == 0 && good.stdout.contains("items: ok: Airbyte source \(Self.countingSource): counting; reads 1 of its 1 streams: items (incremental by n, key n)"),
                "\(good)")
        let typo = try daemon.hostctl("check", "typo")
        #expect(typo.status != 0 && typo.stdout.contains(#"streams of typo: the source has no stream "itemz" (it has: items)"#), "\(typo)")
        let refused = try daemon.hostctl("check", "refused")
        #expect(refused.status != 0 && refused.stdout.contains("the API key is wrong"), "\(refused)")
        #expect(try daemon.stop() == 0)
    }

    /// The processes whose environment holds `HOME=home`.
    static func processes(home: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { return nil }
            return environment.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "HOME=\(home)" } ? pid : nil
        }
    }
}
