import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DaemonHarness {
    func queue() throws -> QueueResult {
        try client().call(AdminMethod.queue, EmptyParams(), as: QueueResult.self)
    }

    func count(_ state: String, route: String? = nil) throws -> Int {
        try queue().rows.filter { $0.state == state && (route == nil || $0.route == route) }.map(\.count).reduce(0, +)
    }

    func effects(_ name: String) -> [String] {
        ((try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static func route(_ from: String, _ to: String, events: String = "\"*\"", _ extra: String = "") -> String {
        "[[route]]\nfrom = \"\(from)\"\nto = \"\(to)\"\nevents = [\(events)]\nretry_base_ms = 50\nretry_max_ms = 200\n\(extra)\n"
    }
}

@Suite(.serialized) struct PipelineTests {
    @Test func eventsFlowFromSourceToSinkExactlyOnce() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "poll_batch = 100\n[connector.config]\nemit = 300")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp"))
        try daemon.start()
        try daemon.waitUntil("300 deliveries are done", timeout: 60) { try daemon.count("delivered") == 300 }
        let effects = daemon.effects("effects")
        #expect(effects.count == 300)
        #expect(Set(effects).count == 300)
        #expect(effects.contains("src:invoice:in_1:1"))

        // A restart neither re-polls (the cursor is stored) nor re-delivers.
        #expect(try daemon.stop() == 0)
        try daemon.start()
        usleep(1_000_000)
        #expect(try daemon.count("delivered") == 300)
        #expect(try daemon.count("pending") == 0)
        #expect(daemon.effects("effects").count == 300)

        let trace = try daemon.hostctl("trace", "sample-src-1")
        #expect(trace.status == 0)
        #expect(trace.stdout.contains("invoice.finalized from src"))
        #expect(trace.stdout.contains("attempt #1"))
        #expect(trace.stdout.contains("delivered, external id sample-src:invoice:in_1:1"))
        #expect(try daemon.stop() == 0)
    }

    @Test func duplicatesAreDroppedCountedAndAudited() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "poll_interval_ms = 100\n[connector.config]\nemit = 30\nreplay_from_start = true")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp"))
        try daemon.start()
        try daemon.waitUntil("re-polls produced duplicates") { (try daemon.queue().duplicates["src"] ?? 0) >= 60 }
        try daemon.waitUntil("30 deliveries are done") { try daemon.count("delivered") == 30 }
        #expect(try daemon.queue().rows.map(\.count).reduce(0, +) == 30, "one delivery per event, never per copy")
        #expect(Set(daemon.effects("effects")).count == 30)
        #expect(daemon.effects("effects").count == 30)
        let trace = try daemon.client().call(AdminMethod.trace, TraceParams(correlationID: "sample-src-4"), as: TraceResult.self)
        #expect(trace.events.count == 1)
        #expect(trace.audit.contains { $0.action == "event.duplicate" })
        let table = try daemon.hostctl("queue")
        #expect(table.stdout.contains("duplicates dropped from src"))
        #expect(try daemon.stop() == 0)
    }

    @Test func eachErrorClassEndsWhereItShould() throws {
        let daemon = try DaemonHarness()
        func sink(_ id: String, _ fault: String) throws -> String {
            try "\(fault)\n".write(toFile: daemon.path("faults-\(id)"), atomically: true, encoding: .utf8)
            return DaemonHarness.sample(id, "[connector.config]\nfaults_file = \"\(daemon.path("faults-\(id)"))\"\neffects_file = \"\(daemon.path("effects-\(id)"))\"")
        }
        // The source's 6 events hold 2 invoices; each route takes the invoices to one sink.
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "[connector.config]\nemit = 6")
            + (try sink("perm", "fail permanent")) + (try sink("trans", "fail transient 2")) + (try sink("auth", "fail auth"))
            + (try sink("dep", "fail dependency 1")) + (try sink("rate", "fail rate_limited 1"))
            + ["perm", "trans", "auth", "dep", "rate"].map { DaemonHarness.route("src", $0, events: "\"invoice.*\"", "max_attempts = 4") }.joined())
        try daemon.start()

        try daemon.waitUntil("transient, dependency and rate_limited failures are retried until delivered", timeout: 20) {
            try ["trans", "dep", "rate"].allSatisfy { try daemon.count("delivered", route: "src->\($0)") == 2 }
        }
        #expect(daemon.effects("effects-trans").count == 2)
        let trace = try daemon.client().call(AdminMethod.trace, TraceParams(correlationID: "sample-src-1"), as: TraceResult.self)
        let deliveries = Dictionary(uniqueKeysWithValues: try #require(trace.events.first).deliveries.map { ($0.target, $0) })
        #expect(deliveries["trans"]?.attempts.map(\.outcome) == ["transient", "transient", "delivered"])
        #expect(deliveries["dep"]?.attempts.map(\.outcome) == ["dependency", "delivered"])
        #expect(deliveries["rate"]?.attempts.map(\.outcome) == ["rate_limited", "delivered"])

        // permanent: dead at once, after one attempt, with the plugin's context.
        try daemon.waitUntil("permanent failures are dead letters") { try daemon.count("dead", route: "src->perm") == 2 }
        #expect(deliveries["perm"]?.attempts.count ?? 0 <= 1)
        let letters = try daemon.client().call(AdminMethod.dlqList, DLQListParams(route: "src->perm", limit: 10), as: [DeadLetterSummary].self)
        #expect(letters.map(\.attempts) == [1, 1])
        #expect(letters.allSatisfy { $0.errorClass == "permanent" })
        let show = try daemon.hostctl("dlq", "show", String(letters[0].id))
        #expect(show.stdout.contains("fault: fail permanent on attempt 1"))
        #expect(show.stdout.contains("idempotency_key"))

        // auth: the target is paused and health says why; after the fix and a resume, it delivers.
        try daemon.waitUntil("auth pauses its connector") { try daemon.connector("auth").state == "paused" }
        let health = try daemon.hostctl("health")
        #expect(health.status == 1)
        #expect(health.stdout.contains("auth: paused (auth: fault: fail auth"))
        #expect(try daemon.count("pending", route: "src->auth") == 2)
        try FileManager.default.removeItem(atPath: daemon.path("faults-auth"))
        #expect(try daemon.hostctl("resume", "auth").status == 0)
        try daemon.waitUntil("auth delivers after resume") { try daemon.count("delivered", route: "src->auth") == 2 }

        // Replay one dead letter after fixing the cause, discard the other.
        try FileManager.default.removeItem(atPath: daemon.path("faults-perm"))
        let replay = try daemon.hostctl("dlq", "replay", String(letters[0].id), "--json")
        #expect(replay.status == 0)
        #expect(replay.stdout.contains("\(letters[0].id)"))
        #expect(try daemon.hostctl("dlq", "discard", String(letters[1].id)).stdout.contains("discarded: \(letters[1].id)"))
        try daemon.waitUntil("the replayed letter is delivered") { try daemon.count("delivered", route: "src->perm") == 1 }
        #expect(try daemon.count("discarded", route: "src->perm") == 1)
        #expect(daemon.effects("effects-perm") == [letters[0].idempotencyKey])
        let audit = try daemon.client().call(AdminMethod.trace, TraceParams(correlationID: letters[0].correlationID), as: TraceResult.self).audit
        #expect(audit.map(\.action).contains("dlq.replay"))
        #expect(try daemon.hostctl("dlq", "list").stdout.contains("empty"))
        #expect(try daemon.stop() == 0)
    }

    /// Deliveries travel in `sink.deliver_batch` requests (route concurrency 32: two batches of up to 64
    /// in flight, each worked on 16 at a time): each delivery of a batch succeeds or fails on its own.
    @Test func eachDeliveryOfABatchHasItsOwnOutcome() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "[connector.config]\nemit = 60")
            + DaemonHarness.sample("erp", "[connector.config]\nfaults = [\"fail-match :payment: permanent\"]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp", "concurrency = 32"))
        try daemon.start()
        try daemon.waitUntil("customers and invoices delivered, payments dead", timeout: 30) {
            try daemon.count("delivered") == 40 && daemon.count("dead") == 20
        }
        let effects = daemon.effects("effects")
        #expect(effects.count == 40)
        #expect(!effects.contains { $0.contains(":payment:") })
        let letters = try daemon.client().call(AdminMethod.dlqList, DLQListParams(route: nil, limit: 100), as: [DeadLetterSummary].self)
        #expect(letters.count == 20)
        #expect(letters.allSatisfy { $0.errorClass == "permanent" && $0.idempotencyKey.contains(":payment:") && $0.attempts == 1 })
        #expect(try daemon.stop() == 0)
    }

    /// A route whose deliveries keep failing makes `hostctl health` degraded, with the rule and the
    /// last error, though no circuit opened (permanent failures say nothing of the target's health);
    /// the first delivery that goes through makes it healthy again.
    @Test func aRouteWhoseDeliveriesKeepFailingDegradesHealth() throws {
        let daemon = try DaemonHarness()
        let faults = daemon.path("faults")
        try "fail permanent\n".write(toFile: faults, atomically: true, encoding: .utf8)
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "[connector.config]\nemit = 6")
            + DaemonHarness.sample("erp", "[connector.config]\nfaults_file = \"\(faults)\"\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp"))
        try daemon.start()
        try daemon.waitUntil("6 dead letters", timeout: 30) { try daemon.count("dead") == 6 }
        let degraded = try daemon.hostctl("health", "--json")
        #expect(degraded.status == 1)
        let health = try JSONDecoder().decode(HealthResult.self, from: Data(degraded.stdout.utf8))
        #expect(health.problems.contains { $0.hasPrefix("route src->erp: 6 delivery attempts in a row failed; last: permanent:") })
        #expect(try daemon.connector("erp").circuit == "closed")

        try "".write(toFile: faults, atomically: true, encoding: .utf8)
        let letters = try daemon.client().call(AdminMethod.dlqList, DLQListParams(route: nil, limit: 100), as: [DeadLetterSummary].self)
        #expect(try daemon.hostctl("dlq", "replay", String(letters[0].id)).status == 0)
        try daemon.waitUntil("the replayed delivery went through", timeout: 30) { try daemon.count("delivered") == 1 }
        #expect(try daemon.hostctl("health").status == 0)
        #expect(try daemon.stop() == 0)
    }

    /// The daemon is SIGKILLed at random moments while it delivers; at the end every event has been
    /// delivered and the sink holds each effect exactly once. CONNECTOR_HOST_FAULT_EVENTS sets the
    /// size (20000 for the full run; CI uses the default).
    @Test func sigkillAtRandomMomentsLosesAndDuplicatesNothing() throws {
        let total = Int(ProcessInfo.processInfo.environment["CONNECTOR_HOST_FAULT_EVENTS"] ?? "") ?? 3000
        let kills = Int(ProcessInfo.processInfo.environment["CONNECTOR_HOST_FAULT_KILLS"] ?? "") ?? 8
        // Paced so that the events keep flowing through all the kills (each round lasts ~0.7 s).
        let rate = max(1000, total * 10 / (kills * 6))
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "poll_batch = 250\n[connector.config]\nemit = \(total)\nemit_rate = \(rate)")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp", "concurrency = 32"))
        var generator = SystemRandomNumberGenerator()
        for round in 0..<kills {
            try daemon.start(waitForReady: false)
            usleep(UInt32.random(in: 200_000...1_200_000, using: &generator))
            if round % 3 == 2, let plugin = try? daemon.connector("erp").pid {
                kill(plugin, SIGKILL)  // a plugin crash too, now and then
                usleep(UInt32.random(in: 50_000...300_000, using: &generator))
            }
            try daemon.stop(signal: SIGKILL)
        }
        try daemon.start()
        try daemon.waitUntil("every event is delivered", timeout: 300) {
            try daemon.count("delivered") == total && daemon.count("pending") == 0
        }
        let effects = daemon.effects("effects")
        #expect(Set(effects).count == total, "lost: \(total - Set(effects).count)")
        #expect(effects.count == total, "duplicated effects: \(effects.count - Set(effects).count)")
        #expect(try daemon.count("dead") == 0)
        #expect(try daemon.stop() == 0)
    }
}

