import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// localstripe (PyPI, a third-party Stripe fake) on loopback, from the virtualenv `scripts/test` makes.
final class Localstripe {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = repository.appendingPathComponent(".build/venv-localstripe/bin/python").path
    static let launcher = repository.appendingPathComponent("Tests/Fakes/stripe/localstripe_loopback.py").path
    /// `scripts/test` installs it and sets CONNECTOR_HOST_REQUIRE_LOCALSTRIPE=1, which turns its absence
    /// into a failure; a bare `swift test` without it skips these tests.
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: python) || ProcessInfo.processInfo.environment["CONNECTOR_HOST_REQUIRE_LOCALSTRIPE"] == "1"
    }

    let process = Process()
    let url: String
    let key = "sk_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()

    init(log: String) throws {
        url = try launchLoopbackFake(process, Self.python, [Self.launcher, "--port", "0"], log: log, name: "localstripe")
    }

    deinit { stopLoopbackFake(process) }

    @discardableResult
    func post(_ path: String, _ fields: [(String, String)]) throws -> [String: Any] {
        try stripePost(url, key: key, path, fields)
    }

    /// Every event localstripe has, oldest first.
    func events() throws -> [[String: Any]] {
        try stripeList(url, key: key, "/v1/events?limit=100")
    }

    /// A customer subscribing to a monthly plan paid by card: localstripe bills and charges at once.
    func subscribe(name: String, amountMinor: Int, customerFields: [(String, String)] = []) throws -> (customer: String, invoice: String) {
        let customer = try post("/v1/customers", [("name", name), ("email", "ap@\(name.lowercased().filter(\.isLetter)).test"), ("address[country]", "BE")] + customerFields)
        let product = try post("/v1/products", [("name", "Pro plan")])
        let plan = "pro-\(UUID().uuidString.prefix(8).lowercased())"
        try post("/v1/plans", [("id", plan), ("amount", String(amountMinor)), ("currency", "eur"), ("interval", "month"), ("product", product["id"] as? String ?? "")])
        let card = try post("/v1/payment_methods", [("type", "card"), ("card[number]", "4242424242424242"), ("card[exp_month]", "12"), ("card[exp_year]", "2030"), ("card[cvc]", "123")])
        let customerID = customer["id"] as? String ?? ""
        try post("/v1/payment_methods/\(card["id"] as? String ?? "")/attach", [("customer", customerID)])
        try post("/v1/customers/\(customerID)", [("invoice_settings[default_payment_method]", card["id"] as? String ?? "")])
        let subscription = try post("/v1/subscriptions", [("customer", customerID), ("items[0][plan]", plan)])
        return (customerID, subscription["latest_invoice"] as? String ?? "")
    }
}

