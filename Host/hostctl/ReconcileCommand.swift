import ArgumentParser
import ConnectorProtocol
import HostAdmin

struct Reconcile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Count what a sink's target holds for some days and find records written twice.",
        discussion: """
            The connector's plugin counts and totals the records of each --type whose date, in the target, \
            falls from --from to --to inclusive; the daemon checks their references against its links. \
            Exit 0 when no record was written twice; 1 when duplicates were found (for a cron job to alert on) \
            or the daemon refused (unknown connector, a plugin without reconcile, a plugin error: the message \
            says which); 2 when the daemon cannot be reached; 64 for a usage error such as a malformed date or \
            an unknown record kind, as for every hostctl command.
            """
    )
    @OptionGroup var options: GlobalOptions
    @Argument(help: "The sink connector's id.") var connector: String
    @Option(help: "First day, YYYY-MM-DD.") var from: String
    @Option(help: "Last day, YYYY-MM-DD, inclusive.") var to: String
    @Option(name: .customLong("type"), help: "A record kind, e.g. invoice; repeat for several (default: invoice and payment).")
    var types: [String] = []
    @Flag(help: "List every record, and those the host does not know.") var items = false

    var request: ReconcileRequest {
        ReconcileRequest(connector: connector, objectTypes: types.isEmpty ? ["invoice", "payment"] : types, from: from, to: to, includeItems: items)
    }

    func validate() throws {
        do throws(ConnectorError) {
            try request.params.validate()
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        // The daemon waits up to 120 s for the plugin; wait a little longer for the daemon.
        let client = try options.connect(timeoutSeconds: 150)
        let report = try options.call(client, AdminMethod.reconcileSnapshot, request, as: ReconcileReport.self)
        if options.json {
            options.printJSON(report)
        } else {
            print(Self.describe(report, items: items))
        }
        if !report.duplicates.isEmpty { throw ExitCode(1) }
    }

    static func describe(_ report: ReconcileReport, items: Bool) -> String {
        func money(_ value: Money?) -> String { value.map { "\($0.decimalText) \($0.currency)" } ?? "-" }
        var lines = [table(
            ["TYPE", "COUNT", "TOTALS"],
            report.snapshot.groups.map { group in
                [group.objectType, String(group.count), group.totals.isEmpty ? "-" : group.totals.map(money).joined(separator: ", ")]
            }
        )]
        lines.append("duplicates: \(report.duplicates.count)")
        lines += report.duplicates.map { "  \($0)" }
        lines.append("unknown to the host: \(report.unknownToHost.count)")
        lines.append("written by others: \(report.foreign)")
        guard items else { return lines.joined(separator: "\n") }

        func rows(_ items: [ReconcileItem]) -> String {
            table(
                ["EXTERNAL ID", "REFERENCE", "AMOUNT", "STATE", "DATE"],
                items.map { [$0.externalID, $0.reference ?? "-", money($0.amount), $0.state ?? "-", $0.date ?? "-"] }
            )
        }
        for group in report.snapshot.groups where !group.items.isEmpty {
            lines += ["", "\(group.objectType):", rows(group.items)]
        }
        if !report.unknownToHost.isEmpty {
            lines += ["", "unknown to the host:", rows(report.unknownToHost)]
        }
        return lines.joined(separator: "\n")
    }
}