/// A plugin in another language, written from PROTOCOL.md: the protocol is not the Swift SDK's secret.
@Suite(.serialized) struct ForeignPluginTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/plugins").path

    /// The Python source fixture as connector "py", polling every 200 ms, with these `[connector.config]` lines.
    static func pysource(_ settings: String) -> String {
        "[[connector]]\nid = \"py\"\nplugin = \"pysource\"\npoll_interval_ms = 200\n[connector.config]\n\(settings)\n"
    }

    /// Both plugin directories in the daemon's configuration: the built binaries and the Python fixtures.
    static func addFixturePlugins(_ daemon: DaemonHarness) throws {
        try daemon.addPluginDirectory(Self.fixtures)
    }

    @Test func pythonSinkReceivesEveryEventOnce() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "[connector.config]\nemit = 60")
            + "[[connector]]\nid = \"py\"\nplugin = \"pysink\"\n[connector.config]\neffects_file = \"\(daemon.path("effects"))\"\n"
            + DaemonHarness.route("src", "py"))
        try Self.addFixturePlugins(daemon)
        try daemon.start()
        #expect(try daemon.connector("py").pluginVersion == "1.0")
        try daemon.waitUntil("60 deliveries are done") { try daemon.count("delivered") == 60 }
        #expect(Set(daemon.effects("effects")).count == 60)
        #expect(daemon.log.contains("pysink ready"))
        let trace = try daemon.client().call(AdminMethod.trace, TraceParams(correlationID: "sample-src-1"), as: TraceResult.self)
        #expect(trace.events.first?.deliveries.first?.externalID == "py-invoice-in_1")
        #expect(try daemon.stop() == 0)
    }

    /// A source in Python (Tests/Fixtures/plugins/connector-pysource) whose pages hold events that are
    /// not canonical events: each is kept as a reject naming the member and what it should have been,
    /// the rest of its page is stored and delivered, and the cursor moves on (one bad event blocked
    /// its source forever before: the whole page was refused and polled again).
    @Test func malformedEventsAreRejectedAtIntakeAndTheRestFlows() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            Self.pysource("count = 12\npage_size = 5\nmalformed = [3, 4, 5]")
            + DaemonHarness.sample("sink", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("py", "sink"))
        try Self.addFixturePlugins(daemon)
        try daemon.start()
        try daemon.waitUntil("the 9 good events are delivered", timeout: 20) { try daemon.count("delivered") == 9 }
        let rejects = try daemon.client().call(AdminMethod.dlqRejects, DLQRejectsParams(connector: nil, limit: 10), as: [IntakeReject].self)
        #expect(rejects.map(\.reason) == [
            #"events[3]: "record.payment.amount.amount_minor" must be an integer (money is in minor units), not a string"#,
            #"events[4]: "record.payment.amount.amount_minor" must be an integer (money is in minor units, written without a fraction or an exponent), found 12.5"#,
            #"events[0]: missing "source.object_id""#,
        ], "\(rejects.map(\.reason))")
        #expect(rejects.allSatisfy { $0.connector == "py" && $0.stream == "customers" && $0.payload.hasPrefix("{") })
        // The cursor moved past the rejects: no page is polled again and nothing is stored twice.
        #expect(try daemon.storedEvents(connector: "py").count == 9)
        #expect(Set(daemon.effects("effects")).count == 9 && daemon.effects("effects").count == 9)
        #expect(!daemon.log.contains("poll failed"))
        let listed = try daemon.hostctl("dlq", "list")
        #expect(listed.status == 0 && listed.stdout.contains("3 event(s) rejected at intake"))
        let shown = try daemon.hostctl("dlq", "rejects")
        #expect(shown.stdout.contains("must be an integer"))
        #expect(try daemon.auditActions().filter { $0 == "event.rejected" }.count == 3)
        // `check` is sent when the operator asks (PROTOCOL.md 5.4).
        let check = try daemon.hostctl("check", "py")
        #expect(check.status == 0 && check.stdout.contains("py: ok: pysource: 12 customers to emit"), "\(check)")
        #expect(try daemon.hostctl("check", "nope").status == 1)
        #expect(try daemon.stop() == 0)
    }

    /// A source with a long backlog is polled page after page, each cursor once: the host reads up to 64
    /// pages in a row, asking for the next while storing one, and used to ask for a 65th it then dropped,
    /// polling its cursor again (a source whose pages are not repeatable, such as an Airbyte read,
    /// started over from its last state every 64 pages and never got past the 64th).
    @Test func aLongBacklogIsPolledEachCursorOnce() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: Self.pysource("count = 150\npage_size = 1\npolls_file = \"\(daemon.path("polls"))\""))
        try Self.addFixturePlugins(daemon)
        try daemon.start()
        try daemon.waitUntil("the 150 events are stored", timeout: 30) { try daemon.storedEvents(connector: "py").count == 150 }
        #expect(try daemon.stop() == 0)
        let polled = try String(contentsOfFile: daemon.path("polls"), encoding: .utf8).split(separator: "\n").map(String.init)
        // Every cursor before the end once, in order; the last one ("150") again at each poll interval.
        let backlog = polled.prefix { $0 != "\"150\"" }
        let repeated = Dictionary(grouping: backlog, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(repeated.isEmpty, "polled more than once: \(repeated)")
        #expect(Array(backlog) == ["null"] + (1..<150).map { "\"\($0)\"" })
    }

    /// An event of a kind the host has never heard of (issue 15: it failed its page, then was rejected
    /// at intake) is stored, routed and delivered to a sink that takes it, byte for byte as the source
    /// wrote it (its escaped "é" and number as written included).
    @Test func anEventOfAKindTheHostDoesNotKnowIsDeliveredByteForByte() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            Self.pysource("count = 4\nnovel = [2]\nemitted_file = \"\(daemon.path("emitted"))\"")
            + "[[connector]]\nid = \"pysink\"\nplugin = \"pysink\"\n[connector.config]\neffects_file = \"\(daemon.path("effects"))\"\npayloads_file = \"\(daemon.path("payloads"))\"\n"
            + DaemonHarness.route("py", "pysink"))
        try Self.addFixturePlugins(daemon)
        try daemon.start()
        try daemon.waitUntil("the 4 events are delivered", timeout: 20) { try daemon.count("delivered") == 4 }
        let emitted = try #require(try String(contentsOfFile: daemon.path("emitted"), encoding: .utf8).split(separator: "\n").first.map(String.init))
        #expect(emitted.contains(#""name":"Caf\u00e9 2""#) && emitted.contains(#""warp":9.75"#))
        let delivered = try String(contentsOfFile: daemon.path("payloads"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(delivered.count == 4 && delivered.filter { $0 == emitted }.count == 1, "\(delivered)")
        let rejects = try daemon.client().call(AdminMethod.dlqRejects, DLQRejectsParams(connector: nil, limit: 10), as: [IntakeReject].self)
        #expect(rejects.isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// An event of a newer schema_version than the sink's model knows is dead-lettered saying so, not
    /// misread (issue 15); so is, at its first attempt, one whose record the sink cannot read (the host
    /// reads only the header now, and had refused it at intake before); the others of the batch and of
    /// their source flow on.
    @Test func anEventTheSinkCannotReadIsDeadLetteredSayingWhy() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            Self.pysource("count = 6\nnewer = [1]\nunreadable = [3]")
            + DaemonHarness.sample("sink", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("py", "sink"))
        try Self.addFixturePlugins(daemon)
        try daemon.start()
        try daemon.waitUntil("4 delivered, 2 dead", timeout: 20) { try daemon.count("delivered") == 4 && daemon.count("dead") == 2 }
        let dead = try daemon.deadLetters().sorted { $0.correlationID < $1.correlationID }
        #expect(dead.map(\.correlationID) == ["py-1", "py-3"] && dead.allSatisfy { $0.errorClass == "permanent" && $0.attempts == 1 }, "\(dead)")
        #expect(dead.first?.reason.contains("schema_version is 2 but this plugin knows canonical events up to version 1") == true, "\(dead)")
        #expect(dead.last?.reason == #"this plugin cannot read the event: missing "event.record.customer.name""#, "\(dead)")
        #expect(try daemon.client().call(AdminMethod.dlqRejects, DLQRejectsParams(connector: nil, limit: 10), as: [IntakeReject].self).isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// A plugin that closes its connection and then exits with status 1 is reported with that status:
    /// it was SIGTERMed on end-of-file before, and reported as "killed by signal 15".
    @Test func aPluginThatExitsIsReportedWithItsOwnStatus() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "[connector.config]\nemit = 3")
            + "[[connector]]\nid = \"py\"\nplugin = \"pysink\"\n[connector.config]\neffects_file = \"\(daemon.path("effects"))\"\nexit_after = 1\n"
            + DaemonHarness.route("src", "py"))
        try Self.addFixturePlugins(daemon)
        try daemon.start()
        try daemon.waitUntil("the sink has exited and been restarted", timeout: 20) { try daemon.connector("py").restarts >= 1 }
        let lastError = try #require(try daemon.connector("py").lastError)
        #expect(lastError.contains("exited with status 1"), "\(lastError)")
        #expect(lastError.contains("pysink: giving up"))
        #expect(!daemon.log.contains("killed by signal 15"))
        #expect(!daemon.log.contains("handshake failed"))
        #expect(try daemon.stop() == 0)
    }
}
