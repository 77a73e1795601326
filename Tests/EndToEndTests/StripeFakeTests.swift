import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// Our own Stripe fake (Tests/Fakes/stripe/fake_stripe.py), for what localstripe lacks: lists newest
/// first as Stripe has them, processor fees, Idempotency-Key replays, and queued faults.
final class FakeStripe {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes/stripe/fake_stripe.py").path

    let process = Process()
    let url: String
    let key = "sk_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()

    init(log: String) throws {
        url = try launchLoopbackFake(process, "/usr/bin/env", ["python3", Self.script, "--port", "0", "--api-key", key], log: log, name: "the fake Stripe")
    }

    deinit { stopLoopbackFake(process) }

    @discardableResult
    func post(_ path: String, _ fields: [(String, String)]) throws -> [String: Any] {
        try stripePost(url, key: key, path, fields)
    }

    func list(_ pathAndQuery: String) throws -> [[String: Any]] {
        try stripeList(url, key: key, pathAndQuery)
    }

    @discardableResult
    func control(_ name: String, _ json: String) throws -> [String: Any] {
        let answer = try http("POST", "\(url)/__fake__/\(name)", headers: ["Content-Type": "application/json"], body: json)
        guard answer.status == 200 else { throw HarnessError("fake Stripe \(name): \(answer.status) \(answer.body)") }
        return (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }

    /// Every `/v1` call the fake answered, in order: method, path, query, idempotency_key, status, replayed, fault, at.
    func calls() throws -> [[String: Any]] {
        let answer = try http("GET", "\(url)/__fake__/calls")
        return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
    }

    /// A customer in Belgium billed `unitMinor` EUR × `quantity` with 21 % VAT, paid by card at once.
    @discardableResult
    func paidInvoice(customer name: String, unitMinor: Int, quantity: Int) throws -> (customer: String, invoice: [String: Any]) {
        let customer = try post("/v1/customers", [("name", name), ("email", "ap@\(name.lowercased().filter(\.isLetter)).test"), ("address[country]", "BE")])
        let price = try post("/v1/prices", [("currency", "eur"), ("unit_amount", String(unitMinor)), ("product_data[name]", "Seat")])
        let vat = try post("/v1/tax_rates", [("display_name", "VAT"), ("percentage", "21"), ("inclusive", "false")])
        let id = customer["id"] as? String ?? ""
        let invoice = try control("invoice", #"{"customer": "\#(id)", "paid": true, "lines": [{"price": "\#(price["id"] as? String ?? "")", "quantity": \#(quantity), "tax_rates": ["\#(vat["id"] as? String ?? "")"]}]}"#)
        return (id, invoice)
    }
}

extension DaemonHarness {
    /// Starts the daemon, stores the Stripe key (and the Odoo one when `odoo` is given), then loads
    /// `connectors`: no connector runs before its key is in the vault.
    func startWithStripeKey(_ stripe: FakeStripe, odoo: OdooServer? = nil, connectors: String) throws {
        var secrets = [("stripe", "api_key", stripe.key)]
        if odoo != nil { secrets.append(("erp", "api_key", Self.odooKey)) }
        try start(storing: secrets, then: (odoo.map { Self.odoo($0) } ?? "") + connectors)
    }

    /// A Stripe source `stripe` for the entity acme-eu, polling every 300 ms.
    static func stripeSource(url: String, pageSize: Int = 100) -> String {
        """
        [[connector]]
        id = "stripe"
        plugin = "stripe"
        entity = "acme-eu"
        poll_interval_ms = 300
        [connector.config]
        api_base = "\(url)"
        page_size = \(pageSize)

        """
    }
}

@Suite(.serialized) struct StripeFakeTests {
    static let route = DaemonHarness.route("stripe", "erp", events: #""customer.*", "product.*", "invoice.*", "payment.*", "refund.*""#)

    /// Stripe lists events newest first. Polled in pages of two, across page boundaries and across
    /// polls (a second invoice paid after the first poll, then a refund), every event becomes canonical
    /// events once; both invoices reach Odoo posted and paid, their payments net of Stripe's fee, which
    /// is written off to the fee account; the refund becomes a credit note paid back.
    @Test func newestFirstPagesAndFeesReachOdooOnce() throws {
        let daemon = try DaemonHarness()
        let stripe = try FakeStripe(log: daemon.path("stripe.log"))
        let odoo = try OdooServer(version: 19, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        // 24 customers first: more events than a poll walks back through in pages of two (10 pages),
        // so the first poll's walk to the oldest event of the window takes two polls.
        let others = try (0..<24).map { index in try stripe.post("/v1/customers", [("name", "Prospect \(index)"), ("email", "p\(index)@prospects.test")])["id"] as? String ?? "" }
        let (firstCustomer, firstInvoice) = try stripe.paidInvoice(customer: "Globex", unitMinor: 5_000, quantity: 3)
        try daemon.startWithStripeKey(stripe, odoo: odoo, connectors: DaemonHarness.stripeSource(url: stripe.url, pageSize: 2) + Self.route)

        func paid(_ invoice: [String: Any]) throws -> Bool {
            try odoo.records("account.move", "ref", prefix: "ch:stripe:invoice:\(invoice["id"] as? String ?? "")").first?["payment_state"] as? String == "paid"
        }
        try daemon.waitUntil("the first invoice is paid in Odoo", timeout: 60) { try paid(firstInvoice) }
        let (secondCustomer, secondInvoice) = try stripe.paidInvoice(customer: "Initech", unitMinor: 2_000, quantity: 1)
        try daemon.waitUntil("the second invoice, paid after the first poll, is paid in Odoo", timeout: 60) { try paid(secondInvoice) }
        // A partial refund of the first charge: a credit note reversing its invoice, the money paid back.
        let refund = try stripe.post("/v1/refunds", [("charge", firstInvoice["charge"] as? String ?? ""), ("amount", "5000")])
        let refundID = try #require(refund["id"] as? String)
        try daemon.waitUntil("the refund's credit note is paid back in Odoo", timeout: 60) {
            try odoo.records("account.move", "ref", prefix: "ch:stripe:refund_credit_note:\(refundID)").first?["payment_state"] as? String == "paid"
        }
        try daemon.waitUntil("every delivery is done", timeout: 30) { try daemon.count("pending") == 0 }
        let creditNotes = try odoo.records("account.move", "ref", prefix: "ch:stripe:refund_credit_note:")
        let reversed = try odoo.records("account.move", "ref", prefix: "ch:stripe:invoice:\(firstInvoice["id"] as? String ?? "")").first?["id"] as? Int
        #expect(creditNotes.count == 1 && creditNotes.first?["move_type"] as? String == "out_refund" && OdooServer.id(creditNotes.first?["reversed_entry_id"]) == reversed)
        let paidBack = try odoo.records("account.payment", odoo.memo, prefix: "ch:stripe:refund:")
        #expect(paidBack.count == 1 && paidBack.first?["payment_type"] as? String == "outbound" && paidBack.first?["amount"] as? Double == 50)

        let partners = try odoo.records("res.partner", "ref", prefix: "ch:stripe:customer:").compactMap { $0["ref"] as? String }
        #expect(partners.sorted() == (others + [firstCustomer, secondCustomer]).map { "ch:stripe:customer:\($0)" }.sorted())
        let invoices = try odoo.records("account.move", "ref", prefix: "ch:stripe:invoice:")
        #expect(invoices.count == 2 && invoices.allSatisfy { $0["state"] as? String == "posted" && OdooServer.id($0["company_id"]) == 2 })
        // 3 × 50.00 + 21 % = 181.50 and 20.00 + 21 % = 24.20; the fee is 2.9 % + 0.30 of the charge.
        #expect(invoices.compactMap { $0["amount_total"] as? Double }.sorted() == [24.2, 181.5])
        // Payments registered gross, each fee an entry of its own.
        let payments = try odoo.records("account.payment", odoo.memo, prefix: "ch:stripe:payment:")
        #expect(payments.compactMap { ($0["amount"] as? Double).map { Int(($0 * 100).rounded()) } }.sorted() == [2_420, 18_150])
        let fees = try odoo.records("account.move", "ref", prefix: "ch:stripe:payment_fee:")
        #expect(fees.compactMap { ($0["amount_total"] as? Double).map { Int(($0 * 100).rounded()) } }.sorted() == [70 + 30, 526 + 30])

        // One stored event per canonical change; the polls walked pages of two, newest first.
        let keys = try daemon.storedEvents(connector: "stripe").compactMap { event -> String? in
            guard let source = event["source"] as? [String: Any] else { return nil }
            return "\(source["object_type"] ?? ""):\(source["object_id"] ?? ""):\(source["version"] ?? "")"
        }
        #expect(!keys.isEmpty && keys.count == Set(keys).count)
        let polls = try stripe.calls().filter { $0["path"] as? String == "/v1/events" }
        // The walk back took more pages than one poll reads (10): it went on in the next poll.
        #expect(polls.filter { ($0["query"] as? String ?? "").contains("starting_after") }.count > 10)
        #expect(polls.contains { ($0["query"] as? String ?? "").contains("ending_before") })
        #expect(polls.allSatisfy { $0["status"] as? Int == 200 })
        #expect(try daemon.deadLetters().isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// Errors while polling: 429s with Retry-After and Stripe's 500s and 503s are waited out and the
    /// events still arrive; a refused key pauses the connector until a key is stored again.
    @Test func pollingWaitsOutRateLimitsAndServerErrorsAndPausesOnARefusedKey() throws {
        let daemon = try DaemonHarness()
        let stripe = try FakeStripe(log: daemon.path("stripe.log"))
        try stripe.control("fault", #"""
            [{"kind": "rate_limit", "path": "/v1/events", "count": 2, "retry_after": 1},
             {"kind": "lock_timeout", "path": "/v1/events"},
             {"kind": "api_error", "path": "/v1/events"},
             {"kind": "unavailable", "path": "/v1/events"}]
            """#)
        let first = try stripe.post("/v1/customers", [("name", "Umbrella"), ("email", "ap@umbrella.test")])
        try daemon.startWithStripeKey(stripe, connectors: DaemonHarness.stripeSource(url: stripe.url))
        func stored(_ customer: [String: Any]) throws -> Bool {
            try daemon.storedEvents(connector: "stripe").contains { ($0["source"] as? [String: Any])?["object_id"] as? String == customer["id"] as? String }
        }
        try daemon.waitUntil("the customer is stored after five failed polls", timeout: 60) { try stored(first) }
        let polls = try stripe.calls().filter { $0["path"] as? String == "/v1/events" }
        #expect(polls.prefix(5).map { $0["status"] as? Int } == [429, 429, 429, 500, 503])
        // Retry-After: 1 was honoured between the two rate-limited polls.
        let times = polls.compactMap { $0["at"] as? Double }
        #expect(times.count >= 2 && times[1] - times[0] >= 0.9)
        #expect(try daemon.connector("stripe").state == "running")

        // A refused key: the connector is paused and says why; storing a key resumes it.
        try stripe.control("fault", #"{"kind": "unauthorized", "path": "/v1/events"}"#)
        let second = try stripe.post("/v1/customers", [("name", "Hooli"), ("email", "ap@hooli.test")])
        try daemon.waitUntil("the connector is paused", timeout: 30) { try daemon.connector("stripe").paused }
        #expect(try daemon.connector("stripe").lastError?.contains("Invalid API Key") == true)
        #expect(try !stored(second))
        #expect(try daemon.hostctl(input: stripe.key, "secret", "set", "stripe", "api_key").status == 0)
        try daemon.waitUntil("the second customer is stored once the key is back", timeout: 30) { try stored(second) }
        #expect(try daemon.connector("stripe").paused == false)
        #expect(try daemon.stop() == 0)
    }

    /// Stripe lists events by `created`: one that becomes visible after newer ones were read sits
    /// behind the cursor. A caught-up poll looks at the last five minutes again and finds it, once.
    @Test func anEventListedLateBehindNewerOnesIsStillRead() throws {
        let daemon = try DaemonHarness()
        let stripe = try FakeStripe(log: daemon.path("stripe.log"))
        let early = try stripe.post("/v1/customers", [("name", "Early"), ("email", "ap@early.test")])
        try daemon.startWithStripeKey(stripe, connectors: DaemonHarness.stripeSource(url: stripe.url))
        func stored() throws -> [String] {
            try daemon.storedEvents(connector: "stripe").compactMap { ($0["source"] as? [String: Any])?["object_id"] as? String }
        }
        let newer = try stripe.post("/v1/customers", [("name", "Newer"), ("email", "ap@newer.test")])
        try daemon.waitUntil("both customers are stored", timeout: 30) { try Set(stored()).isSuperset(of: [early["id"] as? String ?? "", newer["id"] as? String ?? ""]) }
        // An event stamped a minute ago appears now: listed behind the two already read.
        try stripe.control("clock", #"{"advance": -60}"#)
        let late = try stripe.post("/v1/customers", [("name", "Late"), ("email", "ap@late.test")])
        let events = try stripe.list("/v1/events?limit=10").compactMap { $0["id"] as? String }
        #expect(events.count == 3 && events.last != nil)
        try daemon.waitUntil("the late customer is stored", timeout: 30) { try stored().contains(late["id"] as? String ?? "") }
        try daemon.waitUntil("a few more polls", timeout: 10) {
            try stripe.calls().filter { ($0["query"] as? String ?? "").contains("created") }.count >= 4
        }
        let ids = try stored()
        #expect(ids.count == 3 && Set(ids).count == 3, "each customer once: \(ids)")
        #expect(try daemon.stop() == 0)
    }

    /// The reverse direction's errors: 429s, a lock timeout and a 503 are retried with the same
    /// Idempotency-Key; a 500, which Stripe stores under the key and replays, is retried under a new
    /// key once the customer is known not to exist; a 400 dead-letters with Stripe's message; a 401
    /// pauses the connector until a key is stored. Each customer exists once in Stripe.
    @Test func sinkErrorsEndWhereTheyShouldAndEachCustomerIsCreatedOnce() throws {
        let daemon = try DaemonHarness()
        let stripe = try FakeStripe(log: daemon.path("stripe.log"))
        try stripe.control("fault", #"""
            [{"kind": "rate_limit", "method": "POST", "path": "/v1/customers", "retry_after": 1},
             {"kind": "lock_timeout", "method": "POST", "path": "/v1/customers"},
             {"kind": "unavailable", "method": "POST", "path": "/v1/customers"},
             {"kind": "api_error", "method": "POST", "path": "/v1/customers"}]
            """#)
        let sink = "[[connector]]\nid = \"stripe\"\nplugin = \"stripe\"\npoll_interval_ms = 3600000\n[connector.config]\napi_base = \"\(stripe.url)\"\nbackfill_days = 0\n"
        // The sample source emits customers, invoices and payments in thirds: 12 events, 4 customers.
        let crm = DaemonHarness.sample("crm", "[connector.config]\nemit = 12")
        try daemon.startWithStripeKey(stripe, connectors: crm + sink + DaemonHarness.route("crm", "stripe", events: #""customer.*""#))
        try daemon.waitUntil("4 customers delivered to Stripe", timeout: 60) { try daemon.count("delivered") == 4 }
        let ours = { try stripe.list("/v1/customers?limit=100").filter { (($0["metadata"] as? [String: Any])?["connector_host_ref"] as? String)?.hasPrefix("ch:") == true } }
        #expect(try ours().count == 4)
        let posts = try stripe.calls().filter { $0["method"] as? String == "POST" && $0["path"] as? String == "/v1/customers" }
        #expect(Set(posts.compactMap { $0["fault"] as? String }) == ["rate_limit", "lock_timeout", "unavailable", "api_error"])
        for failed in posts where [429, 503].contains(failed["status"] as? Int) {
            // The retry of a 429 or a 503 carries the same key, and that key created the customer.
            let key = failed["idempotency_key"] as? String
            #expect(posts.contains { $0["idempotency_key"] as? String == key && $0["status"] as? Int == 200 })
        }
        let serverError = try #require(posts.first { $0["fault"] as? String == "api_error" })
        let key = try #require(serverError["idempotency_key"] as? String)
        #expect(posts.contains { $0["idempotency_key"] as? String == key && $0["replayed"] as? Bool == true && $0["status"] as? Int == 500 })
        #expect(posts.contains { ($0["idempotency_key"] as? String)?.hasPrefix(key + ":after-replayed-error:") == true && $0["status"] as? Int == 200 })
        let outcomes = try daemon.attemptOutcomes()
        #expect(outcomes["rate_limited"] == 2 && outcomes["delivered"] == 4)

        // A second CRM: one customer refused by Stripe (dead letter with Stripe's words), then a
        // refused key (the connector pauses, the delivery waits, a stored key resumes it).
        try stripe.control("fault", #"""
            [{"kind": "invalid_request", "method": "POST", "path": "/v1/customers"},
             {"kind": "unauthorized", "method": "POST", "path": "/v1/customers"}]
            """#)
        try daemon.writeConfig(connectors: crm + sink + DaemonHarness.route("crm", "stripe", events: #""customer.*""#)
                               + DaemonHarness.sample("crm2", "[connector.config]\nemit = 6") + DaemonHarness.route("crm2", "stripe", events: #""customer.*""#))
        #expect(try daemon.hostctl("reload").status == 0)
        try daemon.waitUntil("the connector is paused", timeout: 30) { try daemon.connector("stripe").paused }
        let dead = try daemon.deadLetters()
        #expect(dead.count == 1 && dead.first?.errorClass == "permanent" && dead.first?.reason.contains("Invalid string") == true)
        #expect(try daemon.hostctl(input: stripe.key, "secret", "set", "stripe", "api_key").status == 0)
        try daemon.waitUntil("the other customer of crm2 delivered", timeout: 30) { try daemon.count("delivered", route: "crm2->stripe") == 1 }
        #expect(try ours().count == 5)
        #expect(try daemon.stop() == 0)
    }
}
