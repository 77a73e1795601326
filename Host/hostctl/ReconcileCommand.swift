import ArgumentParser
import ConnectorProtocol
import HostAdmin

struct Reconcile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare sources with their targets: scheduled [[reconcile]] runs, their reports and repairs, or one connector's records.",
        discussion: """
            hostctl reconcile CONNECTOR --from --to (the snapshot command, the default) asks one connector for its \
            records; run, report and repair act on the [[reconcile]] tables of the configuration, which compare a \
            source with a target over a window of days.
            """,
        subcommands: [Snapshot.self, Run.self, Report.self, Repair.self],
        defaultSubcommand: Snapshot.self
    )
}

extension Reconcile {
    struct Snapshot: ParsableCommand {
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
        @Option(help: "target: what the connector's sink wrote (the default); source: what its source emits.")
        var side = ReconcileParams.Side.target.rawValue

        var request: ReconcileRequest {
            ReconcileRequest(connector: connector, objectTypes: types.isEmpty ? ["invoice", "payment"] : types, from: from, to: to, includeItems: items,
                             side: ReconcileParams.Side(rawValue: side) ?? .target)
        }

        func validate() throws {
            guard ReconcileParams.Side(rawValue: side) != nil else { throw ValidationError("--side must be source or target, not \"\(side)\"") }
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
            func money(_ value: Money?) -> String { value?.text() ?? "-" }
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
}

extension Reconcile {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a [[reconcile]] now and print its report.",
            discussion: "Exit 0 when it found no more differences than its tolerance; 1 when it found more, failed, or was refused."
        )
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The [[reconcile]] table's name.") var name: String
        @Flag(help: "List only the counts and totals, not each record that differs.") var summary = false
        @Flag(help: "Add the counts and totals of each day.") var byDay = false

        func run() throws {
            // Both plugins get 120 s to answer; wait a little longer for the daemon.
            let client = try options.connect(timeoutSeconds: 300)
            let report = try options.call(client, AdminMethod.reconcileRun, ReconcileNameRequest(name: name), as: DriftReport.self)
            if options.json {
                options.printJSON(report)
            } else {
                print(Reconcile.describe(report, items: !summary, byDay: byDay))
            }
            if report.outcome != .clean { throw ExitCode(ExitStatus.failed) }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The latest report of every [[reconcile]], or the history of one.",
            discussion: "Exit 0 whatever the reports say (hostctl reconcile run and hostctl health are what alert)."
        )
        @OptionGroup var options: GlobalOptions
        @Argument(help: "A [[reconcile]] table's name: its reports, newest first.") var name: String?
        @Option(help: "How many reports of NAME.") var limit = 1
        @Flag(help: "With NAME: one line per report, not the latest in full.") var history = false
        @Flag(help: "Add the counts and totals of each day.") var byDay = false

