import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// `hostctl reconcile` against a sample sink: the plugin counts what it applied, the host checks the
/// references against its links.
@Suite(.serialized) struct ReconcileTests {
    @Test func countsWhatTheSinkHoldsAndFindsARecordWrittenTwice() throws {
        let daemon = try DaemonHarness()
        // 9 synthetic events: 3 customers, 3 invoices, 3 payments. `py` is a sink that does not reconcile.
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "[connector.config]\nemit = 9")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + "[[connector]]\nid = \"py\"\nplugin = \"pysink\"\n[connector.config]\neffects_file = \"\(daemon.path("effects-py"))\"\n"
            + DaemonHarness.route("src", "erp"))
        try daemon.addPluginDirectory(ForeignPluginTests.fixtures)
        try daemon.start()
        try daemon.waitUntil("9 deliveries are done") { try daemon.count("delivered") == 9 }

        let clean = try daemon.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", "2026-12-31", "--json")
        #expect(clean.status == 0, "\(clean.stderr)")
        let report = try JSONDecoder().decode(ReconcileReport.self, from: Data(clean.stdout.utf8))
        #expect(report.snapshot.groups.map(\.objectType) == ["invoice", "payment"])
        #expect(report.snapshot.groups.map(\.count) == [3, 3])
        #expect(report.snapshot.groups.allSatisfy { $0.items.isEmpty }, "no items unless --items")
        #expect(report.duplicates.isEmpty)
        #expect(report.unknownToHost.isEmpty, "every record the sink holds was written by this host")
        #expect(report.foreign == 0)

        let customers = try daemon.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", "2026-12-31", "--type", "customer", "--json")
        #expect(try JSONDecoder().decode(ReconcileReport.self, from: Data(customers.stdout.utf8)).snapshot.groups.map(\.count) == [3])

        // The same effect applied twice (a second record), and a record under a reference the host never wrote.
        let effects = try FileHandle(forWritingTo: URL(fileURLWithPath: daemon.path("effects")))
        effects.seekToEndOfFile()
        effects.write(Data("src:invoice:in_1:1\nelsewhere:invoice:in_77:1\n".utf8))
        try effects.close()

        let found = try daemon.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", "2026-12-31", "--items", "--json")
        #expect(found.status == 1, "duplicates exit 1: \(found.stderr)")
        let dirty = try JSONDecoder().decode(ReconcileReport.self, from: Data(found.stdout.utf8))
        #expect(dirty.duplicates == ["ch:src:invoice:in_1"])
        #expect(dirty.unknownToHost.map(\.reference) == ["ch:elsewhere:invoice:in_77"])
        #expect(dirty.snapshot.groups.map(\.count) == [5, 3])
        let invoices = try #require(dirty.snapshot.groups.first)
        #expect(invoices.items.filter { $0.reference == "ch:src:invoice:in_1" }.count == 2)
        #expect(invoices.items.allSatisfy { $0.sourceConnector != nil && $0.sourceID != nil && $0.amount == nil })

        let table = try daemon.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", "2026-12-31")
        #expect(table.status == 1)
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("TYPE") == true)
        #expect(lines.contains { $0.hasPrefix("invoice") && $0.contains("5") })
        #expect(lines.contains("duplicates: 1"))
        #expect(lines.contains("  ch:src:invoice:in_1"))
        #expect(lines.contains("unknown to the host: 1"))
        #expect(lines.contains("written by others: 0"))
        #expect(try daemon.auditActions().filter { $0 == "reconcile.snapshot" }.count == 4)

        // Refusals exit 1, as in every hostctl command, and say what is wrong; a bad range is refused before anything is asked.
        let unknown = try daemon.hostctl("reconcile", "nope", "--from", "2026-01-01", "--to", "2026-12-31")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no connector with id \"nope\""))
        let incapable = try daemon.hostctl("reconcile", "py", "--from", "2026-01-01", "--to", "2026-12-31")
        #expect(incapable.status == 1)
        #expect(incapable.stderr.contains("py") && incapable.stderr.contains("capabilities.reconcile"))
        let noEffects = try daemon.hostctl("reconcile", "src", "--from", "2026-01-01", "--to", "2026-12-31")
        #expect(noEffects.status == 1)
        #expect(noEffects.stderr.contains("connector src: no effects_file"), "the plugin's refusal names its connector")
        let badRange = try daemon.hostctl("reconcile", "erp", "--from", "2026-12-31", "--to", "2026-01-01")
        #expect(badRange.status == 64, "a usage error, as in every hostctl command")
        #expect(badRange.stderr.contains("is after to"))
        #expect(try daemon.stop() == 0)
    }
}
