import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// A scheduled reconciliation of Stripe (our fake, Tests/Fakes/stripe/fake_stripe.py: localstripe sends no
/// event for an invoice left open) against Odoo (the fake 17 and 19, or a real server with ODOO_URL),
/// both real plugin processes fed by the daemon's pipeline: clean books; then drift made on purpose in
/// Odoo and a refund held back by a paused target, each reported exactly; repair; and what needs a
/// person left for one.
@Suite(.serialized) struct ReconcileBooksTests {
    static func report(_ result: (status: Int32, stdout: String, stderr: String)) throws -> DriftReport {
        guard !result.stdout.isEmpty else { throw HarnessError("hostctl reconcile: \(result.status) \(result.stderr)") }
        return try JSONDecoder().decode(DriftReport.self, from: Data(result.stdout.utf8))
    }

    @Test(arguments: OdooServer.versions) func stripeAgainstOdooCleanThenDriftFoundRepairedAndLeftForAPerson(version: Int) throws {
        let daemon = try DaemonHarness()
        let stripe = try FakeStripe(log: daemon.path("stripe.log"))
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let source = odoo.source("stripe")
        let connector = """
            [[connector]]
            id = "\(source)"
            plugin = "stripe"
            entity = "acme-eu"
            poll_interval_ms = 300
            [connector.config]
            api_base = "\(stripe.url)"

            """
        let reconcile = "[[reconcile]]\nname = \"books\"\nsource = \"\(source)\"\ntarget = \"erp\"\ntypes = [\"invoice\", \"payment\", \"refund\"]\ngrace = \"1s\"\n"
        try daemon.start(storing: [(source, "api_key", stripe.key), ("erp", "api_key", odoo.apiKey)],
                         then: connector + DaemonHarness.odoo(odoo)
                            + DaemonHarness.route(source, "erp", events: #""customer.*", "product.*", "price.*", "invoice.*", "payment.*", "refund.*""#) + reconcile)
        let memo = version >= 18 ? "memo" : "ref"
        func invoices() throws -> [[String: Any]] { try odoo.records("account.move", "ref", prefix: "ch:\(source):invoice:") }
        func payments() throws -> [[String: Any]] { try odoo.records("account.payment", memo, prefix: "ch:\(source):payment:") }
        func posted(_ count: Int) throws {
            try daemon.waitUntil("\(count) invoices are posted in Odoo", timeout: 90) {
                try invoices().filter { $0["state"] as? String == "posted" }.count == count && daemon.count("pending") == 0 || daemon.count("dead") > 0
            }
            #expect(try daemon.deadLetters().isEmpty)
        }

        // Invoices with the Odoo company's sale tax: two paid, two left open; and a charge outside any invoice.
        let rate = odoo.euRate
        let vat = try #require(try stripe.post("/v1/tax_rates", [("display_name", "VAT"), ("percentage", String(rate)), ("inclusive", "false")])["id"] as? String)
        func invoice(_ name: String, _ unitMinor: Int, paid: Bool) throws -> (invoice: String, customer: String, charge: String?, total: Int) {
            let customer = try #require(try stripe.post("/v1/customers", [("name", name), ("email", "ap@\(name.lowercased()).test"), ("address[country]", "BE")])["id"] as? String)
            let price = try #require(try stripe.post("/v1/prices", [("currency", "eur"), ("unit_amount", String(unitMinor)), ("product_data[name]", "Seat")])["id"] as? String)
            let made = try stripe.control("invoice", #"{"customer": "\#(customer)", "paid": \#(paid), "lines": [{"price": "\#(price)", "quantity": 1, "tax_rates": ["\#(vat)"]}]}"#)
            return (try #require(made["id"] as? String), customer, made["charge"] as? String, unitMinor + unitMinor * rate / 100)
        }
        let paid = try invoice("Globex", 10_000, paid: true)
        let paidToo = try invoice("Initech", 4_000, paid: true)
        let edited = try invoice("Umbrella", 3_000, paid: false)
        let charge = try stripe.post("/v1/charges", [("customer", paid.customer), ("amount", "2500"), ("currency", "eur"), ("source", "tok_visa")])
        try posted(3)
        try daemon.waitUntil("3 payments are in Odoo", timeout: 60) { try payments().count == 3 && daemon.count("pending") == 0 }
        // The last invoice of the sales journal, so that Odoo lets it be deleted once set back to draft.
        let deleted = try invoice("Hooli", 4_000, paid: false)
        try posted(4)
        let invoiced = paid.total + paidToo.total + edited.total + deleted.total

        let clean = try daemon.hostctl("reconcile", "run", "books", "--json")
        let first = try Self.report(clean)
        #expect(clean.status == 0 && first.outcome == .clean && first.drift == 0, "\(first.items)")
        let totals = Dictionary(first.totals.map { ("\($0.objectType) \($0.currency ?? "-")", $0) }) { a, _ in a }
        #expect(totals["invoice EUR"].map { [$0.sourceCount, $0.targetCount] } == [4, 4])
        #expect(totals["invoice EUR"].map { [$0.sourceTotalMinor, $0.targetTotalMinor] } == [Int64(invoiced), Int64(invoiced)])
        #expect(totals["payment EUR"].map { [$0.sourceCount, $0.targetCount] } == [3, 3])
        let received = Int64(paid.total + paidToo.total + 2_500)
        #expect(totals["payment EUR"].map { [$0.sourceTotalMinor, $0.targetTotalMinor] } == [received, received])
        // What Stripe kept (the fake's 2.9 % + 0.30 a charge, rounded half up), and the same per day.
        func fee(_ minor: Int) -> Int64 { Int64((minor * 29 + 500) / 1_000 + 30) }
        let fees = fee(paid.total) + fee(paidToo.total) + fee(2_500)
        #expect(totals["payment EUR"]?.sourceFeeMinor == fees && totals["invoice EUR"]?.sourceFeeMinor == nil)
        let days = try #require(first.days)
        #expect(days.allSatisfy { $0.date != nil } && days.filter { $0.objectType == "payment" }.map(\.sourceCount).reduce(0, +) == 3)
        #expect(days.filter { $0.objectType == "payment" }.compactMap(\.sourceFeeMinor).reduce(0, +) == fees)
        let byDay = try daemon.hostctl("reconcile", "report", "books", "--by-day")
        let feeText = Money(amountMinor: fees, currency: try #require(CurrencyCode("EUR"))).decimalText
        #expect(byDay.status == 0 && byDay.stdout.contains("DAY") && byDay.stdout.contains("NET") && byDay.stdout.contains(feeText), "\(byDay.stdout)")

        // A refund while Odoo's connector is paused: it waits in the queue.
        #expect(try daemon.hostctl("pause", "erp").status == 0)
        let refund = try stripe.post("/v1/refunds", [("charge", try #require(charge["id"] as? String)), ("amount", "1000")])
        // Stripe says it twice (refund.created and charge.refunded): two versions, both waiting.
        try daemon.waitUntil("the refund waits for the paused target", timeout: 30) {
            try daemon.storedEvents(connector: source, type: "refund.%").count == 2 && daemon.count("pending") == 2
        }
        Thread.sleep(forTimeInterval: 1.2)  // past the grace period of 1 s: a queued delivery that old is drift

        // Drift made in Odoo as a person would: an invoice deleted, an amount changed, a payment
        // registered twice, an invoice typed in by hand.
        let context: [String: Any] = ["allowed_company_ids": [odoo.euCompany]]
        func move(_ id: String) throws -> Int {
            let found = try invoices().first { $0["ref"] as? String == "ch:\(source):invoice:\(id)" }
            return try #require(found?["id"] as? Int)
        }
        let deletedMove = try move(deleted.invoice)
        _ = try odoo.execute("account.move", "button_draft", [[deletedMove]], context: context)
        _ = try odoo.execute("account.move", "unlink", [[deletedMove]], context: context)
        let editedMove = try move(edited.invoice)
        _ = try odoo.execute("account.move", "button_draft", [[editedMove]], context: context)
        let line = try #require(try odoo.search("account.move.line", [["move_id", "=", editedMove], ["display_type", "=", "product"]], fields: ["id"]).first?["id"] as? Int)
        _ = try odoo.execute("account.move", "write", [[editedMove], ["invoice_line_ids": [[1, line, ["price_unit": 35.0]]]]], context: context)
        _ = try odoo.execute("account.move", "action_post", [[editedMove]], context: context)
        let twiceCharge = try #require(paidToo.charge)
        let twice = try #require(try payments().first { $0[memo] as? String == "ch:\(source):payment:\(twiceCharge)" })
        let partner = try #require(OdooServer.id(twice["partner_id"]))
        let journal = try #require(OdooServer.id(twice["journal_id"]))
        let created = try odoo.execute("account.payment", "create", [[
            "payment_type": "inbound", "partner_type": "customer", "partner_id": partner, "amount": Double(paidToo.total) / 100, "currency_id": odoo.euro,
            "journal_id": journal, memo: twice[memo] ?? "", "company_id": odoo.euCompany,
        ]], context: context)
        let copy = try #require(created as? Int)
        _ = try odoo.execute("account.payment", "action_post", [[copy]], context: context)
        let typedIn = try odoo.execute("account.move", "create", [[
            "move_type": "out_invoice", "partner_id": partner, "company_id": odoo.euCompany, "invoice_date": DriftDetectionDay.today,
            "invoice_line_ids": [[0, 0, ["name": "Consulting", "quantity": 1, "price_unit": 70, "tax_ids": [[6, 0, [Int]()]]]]],
        ]], context: context)
        let hand = try #require(typedIn as? Int)
        _ = try odoo.execute("account.move", "action_post", [[hand]], context: context)
        // One typed in the other entity's company: not this reconciliation's books (the params carry acme-eu).
        let usContext: [String: Any] = ["allowed_company_ids": [odoo.usCompany]]
        let usPartner = try #require(try odoo.execute("res.partner", "create", [["name": "Other entity's customer", "company_id": odoo.usCompany]], context: usContext) as? Int)
        let otherEntity = try odoo.execute("account.move", "create", [[
            "move_type": "out_invoice", "partner_id": usPartner, "company_id": odoo.usCompany, "invoice_date": DriftDetectionDay.today,
            "invoice_line_ids": [[0, 0, ["name": "Consulting", "quantity": 1, "price_unit": 90, "tax_ids": [[6, 0, [Int]()]]]]],
        ]], context: usContext)
        let elsewhere = try #require(otherEntity as? Int)
        _ = try odoo.execute("account.move", "action_post", [[elsewhere]], context: usContext)

        let found = try daemon.hostctl("reconcile", "run", "books", "--json")
        #expect(found.status == 1)
        let drift = try Self.report(found)
        let refundID = try #require(refund["id"] as? String)
        // A real database also holds what earlier runs typed in by hand: listed, never counted; only ours is asserted.
        let ours = drift.items.filter { $0.kind != .unreferenced || $0.targetIDs == ["account.move,\(hand)"] }
        #expect(drift.items.filter { $0.kind == .unreferenced }.allSatisfy { !$0.counted })
        let described = ours.map { "\($0.kind.rawValue) \($0.objectType) \($0.sourceID ?? "-") \($0.counted)" }.sorted()
        let editedID = edited.invoice, deletedID = deleted.invoice
        let expected = [
            "amount_mismatch invoice \(editedID) true",
            "duplicate_in_target payment \(twiceCharge) true",
            "missing_in_target invoice \(deletedID) true",
            "missing_in_target refund \(refundID) true",
            "unreferenced invoice - false",
        ].sorted()
        #expect(described == expected, "\(drift.items)")
        #expect(drift.outcome == .drift && drift.drift == 4)
        #expect(!drift.items.contains { $0.targetIDs.contains("account.move,\(elsewhere)") }, "another entity's books are not compared")
        let mismatch = try #require(drift.items.first { $0.kind == .amountMismatch })
        #expect(mismatch.sourceAmount?.amountMinor == Int64(edited.total) && mismatch.targetAmount?.amountMinor == Int64(3_500 + 3_500 * rate / 100))
        #expect(mismatch.targetIDs == ["account.move,\(editedMove)"])
        #expect(drift.items.first { $0.kind == .duplicateInTarget }?.targetIDs.count == 2)
        #expect(drift.items.first { $0.objectType == "refund" }?.note?.hasPrefix("queued: delivery") == true)
        let health = try daemon.hostctl("health")
        #expect(health.status == 1 && health.stdout.contains("reconcile books: 4 difference(s)"), "\(health.stdout)")

        // Repair: the deleted invoice is delivered again, once; the refund is already queued and goes when
        // the target is resumed. The duplicate, the changed amount and the hand-made invoice stay.
        let repaired = try JSONDecoder().decode(RepairResult.self, from: Data(try daemon.hostctl("reconcile", "repair", "books", "--json").stdout.utf8))
        #expect(repaired.entries.map { "\($0.objectType) \($0.action.rawValue)" }.sorted() == ["invoice queued", "refund already_queued"])
        #expect(repaired.leftForAPerson == 2)
        #expect(try daemon.hostctl("resume", "erp").status == 0)
        try posted(4)  // the three left and the one delivered again; the one typed in by hand has no reference
        try daemon.waitUntil("the refund is booked", timeout: 60) {
            try !odoo.records("account.payment", memo, prefix: "ch:\(source):refund:").isEmpty && daemon.count("pending") == 0
        }
        let refreshed = try invoices().filter { $0["ref"] as? String == "ch:\(source):invoice:\(deletedID)" }
        #expect(refreshed.count == 1 && refreshed.first?["state"] as? String == "posted", "delivered again once")

        let after = try Self.report(try daemon.hostctl("reconcile", "run", "books", "--json"))
        #expect(after.items.filter(\.counted).map(\.kind.rawValue).sorted() == ["amount_mismatch", "duplicate_in_target"], "\(after.items)")
        #expect(after.items.contains { $0.kind == .unreferenced && $0.targetIDs == ["account.move,\(hand)"] })
        #expect(after.drift == 2)
        #expect(try daemon.auditActions().filter { $0 == "reconcile.run" }.count == 3)
        #expect(try daemon.stop() == 0)
    }
}

/// Today's UTC day, as the reconciler's window ends.
enum DriftDetectionDay {
    static var today: String { Date().formatted(.iso8601.year().month().day()) }
}

extension ReconcileBooksTests {
    /// Chargebee against Odoo: its payments are `transaction`s in its events and in the references Odoo
    /// carries, compared as payments; a clean run has equal counts and totals on both sides, and a
    /// payment registered twice in Odoo is found as a duplicate of its transaction.
    @Test(arguments: OdooServer.versions) func chargebeeAgainstOdooMatchesItsTransactionsAsPayments(version: Int) throws {
        let daemon = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let chargebee = try FakeChargebee(log: daemon.path("chargebee.log"))
        let billing = odoo.source("billing")
        try chargebee.control("site", #"{"tax_rate": \#(odoo.euRate), "rate_limit": 0}"#)
        let start = Int(Date().timeIntervalSince1970) - 600
        try chargebee.control("seed", #"{"customers": 3, "currency_code": "EUR", "invoices": 6, "paid": true, "credit_notes": 2, "start_at": \#(start), "step_seconds": 1}"#)
        let reconcile = "[[reconcile]]\nname = \"billing-books\"\nsource = \"\(billing)\"\ntarget = \"erp\"\ntypes = [\"invoice\", \"credit_note\", \"payment\"]\n"
        try daemon.start(storing: [(billing, "api_key", FakeChargebee.key), ("erp", "api_key", odoo.apiKey)], initial: DaemonHarness.odoo(odoo),
                         then: DaemonHarness.odoo(odoo) + ChargebeeBooksTests.connector(chargebee, id: billing, "requests_per_minute = 0")
                            + DaemonHarness.route(billing, "erp", events: ChargebeeBooksTests.bookEvents) + reconcile)
        func payments() throws -> [[String: Any]] { try odoo.records("account.payment", odoo.memo, prefix: "ch:\(billing):transaction:") }
        // A real single-worker server busy with other suites books a few records a second at most.
        try daemon.waitUntil("the invoices, credit notes and payments are in Odoo", timeout: OdooServer.isReal ? 400 : 120) {
            try daemon.count("pending") == 0 && payments().count == 6 && odoo.records("account.move", "ref", prefix: "ch:\(billing):credit_note:").count == 2
        }
        #expect(try daemon.deadLetters().isEmpty)

        let clean = try Self.report(try daemon.hostctl("reconcile", "run", "billing-books", "--json"))
        #expect(clean.outcome == .clean && clean.items.filter(\.counted).isEmpty, "\(clean.items)")
        for type in ["invoice", "credit_note", "payment"] {
            let rows = clean.totals.filter { $0.objectType == type }
            #expect(rows.map(\.sourceCount) == rows.map(\.targetCount) && rows.map(\.sourceTotalMinor) == rows.map(\.targetTotalMinor), "\(type): \(rows)")
            #expect(rows.map(\.sourceCount).reduce(0, +) == (type == "credit_note" ? 2 : 6))
        }

        let registered = try #require(try payments().first)
        let reference = try #require(registered[odoo.memo] as? String)
        let context: [String: Any] = ["allowed_company_ids": [odoo.euCompany]]
        let created = try odoo.execute("account.payment", "create", [[
            "payment_type": "inbound", "partner_type": "customer", "partner_id": try #require(OdooServer.id(registered["partner_id"])),
            "amount": try #require(registered["amount"] as? Double), "currency_id": try #require(OdooServer.id(registered["currency_id"])),
            "journal_id": try #require(OdooServer.id(registered["journal_id"])), odoo.memo: reference, "company_id": odoo.euCompany,
        ]], context: context)
        _ = try odoo.execute("account.payment", "action_post", [[try #require(created as? Int)]], context: context)

        let found = try daemon.hostctl("reconcile", "run", "billing-books", "--json")
        #expect(found.status == 1)
        let drift = try Self.report(found)
        let counted = drift.items.filter(\.counted)
        #expect(counted.map { "\($0.kind.rawValue) \($0.objectType) \($0.sourceObjectType ?? "-") \($0.targetIDs.count)" }
            == ["duplicate_in_target payment transaction 2"], "\(drift.items)")
        #expect(counted.first.map { "ch:\(billing):transaction:\($0.sourceID ?? "")" } == reference)
        #expect(try daemon.stop() == 0)
    }
}

extension ReconcileBooksTests {
    /// HubSpot against Odoo: won deals against the sale orders made of them (amounts before taxes, the
    /// deal's id in each order's reference). Clean; then an order cancelled and deleted in Odoo and a
    /// deal whose line changed in HubSpot after its order was made, each reported; repair makes the
    /// deleted order again, once; the changed amount is left for a person.
    @Test(arguments: OdooServer.versions) func hubSpotWonDealsAgainstOdooSaleOrders(version: Int) throws {
        let daemon = try DaemonHarness()
        let hubspot = try FakeHubSpot(log: daemon.path("hubspot.log"))
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let crm = odoo.source("crm")
        let now = Date().formatted(.iso8601)
        let won = try (1...3).map { try hubspot.seedDeal(company: "Won \($0) \(crm)", closeDate: now, email: "ap\($0)@won.test") }
        _ = try hubspot.seedDeal(company: "Open \(crm)", stage: "appointmentscheduled", closeDate: now, email: "ap@open.test")  // no order: in neither side
        let connectors = DaemonHarness.hubspotIntoOdoo(crm, hubspot) + DaemonHarness.odoo(odoo, "orders = \"confirm\"")
            + DaemonHarness.route(crm, "erp", events: #""company.*", "contact.*", "order.*", "deal.*""#)
            + "[[reconcile]]\nname = \"crm-books\"\nsource = \"\(crm)\"\ntarget = \"erp\"\ntypes = [\"order\"]\n"
        try daemon.start(storing: [(crm, "access_token", FakeHubSpot.token), ("erp", "api_key", odoo.apiKey)], then: connectors)
        func orders() throws -> [[String: Any]] {
            try odoo.search("sale.order", [["client_order_ref", "=like", "ch:\(crm):deals:%"]], fields: ["id", "client_order_ref", "state"])
        }
        func confirmed(_ count: Int) throws {
            try daemon.waitUntil("\(count) confirmed sale orders in Odoo", timeout: OdooServer.isReal ? 300 : 90) {
                try orders().filter { $0["state"] as? String == "sale" }.count == count && daemon.count("pending") == 0 || daemon.count("dead") > 0
            }
            #expect(try daemon.deadLetters().isEmpty)
        }
        try confirmed(3)

        let clean = try Self.report(try daemon.hostctl("reconcile", "run", "crm-books", "--json"))
        #expect(clean.outcome == .clean && clean.items.filter(\.counted).isEmpty, "\(clean.items)")
        #expect(clean.totals.map { "\($0.objectType) \($0.currency ?? "-") \($0.sourceCount) \($0.targetCount) \($0.sourceTotalMinor) \($0.targetTotalMinor)" }
            == ["order EUR 3 3 89910 89910"])

        // An order cancelled and deleted in Odoo; a deal whose seats went from 3 to 4 after its order was made.
        let context: [String: Any] = ["allowed_company_ids": [odoo.euCompany], "disable_cancel_warning": true]
        let deleted = try #require(try orders().first { $0["client_order_ref"] as? String == "ch:\(crm):deals:\(won[0].deal)" }?["id"] as? Int)
        _ = try odoo.execute("sale.order", "action_cancel", [[deleted]], context: context)
        _ = try odoo.execute("sale.order", "unlink", [[deleted]], context: context)
        try hubspot.control("set", #"{"type": "line_items", "id": "\#(won[1].lineItem)", "properties": {"quantity": "4"}}"#)

        let found = try daemon.hostctl("reconcile", "run", "crm-books", "--json")
        #expect(found.status == 1)
        let drift = try Self.report(found)
        let counted = drift.items.filter(\.counted).map { "\($0.kind.rawValue) \($0.objectType) \($0.sourceObjectType ?? "-") \($0.sourceID ?? "-")" }.sorted()
        #expect(counted == ["amount_mismatch order deals \(won[1].deal)", "missing_in_target order deals \(won[0].deal)"], "\(drift.items)")
        let mismatch = try #require(drift.items.first { $0.kind == .amountMismatch })
        #expect(mismatch.sourceAmount?.amountMinor == 39_960 && mismatch.targetAmount?.amountMinor == 29_970)
        let health = try daemon.hostctl("health")
        #expect(health.status == 1 && health.stdout.contains("reconcile crm-books: 2 difference(s)"), "\(health.stdout)")

        let repaired = try JSONDecoder().decode(RepairResult.self, from: Data(try daemon.hostctl("reconcile", "repair", "crm-books", "--json").stdout.utf8))
        #expect(repaired.entries.map { "\($0.objectType) \($0.action.rawValue)" } == ["order queued"])
        #expect(repaired.leftForAPerson == 1)
        try confirmed(3)
        #expect(try orders().filter { $0["client_order_ref"] as? String == "ch:\(crm):deals:\(won[0].deal)" }.count == 1, "made again, once")

        let after = try Self.report(try daemon.hostctl("reconcile", "run", "crm-books", "--json"))
        #expect(after.items.filter(\.counted).map(\.kind) == [.amountMismatch], "\(after.items)")
        #expect(try daemon.stop() == 0)
    }
}
