import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// `[[reconcile]]` end to end with the sample connectors as real plugin processes: the source lists the
/// synthetic records it emits, the sink what its effects file holds. A clean run, drift made on purpose
/// in the sink's file, repair, the scheduler, health, the gauges and the audit trail.
@Suite(.serialized) struct ScheduledReconcileTests {
    static let books = """
        [[reconcile]]
        name = "books"
        source = "src"
        target = "erp"
        types = ["invoice", "payment"]
        grace = "1s"

        """

    func report(_ result: (status: Int32, stdout: String, stderr: String)) throws -> DriftReport {
        try JSONDecoder().decode(DriftReport.self, from: Data(result.stdout.utf8))
    }

    @Test func aCleanRunThenDriftFoundRepairedAndReported() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.httpListeners
            + DaemonHarness.sample("src", "[connector.config]\nemit = 9")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"\neffects_fsync = false")
            + DaemonHarness.route("src", "erp") + Self.books)
        try daemon.start()
        try daemon.waitUntil("9 deliveries are done") { try daemon.count("delivered") == 9 }

        let clean = try daemon.hostctl("reconcile", "run", "books", "--json")
        #expect(clean.status == 0, "\(clean.stdout) \(clean.stderr)")
        let first = try report(clean)
        #expect(first.outcome == .clean && first.drift == 0 && first.items.isEmpty, "\(first)")
        #expect(first.trigger == .operator && first.source == "src" && first.target == "erp")
        // The sample source's records carry amounts (EUR); the sample sink's file holds none.
        let invoices = first.totals.filter { $0.objectType == "invoice" }
        #expect(invoices.map(\.sourceCount).reduce(0, +) == 3 && invoices.map(\.targetCount).reduce(0, +) == 3)
        // Invoices 1, 4 and 7: 100.00 + index × 1.00, plus 20 % tax.
        let expected: Int64 = 12_120 + 12_480 + 12_840
        #expect(invoices.first { $0.currency == "EUR" }?.sourceTotalMinor == expected)
        #expect(try daemon.hostctl("health").status == 0)

        // Drift: payment py_2's record lost by the sink, invoice in_1 written twice, and a record the source never had.
        let kept = daemon.effects("effects").filter { $0 != "src:payment:py_2:1" }
        try (kept + ["src:invoice:in_1:1", "src:invoice:in_77:1"]).map { $0 + "\n" }.joined().write(toFile: daemon.path("effects"), atomically: true, encoding: .utf8)
        // The sink re-reads its file when it starts: it forgets it applied py_2.
        #expect(try daemon.hostctl("restart", "erp").status == 0)
        try daemon.waitUntil("erp runs again") { try daemon.connector("erp").state == "running" }

        let found = try daemon.hostctl("reconcile", "run", "books", "--json")
        #expect(found.status == 1, "drift exits 1: \(found.stderr)")
        let drifted = try report(found)
        #expect(drifted.outcome == .drift && drifted.drift == 3)
        let kinds = drifted.items.map { "\($0.kind.rawValue) \($0.objectType) \($0.sourceID ?? "-") \($0.targetIDs.count)" }.sorted()
        #expect(kinds == ["duplicate_in_target invoice in_1 2", "missing_in_target payment py_2 0", "unknown_to_source invoice in_77 1"], "\(kinds)")
        let missing = try #require(drifted.items.first { $0.kind == .missingInTarget })
        #expect(missing.note?.contains("repair re-delivers it") == true, "\(missing.note ?? "")")
        #expect(missing.sourceAmount?.currency.code == "EUR")

        let health = try daemon.hostctl("health", "--json")
        #expect(health.status == 1)
        #expect(health.stdout.contains("reconcile books: 3 difference(s) between src and erp, tolerance 0"), "\(health.stdout)")
        let metrics = try http("GET", "http://\(try daemon.metricsAddress())/metrics").body
        let gauges = metrics.split(separator: "\n").filter { $0.hasPrefix("connector_host_reconcile_drift{") }
        // Per kind and currency: the duplicate invoice in the source's EUR, the unknown one without an amount.
        func gauge(_ type: String, _ currency: String) -> String? {
            gauges.first { $0.contains("object_type=\"\(type)\"") && $0.contains("currency=\"\(currency)\"") }?.split(separator: " ").last.map(String.init)
        }
        #expect(gauge("invoice", "EUR") == "1.0" && gauge("invoice", "none") == "1.0" && gauge("payment", "EUR") == "1.0", "\(gauges)")

        // The human report names each difference with both ids.
        let table = try daemon.hostctl("reconcile", "report", "books")
        #expect(table.status == 0)
        #expect(table.stdout.contains("outcome: drift, 3 difference(s) counted, tolerance 0"), "\(table.stdout)")
        #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("missing_in_target") && $0.contains("py_2") }, "\(table.stdout)")

        // Repair re-delivers the missing payment once; a second repair finds it queued or done, never twice.
        let repaired = try daemon.hostctl("reconcile", "repair", "books", "--json")
        #expect(repaired.status == 0, "\(repaired.stderr)")
        let repair = try JSONDecoder().decode(RepairResult.self, from: Data(repaired.stdout.utf8))
        #expect(repair.entries.map { "\($0.objectType) \($0.sourceID) \($0.action.rawValue)" } == ["payment py_2 queued"])
        #expect(repair.leftForAPerson == 2)
        try daemon.waitUntil("the payment is delivered again") { daemon.effects("effects").contains("src:payment:py_2:1") }
        #expect(daemon.effects("effects").filter { $0 == "src:payment:py_2:1" }.count == 1)
        // Repair again before a new run: the payment went through since the report; nothing is sent twice.
        let early = try JSONDecoder().decode(RepairResult.self, from: Data(try daemon.hostctl("reconcile", "repair", "books", "--json").stdout.utf8))
        #expect(early.entries.map { "\($0.sourceID) \($0.action.rawValue)" } == ["py_2 delivered_since_report"])
        #expect(try daemon.count("pending") == 0)

        let after = try report(try daemon.hostctl("reconcile", "run", "books", "--json"))
        #expect(after.items.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.duplicateInTarget, .unknownToSource], "what needs a person stays")
        let cleared = try http("GET", "http://\(try daemon.metricsAddress())/metrics").body.split(separator: "\n")
            .first { $0.hasPrefix("connector_host_reconcile_drift{") && $0.contains("object_type=\"payment\"") && $0.contains("currency=\"EUR\"") }
        #expect(cleared?.hasSuffix(" 0.0") == true, "a difference that is gone reads 0: \(cleared ?? "")")
        let again = try JSONDecoder().decode(RepairResult.self, from: Data(try daemon.hostctl("reconcile", "repair", "books", "--json").stdout.utf8))
        #expect(again.entries.isEmpty && again.leftForAPerson == 2)
        #expect(daemon.effects("effects").filter { $0 == "src:payment:py_2:1" }.count == 1)

        // History, newest first; every run and repair in the audit trail.
        let history = try JSONDecoder().decode([DriftReport].self, from: Data(try daemon.hostctl("reconcile", "report", "books", "--limit", "10", "--json").stdout.utf8))
        #expect(history.map(\.outcome) == [.drift, .drift, .clean])
        #expect(history.map(\.id) == history.map(\.id).sorted { ($0 ?? 0) > ($1 ?? 0) })
        let actions = try daemon.auditActions()
        #expect(actions.filter { $0 == "reconcile.run" }.count == 3)
        #expect(actions.filter { $0 == "reconcile.repair" }.count == 4, "one per queued delivery, one per repair command: \(actions.suffix(8))")
        #expect(try daemon.stop() == 0)
    }

    @Test func theSchedulerRunsItAndARunThatCannotCompareFailsVisibly() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "[connector.config]\nemit = 3")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"\neffects_fsync = false")
            + "[[connector]]\nid = \"py\"\nplugin = \"pysink\"\n[connector.config]\neffects_file = \"\(daemon.path("effects-py"))\"\n"
            + DaemonHarness.route("src", "erp")
            + "[[reconcile]]\nname = \"hourly\"\nsource = \"src\"\ntarget = \"erp\"\nevery = \"1h\"\n"
            + "[[reconcile]]\nname = \"blind\"\nsource = \"src\"\ntarget = \"py\"\n")
        try daemon.addPluginDirectory(ForeignPluginTests.fixtures)
        try daemon.start()

        try daemon.waitUntil("the scheduler ran hourly once its plugins were up", timeout: 30) {
            let reports = try JSONDecoder().decode([DriftReport].self, from: Data(try daemon.hostctl("reconcile", "report", "--json").stdout.utf8))
            return reports.contains { $0.name == "hourly" && $0.trigger == .schedule }
        }
        // On demand only: never run by the scheduler. Its target cannot reconcile: a failed report, named.
        let blind = try daemon.hostctl("reconcile", "run", "blind", "--json")
        #expect(blind.status == 1)
        let failed = try report(blind)
        #expect(failed.outcome == .failed)
        #expect(failed.error?.contains("target py: its plugin (pysink) does not announce capabilities.reconcile") == true, "\(failed.error ?? "")")
        let health = try daemon.hostctl("health")
        #expect(health.stdout.contains("reconcile blind failed"), "\(health.stdout)")

        let unknown = try daemon.hostctl("reconcile", "run", "hourli")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no reconcile \"hourli\": did you mean hourly?"), "\(unknown.stderr)")
        let latest = try daemon.hostctl("reconcile", "report")
        #expect(latest.stdout.split(separator: "\n").first?.hasPrefix("NAME") == true, "\(latest.stdout)")
        #expect(latest.stdout.contains("blind") && latest.stdout.contains("hourly"))
        let repairFailed = try daemon.hostctl("reconcile", "repair", "blind")
        #expect(repairFailed.status == 1 && repairFailed.stderr.contains("failed"), "\(repairFailed.stderr)")
        // The one-connector form is still the default subcommand.
        #expect(try daemon.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", "2026-12-31").status == 0)
        #expect(try daemon.stop() == 0)
    }
}
