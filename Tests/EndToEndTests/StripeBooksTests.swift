import ConnectorKit
import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// Stripe money into Odoo's books (issue 14), from Stripe's published example objects
/// (Tests/Fixtures/stripe) sent as signed webhooks through the daemon into Odoo (the fake, 17 and 19,
/// or a real server with ODOO_URL).
@Suite(.serialized) struct StripeBooksTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/stripe")
    static let secret = "whsec_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")

    /// The daemon with connector-stripe (webhooks only) routed to connector-odoo.
    static func daemon(_ odoo: OdooServer, events: String) throws -> (DaemonHarness, url: String) {
        let daemon = try DaemonHarness()
        let listener = DaemonHarness.httpListeners
        let stripe = "[[connector]]\nid = \"stripe\(odoo.tag)\"\nplugin = \"stripe\"\nentity = \"acme-eu\"\npoll_interval_ms = 3600000\n[connector.config]\napi_base = \"http://127.0.0.1:9\"\n"
        try daemon.start(storing: [("stripe\(odoo.tag)", "webhook_secret", secret), ("stripe\(odoo.tag)", "api_key", "sk_test_unused"), ("erp", "api_key", odoo.apiKey)],
                         initial: listener, then: listener + stripe + DaemonHarness.odoo(odoo) + DaemonHarness.route("stripe\(odoo.tag)", "erp", events: events))
        try daemon.waitUntil("the connectors run", timeout: 20) { try daemon.connectors().allSatisfy { $0.state == "running" } }
        return (daemon, "http://\(try daemon.webhookAddress())/hooks/stripe\(odoo.tag)")
    }

    static func post(_ url: String, _ type: String, _ object: JSONValue, id: String) throws {
        let event = JSONValue.object(["id": .string(id), "object": "event", "type": .string(type), "api_version": "2024-06-20",
                                      "created": .int(Int64(Date().timeIntervalSince1970)), "data": .object(["object": object])])
        let body = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
        let answer = try http("POST", url, headers: ["Stripe-Signature": StripeWebhookTests.signature(body, secrets: [secret]), "Content-Type": "application/json"], body: body)
        guard answer.status == 200, !answer.body.contains(#""accepted":0"#) else { throw HarnessError("\(type): \(answer.status) \(answer.body)") }
    }

    /// Stripe's credit note example, with its taxed line at `rate` percent (the Odoo under test has that sale tax).
    static func creditNote(rate: Int) throws -> JSONValue {
        var text = try String(contentsOf: fixtures.appendingPathComponent("credit_note.json"), encoding: .utf8)
        let tax = 1_000 * rate / 100
        text = text.replacingOccurrences(of: "\"percentage\": 19", with: "\"percentage\": \(rate)")
            .replacingOccurrences(of: "\"amount\": 190", with: "\"amount\": \(tax)")
            .replacingOccurrences(of: "\"total\": 1690", with: "\"total\": \(1_500 + tax)")
            .replacingOccurrences(of: "\"amount\": 1690", with: "\"amount\": \(1_500 + tax)")
        return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// The invoice the example credit note credits, with the same two lines.
    static func invoice(of note: JSONValue, rate: Int) -> JSONValue {
        let tax = Int64(1_000 * rate / 100)
        let lines = (note["lines"]?["data"]?.arrayValue ?? []).map { line -> JSONValue in
            .object(["id": .string("il_" + (line["id"]?.stringValue ?? "")), "amount": line["amount"] ?? 0, "quantity": 1,
                     "description": line["description"] ?? "", "tax_amounts": line["tax_amounts"] ?? [], "tax_rates": line["tax_rates"] ?? []])
        }
        return .object(["id": note["invoice"] ?? "", "object": "invoice", "customer": note["customer"] ?? "", "status": "open", "currency": "usd",
                        "number": "ABCD-1234", "subtotal": 1_500, "tax": .int(tax), "total": .int(1_500 + tax), "amount_paid": 0,
                        "amount_due": .int(1_500 + tax), "amount_remaining": .int(1_500 + tax),
                        "status_transitions": .object(["finalized_at": .int(1_795_900_000)]), "lines": .object(["data": .array(lines)])])
    }

    /// A Stripe credit note was answered {"accepted":0} and never reached the books; now it is an
    /// `out_refund` crediting its invoice, with its lines, taxes and total (issue 14, item 1).
    @Test(arguments: OdooServer.versions) func aStripeCreditNoteReachesOdooAsACreditNoteOfItsInvoice(version: Int) throws {
        let scratch = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: scratch.path("odoo.log"))
        let (daemon, url) = try Self.daemon(odoo, events: #""customer.*", "invoice.*", "credit_note.*""#)
        let note = try Self.creditNote(rate: odoo.euRate)
        let customer = JSONValue.object(["id": note["customer"] ?? "", "object": "customer", "name": "Globex GmbH", "email": "ap@globex.test"])
        try Self.post(url, "customer.created", customer, id: "evt_c\(odoo.tag)")
        try Self.post(url, "invoice.finalized", Self.invoice(of: note, rate: odoo.euRate), id: "evt_i\(odoo.tag)")
        try Self.post(url, "credit_note.created", note, id: "evt_cn\(odoo.tag)")

        let source = "stripe\(odoo.tag)"
        try daemon.waitUntil("the credit note is posted in Odoo", timeout: 60) {
            try odoo.records("account.move", "ref", prefix: "ch:\(source):credit_note:").first?["state"] as? String == "posted" || daemon.count("dead") > 0
        }
        let invoice = try #require(try odoo.records("account.move", "ref", prefix: "ch:\(source):invoice:").first)
        let credit = try #require(try odoo.records("account.move", "ref", prefix: "ch:\(source):credit_note:").first)
        let total = Double(1_500 + 1_000 * odoo.euRate / 100) / 100
        #expect(credit["move_type"] as? String == "out_refund" && credit["state"] as? String == "posted")
        #expect(OdooServer.id(credit["reversed_entry_id"]) == invoice["id"] as? Int)
        #expect(credit["amount_total"] as? Double == total && invoice["amount_total"] as? Double == total)
        // Reconciled with its invoice on posting (Odoo does this for a credit note naming the entry it
        // reverses): the invoice is no longer open for the credited amount.
        #expect(invoice["payment_state"] as? String == "reversed" && invoice["amount_residual"] as? Double == 0)
        #expect(credit["payment_state"] as? String == "paid" && credit["amount_residual"] as? Double == 0)
        #expect(try daemon.count("dead") == 0)
        #expect(try daemon.stop() == 0)
    }

    /// A line's quantity was dropped when the quantity did not divide its amount, and a discount was
    /// folded into the price (issue 14): now 3 seats for 10.00 are 2 × 3.33 + 1 × 3.34 and a discount is
    /// a line of its own, with Odoo's total still equal to Stripe's to the cent (or the invoice stays draft).
    @Test(arguments: OdooServer.versions) func anInvoiceKeepsItsQuantitiesAndDiscounts(version: Int) throws {
        let scratch = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: scratch.path("odoo.log"))
        let (daemon, url) = try Self.daemon(odoo, events: #""customer.*", "invoice.*""#)
        let rate = Int64(odoo.euRate)
        let tax = { (amount: Int64) in (amount * rate + 50) / 100 }
        let taxRate: JSONValue = ["id": "txr_vat", "object": "tax_rate", "percentage": .int(rate), "inclusive": false, "display_name": "VAT"]
        func line(_ id: String, _ description: String, amount: Int64, quantity: Int64, discount: Int64) -> JSONValue {
            ["id": .string(id), "object": "line_item", "description": .string(description), "amount": .int(amount), "quantity": .int(quantity),
             "discount_amounts": discount > 0 ? [["amount": .int(discount), "discount": "di_summer"]] : [],
             "tax_amounts": [["amount": .int(tax(amount - discount)), "inclusive": false, "tax_rate": "txr_vat"]], "tax_rates": [taxRate]]
        }
        let subtotal: Int64 = 1_000 + 800, taxes = tax(1_000) + tax(800)
        let invoice: JSONValue = [
            "id": .string("in_qty\(odoo.tag)"), "object": "invoice", "customer": .string("cus_qty\(odoo.tag)"), "status": "open", "currency": "usd", "number": "QTY-1",
            "subtotal": .int(subtotal), "tax": .int(taxes), "total": .int(subtotal + taxes), "amount_paid": 0, "amount_due": .int(subtotal + taxes),
            "amount_remaining": .int(subtotal + taxes), "status_transitions": ["finalized_at": 1_795_900_000],
            "lines": ["data": [line("il_seats", "Seats", amount: 1_000, quantity: 3, discount: 0), line("il_support", "Support", amount: 1_000, quantity: 2, discount: 200)]],
        ]
        try Self.post(url, "customer.created", ["id": .string("cus_qty\(odoo.tag)"), "object": "customer", "name": "Initech"], id: "evt_qc\(odoo.tag)")
        try Self.post(url, "invoice.finalized", invoice, id: "evt_qi\(odoo.tag)")
        let source = "stripe\(odoo.tag)"
        try daemon.waitUntil("the invoice is posted in Odoo", timeout: 60) {
            try odoo.records("account.move", "ref", prefix: "ch:\(source):invoice:").first?["state"] as? String == "posted" || daemon.count("dead") > 0
        }
        #expect(try daemon.count("dead") == 0)
        let move = try #require(try odoo.records("account.move", "ref", prefix: "ch:\(source):invoice:").first)
        #expect(move["state"] as? String == "posted" && move["amount_total"] as? Double == Double(subtotal + taxes) / 100)
        let lines = try odoo.search("account.move.line", [["move_id", "=", move["id"] as? Int ?? 0], ["display_type", "=", "product"]],
                                    fields: ["name", "quantity", "price_unit"])
        let shown = lines.map { "\($0["quantity"] as? Double ?? 0) × \(Int((($0["price_unit"] as? Double ?? 0) * 100).rounded())) \($0["name"] as? String ?? "")" }
        #expect(shown == ["2.0 × 333 Seats", "1.0 × 334 Seats", "2.0 × 500 Support", "1.0 × -200 Discount on Support (2.00 USD)"])
        #expect(try daemon.stop() == 0)
    }

    /// Stripe's published charge example: a one-off charge with neither invoice nor customer (Checkout,
    /// payment links) was dead-lettered ("names neither an invoice nor a customer"); the money now
    /// reaches the books as a posted inbound payment without a partner, for finance to match (item 6).
    @Test(arguments: OdooServer.versions) func aChargeWithoutInvoiceOrCustomerIsBooked(version: Int) throws {
        let scratch = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: scratch.path("odoo.log"))
        let (daemon, url) = try Self.daemon(odoo, events: #""payment.*""#)
        let charge = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("charge.json")))
        try Self.post(url, "charge.succeeded", charge, id: "evt_ch\(odoo.tag)")
        let source = "stripe\(odoo.tag)"
        // Posted: "posted" on 17; "in_process" or "paid" on 19 (read after the post, not between create and post).
        let booked: Set<String> = ["posted", "in_process", "paid"]
        try daemon.waitUntil("the payment is posted in Odoo", timeout: 60) {
            try (odoo.records("account.payment", odoo.memo, prefix: "ch:\(source):payment:").first?["state"] as? String).map(booked.contains) == true
                || daemon.count("dead") > 0
        }
        #expect(try daemon.count("dead") == 0)
        let payment = try #require(try odoo.records("account.payment", odoo.memo, prefix: "ch:\(source):payment:").first)
        #expect((payment["state"] as? String).map(booked.contains) == true)
        #expect(payment["amount"] as? Double == 1 && payment["payment_type"] as? String == "inbound")
        #expect(OdooServer.id(payment["partner_id"]) == nil)
        #expect(try daemon.stop() == 0)
    }
}
