import ArgumentParser
import ConnectorProtocol
import Foundation
import HostAdmin

func timestamp(_ milliseconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
}

struct Queue: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deliveries by route and state, with the age of the oldest pending one.")
    @OptionGroup var options: GlobalOptions

    func run() throws {
        let client = try options.connect()
        let queue = try options.call(client, AdminMethod.queue, EmptyParams(), as: QueueResult.self)
        if options.json { return options.printJSON(queue) }
        if queue.rows.isEmpty {
            print("no deliveries yet")
        } else {
            print(table(
                ["ROUTE", "TARGET", "STATE", "COUNT", "OLDEST PENDING"],
                queue.rows.map { [$0.route, $0.target, $0.state, String($0.count), duration($0.oldestAgeSeconds)] }
            ))
        }
        for (connector, count) in queue.duplicates.sorted(by: { $0.key < $1.key }) {
            print("duplicates dropped from \(connector): \(count)")
        }
    }
}

struct DLQ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "The dead-letter queue: deliveries that failed for good, kept with their event and every attempt.",
        subcommands: [List.self, Show.self, Replay.self, Discard.self, Rejects.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dead letters, oldest first.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Only this route.") var route: String?
        @Option(help: "At most this many (the output says when there are more).") var limit = 100

        func validate() throws {
            if limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        func run() throws {
            let client = try options.connect()
            // One more than shown tells whether the list was cut.
            var letters = try options.call(client, AdminMethod.dlqList, DLQListParams(route: route, limit: limit + 1), as: [DeadLetterSummary].self)
            let cut = letters.count > limit
            letters = Array(letters.prefix(limit))
            if options.json { return options.printJSON(letters) }
            if letters.isEmpty {
                print(route.map { "no dead letters on route \($0)" } ?? "the dead-letter queue is empty")
            } else {
                print(table(
                    ["ID", "ROUTE", "EVENT", "CORRELATION", "CLASS", "ATTEMPTS", "REASON"],
                    letters.map { [String($0.id), $0.route, $0.eventType, $0.correlationID, $0.errorClass, String($0.attempts), $0.reason] }
                ))
                if cut { print("(the first \(limit) only: there are more; raise --limit)") }
            }
            let rejects = try options.call(client, AdminMethod.dlqRejects, DLQRejectsParams(connector: nil, limit: 1_000), as: [IntakeReject].self)
            if !rejects.isEmpty {
                print("\n\(rejects.count == 1_000 ? "1000 or more" : String(rejects.count)) event(s) rejected at intake (not canonical events): hostctl dlq rejects")
            }
        }
    }

    struct Rejects: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events a plugin sent that were not canonical events, with the member at fault; the rest of their page was stored."
        )
        @OptionGroup var options: GlobalOptions
        @Option(help: "Only this connector.") var connector: String?
        @Option(help: "At most this many.") var limit = 100

        func run() throws {
            let client = try options.connect()
            let rejects = try options.call(client, AdminMethod.dlqRejects, DLQRejectsParams(connector: connector, limit: limit), as: [IntakeReject].self)
            if options.json { return options.printJSON(rejects) }
            if rejects.isEmpty { return print("no event was rejected at intake") }
            print(table(
                ["ID", "CONNECTOR", "STREAM", "REJECTED", "REASON"],
                rejects.map { [String($0.id), $0.connector, $0.stream ?? "(webhook)", timestamp($0.rejectedAt), $0.reason] }
            ))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dead letter: its event, and each attempt's error and context.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Dead letter id (the delivery id).") var id: Int64

        func run() throws {
            let client = try options.connect()
            let detail = try options.call(client, AdminMethod.dlqShow, DLQShowParams(id: id), as: DeadLetterDetail.self)
            if options.json { return options.printJSON(detail) }
            let summary = detail.summary
            print("dead letter \(summary.id): route \(summary.route) → \(summary.target)")
            print("event:       \(summary.eventType), key \(summary.idempotencyKey)")
            print("correlation: \(summary.correlationID)")
            print("dead since:  \(timestamp(summary.deadAt)) (\(summary.errorClass)): \(summary.reason)")
            print("attempts:")
            for attempt in detail.attempts {
                print("  #\(attempt.number) \(timestamp(attempt.startedAt)) \(attempt.outcome)\(attempt.error.map { ": \($0)" } ?? "")")
                if let details = attempt.details { print("     context: \(details)") }
            }
            print("event payload:")
            options.printJSON(detail.event)
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send dead letters again, with the same idempotency key.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Dead letter ids.") var ids: [Int64] = []
        @Option(help: "Replay every dead letter of this route.") var route: String?
        @Flag(help: "Wait until each replayed delivery is delivered or dead again, and say which (exit 1 if any is dead again).")
        var wait = false
        @Option(help: "With --wait: give up after this many seconds (exit 1).") var timeout = 120

        func validate() throws {
            if ids.isEmpty == (route == nil) { throw ValidationError("give dead letter ids or --route") }
        }

        func run() throws {
            let client = try options.connect()
            // Their correlation ids, to follow them afterwards.
            let before = wait ? try options.call(client, AdminMethod.dlqList, DLQListParams(route: route, limit: 100_000), as: [DeadLetterSummary].self) : []
            let result = try options.call(client, AdminMethod.dlqReplay, DLQActionParams(ids: ids.isEmpty ? nil : ids, route: route), as: DLQActionResult.self)
            guard wait else {
                if options.json { return options.printJSON(result) }
                return print(result.ids.isEmpty ? "nothing to replay" : "replaying: \(result.ids.map(String.init).joined(separator: ", "))")
            }
            let correlation = Dictionary(before.map { ($0.id, $0.correlationID) }) { first, _ in first }
            var outcomes: [Int64: String] = [:]
            let deadline = Date().addingTimeInterval(Double(timeout))
            while outcomes.count < result.ids.count, Date() < deadline {
                for id in result.ids where outcomes[id] == nil {
                    guard let correlationID = correlation[id] else { outcomes[id] = "unknown"; continue }
                    let trace = try options.call(client, AdminMethod.trace, TraceParams(correlationID: correlationID), as: TraceResult.self)
                    let delivery = trace.events.flatMap(\.deliveries).first { $0.id == id }
                    if let state = delivery?.state, ["delivered", "dead", "discarded"].contains(state) {
                        outcomes[id] = state + (state == "dead" ? delivery?.lastError.map { ": \($0)" } ?? "" : "")
                    }
                }
                if outcomes.count < result.ids.count { Thread.sleep(forTimeInterval: 0.5) }
            }
            let rows = result.ids.map { ReplayOutcome(id: $0, outcome: outcomes[$0] ?? "pending (still retrying after --timeout)") }
            if options.json {
                options.printJSON(rows)
            } else if rows.isEmpty {
                print("nothing to replay")
            } else {
                print(table(["ID", "OUTCOME"], rows.map { [String($0.id), $0.outcome] }))
            }
            if rows.contains(where: { $0.outcome != "delivered" }) { throw ExitCode(ExitStatus.failed) }
        }

        struct ReplayOutcome: Encodable {
            var id: Int64
            var outcome: String
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give up on dead letters for good (audited).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Dead letter ids.") var ids: [Int64]

        func run() throws {
            let client = try options.connect()
            let result = try options.call(client, AdminMethod.dlqDiscard, DLQActionParams(ids: ids, route: nil), as: DLQActionResult.self)
            if options.json { return options.printJSON(result) }
            print(result.ids.isEmpty ? "nothing discarded" : "discarded: \(result.ids.map(String.init).joined(separator: ", "))")
        }
    }
}

struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a correlation id: event, deliveries, attempts with errors, external ids, audit records."
    )
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Correlation id.") var correlationID: String

    func run() throws {
        let client = try options.connect()
        let trace = try options.call(client, AdminMethod.trace, TraceParams(correlationID: correlationID), as: TraceResult.self)
        if options.json { return options.printJSON(trace) }
        if trace.events.isEmpty && trace.audit.isEmpty {
            warn("nothing is known about correlation id \(correlationID)")
            throw ExitCode(1)
        }
        for event in trace.events {
            print("event \(event.id) \(event.type) from \(event.connector), received \(timestamp(event.receivedAt))")
            print("  key \(event.idempotencyKey)")
            for delivery in event.deliveries {
                print("  delivery \(delivery.id) route \(delivery.route) → \(delivery.target): \(delivery.state)\(delivery.externalID.map { ", external id \($0)" } ?? "")")
                for attempt in delivery.attempts {
                    print("    attempt #\(attempt.number) \(timestamp(attempt.startedAt)) \(attempt.outcome)\(attempt.error.map { ": \($0)" } ?? "")")
                }
            }
            for link in event.links { print("  link \(link.connector): \(link.externalID)") }
        }
        if !trace.audit.isEmpty { print("audit:") }
        for record in trace.audit {
            print("  \(timestamp(record.at)) \(record.actor) \(record.action) \(record.subject): \(record.detail)")
        }
    }
}