@Suite(.serialized, .enabled(if: Localstripe.available, "localstripe is not installed: scripts/test installs it")) struct StripeFlowTests {
    /// The first vertical slice: a subscription created in Stripe becomes one partner, one posted and
    /// paid invoice and one payment in the Odoo company of the Stripe account's entity, while every
    /// Stripe event arrives twice — by signed webhook and by polling pages of two events.
    @Test func aSubscriptionInStripeBecomesAPaidInvoiceInOdooOnce() throws {
        let daemon = try DaemonHarness()
        let stripe = try Localstripe(log: daemon.path("localstripe.log"))
        let odoo = try OdooServer(version: 19, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let webhookSecret = "whsec_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let listener = DaemonHarness.httpListeners
        try daemon.writeConfig(connectors: listener)
        try daemon.start()
        for (connector, name, value) in [("stripe", "api_key", stripe.key), ("stripe", "webhook_secret", webhookSecret), ("erp", "api_key", DaemonHarness.odooKey)] {
            #expect(try daemon.hostctl(input: value, "secret", "set", connector, name).status == 0)
        }
        let source = DaemonHarness.stripeSource(url: stripe.url, pageSize: 2)
        try daemon.writeConfig(connectors: listener + source + DaemonHarness.odoo(odoo)
                               + DaemonHarness.route("stripe", "erp", events: #""customer.*", "product.*", "invoice.*", "payment.*""#))
        #expect(try daemon.hostctl("reload").status == 0)
        let address = try daemon.webhookAddress()
        try stripe.post("/_config/webhooks/host", [("url", "http://\(address)/hooks/stripe"), ("secret", webhookSecret)])

        let (customer, invoice) = try stripe.subscribe(name: "Globex", amountMinor: 12_100)
        try daemon.waitUntil("the invoice is paid in Odoo", timeout: 60) {
            try odoo.records("account.move", "ref", prefix: "ch:stripe:invoice:\(invoice)").first?["payment_state"] as? String == "paid"
        }
        let partners = try odoo.records("res.partner", "ref", prefix: "ch:stripe:customer:")
        #expect(partners.map { $0["ref"] as? String } == ["ch:stripe:customer:\(customer)"])
        let invoices = try odoo.records("account.move", "ref", prefix: "ch:stripe:invoice:")
        #expect(invoices.count == 1 && invoices.first?["state"] as? String == "posted" && invoices.first?["amount_total"] as? Double == 121)
        #expect(OdooServer.id(invoices.first?["company_id"]) == 2)
        let payments = try odoo.records("account.payment", "memo", prefix: "ch:stripe:payment:")
        #expect(payments.count == 1 && payments.first?["amount"] as? Double == 121)

        // Both ways in: webhooks were accepted, and the polls went through pages of two events.
        try daemon.waitUntil("localstripe's webhooks arrived", timeout: 15) { try daemon.webhookDeliveries() > 0 }
        let stripeEvents = try stripe.events().compactMap { $0["id"] as? String }
        try daemon.waitUntil("the polls reached the last Stripe event", timeout: 15) {
            try daemon.storedEvents(connector: "stripe").contains { $0["correlation_id"] as? String == stripeEvents.last }
        }
        let stored = try daemon.storedEvents(connector: "stripe")
        // One stored event per canonical change, though each Stripe event came twice.
        let keys = stored.compactMap { event -> String? in
            guard let source = event["source"] as? [String: Any] else { return nil }
            return "\(source["object_type"] ?? ""):\(source["object_id"] ?? ""):\(source["version"] ?? "")"
        }
        #expect(keys.count == Set(keys).count && !keys.isEmpty)
        #expect(try daemon.deadLetters().isEmpty)
        #expect(try daemon.stop() == 0)
    }
}

extension StripeFlowTests {
    /// The reverse direction: customers of another system (a CRM here) become Stripe customers, once,
    /// also when a host that lost its database delivers them again (found by email and the reference
    /// kept in their metadata; every POST carries the delivery's Idempotency-Key).
    @Test func customersFromAnotherSystemBecomeStripeCustomersOnce() throws {
        let stripe = try Localstripe(log: "/dev/null")
        func customers() throws -> [[String: Any]] {
            try stripeList(stripe.url, key: stripe.key, "/v1/customers?limit=100").filter { (($0["metadata"] as? [String: Any])?["connector_host_ref"] as? String)?.hasPrefix("ch:crm:customer:") == true }
        }
        for _ in 0..<2 {
            let daemon = try DaemonHarness()
            try daemon.writeConfig(connectors: "")
            try daemon.start()
            #expect(try daemon.hostctl(input: stripe.key, "secret", "set", "stripe", "api_key").status == 0)
            let stripeSink = "[[connector]]\nid = \"stripe\"\nplugin = \"stripe\"\npoll_interval_ms = 3600000\n[connector.config]\napi_base = \"\(stripe.url)\"\nbackfill_days = 0\n"
            try daemon.writeConfig(connectors: DaemonHarness.sample("crm", "[connector.config]\nemit = 6") + stripeSink
                                   + DaemonHarness.route("crm", "stripe", events: #""customer.*""#))
            #expect(try daemon.hostctl("reload").status == 0)
            try daemon.waitUntil("2 customers delivered to Stripe", timeout: 30) { try daemon.count("delivered") == 2 }
            #expect(try daemon.deadLetters().isEmpty)
            #expect(try daemon.stop() == 0)
        }
        let created = try customers()
        #expect(created.count == 2)
        #expect(Set(created.compactMap { $0["email"] as? String }) == ["c0@example.com", "c1@example.com"])
        #expect(created.allSatisfy { ($0["address"] as? [String: Any])?["city"] as? String == "Lyon" })
    }
}

extension DaemonHarness {
    /// Accepted webhook deliveries (their replay keys), from the database.
    func webhookDeliveries() throws -> Int {
        let output = try Self.run("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
            print(c.execute("SELECT COUNT(*) FROM webhook_replays").fetchone()[0])
            """, path("state/connector-host.sqlite")]).stdout
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}
