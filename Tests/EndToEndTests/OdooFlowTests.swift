import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DaemonHarness {
    static let odooKey = "odoo-key-" + UUID().uuidString

    /// An Odoo connector `erp` on the Odoo under test: companies acme-us and acme-eu (on the fake 1
    /// with a 15 % tax, and 2 with 21 % and fees to expense account 104).
    static func odoo(_ odoo: OdooServer, _ extra: String = "", taxes: String? = nil) -> String {
        """
        [[connector]]
        id = "erp"
        plugin = "odoo"
        poll_interval_ms = 300
        [connector.config]
        \(odoo.config(extra, taxes: taxes))
        """
    }

    /// Starts the daemon with the Odoo connector alone, stores its key, then loads the rest, so that
    /// no delivery runs before the key is there.
    func startWithOdooKey(_ odoo: OdooServer, key: String? = nil, connectors: String, taxes: String? = nil, _ extra: String = "") throws {
        try start(storing: [("erp", "api_key", key ?? odoo.apiKey)], initial: Self.odoo(odoo, extra, taxes: taxes), then: Self.odoo(odoo, extra, taxes: taxes) + connectors)
    }

    /// Two sample sources emit the same synthetic customers (same emails): each stays a partner of its
    /// own where a test is about something else than matching them (ChargebeeBooksTests is).
    static let ownPartners = "partner_match = []"

    func deadLetters() throws -> [DeadLetterSummary] {
        try client().call(AdminMethod.dlqList, DLQListParams(route: nil, limit: 1000), as: [DeadLetterSummary].self)
    }

    /// The type and entity of a stored event.
    func storedEvent(_ idempotencyKey: String) throws -> String {
        try Self.run("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
            for row in c.execute("SELECT type, entity FROM events WHERE idempotency_key = ?", (sys.argv[2],)): print(*row)
            """, path("state/connector-host.sqlite"), idempotencyKey]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The payloads of the stored events of a connector (and type), oldest first.
    func storedEvents(connector: String, type: String = "%") throws -> [[String: Any]] {
        let output = try Self.run("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
            for (payload,) in c.execute("SELECT payload FROM events WHERE connector = ? AND type LIKE ? ORDER BY id", (sys.argv[2], sys.argv[3])):
                print(bytes(payload).decode() if not isinstance(payload, str) else payload)
            """, path("state/connector-host.sqlite"), connector, type]).stdout
        return output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Attempt outcomes (delivered, duplicate, or an error class) and their counts, from the database.
    func attemptOutcomes() throws -> [String: Int] {
        let result = try Self.run("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
            for outcome, n in c.execute("SELECT outcome, COUNT(*) FROM attempts GROUP BY outcome"): print(outcome, n)
            """, path("state/connector-host.sqlite")])
        var counts: [String: Int] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { counts[String(parts[0])] = Int(parts[1]) }
        }
        return counts
    }
}

/// The Odoo connector end to end: the daemon, the sample source, connector-odoo and an Odoo — the
/// fake by default, or a real server when `ODOO_URL` is set (see ``OdooServer``). Tests that need the
/// fake's fault controls run on the fake only.
@Suite(.serialized) struct OdooFlowTests {
    static let fakeOnly = Testing.ConditionTrait.enabled(if: !OdooServer.isReal, "needs the fake Odoo's fault controls")

    /// What `count` synthetic events of sample source `source` (tax rate `rate`, a third of them each
    /// customers, invoices, payments) must leave in Odoo: one partner, one posted and paid invoice in
    /// `company` with the source's total, and one payment per source record, each once.
    static func expectBooked(_ odoo: OdooServer, source: String, count: Int, rate: Int, company: Int) throws {
        let rate = Int64(rate)
        let partners = try odoo.records("res.partner", "ref", prefix: "ch:\(source):customer:")
        #expect(partners.count == count / 3)
        #expect(Set(partners.compactMap { $0["ref"] as? String }).count == count / 3)
        let invoices = try odoo.records("account.move", "ref", prefix: "ch:\(source):invoice:").filter { $0["move_type"] as? String == "out_invoice" }
        #expect(invoices.count == count / 3)
        for invoice in invoices {
            let index = Int64(((invoice["ref"] as? String) ?? "").split(separator: "_").last.flatMap { Int($0) } ?? -1)
            let net = 10_000 + (index % 97) * 100
            #expect(invoice["state"] as? String == "posted")
            #expect(invoice["payment_state"] as? String == "paid")
            #expect(OdooServer.id(invoice["company_id"]) == company)
            #expect(Int64(((invoice["amount_total"] as? Double ?? 0) * 100).rounded()) == net + net * rate / 100)
        }
        let payments = try odoo.records("account.payment", odoo.memo, prefix: "ch:\(source):payment:")
        #expect(payments.count == count / 3)
        #expect(Set(payments.compactMap { $0[odoo.memo] as? String }).count == count / 3)
        let index = { (reference: Any?) in Int64(((reference as? String) ?? "").split(separator: "_").last.flatMap { Int($0) } ?? -1) }
        for payment in payments {
            let net = 10_000 + ((index(payment[odoo.memo]) - 1) % 97) * 100
            #expect(Int64(((payment["amount"] as? Double ?? 0) * 100).rounded()) == net + net * rate / 100)
            #expect(OdooServer.id(payment["company_id"]) == company)
        }
        // Each payment's processor fee, an entry of its own (the payment is registered gross).
        let fees = try odoo.records("account.move", "ref", prefix: "ch:\(source):payment_fee:")
        #expect(fees.count == count / 3)
        for fee in fees {
            let net = 10_000 + ((index(fee["ref"]) - 1) % 97) * 100
            #expect(fee["state"] as? String == "posted" && fee["move_type"] as? String == "entry")
            #expect(Int64(((fee["amount_total"] as? Double ?? 0) * 100).rounded()) == 30 + net / 50)
        }
    }

    static func shop(_ odoo: OdooServer, _ id: String = "shop", emit: Int, _ extra: String = "") -> String {
        DaemonHarness.sample(odoo.source(id), "entity = \"acme-eu\"\n[connector.config]\nemit = \(emit)\ntax_rate = \(odoo.euRate)\n\(extra)")
    }

    @Test(arguments: OdooServer.versions) func customerInvoicePaymentLandOnceAndARedeliveryChangesNothing(version: Int) throws {
        let first = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: first.path("odoo.log"))
        let shop = odoo.source("shop")
        let config = Self.shop(odoo, emit: 30) + DaemonHarness.route(shop, "erp")
        try first.startWithOdooKey(odoo, connectors: config)
        try first.waitUntil("30 deliveries into Odoo", timeout: 90) { try first.count("delivered") == 30 }
        #expect(try first.deadLetters().isEmpty)
        try Self.expectBooked(odoo, source: shop, count: 30, rate: odoo.euRate, company: odoo.euCompany)
        #expect(try first.attemptOutcomes()["delivered"] == 30)
        #expect(try first.stop() == 0)

        // A second host that knows nothing of the first (its database lost, or two hosts by mistake)
        // delivers the same 30 events again: Odoo is left as it was, each delivery a duplicate.
        let second = try DaemonHarness()
        try second.startWithOdooKey(odoo, connectors: config)
        try second.waitUntil("30 redeliveries", timeout: 90) { try second.count("delivered") == 30 }
        #expect(try second.attemptOutcomes() == ["duplicate": 30])
        try Self.expectBooked(odoo, source: shop, count: 30, rate: odoo.euRate, company: odoo.euCompany)
        #expect(try odoo.records("account.move", "ref", prefix: "ch:\(shop):invoice:").filter { $0["move_type"] as? String == "out_invoice" }.count == 10)
        #expect(try odoo.records("account.payment", odoo.memo, prefix: "ch:\(shop):").count == 10)

        // Reconciliation: 10 invoices and 10 payments, nothing twice, nothing the host did not write.
        let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        // (The sample's payments are dated 2026-01-01, its invoices the day they are posted.)
        let reconcile = try second.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", today, "--json")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(reconcile.stdout.utf8)) as? [String: Any])
        let ours = { (items: Any?) in (items as? [[String: Any]] ?? []).filter { ($0["reference"] as? String)?.hasPrefix("ch:\(shop):") == true } }
        let groups = (report["snapshot"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        if odoo.isReal {
            // A real database holds other runs' records too: only this run's must be in order.
            #expect(ours(report["unknown_to_host"]).isEmpty)
        } else {
            #expect(reconcile.status == 0)
            #expect(groups.map { "\($0["object_type"] ?? "") \($0["count"] ?? "")" }.sorted() == ["invoice 10", "payment 10"])
            #expect((report["duplicates"] as? [Any])?.isEmpty == true && (report["unknown_to_host"] as? [Any])?.isEmpty == true)
        }
        // Someone posts a second invoice carrying one of our references: reconciliation reports it.
        let invoice = try #require(try odoo.records("account.move", "ref", prefix: "ch:\(shop):invoice:").first)
        let reference = try #require(invoice["ref"] as? String)
        let copy = try odoo.execute("account.move", "create", [[[
            "move_type": "out_invoice", "partner_id": OdooServer.id(invoice["partner_id"]) ?? 0, "ref": reference, "company_id": odoo.euCompany, "currency_id": odoo.euro,
            "invoice_line_ids": [[0, 0, ["name": "copy", "quantity": 1, "price_unit": 10]]],
        ]]], context: ["allowed_company_ids": [odoo.euCompany]])
        let copyID = try #require((copy as? [Int])?.first)
        _ = try odoo.execute("account.move", "action_post", [[copyID]], context: ["allowed_company_ids": [odoo.euCompany]])
        let again = try second.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", today)
        #expect(again.status == 1)
        #expect(again.stdout.contains(reference))
        #expect(try second.stop() == 0)
    }

    /// The daemon is SIGKILLed while Odoo has committed a write and not yet answered: the host never
    /// recorded it, redelivers after the restart, and the connector finds the record by its reference.
    @Test(fakeOnly) func sigkillBetweenTheOdooWriteAndTheBookkeepingMakesNoDuplicate() throws {
        let daemon = try DaemonHarness()
        let fake = try OdooServer(version: 19, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let writes = [("res.partner", "create"), ("account.move", "create"), ("account.move", "action_post"),
                      ("account.payment.register", "action_create_payments")]
        for (model, method) in writes {
            try fake.control("fault", #"{"kind": "hang", "phase": "after", "ms": 30000, "model": "\#(model)", "method": "\#(method)"}"#)
        }
        let config = Self.shop(fake, emit: 6) + DaemonHarness.route("shop", "erp")
        try daemon.startWithOdooKey(fake, connectors: config)
        for (model, method) in writes {
            // The hanging write has run in Odoo; the host is waiting for its answer.
            try daemon.waitUntil("Odoo ran \(model).\(method)", timeout: 30) { try fake.calls(model, method) >= 1 }
            guard let pid = daemon.daemonPID else { throw HarnessError("no daemon") }
            kill(pid, SIGKILL)
            _ = try? daemon.stop(timeout: 5)
            try daemon.start()
        }
        try daemon.waitUntil("6 deliveries into Odoo", timeout: 60) { try daemon.count("delivered") == 6 }
        #expect(try daemon.deadLetters().isEmpty)
        try Self.expectBooked(fake, source: "shop", count: 6, rate: 21, company: 2)
        // The redeliveries of the interrupted writes found them.
        #expect(try daemon.attemptOutcomes()["duplicate", default: 0] >= 2)
        #expect(try daemon.stop() == 0)
    }

    @Test func eachLegalEntityLandsInItsCompanyAndAnUnmappedOneIsDeadLettered() throws {
        let daemon = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: 17, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let (us, eu, xx) = (odoo.source("us"), odoo.source("eu"), odoo.source("xx"))
        let sources = DaemonHarness.sample(us, "entity = \"acme-us\"\n[connector.config]\nemit = 9\ntax_rate = \(odoo.usRate)")
            + DaemonHarness.sample(eu, "entity = \"acme-eu\"\n[connector.config]\nemit = 9\ntax_rate = \(odoo.euRate)")
            + DaemonHarness.sample(xx, "entity = \"acme-xx\"\n[connector.config]\nemit = 3")
        let routes = DaemonHarness.route(us, "erp") + DaemonHarness.route(eu, "erp") + DaemonHarness.route(xx, "erp")
        try daemon.startWithOdooKey(odoo, connectors: sources + routes, DaemonHarness.ownPartners)
        try daemon.waitUntil("18 delivered, 3 dead", timeout: 90) { try daemon.count("delivered") == 18 && daemon.count("dead") == 3 }
        try Self.expectBooked(odoo, source: us, count: 9, rate: odoo.usRate, company: odoo.usCompany)
        try Self.expectBooked(odoo, source: eu, count: 9, rate: odoo.euRate, company: odoo.euCompany)
        let dead = try daemon.deadLetters()
        #expect(dead.count == 3)
        #expect(dead.allSatisfy { $0.errorClass == "permanent" && $0.reason.contains("acme-xx") && $0.reason.contains("companies") })
        #expect(try odoo.records("res.partner", "ref", prefix: "ch:\(xx):").isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// A refused key pauses the connector (nothing is dead-lettered); rotating the key resumes it and
    /// the connector picks the new key up. Serialization failures and 503s are retried until they pass, without duplicates.
    @Test(fakeOnly) func refusedCredentialsPauseAndTransientFailuresAreRetried() throws {
        let daemon = try DaemonHarness()
        let fake = try OdooServer(version: 19, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        try fake.control("fault", #"[{"kind": "serialization", "count": 2, "model": "account.move", "method": "create"}, {"kind": "http_503", "count": 2, "model": "res.partner", "method": "create"}, {"kind": "garbage", "count": 1, "model": "account.payment.register", "method": "create"}]"#)
        try daemon.startWithOdooKey(fake, key: "not-the-key", connectors: Self.shop(fake, emit: 9) + DaemonHarness.route("shop", "erp"))
        try daemon.waitUntil("the Odoo connector is paused", timeout: 30) { try daemon.connector("erp").paused }
        #expect(try daemon.count("delivered") == 0)
        #expect(try daemon.deadLetters().isEmpty)

        // Storing the right key resumes the connector the refusal paused; no `hostctl resume` needed.
        #expect(try daemon.hostctl(input: DaemonHarness.odooKey, "secret", "rotate", "erp", "api_key").status == 0)
        #expect(try daemon.connector("erp").paused == false)
        #expect(try daemon.auditActions().contains("connector.resume"))
        try daemon.waitUntil("9 deliveries into Odoo", timeout: 60) { try daemon.count("delivered") == 9 }
        #expect(try daemon.deadLetters().isEmpty)
        try Self.expectBooked(fake, source: "shop", count: 9, rate: 21, company: 2)
        // (The refusal was met first by the connector's source poll, which paused it before any delivery ran.)
        #expect(try daemon.attemptOutcomes()["transient", default: 0] >= 5)
        #expect(try daemon.stop() == 0)
    }

    /// A tax mapped to the wrong rate leaves the invoice in draft and dead-letters it with both totals;
    /// a payment whose invoice never comes answers `dependency` until the route gives up.
    @Test func mappingErrorsAndMissingInvoicesAreDeadLetteredWithTheirReason() throws {
        let daemon = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: 17, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let (wrongtax, early) = (odoo.source("wrongtax"), odoo.source("early"))
        let sources = DaemonHarness.sample(wrongtax, "entity = \"acme-eu\"\n[connector.config]\nemit = 2\ntax_rate = 20")
            + DaemonHarness.sample(early, "entity = \"acme-eu\"\n[connector.config]\nemit = 3\ntax_rate = \(odoo.euRate)")
        let routes = DaemonHarness.route(wrongtax, "erp")
            + DaemonHarness.route(early, "erp", events: "\"customer.*\", \"payment.*\"", "max_attempts = 3\ndependency_retry_ms = 300")
        // Rate 20 mapped to the EU company's tax of another rate: a mapping mistake Odoo's own tax computation reveals.
        let euTax = odoo.taxes[odoo.euCompany]?[odoo.euRate] ?? 0
        try daemon.startWithOdooKey(odoo, connectors: sources + routes, taxes: #"{ "\#(odoo.euCompany)" = { "20" = \#(euTax), "\#(odoo.euRate)" = \#(euTax) } }"#)
        try daemon.waitUntil("2 delivered, 2 dead", timeout: 60) { try daemon.count("delivered") == 2 && daemon.count("dead") == 2 }
        let dead = try daemon.deadLetters()
        let tax = try #require(dead.first { $0.eventType == "invoice.finalized" })
        #expect(tax.errorClass == "permanent")
        let computed = 10_100 + 10_100 * odoo.euRate / 100
        #expect(tax.reason.contains("Odoo computes \(computed / 100).\(String(format: "%02d", computed % 100)) EUR") && tax.reason.contains("source's total is 121.20 EUR") && tax.reason.contains("left in draft"))
        let draft = try #require(try odoo.records("account.move", "ref", prefix: "ch:\(wrongtax):invoice:").first)
        #expect(draft["state"] as? String == "draft")
        let missing = try #require(dead.first { $0.eventType == "payment.succeeded" })
        #expect(missing.errorClass == "dependency")
        #expect(missing.reason.contains("invoice in_1") && missing.reason.contains("not in Odoo yet"))
        #expect(missing.attempts == 3)
        #expect(try odoo.records("account.payment", odoo.memo, prefix: "ch:\(early):").isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// Webhooks arrive out of order: a payment before its invoice, under the same ordering key. The
    /// payment waits without holding the invoice back and is booked as soon as the invoice is in Odoo
    /// (its scheduled retry is a minute away; before, the invoice waited until the payment had used
    /// up its attempts and was dead-lettered).
    @Test(arguments: OdooServer.versions) func aPaymentBeforeItsInvoiceUnderOneKeyIsBookedRightAfterIt(version: Int) throws {
        let daemon = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let early = odoo.source("early")
        let config = Self.shop(odoo, "early", emit: 6, "payments_first = true")
            + DaemonHarness.route(early, "erp", "max_attempts = 3\ndependency_retry_ms = 60000")
        try daemon.startWithOdooKey(odoo, connectors: config)
        try daemon.waitUntil("6 deliveries into Odoo", timeout: 45) { try daemon.count("delivered") == 6 }
        #expect(try daemon.deadLetters().isEmpty)
        #expect(try daemon.attemptOutcomes()["dependency", default: 0] >= 1)
        try Self.expectBooked(odoo, source: early, count: 6, rate: odoo.euRate, company: odoo.euCompany)
        #expect(try daemon.stop() == 0)
    }

    /// An invoice line whose tax belongs to another company: Odoo's record rules answer `AccessError`.
    /// That invoice is dead-lettered with Odoo's words; the connector is not paused and every other
    /// company's deliveries go on (it used to pause everything as refused credentials).
    @Test(arguments: OdooServer.versions) func anotherCompanysTaxDeadLettersThatInvoiceAndPausesNothing(version: Int) throws {
        let daemon = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let (eu, us) = (odoo.source("eu"), odoo.source("us"))
        let usTax = odoo.taxes[odoo.usCompany]?[odoo.usRate] ?? 0
        // The EU company's rate mapped, by mistake, to the US company's tax.
        let taxes = #"{ "\#(odoo.usCompany)" = { "\#(odoo.usRate)" = \#(usTax) }, "\#(odoo.euCompany)" = { "\#(odoo.usRate)" = \#(usTax) } }"#
        let sources = DaemonHarness.sample(eu, "entity = \"acme-eu\"\n[connector.config]\nemit = 3\ntax_rate = \(odoo.usRate)")
            + DaemonHarness.sample(us, "entity = \"acme-us\"\n[connector.config]\nemit = 3\ntax_rate = \(odoo.usRate)")
        let routes = DaemonHarness.route(eu, "erp", events: "\"customer.*\", \"invoice.*\"") + DaemonHarness.route(us, "erp")
        try daemon.startWithOdooKey(odoo, connectors: sources + routes, taxes: taxes, DaemonHarness.ownPartners)
        try daemon.waitUntil("4 delivered, 1 dead", timeout: 60) { try daemon.count("delivered") == 4 && daemon.count("dead") == 1 }
        let dead = try #require(try daemon.deadLetters().first)
        #expect(dead.eventType == "invoice.finalized" && dead.errorClass == "permanent")
        #expect(dead.reason.contains("AccessError") || dead.reason.contains("company"))
        #expect(try daemon.connector("erp").paused == false)
        try Self.expectBooked(odoo, source: us, count: 3, rate: odoo.usRate, company: odoo.usCompany)
        #expect(try daemon.stop() == 0)
    }

    /// The source: finance registers a payment in Odoo; an `invoice.paid` event reaches a sink. The
    /// partners Odoo touched meanwhile (posting and paying rewrite a partner's write_date) are not
    /// emitted again: nothing a customer record carries changed.
    @Test(arguments: OdooServer.versions) func anInvoicePaidInOdooBecomesAnEvent(version: Int) throws {
        let daemon = try DaemonHarness()
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let shop = odoo.source("shop")
        let crm = DaemonHarness.sample("crm", "[connector.config]\neffects_file = \"\(daemon.path("crm.effects"))\"")
        let routes = DaemonHarness.route(shop, "erp", events: "\"customer.*\", \"invoice.*\"") + DaemonHarness.route("erp", "crm", events: "\"invoice.paid\"")
        try daemon.startWithOdooKey(odoo, connectors: Self.shop(odoo, emit: 6) + crm + routes)
        try daemon.waitUntil("4 deliveries into Odoo", timeout: 60) { try daemon.count("delivered", route: "\(shop)->erp") == 4 }
        let invoices = try odoo.records("account.move", "ref", prefix: "ch:\(shop):invoice:")
        #expect(invoices.count == 2 && invoices.allSatisfy { $0["payment_state"] as? String == "not_paid" })
        let ids = invoices.compactMap { $0["id"] as? Int }
        let ours = { daemon.effects("crm.effects").filter { effect in ids.contains { effect.hasPrefix("erp:account.move:\($0):") } } }
        #expect(ours().isEmpty)

        let paid = try #require(ids.first)
        try odoo.pay(invoice: paid, company: odoo.euCompany)
        try daemon.waitUntil("the invoice.paid event reached the CRM sink", timeout: 30) { ours().count == 1 }
        #expect(ours() == ["erp:account.move:\(paid):paid:0"])
        #expect(try daemon.hostctl("trace", "erp:account.move:\(paid):paid:0").status == 0)
        #expect(try daemon.storedEvent("erp:account.move:\(paid):paid:0") == "invoice.paid acme-eu")  // the EU company's entity
        // The partners stream: the two customers written into Odoo come back as customer.updated, with
        // their country, once each although Odoo touched them when the invoices were posted and paid.
        Thread.sleep(forTimeInterval: 2)  // several polls of the partners stream after the payment
        let partners = try odoo.records("res.partner", "ref", prefix: "ch:\(shop):customer:")
        let names = Set(partners.compactMap { $0["name"] as? String })
        let emitted = try daemon.storedEvents(connector: "erp", type: "customer.updated").compactMap { event -> (id: String, name: String)? in
            guard let name = ((event["record"] as? [String: Any])?["customer"] as? [String: Any])?["name"] as? String,
                  let id = (event["source"] as? [String: Any])?["object_id"] as? String else { return nil }
            return (id, name)
        }
        #expect(names.count == 2 && names.isSubset(of: Set(emitted.map(\.name))))
        #expect(try daemon.storedEvents(connector: "erp", type: "customer.updated").contains {
            ((($0["record"] as? [String: Any])?["customer"] as? [String: Any])?["address"] as? [String: Any])?["country"] as? String == "FR"
        })
        for partner in partners {
            #expect(emitted.filter { $0.id == String(partner["id"] as? Int ?? 0) }.count == 1, "partner \(partner["name"] ?? "") emitted once")
        }
        #expect(try daemon.stop() == 0)
    }
}
