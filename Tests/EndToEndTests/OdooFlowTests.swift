import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The fake Odoo of Tests/Fakes/odoo as a child process on a loopback port.
final class FakeOdoo {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes/odoo/fake_odoo.py").path

    let process = Process()
    let url: String
    let version: Int
    let apiKey: String

    init(version: Int, apiKey: String, log: String) throws {
        self.version = version
        self.apiKey = apiKey
        url = try launchLoopbackFake(process, "/usr/bin/env", ["python3", Self.script, "--version", String(version), "--port", "0", "--db", "testdb", "--api-key", apiKey],
                                     log: log, name: "the fake Odoo")
    }

    deinit { stopLoopbackFake(process) }

    /// Every record of a model, all companies, archived included.
    func records(_ model: String) throws -> [[String: Any]] {
        let answer = try http("GET", "\(url)/__fake__/state?model=\(model)")
        let state = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        return (state?["models"] as? [String: Any])?[model] as? [[String: Any]] ?? []
    }

    /// Records whose `field` starts with `prefix` (our references).
    func records(_ model: String, _ field: String, prefix: String) throws -> [[String: Any]] {
        try records(model).filter { ($0[field] as? String)?.hasPrefix(prefix) == true }
    }

    @discardableResult
    func control(_ name: String, _ body: String) throws -> (status: Int, body: String) {
        let answer = try http("POST", "\(url)/__fake__/\(name)", headers: ["Content-Type": "application/json"], body: body)
        return (answer.status, answer.body)
    }

    /// How many calls of `model.method` the fake has run (answered or not).
    func calls(_ model: String, _ method: String) throws -> Int {
        let answer = try http("GET", "\(url)/__fake__/calls")
        let calls = (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
        return calls.filter { $0["model"] as? String == model && $0["model_method"] as? String == method && $0["outcome"] as? String == "ok" }.count
    }

    /// Calls a model method over JSON-RPC as the admin user (as finance would in Odoo's UI).
    func execute(_ model: String, _ method: String, _ args: [Any], context: [String: Any] = [:]) throws -> Any? {
        let call: [String: Any] = ["jsonrpc": "2.0", "method": "call", "id": 1, "params": [
            "service": "object", "method": "execute_kw", "args": ["testdb", 2, apiKey, model, method, args, ["context": context]],
        ]]
        let answer = try http("POST", "\(url)/jsonrpc", headers: ["Content-Type": "application/json"],
                              body: String(decoding: try JSONSerialization.data(withJSONObject: call), as: UTF8.self))
        let envelope = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        if let error = envelope?["error"] { throw HarnessError("\(model).\(method): \(error)") }
        return envelope?["result"]
    }

    /// The payment's memo field: `ref` on 17, `memo` on 19.
    var memo: String { version >= 18 ? "memo" : "ref" }

    /// The company id of a record (many2one read as `[id, name]`).
    static func id(_ value: Any?) -> Int? { (value as? [Any])?.first as? Int }
}

extension DaemonHarness {
    static let odooKey = "odoo-key-" + UUID().uuidString

    /// An Odoo connector `erp` on the fake: companies acme-us → 1 (15 % tax id 1) and acme-eu → 2
    /// (21 % tax id 101, fees to expense account 104).
    static let odooTaxes = #"{ "1" = { "15" = 1 }, "2" = { "21" = 101 } }"#

    static func odoo(_ fake: FakeOdoo, _ extra: String = "", taxes: String = odooTaxes) -> String {
        """
        [[connector]]
        id = "erp"
        plugin = "odoo"
        poll_interval_ms = 300
        [connector.config]
        url = "\(fake.url)"
        database = "testdb"
        login = "admin"
        companies = { "acme-us" = 1, "acme-eu" = 2 }
        taxes = \(taxes)
        fee_accounts = { "2" = 104 }
        \(extra)

        """
    }

