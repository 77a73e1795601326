import ConnectorKit
import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension FakeChargebee {
    /// Every record of a list, through the API as a client reads it (pages of 100).
    func all(_ resource: String) throws -> [[String: Any]] {
        var found: [[String: Any]] = []
        var offset: String?
        let auth = "Basic " + Data("\(Self.key):".utf8).base64EncodedString()
        repeat {
            var query = "limit=100"
            if let offset { query += "&offset=" + (offset.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? offset) }
            let answer = try http("GET", "\(url)/api/v2/\(resource)?\(query)", headers: ["Authorization": auth])
            guard answer.status == 200, let page = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any] else {
                throw HarnessError("fake Chargebee \(resource): \(answer.status) \(answer.body.prefix(300))")
            }
            found += (page["list"] as? [[String: Any]] ?? []).compactMap { $0[String(resource.dropLast())] as? [String: Any] }
            offset = page["next_offset"] as? String
        } while offset != nil
        return found
    }

    /// A write through the API (form-encoded, Basic auth).
    @discardableResult
    func post(_ path: String, _ fields: [(String, String)]) throws -> [String: Any] {
        let answer = try http("POST", "\(url)/api/v2\(path)", headers: ["Authorization": "Basic " + Data("\(Self.key):".utf8).base64EncodedString(),
                                                                     "Content-Type": "application/x-www-form-urlencoded"], body: FormEncoding.encode(fields))
        guard answer.status == 200 else { throw HarnessError("fake Chargebee \(path): \(answer.status) \(answer.body)") }
        return (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }

    /// A customer paying a monthly plan by card: the subscription's invoice, paid.
    func subscribe(_ fields: [(String, String)], price: String) throws -> (customer: String, invoice: String) {
        let customer = try post("/customers", fields + [("card[number]", "4111111111111111"), ("card[expiry_month]", "12"), ("card[expiry_year]", "2030")])
        let id = (customer["customer"] as? [String: Any])?["id"] as? String ?? ""
        let subscription = try post("/customers/\(id)/subscription_for_items", [("subscription_items[item_price_id][0]", price)])
        let invoice = (subscription["invoice"] as? [String: Any])?["id"] as? String ?? ""
        return (id, invoice)
    }

    /// Sums of a money field per currency, in minor units.
    static func totals(_ records: [[String: Any]], _ field: String = "total") -> [String: Int64] {
        records.reduce(into: [:]) { sums, record in
            sums[record["currency_code"] as? String ?? "?", default: 0] += (record[field] as? NSNumber)?.int64Value ?? 0
        }
    }
}

/// The Chargebee connector into the books: the daemon, connector-chargebee with the fake Chargebee,
/// connector-odoo with the fake Odoo 17 and 19 (or a real Odoo, see ``OdooServer``) (issue 17).
@Suite(.serialized) struct ChargebeeBooksTests {
    static func connector(_ chargebee: FakeChargebee, id: String, entity: String = "acme-eu", _ extra: String = "") -> String {
        """
        [[connector]]
        id = "\(id)"
        plugin = "chargebee"
        entity = "\(entity)"
        poll_interval_ms = 200
        [connector.config]
        api_base = "\(chargebee.url)/api/v2"
        \(extra)

        """
    }

    static let bookEvents = #""customer.*", "product.*", "invoice.*", "credit_note.*", "payment.*", "refund.*""#

    /// Odoo's amounts in minor units, per currency code.
    static func odooTotals(_ odoo: OdooServer, _ moves: [[String: Any]], currencies: [Int: String]) -> [String: Int64] {
        moves.reduce(into: [:]) { sums, move in
            let code = OdooServer.id(move["currency_id"]).flatMap { currencies[$0] } ?? "?"
            sums[code, default: 0] += Int64(((move["amount_total"] as? Double ?? 0) * 100).rounded())
        }
    }

