import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// `hostctl reconcile <chargebee> --side source`: the real connector-chargebee, asked through the
/// daemon, lists what the fake Chargebee holds over HTTP on loopback and answers each record as its
/// events carry it, dated as the Odoo sink dates it.
@Suite(.serialized) struct ChargebeeReconcileSourceTests {
    /// A Chargebee connector that polls once an hour, unpaced: these tests ask it, it feeds nothing.
    static func connector(_ chargebee: FakeChargebee) -> String {
        """
        [[connector]]
        id = "billing"
        plugin = "chargebee"
        poll_interval_ms = 3600000
        [connector.config]
        api_base = "\(chargebee.url)/api/v2"
        backfill = []
        requests_per_minute = 0

        """
    }

    static func hostctl(_ daemon: DaemonHarness, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try DaemonHarness.run("hostctl", ["reconcile", "billing"] + arguments + ["--socket", daemon.adminSocket])
    }

    static let kinds = ["invoice", "payment", "refund", "credit_note"]

    /// The source side's report over `from` … `to` for every kind.
    static func report(_ daemon: DaemonHarness, _ from: String, _ to: String, items: Bool = true) throws -> ReconcileReport {
        let answer = try hostctl(daemon, ["--side", "source", "--from", from, "--to", to, "--json"] + kinds.flatMap { ["--type", $0] } + (items ? ["--items"] : []))
        guard answer.status == 0 else { throw HarnessError("hostctl reconcile: \(answer.status) \(answer.stderr)") }
        return try JSONDecoder().decode(ReconcileReport.self, from: Data(answer.stdout.utf8))
    }