        func run() throws {
            let client = try options.connect()
            let reports = try options.call(client, AdminMethod.reconcileReports,
                                           ReconcileReportsRequest(name: name, limit: history ? max(limit, 20) : limit), as: [DriftReport].self)
            if options.json {
                options.printJSON(reports)
                return
            }
            if reports.isEmpty {
                print(name.map { "reconcile \($0) has not run yet (hostctl reconcile run \($0))" } ?? "no reconcile has run yet")
            } else if name == nil || history {
                print(table(["NAME", "REPORT", "FINISHED", "DAYS", "OUTCOME", "DRIFT", "TOLERANCE"], reports.map { report in
                    [report.name, "#\(report.id ?? 0)", timestamp(report.finishedAt), "\(report.from)..\(report.to)", report.outcome.rawValue,
                     String(report.drift), String(report.tolerance)]
                }))
            } else {
                print(reports.map { Reconcile.describe($0, items: true, byDay: byDay) }.joined(separator: "\n\n"))
            }
        }
    }

    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-deliver the records the latest report of a [[reconcile]] found missing in the target.",
            discussion: """
                Each missing record's latest event is delivered again through its route, once: a record whose \\
                delivery already waits is left as it is. Nothing in the target is edited or deleted: duplicates, \\
                amount and status mismatches and records unknown to the source are left for a person. Run \\
                hostctl reconcile run NAME afterwards to see the result.
                """
        )
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The [[reconcile]] table's name.") var name: String

        func run() throws {
            let client = try options.connect()
            let result = try options.call(client, AdminMethod.reconcileRepair, ReconcileNameRequest(name: name), as: RepairResult.self)
            if options.json {
                options.printJSON(result)
                return
            }
            if result.entries.isEmpty {
                print("report #\(result.reportID) has nothing missing in the target")
            } else {
                print(table(["TYPE", "SOURCE ID", "ACTION", "DELIVERY", "ROUTE"], result.entries.map {
                    [$0.objectType, $0.sourceID, $0.action.rawValue, $0.deliveryID.map(String.init) ?? "-", $0.route ?? "-"]
                }))
            }
            print("left for a person: \(result.leftForAPerson)")
        }
    }

    static func describe(_ report: DriftReport, items: Bool, byDay: Bool = false) -> String {
        func amount(_ minor: Int64, _ currency: String?) -> String {
            guard let currency, let code = CurrencyCode(currency) else { return "-" }
            return Money(amountMinor: minor, currency: code).text()
        }
        func money(_ value: Money?) -> String { value?.text() ?? "-" }
        var lines = [
            "reconcile \(report.name) #\(report.id ?? 0): \(report.source) -> \(report.target)\(report.entity.map { " (entity \($0))" } ?? ""), "
                + "\(report.from)..\(report.to), \(report.trigger.rawValue) run finished \(timestamp(report.finishedAt))",
            "outcome: \(report.outcome.rawValue), \(report.drift) difference(s) counted, tolerance \(report.tolerance)",
        ]
        if let error = report.error {
            lines.append("error: \(error)")
            return lines.joined(separator: "\n")
        }
        // Fees and net only when the source says what its processor kept (Stripe).
        func totals(_ rows: [DriftTotals], byDay: Bool) -> String {
            let fees = rows.contains { $0.sourceFeeMinor != nil }
            let header = (byDay ? ["DAY"] : []) + ["TYPE", "CURRENCY", "SOURCE", "SOURCE TOTAL"] + (fees ? ["FEES", "NET"] : []) + ["TARGET", "TARGET TOTAL"]
            return table(header, rows.map { row in
                let fee = row.sourceFeeMinor.map { [amount($0, row.currency), amount(row.sourceTotalMinor - $0, row.currency)] } ?? ["-", "-"]
                return (byDay ? [row.date ?? "-"] : []) + [row.objectType, row.currency ?? "-", String(row.sourceCount), amount(row.sourceTotalMinor, row.currency)]
                    + (fees ? fee : []) + [String(row.targetCount), amount(row.targetTotalMinor, row.currency)]
            })
        }
        lines += ["", totals(report.totals, byDay: false)]
        if byDay {
            lines += ["", report.days.map { $0.isEmpty ? "no records on any day" : totals($0, byDay: true) } ?? "no totals per day in this report (run before they were kept)"]
        }
        guard items, !report.items.isEmpty else { return lines.joined(separator: "\n") }
        lines += ["", table(["KIND", "TYPE", "SOURCE ID", "TARGET IDS", "SOURCE", "TARGET", "DATE", "COUNTED", "NOTE"], report.items.map { item in
            let source = item.sourceStatus.map { [money(item.sourceAmount), $0].filter { $0 != "-" }.joined(separator: " ") } ?? money(item.sourceAmount)
            let target = item.targetStatus.map { [money(item.targetAmount), $0].filter { $0 != "-" }.joined(separator: " ") } ?? money(item.targetAmount)
            return [item.kind.rawValue, item.objectType, item.sourceID ?? "-", item.targetIDs.isEmpty ? "-" : item.targetIDs.joined(separator: ","),
                    source, target, item.date ?? "-", item.counted ? "yes" : item.kind == .unreferenced ? "no" : "not yet", item.note ?? ""]
        })]
        return lines.joined(separator: "\n")
    }

}
