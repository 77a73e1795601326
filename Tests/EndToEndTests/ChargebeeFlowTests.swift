import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// The fake Chargebee of Tests/Fakes/chargebee, on loopback.
final class FakeChargebee {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes/chargebee/fake_chargebee.py").path
    static let key = "test_fake_chargebee_key"

    let process = Process()
    let url: String

    init(log: String) throws {
        url = try launchLoopbackFake(process, "/usr/bin/env", ["python3", Self.script, "--port", "0", "--api-key", Self.key], log: log, name: "the fake Chargebee")
    }

    deinit { stopLoopbackFake(process) }

    @discardableResult
    func control(_ name: String, _ json: String) throws -> [String: Any] {
        let answer = try http("POST", "\(url)/__fake__/\(name)", headers: ["Content-Type": "application/json"], body: json)
        guard answer.status == 200 else { throw HarnessError("fake Chargebee \(name): \(answer.status) \(answer.body)") }
        return (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }
}

@Suite(.serialized) struct ChargebeeFlowTests {
    /// The `billing` Chargebee connector (its `[connector.config]` after the base) routed into the
    /// fixture sink `py`, which writes each event it takes to the daemon's `payloads` file.
    static func billingIntoSink(_ chargebee: FakeChargebee, _ daemon: DaemonHarness, _ config: String) -> String {
        """
        [[connector]]
        id = "billing"
        plugin = "chargebee"
        poll_interval_ms = 200
        [connector.config]
        api_base = "\(chargebee.url)/api/v2"
        \(config)

        [[connector]]
        id = "py"
        plugin = "pysink"
        [connector.config]
        effects_file = "\(daemon.path("effects"))"
        payloads_file = "\(daemon.path("payloads"))"

        """ + DaemonHarness.route("billing", "py")
    }