    /// Starts the daemon with the Odoo connector alone, stores its key, then loads the rest, so that
    /// no delivery runs before the key is there.
    func startWithOdooKey(_ fake: FakeOdoo, key: String = DaemonHarness.odooKey, connectors: String, taxes: String = odooTaxes) throws {
        try start(storing: [("erp", "api_key", key)], initial: Self.odoo(fake, taxes: taxes), then: Self.odoo(fake, taxes: taxes) + connectors)
    }

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

@Suite(.serialized) struct OdooFlowTests {
    /// What `count` synthetic events of sample source `source` (tax rate `rate`, a third of them each
    /// customers, invoices, payments) must leave in Odoo: one partner, one posted and paid invoice in
    /// `company` with the source's total, and one payment per source record, each once.
    static func expectBooked(_ fake: FakeOdoo, source: String, count: Int, rate: Int64, company: Int, feeBooked: Bool) throws {
        let partners = try fake.records("res.partner", "ref", prefix: "ch:\(source):customer:")
        #expect(partners.count == count / 3)
        #expect(Set(partners.compactMap { $0["ref"] as? String }).count == count / 3)
        let invoices = try fake.records("account.move", "ref", prefix: "ch:\(source):invoice:").filter { $0["move_type"] as? String == "out_invoice" }
        #expect(invoices.count == count / 3)
        for invoice in invoices {
            let index = Int64(((invoice["ref"] as? String) ?? "").split(separator: "_").last.flatMap { Int($0) } ?? -1)
            let net = 10_000 + (index % 97) * 100
            #expect(invoice["state"] as? String == "posted")
            #expect(invoice["payment_state"] as? String == "paid")
            #expect(FakeOdoo.id(invoice["company_id"]) == company)
            #expect(Int64(((invoice["amount_total"] as? Double ?? 0) * 100).rounded()) == net + net * rate / 100)
        }
        let payments = try fake.records("account.payment", fake.memo, prefix: "ch:\(source):payment:")
        #expect(payments.count == count / 3)
        #expect(Set(payments.compactMap { $0[fake.memo] as? String }).count == count / 3)
        for payment in payments {
            let index = Int64(((payment[fake.memo] as? String) ?? "").split(separator: "_").last.flatMap { Int($0) } ?? -1)
            let net = 10_000 + ((index - 1) % 97) * 100
            let fee = feeBooked ? 30 + net / 50 : 0
            #expect(Int64(((payment["amount"] as? Double ?? 0) * 100).rounded()) == net + net * rate / 100 - fee)
            #expect(FakeOdoo.id(payment["company_id"]) == company)
        }
    }

