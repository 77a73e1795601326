import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// `hostctl reconcile <stripe> --side source`: the real connector-stripe, asked through the daemon,
/// lists what Stripe holds over HTTP on loopback and answers each record as its events carry it.
@Suite(.serialized) struct StripeReconcileSourceTests {
    /// A Stripe connector on `url` that polls once an hour from now on: these tests ask it, it does not feed anything.
    static func connector(_ url: String) -> String {
        "[[connector]]\nid = \"stripe\"\nplugin = \"stripe\"\npoll_interval_ms = 3600000\n[connector.config]\napi_base = \"\(url)\"\nbackfill_days = 0\n"
    }

    static func daemon(stripe url: String, key: String) throws -> DaemonHarness {
        let daemon = try DaemonHarness()
        try daemon.start(storing: [("stripe", "api_key", key)], then: connector(url))
        try daemon.waitUntil("the Stripe connector runs", timeout: 20) { try daemon.connector("stripe").state == "running" }
        return daemon
    }

    static func hostctl(_ daemon: DaemonHarness, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try DaemonHarness.run("hostctl", ["reconcile", "stripe"] + arguments + ["--socket", daemon.adminSocket])
    }

    /// The source side's report over `from` … `to` for `types`.
    static func report(_ daemon: DaemonHarness, _ from: String, _ to: String, _ types: [String], items: Bool = true) throws -> ReconcileReport {
        let answer = try hostctl(daemon, ["--side", "source", "--from", from, "--to", to, "--json"] + types.flatMap { ["--type", $0] } + (items ? ["--items"] : []))
        guard answer.status == 0 else { throw HarnessError("hostctl reconcile: \(answer.status) \(answer.stderr)") }
        return try JSONDecoder().decode(ReconcileReport.self, from: Data(answer.stdout.utf8))
    }

    /// The UTC day of a Unix time, as the Odoo sink dates what it books.
    static func day(_ unix: Any?) -> String {
        Date(timeIntervalSince1970: Double(unix as? Int ?? 0)).formatted(.iso8601.year().month().day())
    }

    static func day(_ day: String, plus days: Int) throws -> String {
        Self.day(Int(try start(of: day)) + days * 86_400)
    }

    /// Unix seconds at 00:00 UTC of `day`.
    static func start(of day: String) throws -> Int {
        Int(try Date("\(day)T00:00:00Z", strategy: .iso8601).timeIntervalSince1970)
    }