    /// 40 paid invoices seeded in one second (more events in that second than a page of 20 holds) are
    /// read from the events feed once each; the same events pushed by webhooks with the right Basic
    /// credentials are duplicates; with wrong ones, 401 and nothing stored (issue 17, first steps).
    @Test func theEventsFeedAndWebhooksGiveEachChangeOnce() throws {
        let daemon = try DaemonHarness()
        let chargebee = try FakeChargebee(log: daemon.path("chargebee.log"))
        let now = Int(Date().timeIntervalSince1970) - 600
        try chargebee.control("seed", #"{"customers": 10, "currency_code": "EUR", "invoices": 40, "paid": true, "start_at": \#(now), "step_seconds": 0}"#)
        try daemon.writeConfig(connectors: DaemonHarness.httpListeners)
        try ForeignPluginTests.addFixturePlugins(daemon)
        try daemon.start()
        for (name, value) in [("api_key", FakeChargebee.key), ("webhook_password", "hook-password")] {
            #expect(try daemon.hostctl(input: value, "secret", "set", "billing", name).status == 0)
        }
        try daemon.writeConfig(connectors: DaemonHarness.httpListeners + Self.billingIntoSink(chargebee, daemon, "page_size = 20\nbackfill = []"))
        try ForeignPluginTests.addFixturePlugins(daemon)
        #expect(try daemon.hostctl("reload").status == 0)
        try daemon.waitUntil("the 40 payments are delivered", timeout: 60) {
            daemon.effects("payloads").filter { $0.contains(#""type":"payment.succeeded""#) }.count >= 40
        }
        try daemon.waitUntil("nothing more arrives", timeout: 20) { try daemon.count("pending") == 0 }
        let delivered = daemon.effects("payloads")
        let keys = delivered.compactMap { line -> String? in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let source = event["source"] as? [String: Any] else { return nil }
            return "\(source["object_type"] ?? ""):\(source["object_id"] ?? ""):\(source["version"] ?? "")"
        }
        #expect(Set(keys).count == keys.count && keys.filter { $0.hasPrefix("transaction:") }.count == 40, "\(keys.count) delivered")
        #expect(keys.filter { $0.hasPrefix("customer:") }.count >= 10 && keys.filter { $0.hasPrefix("invoice:") }.count >= 40)

        let hook = "http://\(try daemon.webhookAddress())/hooks/billing"
        let pushed = try chargebee.control("webhooks", #"{"url": "\#(hook)", "username": "chargebee", "password": "hook-password"}"#)
        let sent = pushed["sent"] as? [[String: Any]] ?? []
        #expect(!sent.isEmpty && sent.allSatisfy { $0["status"] as? Int == 200 }, "\(pushed)")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(daemon.effects("payloads").count == delivered.count, "the pushed copies were duplicates")
        // A new invoice, pushed with the wrong password: refused, every delivery.
        try chargebee.control("seed", #"{"customers": 1, "currency_code": "EUR", "invoices": 1, "paid": true}"#)
        let forged = try chargebee.control("webhooks", #"{"url": "\#(hook)", "username": "chargebee", "password": "wrong"}"#)
        let refused = forged["sent"] as? [[String: Any]] ?? []
        #expect(!refused.isEmpty && refused.allSatisfy { $0["status"] as? Int == 401 }, "\(forged)")
        #expect(!daemon.log.contains("poll failed"), "\(daemon.log.suffix(2_000))")
        #expect(try daemon.stop() == 0)
    }

    /// The sink: customers of another system (a CRM here) become Chargebee customers under ids made from
    /// their references, once — also when a host that lost its database delivers them again, which finds
    /// them by id and writes back only what changed meanwhile (a billing address, through
    /// update_billing_info, as Chargebee's update refuses it).
    @Test func customersFromAnotherSystemBecomeChargebeeCustomersOnce() throws {
        let chargebee = try FakeChargebee(log: "/dev/null")
        let ids = ["crm-customer-cus_0", "crm-customer-cus_1"]
        for run in 0..<2 {
            if run == 1 { try chargebee.post("/customers/\(ids[0])/update_billing_info", [("billing_address[city]", "Paris")]) }
            let daemon = try DaemonHarness()
            let sink = "[[connector]]\nid = \"billing\"\nplugin = \"chargebee\"\n[connector.config]\napi_base = \"\(chargebee.url)/api/v2\"\nbackfill = []\n"
            try daemon.start(storing: [("billing", "api_key", FakeChargebee.key)],
                             then: DaemonHarness.sample("crm", "[connector.config]\nemit = 6") + sink + DaemonHarness.route("crm", "billing", events: #""customer.*""#))
            try daemon.waitUntil("2 customers delivered to Chargebee", timeout: 30) { try daemon.count("delivered") == 2 }
            #expect(try daemon.deadLetters().isEmpty)
            #expect(try daemon.stop() == 0)
        }
        let customers = try chargebee.all("customers")
        #expect(customers.compactMap { $0["id"] as? String }.sorted() == ids)
        #expect(customers.allSatisfy { ($0["billing_address"] as? [String: Any])?["city"] as? String == "Lyon" }, "Paris was written back")
        #expect(Set(customers.compactMap { $0["email"] as? String }) == ["c0@example.com", "c1@example.com"])
        let calls = try http("GET", "\(chargebee.url)/__fake__/calls").body
        #expect(calls.components(separatedBy: "update_billing_info").count - 1 == 2, "the test's own and the one writing Lyon back")
    }

    /// Chargebee's limits (150 requests a minute on the smallest plan, shared by the site's clients):
    /// paced below a limit the connector is told of, it never meets a 429, though its stream is
    /// polled every 200 ms; a storm of 429s with Retry-After (another client spent the budget) is waited
    /// out, each page read once, nothing dead-lettered.
    @Test func rateLimitsArePacedAndStormsWaitedOut() throws {
        let daemon = try DaemonHarness()
        let chargebee = try FakeChargebee(log: daemon.path("chargebee.log"))
        try chargebee.control("site", #"{"rate_limit": 20}"#)
        try chargebee.control("seed", #"{"customers": 2, "currency_code": "EUR", "invoices": 4, "paid": true}"#)
        func calls() throws -> [[String: Any]] {
            let answer = try http("GET", "\(chargebee.url)/__fake__/calls")
            return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
        }
        let before = try calls().count
        let source = Self.billingIntoSink(chargebee, daemon, "requests_per_minute = 12\nbackfill = []")
        try daemon.writeConfig(connectors: "")
        try daemon.start()
        #expect(try daemon.hostctl(input: FakeChargebee.key, "secret", "set", "billing", "api_key").status == 0)
        try daemon.writeConfig(connectors: source)
        try ForeignPluginTests.addFixturePlugins(daemon)
        #expect(try daemon.hostctl("reload").status == 0)
        try daemon.waitUntil("the 4 payments are delivered", timeout: 60) {
            daemon.effects("payloads").filter { $0.contains(#""type":"payment.succeeded""#) }.count >= 4
        }
        let paced = try calls().dropFirst(before).filter { ($0["path"] as? String)?.hasPrefix("/api/v2/") == true }
        #expect(!paced.isEmpty && paced.allSatisfy { $0["status"] as? Int != 429 }, "\(paced.filter { $0["status"] as? Int == 429 }.count) answered 429")
        #expect(paced.count <= 12, "at most 12 requests in the first minute: \(paced.count)")

        // Another client spent the budget: eight 429s with Retry-After, then the new invoice.
        let storm = #"{"kind": "retry_after", "retry_after": 1, "count": 8, "path": "/api/v2/", "body": {"message": "Sorry, access has been blocked temporarily due to request count exceeding acceptable limits.", "type": "operation_failed", "api_error_code": "api_request_limit_exceeded", "error_code": "api_request_limit_exceeded", "http_status_code": 429}}"#
        try chargebee.control("fault", storm)
        try chargebee.control("site", #"{"rate_limit": 0}"#)
        try daemon.writeConfig(connectors: source.replacingOccurrences(of: "requests_per_minute = 12", with: "requests_per_minute = 0"))
        try ForeignPluginTests.addFixturePlugins(daemon)
        #expect(try daemon.hostctl("reload").status == 0)
        try chargebee.control("seed", #"{"customers": 1, "currency_code": "EUR", "invoices": 1, "paid": true}"#)
        try daemon.waitUntil("the storm is waited out and the fifth payment delivered", timeout: 90) {
            daemon.effects("payloads").filter { $0.contains(#""type":"payment.succeeded""#) }.count >= 5
        }
        #expect(try calls().filter { $0["status"] as? Int == 429 }.count == 8)
        #expect(daemon.log.contains("rate_limited"))
        let keys = daemon.effects("payloads").compactMap { line -> String? in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let source = event["source"] as? [String: Any] else { return nil }
            return "\(source["object_type"] ?? ""):\(source["object_id"] ?? ""):\(source["version"] ?? "")"
        }
        #expect(Set(keys).count == keys.count, "each change once")
        #expect(try daemon.count("dead") == 0)
        #expect(try daemon.stop() == 0)
    }

    /// The backfill: records changed over 100 days read by 30-day `updated_at` windows with
    /// include_deleted (a deleted customer arrives as a deletion), the same changes the events feed
    /// reads given once; a site on Product Catalog 1.0 is said so by `hostctl check` and the poll.
    @Test func theBackfillReadsWindowsWithDeletedRecordsAndTheFeedAddsNothingTwice() throws {
        let daemon = try DaemonHarness()
        let chargebee = try FakeChargebee(log: daemon.path("chargebee.log"))
        let now = Int(Date().timeIntervalSince1970)
        let seeded = try chargebee.control("seed", #"{"customers": 4, "currency_code": "EUR", "invoices": 12, "paid": true, "start_at": \#(now - 100 * 86_400), "step_seconds": 432000}"#)
        let gone = try #require((seeded["customer_ids"] as? [String])?.first)
        try chargebee.post("/customers/\(gone)/delete", [])
        try daemon.writeConfig(connectors: "")
        try daemon.start()
        #expect(try daemon.hostctl(input: FakeChargebee.key, "secret", "set", "billing", "api_key").status == 0)
        try daemon.writeConfig(connectors: Self.billingIntoSink(chargebee, daemon, "requests_per_minute = 0\nsince = \(now - 120 * 86_400)\nbackfill_window_days = 30"))
        try ForeignPluginTests.addFixturePlugins(daemon)
        #expect(try daemon.hostctl("reload").status == 0)
        let invoices = try chargebee.all("invoices").compactMap { $0["id"] as? String }
        func delivered() -> [[String: Any]] {
            daemon.effects("payloads").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        try daemon.waitUntil("every invoice and the deletion are delivered", timeout: 60) {
            let events = delivered()
            let ids = Set(events.filter { $0["type"] as? String == "invoice.paid" }.compactMap { ($0["source"] as? [String: Any])?["object_id"] as? String })
            return ids.isSuperset(of: invoices) && events.contains { $0["type"] as? String == "customer.deleted" }
        }
        try daemon.waitUntil("nothing is left to deliver", timeout: 60) { try daemon.count("pending") == 0 }
        let keys = delivered().compactMap { event -> String? in
            guard let source = event["source"] as? [String: Any] else { return nil }
            return "\(source["object_type"] ?? ""):\(source["object_id"] ?? ""):\(source["version"] ?? "")"
        }
        #expect(!keys.isEmpty && Set(keys).count == keys.count, "one event per change, from the feed or the backfill")
        let calls = (try JSONSerialization.jsonObject(with: Data(try http("GET", "\(chargebee.url)/__fake__/calls").body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
        let windows = calls.filter { $0["path"] as? String == "/api/v2/invoices" }.compactMap { $0["query"] as? String }.filter { $0.contains("updated_at") }
        #expect(windows.count >= 4 && windows.allSatisfy { $0.contains("include_deleted=true") && $0.contains("updated_at[between]=") }, "\(windows)")
        #expect(try daemon.count("dead") == 0)

        // The same site on Product Catalog 1.0: said plainly, no stream read as empty.
        try chargebee.control("site", #"{"product_catalog": "1.0"}"#)
        let check = try daemon.hostctl("check", "billing")
        #expect(check.status != 0 && (check.stdout + check.stderr).contains("Product Catalog 1.0"), "\(check)")
        #expect(try daemon.stop() == 0)
    }
}