    @Test(arguments: [17, 19]) func customerInvoicePaymentLandOnceAndARedeliveryChangesNothing(version: Int) throws {
        let first = try DaemonHarness()
        let fake = try FakeOdoo(version: version, apiKey: DaemonHarness.odooKey, log: first.path("odoo.log"))
        let shop = DaemonHarness.sample("shop", "entity = \"acme-eu\"\n[connector.config]\nemit = 30\ntax_rate = 21")
        try first.startWithOdooKey(fake, connectors: shop + DaemonHarness.route("shop", "erp"))
        try first.waitUntil("30 deliveries into Odoo", timeout: 60) { try first.count("delivered") == 30 }
        #expect(try first.deadLetters().isEmpty)
        try Self.expectBooked(fake, source: "shop", count: 30, rate: 21, company: 2, feeBooked: true)
        #expect(try first.attemptOutcomes()["delivered"] == 30)
        #expect(try first.stop() == 0)

        // A second host that knows nothing of the first (its database lost, or two hosts by mistake)
        // delivers the same 30 events again: Odoo is left as it was, each delivery a duplicate.
        let second = try DaemonHarness()
        try second.startWithOdooKey(fake, connectors: shop + DaemonHarness.route("shop", "erp"))
        try second.waitUntil("30 redeliveries", timeout: 60) { try second.count("delivered") == 30 }
        #expect(try second.attemptOutcomes() == ["duplicate": 30])
        try Self.expectBooked(fake, source: "shop", count: 30, rate: 21, company: 2, feeBooked: true)
        #expect(try fake.records("account.move").filter { ($0["ref"] as? String)?.hasPrefix("ch:") == true }.count == 20)  // 10 invoices + 10 payment entries

        // Reconciliation: 10 invoices and 10 payments, nothing twice, nothing the host did not write.
        let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        // (The sample's payments are dated 2026-01-01, its invoices the day they are posted.)
        let reconcile = try second.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", today, "--json")
        #expect(reconcile.status == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(reconcile.stdout.utf8)) as? [String: Any])
        let groups = (report["snapshot"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        #expect(groups.map { "\($0["object_type"] ?? "") \($0["count"] ?? "")" }.sorted() == ["invoice 10", "payment 10"])
        #expect((report["duplicates"] as? [Any])?.isEmpty == true && (report["unknown_to_host"] as? [Any])?.isEmpty == true)
        // Someone posts a second invoice carrying one of our references: reconciliation reports it.
        let invoice = try #require(try fake.records("account.move", "ref", prefix: "ch:shop:invoice:").first)
        let reference = try #require(invoice["ref"] as? String)
        let copy = try fake.execute("account.move", "create", [[[
            "move_type": "out_invoice", "partner_id": FakeOdoo.id(invoice["partner_id"]) ?? 0, "ref": reference, "company_id": 2, "currency_id": 125,
            "invoice_line_ids": [[0, 0, ["name": "copy", "quantity": 1, "price_unit": 10]]],
        ]]], context: ["allowed_company_ids": [2]])
        let copyID = try #require((copy as? [Int])?.first)
        _ = try fake.execute("account.move", "action_post", [[copyID]], context: ["allowed_company_ids": [2]])
        let again = try second.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", today)
        #expect(again.status == 1)
        #expect(again.stdout.contains(reference))
        #expect(try second.stop() == 0)
    }

    /// The daemon is SIGKILLed while Odoo has committed a write and not yet answered: the host never
    /// recorded it, redelivers after the restart, and the connector finds the record by its reference.
    @Test func sigkillBetweenTheOdooWriteAndTheBookkeepingMakesNoDuplicate() throws {
        let daemon = try DaemonHarness()
        let fake = try FakeOdoo(version: 19, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let writes = [("res.partner", "create"), ("account.move", "create"), ("account.move", "action_post"),
                      ("account.payment.register", "action_create_payments")]
        for (model, method) in writes {
            try fake.control("fault", #"{"kind": "hang", "phase": "after", "ms": 30000, "model": "\#(model)", "method": "\#(method)"}"#)
        }
        let shop = DaemonHarness.sample("shop", "entity = \"acme-eu\"\n[connector.config]\nemit = 6\ntax_rate = 21")
        let config = shop + DaemonHarness.route("shop", "erp")
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
        try Self.expectBooked(fake, source: "shop", count: 6, rate: 21, company: 2, feeBooked: true)
        // The redeliveries of the interrupted writes found them.
        #expect(try daemon.attemptOutcomes()["duplicate", default: 0] >= 2)
        #expect(try daemon.stop() == 0)
    }

    @Test func eachLegalEntityLandsInItsCompanyAndAnUnmappedOneIsDeadLettered() throws {
        let daemon = try DaemonHarness()
        let fake = try FakeOdoo(version: 17, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let sources = DaemonHarness.sample("us", "entity = \"acme-us\"\n[connector.config]\nemit = 9\ntax_rate = 15")
            + DaemonHarness.sample("eu", "entity = \"acme-eu\"\n[connector.config]\nemit = 9\ntax_rate = 21")
            + DaemonHarness.sample("xx", "entity = \"acme-xx\"\n[connector.config]\nemit = 3")
        let routes = DaemonHarness.route("us", "erp") + DaemonHarness.route("eu", "erp") + DaemonHarness.route("xx", "erp")
        try daemon.startWithOdooKey(fake, connectors: sources + routes)
        try daemon.waitUntil("18 delivered, 3 dead", timeout: 60) { try daemon.count("delivered") == 18 && daemon.count("dead") == 3 }
        // Company 1 has no fee account configured: its payments are registered gross.
        try Self.expectBooked(fake, source: "us", count: 9, rate: 15, company: 1, feeBooked: false)
        try Self.expectBooked(fake, source: "eu", count: 9, rate: 21, company: 2, feeBooked: true)
        let dead = try daemon.deadLetters()
        #expect(dead.count == 3)
        #expect(dead.allSatisfy { $0.errorClass == "permanent" && $0.reason.contains("acme-xx") && $0.reason.contains("companies") })
        #expect(try fake.records("res.partner", "ref", prefix: "ch:xx:").isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// A refused key pauses the connector (nothing is dead-lettered); rotating the key resumes it and
    /// the connector picks the new key up. Serialization failures and 503s are retried until they pass, without duplicates.
    @Test func refusedCredentialsPauseAndTransientFailuresAreRetried() throws {
        let daemon = try DaemonHarness()
        let fake = try FakeOdoo(version: 19, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        try fake.control("fault", #"[{"kind": "serialization", "count": 2, "model": "account.move", "method": "create"}, {"kind": "http_503", "count": 2, "model": "res.partner", "method": "create"}, {"kind": "garbage", "count": 1, "model": "account.payment.register", "method": "create"}]"#)
        let shop = DaemonHarness.sample("shop", "entity = \"acme-eu\"\n[connector.config]\nemit = 9\ntax_rate = 21")
        try daemon.startWithOdooKey(fake, key: "not-the-key", connectors: shop + DaemonHarness.route("shop", "erp"))
        try daemon.waitUntil("the Odoo connector is paused", timeout: 30) { try daemon.connector("erp").paused }
        #expect(try daemon.count("delivered") == 0)
        #expect(try daemon.deadLetters().isEmpty)

        // Storing the right key resumes the connector the refusal paused; no `hostctl resume` needed.
        #expect(try daemon.hostctl(input: DaemonHarness.odooKey, "secret", "rotate", "erp", "api_key").status == 0)
        #expect(try daemon.connector("erp").paused == false)
        #expect(try daemon.auditActions().contains("connector.resume"))
        try daemon.waitUntil("9 deliveries into Odoo", timeout: 60) { try daemon.count("delivered") == 9 }
        #expect(try daemon.deadLetters().isEmpty)
        try Self.expectBooked(fake, source: "shop", count: 9, rate: 21, company: 2, feeBooked: true)
        // (The refusal was met first by the connector's source poll, which paused it before any delivery ran.)
        #expect(try daemon.attemptOutcomes()["transient", default: 0] >= 5)
        #expect(try daemon.stop() == 0)
    }

    /// A tax mapped to the wrong rate leaves the invoice in draft and dead-letters it with both totals;
    /// a payment whose invoice never comes answers `dependency` until the route gives up.
    @Test func mappingErrorsAndMissingInvoicesAreDeadLetteredWithTheirReason() throws {
        let daemon = try DaemonHarness()
        let fake = try FakeOdoo(version: 17, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let sources = DaemonHarness.sample("wrongtax", "entity = \"acme-eu\"\n[connector.config]\nemit = 2\ntax_rate = 20")
            + DaemonHarness.sample("early", "entity = \"acme-eu\"\n[connector.config]\nemit = 3\ntax_rate = 21")
        let routes = DaemonHarness.route("wrongtax", "erp")
            + DaemonHarness.route("early", "erp", events: "\"customer.*\", \"payment.*\"", "max_attempts = 3")
        // Rate 20 mapped to the 21 % tax: a mapping mistake Odoo's own tax computation reveals.
        try daemon.startWithOdooKey(fake, connectors: sources + routes, taxes: #"{ "2" = { "20" = 101, "21" = 101 } }"#)
        try daemon.waitUntil("2 delivered, 2 dead", timeout: 60) { try daemon.count("delivered") == 2 && daemon.count("dead") == 2 }
        let dead = try daemon.deadLetters()
        let tax = try #require(dead.first { $0.eventType == "invoice.finalized" })
        #expect(tax.errorClass == "permanent")
        #expect(tax.reason.contains("Odoo computes 122.21 EUR") && tax.reason.contains("source's total is 121.20 EUR") && tax.reason.contains("left in draft"))
        let draft = try #require(try fake.records("account.move", "ref", prefix: "ch:wrongtax:invoice:").first)
        #expect(draft["state"] as? String == "draft")
        let early = try #require(dead.first { $0.eventType == "payment.succeeded" })
        #expect(early.errorClass == "dependency")
        #expect(early.reason.contains("invoice in_1") && early.reason.contains("not in Odoo yet"))
        #expect(early.attempts == 3)
        #expect(try fake.records("account.payment").isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// The source: finance registers a payment in Odoo; an `invoice.paid` event reaches a sink.
    @Test(arguments: [17, 19]) func anInvoicePaidInOdooBecomesAnEvent(version: Int) throws {
        let daemon = try DaemonHarness()
        let fake = try FakeOdoo(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let shop = DaemonHarness.sample("shop", "entity = \"acme-eu\"\n[connector.config]\nemit = 6\ntax_rate = 21")
        let crm = DaemonHarness.sample("crm", "[connector.config]\neffects_file = \"\(daemon.path("crm.effects"))\"")
        let routes = DaemonHarness.route("shop", "erp", events: "\"customer.*\", \"invoice.*\"") + DaemonHarness.route("erp", "crm", events: "\"invoice.paid\"")
        try daemon.startWithOdooKey(fake, connectors: shop + crm + routes)
        try daemon.waitUntil("4 deliveries into Odoo", timeout: 60) { try daemon.count("delivered", route: "shop->erp") == 4 }
        let invoices = try fake.records("account.move", "ref", prefix: "ch:shop:invoice:")
        #expect(invoices.count == 2 && invoices.allSatisfy { $0["payment_state"] as? String == "not_paid" })
        #expect(daemon.effects("crm.effects").isEmpty)

        let paid = try #require(invoices.first?["id"] as? Int)
        #expect(try fake.control("pay", #"{"invoice_id": \#(paid)}"#).status == 200)
        try daemon.waitUntil("the invoice.paid event reached the CRM sink", timeout: 30) { daemon.effects("crm.effects").count == 1 }
        #expect(daemon.effects("crm.effects") == ["erp:account.move:\(paid):paid:0"])
        #expect(try daemon.hostctl("trace", "erp:account.move:\(paid):paid:0").status == 0)
        #expect(try daemon.storedEvent("erp:account.move:\(paid):paid:0") == "invoice.paid acme-eu")  // company 2's entity
        // The partners stream: the two customers written into Odoo come back as customer.updated, with their country.
        let partners = try daemon.storedEvents(connector: "erp", type: "customer.updated")
        let names = Set(try fake.records("res.partner", "ref", prefix: "ch:shop:customer:").compactMap { $0["name"] as? String })
        #expect(names.count == 2 && names.isSubset(of: Set(partners.compactMap { (($0["record"] as? [String: Any])?["customer"] as? [String: Any])?["name"] as? String })))
        #expect(partners.contains { ((($0["record"] as? [String: Any])?["customer"] as? [String: Any])?["address"] as? [String: Any])?["country"] as? String == "FR" })
        #expect(try daemon.stop() == 0)
    }
}