    static func money(_ minor: Int64, _ code: String) throws -> Money {
        Money(amountMinor: minor, currency: try #require(CurrencyCode(code)))
    }

    static func item(_ id: String, _ amount: Money, status: String, state: String, date: String) -> ReconcileItem {
        ReconcileItem(externalID: id, reference: nil, sourceConnector: nil, sourceID: nil, amount: amount, state: state, date: date, status: status)
    }

    static let day = "2026-03-10"
    /// 2026-03-10 00:00:00 UTC.
    static let start = 1_773_100_800

    /// Records made over three days by the fake's clock: on the 10th two USD invoices (at 00:00:00 and
    /// 23:59:59 UTC), one in yen, one left payment_due with an adjustment credit note, one paid with a
    /// refundable credit note refunded, one posted and paid by a payment recorded as made on the 11th;
    /// on the 9th (23:59:59) and the 11th (00:00:00) a paid invoice each, on the 11th a credit note.
    /// The 10th reports exactly what its events carry, in ISO minor units, totals per currency; the
    /// neighbouring days report theirs; days without records report nothing; the target side and a
    /// kind Chargebee does not reconcile are refused.
    @Test func theSourceSideReportsEachRecordAsItsEventsCarryItOnTheDayTheSinkBooksIt() throws {
        let daemon = try DaemonHarness()
        let chargebee = try FakeChargebee(log: daemon.path("chargebee.log"))
        try chargebee.control("site", #"{"rate_limit": 0}"#)
        try daemon.start(storing: [("billing", "api_key", FakeChargebee.key)], then: Self.connector(chargebee))
        try daemon.waitUntil("the Chargebee connector runs", timeout: 20) { try daemon.connector("billing").state == "running" }

        func at(_ seconds: Int) throws { try chargebee.control("clock", #"{"now": \#(seconds)}"#) }
        func id(_ answer: [String: Any], _ resource: String) throws -> String { try #require((answer[resource] as? [String: Any])?["id"] as? String) }
        func payments(of invoice: String) throws -> [String] {
            try chargebee.all("transactions").filter { (($0["linked_invoices"] as? [[String: Any]])?.first?["invoice_id"] as? String) == invoice }
                .compactMap { $0["id"] as? String }
        }
        let d = Self.start
        try at(d - 1)
        let before = try chargebee.subscribe([("first_name", "Eve"), ("preferred_currency_code", "EUR")], price: "pro-EUR-monthly")
        try at(d)
        let midnight = try chargebee.subscribe([("first_name", "Ann"), ("preferred_currency_code", "USD")], price: "pro-USD-monthly")
        try at(d + 9 * 3_600)
        let yen = try chargebee.subscribe([("first_name", "Ken"), ("preferred_currency_code", "JPY")], price: "pro-JPY-monthly")
        try at(d + 10 * 3_600)
        let noCard = try id(try chargebee.post("/customers", [("first_name", "Bob"), ("preferred_currency_code", "EUR")]), "customer")
        let due = try id(try chargebee.post("/customers/\(noCard)/subscription_for_items", [("subscription_items[item_price_id][0]", "pro-EUR-monthly")]), "invoice")
        let adjustment = try id(try chargebee.post("/credit_notes", [("reference_invoice_id", due), ("type", "adjustment"), ("total", "400"), ("reason_code", "waiver")]), "credit_note")
        try at(d + 11 * 3_600)
        try chargebee.control("seed", #"{"customers": 1, "currency_code": "EUR", "invoices": 1, "paid": true, "credit_notes": 1, "refund": true, "start_at": \#(d + 11 * 3_600)}"#)
        let refunded = try #require(try chargebee.all("invoices").first { $0["date"] as? Int == d + 11 * 3_600 }?["id"] as? String)
        let note = try #require(try chargebee.all("credit_notes").first { $0["reference_invoice_id"] as? String == refunded })
        let refund = try #require(try chargebee.all("transactions").first { $0["type"] as? String == "refund" }?["id"] as? String)
        try at(d + 12 * 3_600)
        let offline = try id(try chargebee.post("/customers", [("first_name", "Liz"), ("preferred_currency_code", "EUR"), ("auto_collection", "off")]), "customer")
        let posted = try id(try chargebee.post("/customers/\(offline)/subscription_for_items", [("subscription_items[item_price_id][0]", "pro-EUR-monthly")]), "invoice")
        let recorded = try id(try chargebee.post("/invoices/\(posted)/record_payment", [("transaction[payment_method]", "bank_transfer"), ("transaction[date]", String(d + 86_400))]),
                              "transaction")
        try at(d + 86_399)
        let lastSecond = try chargebee.subscribe([("first_name", "Sam"), ("preferred_currency_code", "USD")], price: "pro-USD-monthly")
        try at(d + 86_400)
        let after = try chargebee.subscribe([("first_name", "Tom"), ("preferred_currency_code", "EUR")], price: "pro-EUR-monthly")
        let later = try id(try chargebee.post("/credit_notes", [("reference_invoice_id", midnight.invoice), ("type", "refundable"), ("total", "500"), ("reason_code", "waiver")]), "credit_note")
        try chargebee.control("clock", #"{"real": true}"#)

        let invoices: Set = [
            Self.item(midnight.invoice, try Self.money(1_500, "USD"), status: "paid", state: "paid", date: Self.day),
            Self.item(yen.invoice, try Self.money(1_800, "JPY"), status: "paid", state: "paid", date: Self.day),
            Self.item(due, try Self.money(1_400, "EUR"), status: "open", state: "payment_due", date: Self.day),
            Self.item(refunded, try Self.money(1_400, "EUR"), status: "paid", state: "paid", date: Self.day),
            Self.item(posted, try Self.money(1_400, "EUR"), status: "paid", state: "paid", date: Self.day),
            Self.item(lastSecond.invoice, try Self.money(1_500, "USD"), status: "paid", state: "paid", date: Self.day),
        ]
        let paid: Set = [
            Self.item(try #require(try payments(of: midnight.invoice).first), try Self.money(1_500, "USD"), status: "succeeded", state: "success", date: Self.day),
            Self.item(try #require(try payments(of: yen.invoice).first), try Self.money(1_800, "JPY"), status: "succeeded", state: "success", date: Self.day),
            Self.item(try #require(try payments(of: refunded).first), try Self.money(1_400, "EUR"), status: "succeeded", state: "success", date: Self.day),
            Self.item(try #require(try payments(of: lastSecond.invoice).first), try Self.money(1_500, "USD"), status: "succeeded", state: "success", date: Self.day),
        ]
        let refunds: Set = [Self.item(refund, try Self.money(700, "EUR"), status: "succeeded", state: "success", date: Self.day)]
        let notes: Set = [
            Self.item(adjustment, try Self.money(400, "EUR"), status: "paid", state: "adjusted", date: Self.day),
            Self.item(try #require(note["id"] as? String), try Self.money(700, "EUR"), status: "paid", state: "refunded", date: Self.day),
        ]

        let report = try Self.report(daemon, Self.day, Self.day)
        #expect(report.snapshot.groups.map(\.objectType) == Self.kinds)
        #expect(report.snapshot.groups.map(\.count) == [6, 4, 1, 2])
        #expect(report.snapshot.groups.map(\.totals) == [
            [try Self.money(4_200, "EUR"), try Self.money(1_800, "JPY"), try Self.money(3_000, "USD")],
            [try Self.money(1_400, "EUR"), try Self.money(1_800, "JPY"), try Self.money(3_000, "USD")],
            [try Self.money(700, "EUR")],
            [try Self.money(1_100, "EUR")],
        ])
        #expect(report.snapshot.groups.map { Set($0.items) } == [invoices, paid, refunds, notes])
        #expect(report.snapshot.groups.allSatisfy { $0.items.map(\.externalID) == $0.items.map(\.externalID).sorted() }, "ordered by day, then id")
        #expect(report.duplicates.isEmpty && report.unknownToHost.isEmpty, "a source's records carry no reference to check")
        #expect(!report.snapshot.groups[1].items.contains { $0.externalID == recorded }, "recorded as made on the 11th")

        let counts = try Self.report(daemon, Self.day, Self.day, items: false)
        #expect(counts.snapshot.groups.map(\.count) == [6, 4, 1, 2] && counts.snapshot.groups.allSatisfy(\.items.isEmpty))
        #expect(counts.snapshot.groups.map(\.totals) == report.snapshot.groups.map(\.totals))

        let ninth = try Self.report(daemon, "2026-03-09", "2026-03-09")
        #expect(ninth.snapshot.groups.map(\.count) == [1, 1, 0, 0])
        #expect(ninth.snapshot.groups[0].items == [Self.item(before.invoice, try Self.money(1_400, "EUR"), status: "paid", state: "paid", date: "2026-03-09")])
        let eleventh = try Self.report(daemon, "2026-03-11", "2026-03-11")
        #expect(eleventh.snapshot.groups.map(\.count) == [1, 2, 0, 1])
        #expect(eleventh.snapshot.groups[0].items.map(\.externalID) == [after.invoice])
        #expect(Set(eleventh.snapshot.groups[1].items.map(\.externalID)) == [recorded, try #require(try payments(of: after.invoice).first)])
        #expect(eleventh.snapshot.groups[3].items == [Self.item(later, try Self.money(500, "USD"), status: "open", state: "refund_due", date: "2026-03-11")])
        let threeDays = try Self.report(daemon, "2026-03-09", "2026-03-11", items: false)
        #expect(threeDays.snapshot.groups.map(\.count) == [8, 7, 1, 3])

        for (from, to) in [("2026-03-07", "2026-03-08"), ("2026-03-12", "2026-03-12")] {
            let none = try Self.report(daemon, from, to)
            #expect(none.snapshot.groups.map(\.count) == [0, 0, 0, 0], "\(from) … \(to)")
            #expect(none.snapshot.groups.allSatisfy { $0.totals.isEmpty && $0.items.isEmpty }, "\(from) … \(to)")
        }

        // What it asked Chargebee for: each list by the field the sink dates by, a second wider on each side.
        let calls = (try JSONSerialization.jsonObject(with: Data(try http("GET", "\(chargebee.url)/__fake__/calls").body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
        // Split by hand: URLComponents leaves a value encoded when its names hold raw brackets.
        func query(_ call: [String: Any]) -> [String: String] {
            let pairs = (call["query"] as? String ?? "").split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).map { $0.removingPercentEncoding ?? String($0) } }
            return Dictionary(pairs.map { ($0[0], $0.count > 1 ? $0[1] : "") }) { $1 }
        }
        let first = calls.filter { query($0)["date[between]"] != nil }.prefix(4)
        #expect(first.map { $0["path"] as? String } == ["/api/v2/invoices", "/api/v2/transactions", "/api/v2/transactions", "/api/v2/credit_notes"])
        #expect(first.map { query($0) } == [
            ["date[between]": "[\(d - 1), \(d + 86_400)]", "include_deleted": "true", "limit": "100"],
            ["date[between]": "[\(d - 1), \(d + 86_400)]", "type[is]": "payment", "status[is]": "success", "include_deleted": "true", "limit": "100"],
            ["date[between]": "[\(d - 1), \(d + 86_400)]", "type[is]": "refund", "status[is]": "success", "include_deleted": "true", "limit": "100"],
            ["date[between]": "[\(d - 1), \(d + 86_400)]", "include_deleted": "true", "limit": "100"],
        ])

        let target = try Self.hostctl(daemon, ["--side", "target", "--from", Self.day, "--to", Self.day, "--type", "invoice"])
        #expect(target.status == 1)
        #expect(target.stderr.contains("the Chargebee connector reconciles as a source only (side source)"), "\(target.stderr)")
        let subscriptions = try Self.hostctl(daemon, ["--side", "source", "--from", Self.day, "--to", Self.day, "--type", "invoice", "--type", "subscription"])
        #expect(subscriptions.status == 1)
        #expect(subscriptions.stderr.contains("reconciles invoice, credit_note, payment and refund, not subscription"), "\(subscriptions.stderr)")
        #expect(try daemon.stop() == 0)
    }

    /// More records on a day than a page holds (101 paid invoices seeded in one second): every one is
    /// read, the second page asked for with Chargebee's `next_offset`; an error of Chargebee's (a 503)
    /// reaches the operator as the connector's transient error, and the same question asked again answers.
    @Test func aLongListIsReadPageByPageAndChargebeesErrorsReachTheOperator() throws {
        let daemon = try DaemonHarness()
        let chargebee = try FakeChargebee(log: daemon.path("chargebee.log"))
        try chargebee.control("site", #"{"rate_limit": 0}"#)
        let at = Self.start + 5 * 86_400 + 3_600
        try chargebee.control("seed", #"{"customers": 3, "currency_code": "EUR", "invoices": 101, "paid": true, "start_at": \#(at), "step_seconds": 0}"#)
        try daemon.start(storing: [("billing", "api_key", FakeChargebee.key)], then: Self.connector(chargebee))
        try daemon.waitUntil("the Chargebee connector runs", timeout: 20) { try daemon.connector("billing").state == "running" }

        let report = try Self.report(daemon, "2026-03-15", "2026-03-15")
        #expect(report.snapshot.groups.map(\.count) == [101, 101, 0, 0])
        #expect(report.snapshot.groups.map(\.totals) == [[try Self.money(141_400, "EUR")], [try Self.money(141_400, "EUR")], [], []])
        #expect(Set(report.snapshot.groups[0].items.map(\.externalID)) == Set(try chargebee.all("invoices").compactMap { $0["id"] as? String }))
        #expect(report.snapshot.groups[1].items.allSatisfy { $0.date == "2026-03-15" && $0.status == "succeeded" })

        let calls = (try JSONSerialization.jsonObject(with: Data(try http("GET", "\(chargebee.url)/__fake__/calls").body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
        let listed = calls.filter { ($0["query"] as? String)?.contains("date[between]=") == true }
        #expect(listed.map { $0["path"] as? String } == ["/api/v2/invoices", "/api/v2/invoices", "/api/v2/transactions", "/api/v2/transactions",
                                                       "/api/v2/transactions", "/api/v2/credit_notes"])
        #expect(listed.map { ($0["query"] as? String)?.contains("offset=") == true } == [false, true, false, true, false, false], "the second pages continue from next_offset")

        try chargebee.control("fault", #"{"kind": "status", "status": 503, "path": "/api/v2/transactions", "count": 1}"#)
        let failed = try Self.hostctl(daemon, ["--side", "source", "--from", "2026-03-15", "--to", "2026-03-15", "--type", "payment"])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("503"), "\(failed.stderr)")
        let again = try Self.report(daemon, "2026-03-15", "2026-03-15")
        #expect(again.snapshot.groups.map(\.count) == [101, 101, 0, 0])
        #expect(try daemon.stop() == 0)
    }
}