    /// Seeded invoices with payments and credit notes in two currencies, with a discount and a 21 % tax,
    /// read from the events feed and backfilled at once, the daemon killed mid-flow: each invoice, credit
    /// note and payment once in Odoo, in the connector's company, and the totals per currency equal on
    /// both sides.
    @Test(arguments: OdooServer.versions) func invoicesPaymentsAndCreditNotesLandOnceWithEqualTotals(version: Int) throws {
        // A real Odoo books a few invoices a second: a tenth of them there.
        let scale = OdooServer.isReal ? 10 : 1
        let (eurInvoices, usdInvoices, eurNotes, usdNotes) = (600 / scale, 400 / scale, 30 / scale, 20 / scale)
        let daemon = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let chargebee = try FakeChargebee(log: daemon.path("chargebee.log"))
        let billing = odoo.source("billing")
        let start = Int(Date().timeIntervalSince1970) - 3_600
        try chargebee.control("site", #"{"tax_rate": \#(odoo.euRate), "rate_limit": 0}"#)
        try chargebee.control("seed", #"{"customers": \#(30 / scale), "currency_code": "EUR", "invoices": \#(eurInvoices), "paid": true, "discount": 100, "credit_notes": \#(eurNotes), "start_at": \#(start), "step_seconds": 1}"#)
        try chargebee.control("seed", #"{"customers": \#(20 / scale), "currency_code": "USD", "invoices": \#(usdInvoices), "paid": true, "credit_notes": \#(usdNotes), "start_at": \#(start + 2_000), "step_seconds": 1}"#)
        let connectors = Self.connector(chargebee, id: billing, "requests_per_minute = 0\npage_size = 50")
            + DaemonHarness.route(billing, "erp", events: Self.bookEvents)
        try daemon.start(storing: [(billing, "api_key", FakeChargebee.key), ("erp", "api_key", odoo.apiKey)],
                         initial: DaemonHarness.odoo(odoo), then: DaemonHarness.odoo(odoo) + connectors)
        let invoiceRef = "ch:\(billing):invoice:"
        try daemon.waitUntil("a third of the invoices are in Odoo", timeout: 120) {
            try odoo.records("account.move", "ref", prefix: invoiceRef).count >= (eurInvoices + usdInvoices) / 3
        }
        guard let pid = daemon.daemonPID else { throw HarnessError("no daemon") }
        kill(pid, SIGKILL)
        _ = try? daemon.stop(timeout: 5)
        try daemon.start()
        try daemon.waitUntil("every invoice, credit note and payment is delivered", timeout: 300) {
            try daemon.count("pending") == 0 && odoo.records("account.payment", odoo.memo, prefix: "ch:\(billing):transaction:").count >= eurInvoices + usdInvoices
        }
        let dead = try daemon.deadLetters()
        #expect(dead.isEmpty, "\(dead.prefix(3))")
        let invoices = try odoo.records("account.move", "ref", prefix: invoiceRef)
        let notes = try odoo.records("account.move", "ref", prefix: "ch:\(billing):credit_note:")
        let payments = try odoo.records("account.payment", odoo.memo, prefix: "ch:\(billing):transaction:")
        #expect(invoices.count == eurInvoices + usdInvoices && Set(invoices.compactMap { $0["ref"] as? String }).count == invoices.count)
        #expect(notes.count == eurNotes + usdNotes && notes.allSatisfy { $0["move_type"] as? String == "out_refund" })
        #expect(payments.count == eurInvoices + usdInvoices && Set(payments.compactMap { $0[odoo.memo] as? String }).count == payments.count)
        #expect(invoices.allSatisfy { $0["state"] as? String == "posted" && OdooServer.id($0["company_id"]) == odoo.euCompany })
        let currencies = [odoo.euro: "EUR", 1: "USD"]
        let sourceInvoices = try chargebee.all("invoices"), sourceNotes = try chargebee.all("credit_notes")
        #expect(Self.odooTotals(odoo, invoices, currencies: currencies) == FakeChargebee.totals(sourceInvoices))
        #expect(Self.odooTotals(odoo, notes, currencies: currencies) == FakeChargebee.totals(sourceNotes))
        #expect(try daemon.stop() == 0)
    }

    /// Two billing sources into one Odoo (issue 17): a Stripe account for `acme-eu` and a Chargebee site
    /// for `acme-us`, the same customers known to both — Globex by its VAT number (written differently,
    /// with other emails), Initech by its email (another case): one partner each, whichever source
    /// came first, and each invoice in its entity's company.
    @Test(.enabled(if: Localstripe.available, "localstripe is not installed: scripts/test installs it"))
    func twoBillingSourcesShareTheirCustomersPartners() throws {
        let daemon = try DaemonHarness()
        let odoo = try OdooServer(version: 19, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let stripe = try Localstripe(log: daemon.path("localstripe.log"))
        let chargebee = try FakeChargebee(log: daemon.path("chargebee.log"))
        try chargebee.control("site", #"{"tax_rate": \#(odoo.usRate)}"#)
        let (stripeGlobex, stripeGlobexInvoice) = try stripe.subscribe(name: "Globex", amountMinor: 12_100, customerFields: [("metadata[vat]", "BE0477472701")])
        let (stripeInitech, _) = try stripe.subscribe(name: "Initech", amountMinor: 5_000)
        let (billingGlobex, billingGlobexInvoice) = try chargebee.subscribe(
            [("company", "Globex BV"), ("email", "billing@globex.example"), ("vat_number", "BE 0477.472.701"), ("billing_address[country]", "BE")], price: "pro-USD-monthly")
        let (billingInitech, _) = try chargebee.subscribe([("company", "Initech"), ("email", "AP@Initech.test")], price: "pro-USD-monthly")
        let connectors = DaemonHarness.stripeSource(url: stripe.url)
            + Self.connector(chargebee, id: "billing", entity: "acme-us", "backfill = [\"item_prices\"]")
            + DaemonHarness.route("stripe", "erp", events: #""customer.*", "product.*", "invoice.*", "payment.*""#)
            + DaemonHarness.route("billing", "erp", events: Self.bookEvents)
        try daemon.start(storing: [("stripe", "api_key", stripe.key), ("billing", "api_key", FakeChargebee.key), ("erp", "api_key", odoo.apiKey)],
                         initial: DaemonHarness.odoo(odoo), then: DaemonHarness.odoo(odoo) + connectors)
        let invoiceOf = { (ref: String) in try odoo.records("account.move", "ref", prefix: ref).first }
        try daemon.waitUntil("both sources' invoices are in Odoo", timeout: 90) {
            try [invoiceOf("ch:stripe:invoice:"), invoiceOf("ch:billing:invoice:")].allSatisfy { $0?["state"] as? String == "posted" }
                && odoo.records("account.move", "ref", prefix: "ch:").filter { $0["move_type"] as? String == "out_invoice" }.count == 4
        }
        try daemon.waitUntil("nothing is left to deliver", timeout: 30) { try daemon.count("pending") == 0 }
        #expect(try daemon.deadLetters().isEmpty)
        let stripeInvoice = try #require(try invoiceOf("ch:stripe:invoice:\(stripeGlobexInvoice)"))
        let billingInvoice = try #require(try invoiceOf("ch:billing:invoice:\(billingGlobexInvoice)"))
        #expect(OdooServer.id(stripeInvoice["partner_id"]) == OdooServer.id(billingInvoice["partner_id"]), "Globex is one partner")
        #expect(OdooServer.id(stripeInvoice["company_id"]) == odoo.euCompany && OdooServer.id(billingInvoice["company_id"]) == odoo.usCompany)
        // One partner per customer pair, carrying the reference of the source that came first.
        let partners = try odoo.records("res.partner", "ref", prefix: "ch:stripe:customer:") + odoo.records("res.partner", "ref", prefix: "ch:billing:customer:")
        #expect(partners.count == 2, "\(partners.map { $0["ref"] ?? "" })")
        let owners = Set(partners.compactMap { ($0["ref"] as? String)?.split(separator: ":").last.map(String.init) })
        #expect(owners.isSubset(of: [stripeGlobex, stripeInitech, billingGlobex, billingInitech]) && owners.count == 2)
        // Each partner is the first source's: its reference and its name; the second filled blanks only.
        let names = [stripeGlobex: "Globex", stripeInitech: "Initech", billingGlobex: "Globex BV", billingInitech: "Initech"]
        for partner in partners {
            let owner = (partner["ref"] as? String)?.split(separator: ":").last.map(String.init) ?? ""
            #expect(partner["name"] as? String == names[owner], "\(partner)")
        }
        let invoices = try odoo.records("account.move", "ref", prefix: "ch:").filter { $0["move_type"] as? String == "out_invoice" }
        #expect(Set(invoices.compactMap { OdooServer.id($0["partner_id"]) }).count == 2, "four invoices, two partners")
        #expect(try daemon.stop() == 0)
    }
}