    static func money(_ minor: Int64, _ code: String) throws -> Money {
        Money(amountMinor: minor, currency: try #require(CurrencyCode(code)))
    }

    static func item(_ id: String, _ amount: Money, status: String, state: String, date: String, fee: Money? = nil) -> ReconcileItem {
        ReconcileItem(externalID: id, reference: nil, sourceConnector: nil, sourceID: nil, amount: amount, state: state, date: date, status: status, fee: fee)
    }

    /// Two paid invoices (EUR and USD), one open and one void, the charges localstripe made for them
    /// (two declined), a charge refunded in part, one only authorized and one in ISK (two decimals at
    /// Stripe, none in ISO 4217): the source reports what its events carry and the sink books — not
    /// the void invoice, the declined or uncaptured charges — each dated by its UTC day, totals per
    /// currency; a range without them reports nothing, and the target side is refused.
    @Test(.enabled(if: Localstripe.available, "localstripe is not installed: scripts/test installs it"))
    func theSourceSideReportsWhatTheEventsCarryOnTheDaysTheSinkBooksThem() throws {
        let scratch = try DaemonHarness()
        let stripe = try Localstripe(log: scratch.path("localstripe.log"))
        let daemon = try Self.daemon(stripe: stripe.url, key: stripe.key)

        let paid = try stripe.subscription(card: "4242424242424242", amountMinor: 12_100, currency: "eur")
        let paidUSD = try stripe.subscription(card: "4242424242424242", amountMinor: 5_000, currency: "usd")
        let open = try stripe.subscription(card: "4000000000000341", amountMinor: 3_000, currency: "eur")  // attaches, then declines
        let voided = try stripe.subscription(card: "4000000000000341", amountMinor: 999, currency: "eur")
        try stripe.post("/v1/invoices/\(try #require(voided["id"] as? String))/void", [])
        #expect([paid, paidUSD, open].map { $0["status"] as? String } == ["paid", "paid", "open"])
        let customer = try #require(paid["customer"] as? String)
        let charge = try stripe.post("/v1/charges", [("customer", customer), ("amount", "2500"), ("currency", "eur")])
        let authorized = try stripe.post("/v1/charges", [("customer", customer), ("amount", "700"), ("currency", "eur"), ("capture", "false")])
        #expect(authorized["status"] as? String == "succeeded" && authorized["captured"] as? Bool == false)
        let krona = try stripe.post("/v1/charges", [("customer", customer), ("amount", "50000"), ("currency", "isk")])
        let refund = try stripe.post("/v1/refunds", [("charge", try #require(charge["id"] as? String)), ("amount", "1000")])

        func id(_ object: [String: Any]) throws -> String { try #require(object["id"] as? String) }
        func chargeID(_ invoice: [String: Any]) throws -> String { try #require((invoice["charge"] as? [String: Any])?["id"] as? String) }
        func finalized(_ invoice: [String: Any]) -> String { Self.day((invoice["status_transitions"] as? [String: Any])?["finalized_at"]) }
        let invoices: Set = [
            Self.item(try id(paid), try Self.money(12_100, "EUR"), status: "paid", state: "paid", date: finalized(paid)),
            Self.item(try id(paidUSD), try Self.money(5_000, "USD"), status: "paid", state: "paid", date: finalized(paidUSD)),
            Self.item(try id(open), try Self.money(3_000, "EUR"), status: "open", state: "open", date: finalized(open)),
        ]
        // A subscription's charge is made as its invoice is finalized. localstripe's balance transactions
        // keep no fee: each payment and refund says so.
        func payment(_ id: String, _ minor: Int64, _ code: String, date: String) throws -> ReconcileItem {
            Self.item(id, try Self.money(minor, code), status: "succeeded", state: "succeeded", date: date, fee: try Self.money(0, code))
        }
        let payments: Set = [
            try payment(try chargeID(paid), 12_100, "EUR", date: finalized(paid)),
            try payment(try chargeID(paidUSD), 5_000, "USD", date: finalized(paidUSD)),
            try payment(try id(charge), 2_500, "EUR", date: Self.day(charge["created"])),
            try payment(try id(krona), 500, "ISK", date: Self.day(krona["created"])),
        ]
        let refunds: Set = [try payment(try id(refund), 1_000, "EUR", date: Self.day(refund["created"]))]
        // Made within a second or two: one day, unless the run crosses midnight UTC.
        let days = (invoices.union(payments).union(refunds)).compactMap(\.date).sorted()
        let (first, last) = (try #require(days.first), try #require(days.last))

        let report = try Self.report(daemon, first, last, ["invoice", "payment", "refund"])
        #expect(report.snapshot.groups.map(\.objectType) == ["invoice", "payment", "refund"])
        #expect(report.snapshot.groups.map(\.count) == [3, 4, 1])
        #expect(report.snapshot.groups.map(\.totals) == [
            [try Self.money(15_100, "EUR"), try Self.money(5_000, "USD")],
            [try Self.money(14_600, "EUR"), try Self.money(500, "ISK"), try Self.money(5_000, "USD")],
            [try Self.money(1_000, "EUR")],
        ])
        #expect(report.snapshot.groups.map { Set($0.items) } == [invoices, payments, refunds])
        #expect(report.duplicates.isEmpty && report.unknownToHost.isEmpty, "a source's records carry no reference to check")
        #expect(!report.snapshot.groups[1].items.contains { $0.externalID == authorized["id"] as? String }, "only authorized: nothing booked yet")

        let counts = try Self.report(daemon, first, last, ["invoice", "payment", "refund"], items: false)
        #expect(counts.snapshot.groups.map(\.count) == [3, 4, 1] && counts.snapshot.groups.allSatisfy(\.items.isEmpty))

        for day in [try Self.day(first, plus: -1), try Self.day(last, plus: 1)] {
            let none = try Self.report(daemon, day, day, ["invoice", "payment", "refund"])
            #expect(none.snapshot.groups.map(\.count) == [0, 0, 0], "\(day)")
            #expect(none.snapshot.groups.allSatisfy { $0.totals.isEmpty && $0.items.isEmpty }, "\(day)")
        }

        let target = try Self.hostctl(daemon, ["--side", "target", "--from", first, "--to", last, "--type", "invoice"])
        #expect(target.status == 1)
        #expect(target.stderr.contains("connector stripe: the Stripe connector reconciles as a source only (side source)"), "\(target.stderr)")
        let customers = try Self.hostctl(daemon, ["--side", "source", "--from", first, "--to", last, "--type", "customer"])
        #expect(customers.status == 1)
        #expect(customers.stderr.contains("reconciles invoice, payment, refund and credit_note, not customer"), "\(customers.stderr)")
        #expect(try daemon.stop() == 0)
    }

    /// Stripe filters its lists by `created`, not by the day a record is dated by: an invoice drafted
    /// three days before it was finalized and paid counts on the day of its finalization (and not on
    /// the day of its draft, though Stripe lists it for that day), so invoices are listed from a month
    /// before the range; charges and refunds are dated by `created` itself and listed for the range,
    /// 100 a page. Our fake Stripe: its clock dates the records, its call log shows the lists asked for.
    @Test func anInvoiceCountsOnTheDayItWasFinalizedAndLongListsAreReadPageByPage() throws {
        let scratch = try DaemonHarness()
        let stripe = try FakeStripe(log: scratch.path("stripe.log"))
        let daemon = try Self.daemon(stripe: stripe.url, key: stripe.key)
        let day = "2026-03-10", start = try Self.start(of: day)
        func clock(_ unix: Int) throws { try stripe.control("clock", #"{"now": \#(unix)}"#) }

        try clock(start - 3 * 86_400 + 36_000)
        let customer = try #require(try stripe.post("/v1/customers", [("name", "Initech"), ("email", "ap@initech.test")])["id"] as? String)
        let invoice = try #require(try stripe.post("/v1/invoices", [("customer", customer), ("currency", "eur")])["id"] as? String)
        try stripe.post("/v1/invoiceitems", [("customer", customer), ("invoice", invoice), ("amount", "12100"), ("currency", "eur")])
        let early = try #require(try stripe.post("/v1/charges", [("customer", customer), ("amount", "4000"), ("currency", "eur")])["id"] as? String)
        try clock(start - 40 * 86_400)
        try stripe.post("/v1/charges", [("customer", customer), ("amount", "900"), ("currency", "eur")])
        try clock(start + 9 * 3_600)
        try stripe.post("/v1/invoices/\(invoice)/finalize", [])
        let paid = try stripe.post("/v1/invoices/\(invoice)/pay", [])
        var charges: [String] = []
        for _ in 0..<105 {
            charges.append(try #require(try stripe.post("/v1/charges", [("customer", customer), ("amount", "100"), ("currency", "eur")])["id"] as? String))
        }
        let refund = try #require(try stripe.post("/v1/refunds", [("charge", charges[7]), ("amount", "50")])["id"] as? String)
        try clock(start + 86_400 + 1_800)
        try stripe.post("/v1/charges", [("customer", customer), ("amount", "700"), ("currency", "eur")])

        _ = try http("DELETE", "\(stripe.url)/__fake__/calls")
        let report = try Self.report(daemon, day, day, ["invoice", "payment", "refund"])
        #expect(report.snapshot.groups.map(\.count) == [1, 106, 1])
        #expect(report.snapshot.groups.map(\.totals) == [[try Self.money(12_100, "EUR")], [try Self.money(22_600, "EUR")], [try Self.money(50, "EUR")]])
        #expect(report.snapshot.groups[0].items == [Self.item(invoice, try Self.money(12_100, "EUR"), status: "paid", state: "paid", date: day)])
        let paidWith = try #require(paid["charge"] as? String)
        #expect(Set(report.snapshot.groups[1].items.map(\.externalID)) == Set(charges + [paidWith]))
        #expect(report.snapshot.groups[1].items.allSatisfy { $0.date == day && $0.status == "succeeded" })
        #expect(report.snapshot.groups[2].items.map(\.externalID) == [refund])
        // Each charge's fee, from its balance transaction (the fake's 2.9 % + 0.30); a refund's is nothing.
        let fees = report.snapshot.groups.map { $0.items.compactMap(\.fee).reduce(0) { $0 + $1.amountMinor } }
        #expect(fees == [0, 381 + 105 * 33, 0] && report.snapshot.groups[1].items.allSatisfy { $0.fee?.currency.code == "EUR" })

        // What it asked Stripe for: invoices created from 31 days before the range, the rest for the range itself.
        let lists = try stripe.calls().filter { $0["method"] as? String == "GET" && ($0["path"] as? String)?.hasPrefix("/v1/events") == false }
        func query(_ call: [String: Any]) -> [String: String] {
            let items = URLComponents(string: "?" + (call["query"] as? String ?? ""))?.queryItems ?? []
            return Dictionary(items.map { ($0.name, $0.value ?? "") }) { $1 }
        }
        let end = String(start + 86_399)
        #expect(lists.map { $0["path"] as? String } == ["/v1/invoices", "/v1/charges", "/v1/charges", "/v1/refunds"])
        #expect(lists.map { query($0)["expand[]"] } == [nil, "data.balance_transaction", "data.balance_transaction", "data.balance_transaction"])
        #expect(lists.map(query).map { [$0["created[gte]"], $0["created[lte]"], $0["limit"]] } == [
            [String(start - 31 * 86_400), end, "100"], [String(start), end, "100"], [String(start), end, "100"], [String(start), end, "100"],
        ])
        #expect(lists.map { query($0)["starting_after"] != nil } == [false, false, true, false], "the second page of charges continues after the first")

        // The day of the draft: Stripe lists the invoice for it, but it is dated by its finalization.
        let draftDay = try Self.report(daemon, try Self.day(day, plus: -3), try Self.day(day, plus: -3), ["invoice", "payment", "refund"])
        #expect(draftDay.snapshot.groups.map(\.count) == [0, 1, 0])
        #expect(draftDay.snapshot.groups[1].items.map(\.externalID) == [early])
        #expect(try daemon.stop() == 0)
    }
}

extension Localstripe {
    /// A customer paying by the card `number` subscribes to a monthly plan of `amountMinor` `currency`:
    /// localstripe finalizes the first invoice and charges it at once (declined, the invoice stays
    /// open). The invoice, as localstripe then has it.
    func subscription(card number: String, amountMinor: Int, currency: String) throws -> [String: Any] {
        let customer = try #require(try post("/v1/customers", [("name", "Reconciled \(currency)"), ("email", "ap-\(currency)@example.test")])["id"] as? String)
        let product = try post("/v1/products", [("name", "Plan")])
        let plan = "plan-\(UUID().uuidString.prefix(8).lowercased())"
        try post("/v1/plans", [("id", plan), ("amount", String(amountMinor)), ("currency", currency), ("interval", "month"), ("product", product["id"] as? String ?? "")])
        let card = try #require(try post("/v1/payment_methods", [("type", "card"), ("card[number]", number), ("card[exp_month]", "12"), ("card[exp_year]", "2030"),
                                                                 ("card[cvc]", "123")])["id"] as? String)
        try post("/v1/payment_methods/\(card)/attach", [("customer", customer)])
        try post("/v1/customers/\(customer)", [("invoice_settings[default_payment_method]", card)])
        let invoice = try #require(try post("/v1/subscriptions", [("customer", customer), ("items[0][plan]", plan)])["latest_invoice"] as? String)
        let answer = try http("GET", "\(url)/v1/invoices/\(invoice)", headers: ["Authorization": "Bearer \(key)"])
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
    }
}
