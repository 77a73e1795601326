import ConnectorProtocol
import Foundation
import HostAdmin
import OdooKit
import Testing

/// The fake HubSpot of Tests/Fakes/hubspot, on loopback.
final class FakeHubSpot {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes/hubspot/fake_hubspot.py").path
    static let token = "pat-na1-00000000-0000-4000-8000-000000000000"
    static let clientSecret = "fake-client-secret"

    let process = Process()
    let url: String

    init(log: String, _ arguments: [String] = []) throws {
        url = try launchLoopbackFake(process, "/usr/bin/env", ["python3", Self.script, "--port", "0"] + arguments, log: log, name: "the fake HubSpot")
    }

    deinit { stopLoopbackFake(process) }

    @discardableResult
    func control(_ name: String, _ json: String) throws -> [String: Any] {
        let answer = try http("POST", "\(url)/__fake__/\(name)", headers: ["Content-Type": "application/json"], body: json)
        guard answer.status == 200 else { throw HarnessError("fake HubSpot \(name): \(answer.status) \(answer.body)") }
        return (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }

    /// A company (in Belgium), its contact, a product and a deal of 3 of it (a line item, 299.70 EUR) at
    /// `stage`, closed at `closeDate` (RFC 3339) if one is given, all modified ten minutes ago: their ids.
    /// Emails are unique in HubSpot: one seed per `email`.
    func seedDeal(company name: String, stage: String = "closedwon", closeDate: String? = nil, email: String = "ann@acme.test")
        throws -> (company: String, contact: String, product: String, deal: String, lineItem: String) {
        let past = Int64(Date().timeIntervalSince1970 * 1_000) - 600_000
        let closed = closeDate.map { #", "closedate": "\#($0)""# } ?? ""
        let seeded = try control("seed", #"""
            {"objects": [
              {"type": "companies", "ref": "acme", "properties": {"name": "\#(name)", "domain": "acme.test", "country": "Belgium"}, "updatedAt": \#(past)},
              {"type": "contacts", "ref": "ann", "properties": {"firstname": "Ann", "lastname": "Lee", "email": "\#(email)"}, "associations": [{"ref": "acme"}], "updatedAt": \#(past + 1)},
              {"type": "products", "ref": "seat", "properties": {"name": "Seat", "price": "99.90"}, "updatedAt": \#(past + 2)},
              {"type": "deals", "ref": "deal", "properties": {"dealname": "ACME seats", "dealstage": "\#(stage)", "pipeline": "default", "amount": "299.70", "deal_currency_code": "EUR"\#(closed)},
               "associations": [{"ref": "acme"}, {"ref": "ann"}], "updatedAt": \#(past + 3)}
            ]}
            """#)
        let refs = seeded["refs"] as? [String: String] ?? [:]
        let ids = (company: refs["acme"] ?? "", contact: refs["ann"] ?? "", product: refs["seat"] ?? "", deal: refs["deal"] ?? "")
        let line = try control("seed", #"{"objects": [{"type": "line_items", "properties": {"name": "Seat", "quantity": "3", "price": "99.90", "hs_product_id": "\#(ids.product)"}, "associations": [{"type": "deals", "id": "\#(ids.deal)"}], "updatedAt": \#(past + 4)}]}"#)
        let lineItem = ((line["created"] as? [String: Any])?["line_items"] as? [String])?.first ?? ""
        return (ids.company, ids.contact, ids.product, ids.deal, lineItem)
    }

    /// Every API call the fake answered: method, path, status, …
    func calls() throws -> [[String: Any]] {
        let answer = try http("GET", "\(url)/__fake__/calls")
        return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
    }
}

extension DaemonHarness {
    /// Connector `id`: the fake HubSpot's companies, contacts and deals for the entity acme-eu (Odoo's EU
    /// company), polled every 200 ms, with `extra` lines in its `[connector.config]`.
    static func hubspotIntoOdoo(_ id: String, _ hubspot: FakeHubSpot, _ extra: String = "") -> String {
        """
        [[connector]]
        id = "\(id)"
        plugin = "hubspot"
        entity = "acme-eu"
        poll_interval_ms = 200
        [connector.config]
        api_base = "\(hubspot.url)"
        currency = "EUR"
        search_lag_ms = 0
        streams = ["companies", "contacts", "deals"]
        \(extra)

        """
    }

    /// Starts the daemon with the fixture plugins (connector-pysink), stores the HubSpot token and
    /// client secret of connector `crm`, then loads `connectors`.
    func startWithHubSpotToken(connectors: String, http: Bool = false) throws {
        try startWithHubSpotToken(http: http) { _ in connectors }
    }

    /// The same, `connectors` made knowing the daemon's webhook listener (`127.0.0.1:PORT`, with `http`).
    func startWithHubSpotToken(http: Bool, connectors: (String?) throws -> String) throws {
        let listeners = http ? Self.httpListeners : ""
        try writeConfig(connectors: listeners)
        try ForeignPluginTests.addFixturePlugins(self)
        try start()
        let connectors = try connectors(http ? try webhookAddress() : nil)
        for (name, value) in [("access_token", FakeHubSpot.token), ("client_secret", FakeHubSpot.clientSecret)] {
            let stored = try hostctl(input: value, "secret", "set", "crm", name)
            guard stored.status == 0 else { throw HarnessError("secret set: \(stored.stderr)") }
        }
        try writeConfig(connectors: listeners + connectors)
        try ForeignPluginTests.addFixturePlugins(self)
        let reload = try hostctl("reload")
        guard reload.status == 0 else { throw HarnessError("reload: \(reload.stdout) \(reload.stderr)") }
    }

    /// A HubSpot source `crm` polling every 200 ms, and a Python sink `py` that writes each event it gets.
    func hubspotToPySink(url: String, payloads: String, pageSize: Int = 200, config: String = "") -> String {
        """
        [[connector]]
        id = "crm"
        plugin = "hubspot"
        poll_interval_ms = 200
        [connector.config]
        api_base = "\(url)"
        currency = "EUR"
        page_size = \(pageSize)
        search_lag_ms = 0
        \(config)

        [[connector]]
        id = "py"
        plugin = "pysink"
        [connector.config]
        effects_file = "\(path(payloads + ".effects"))"
        payloads_file = "\(path(payloads))"

        """ + Self.route("crm", "py")
    }

    /// The events the sink received (its `payloads_file`, named as in ``hubspotToPySink(url:payloads:config:)``): each one's source object and version.
    func delivered(_ payloads: String) -> [(type: String, id: String, version: String)] {
        effects(payloads).compactMap { line in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let source = event["source"] as? [String: Any] else { return nil }
            return ("\(source["object_type"] ?? "")", "\(source["object_id"] ?? "")", "\(source["version"] ?? "")")
        }
    }
}

@Suite(.serialized) struct HubSpotFlowTests {
    /// 2,500 companies and 2,500 contacts, and 300 more contacts changed in one millisecond (more than a
    /// page), read through a search whose cap (lowered to 1,000) they cross five times over: every
    /// record arrives once, with its company's and contacts' references; a record changed while the
    /// backfill runs arrives again with its change; no search pages towards the cap.
    @Test func aBackfillAcrossTheSearchCapReadsEveryRecordOnce() throws {
        let daemon = try DaemonHarness()
        let hubspot = try FakeHubSpot(log: daemon.path("hubspot.log"), ["--search-cap", "1000"])
        let start = Int64(Date().timeIntervalSince1970 * 1_000) - 3_600_000
        let seeded = try hubspot.control("seed", #"{"companies": 2500, "contacts": 2500, "associate": true, "step_ms": 1, "start": \#(start)}"#)
        let early = try #require(((seeded["created"] as? [String: Any])?["companies"] as? [String])?.first)
        // 300 contacts written in one millisecond before all the others: the cursor must page through them and go on.
        try hubspot.control("seed", #"{"contacts": 300, "step_ms": 0, "start": \#(start - 10_000)}"#)
        let payloads = "payloads"
        try daemon.startWithHubSpotToken(connectors: daemon.hubspotToPySink(url: hubspot.url, payloads: payloads, config: "streams = [\"companies\", \"contacts\"]"))
        try daemon.waitUntil("a first thousand records are delivered", timeout: 60) { try daemon.count("delivered") >= 1_000 }
        // Changed while the backfill runs: an early company, read already.
        try hubspot.control("set", #"{"type": "companies", "id": "\#(early)", "properties": {"phone": "+33 1 00 00 00 01"}}"#)
        try daemon.waitUntil("5,300 records and the changed company are delivered", timeout: 180) { try daemon.count("delivered") >= 5_301 }
        try daemon.waitUntil("nothing more arrives", timeout: 10) { try daemon.count("pending") == 0 }
        let received = daemon.delivered(payloads)
        let byRecord = Dictionary(grouping: received) { "\($0.type):\($0.id)" }
        #expect(byRecord.count == 5_300, "every record, once: \(byRecord.count)")
        #expect(received.count == 5_301, "and the one change made during the backfill: \(received.count)")
        #expect(byRecord["companies:\(early)"]?.count == 2, "the early company read again with its change")
        #expect(byRecord.values.filter { $0.count > 1 }.count == 1)
        // The connector polls on until it stops: read the fake's log after that, so that no search is still unanswered in it.
        #expect(try daemon.stop() == 0)
        let searches = try hubspot.calls().filter { ($0["path"] as? String)?.hasSuffix("/search") == true }
        // A status is logged once answered (a search the stop cut short may still be at null).
        let refused = searches.filter { $0["status"] is Int && ($0["status"] as? Int) != 200 }
        #expect(!searches.isEmpty && refused.isEmpty, "no search refused: \(refused.prefix(3))")
        // 5,301 records in pages of 200 (and of the one millisecond), a look back when caught up: no search in a loop.
        #expect(searches.count < 80, "\(searches.count) searches")
        #expect(!daemon.log.contains("poll failed"), "\(daemon.log.suffix(2_000))")
    }

    /// One change, pushed by a signed webhook and read by the poll too, is one event; a won deal is an
    /// order of its company with its line items; an archived company is one deletion; a forged webhook
    /// is refused.
    @Test func webhooksAndPollsAgreeAndDealsBecomeOrders() throws {
        let daemon = try DaemonHarness()
        let hubspot = try FakeHubSpot(log: daemon.path("hubspot.log"))
        let seeded = try hubspot.seedDeal(company: "ACME SAS", stage: "appointmentscheduled")
        let (acme, ann, seat, renewal) = (seeded.company, seeded.contact, seeded.product, seeded.deal)
        try daemon.startWithHubSpotToken(http: true) { address in
            daemon.hubspotToPySink(url: hubspot.url, payloads: "payloads", config: "webhook_public_url = \"http://\(address ?? "")\"\nstreams = [\"companies\", \"contacts\", \"deals\", \"archived\"]")
        }
        try daemon.waitUntil("the company, the contact and the deal are delivered", timeout: 30) { try daemon.count("delivered") == 3 }
        let hook = "http://\(try daemon.webhookAddress())/hooks/crm"
        try hubspot.control("webhooks", #"{"url": "\#(hook)"}"#)  // nothing pending: the seed records no changes
        // The contact's email changes: pushed, and read by the poll as well.
        try hubspot.control("set", #"{"type": "contacts", "id": "\#(ann)", "properties": {"email": "ann.lee@acme.test"}}"#)
        let pushed = try hubspot.control("webhooks", #"{"url": "\#(hook)"}"#)
        let stored = try JSONSerialization.jsonObject(with: Data((pushed["body"] as? String ?? "").utf8)) as? [String: Int]
        #expect(pushed["status"] as? Int == 200 && (stored?["accepted"] ?? 0) + (stored?["duplicates"] ?? 0) == 1, "\(pushed)")
        // The deal is won: an order.
        try hubspot.control("set", #"{"type": "deals", "id": "\#(renewal)", "properties": {"dealstage": "closedwon"}}"#)
        #expect(try hubspot.control("webhooks", #"{"url": "\#(hook)"}"#)["status"] as? Int == 200)
        // A forged delivery is refused and stores nothing.
        try hubspot.control("set", #"{"type": "contacts", "id": "\#(ann)", "properties": {"phone": "+33 4 00 00 00 00"}}"#)
        let forged = try hubspot.control("webhooks", #"{"url": "\#(hook)", "forge": true, "keep": true}"#)
        #expect(forged["status"] as? Int == 401, "\(forged)")
        // The company is deleted.
        try hubspot.control("set", #"{"type": "companies", "id": "\#(acme)", "archived": true}"#)
        try daemon.waitUntil("the changes are delivered", timeout: 30) {
            Set(daemon.delivered("payloads").map { "\($0.type):\($0.id):\($0.version.hasPrefix("archived") ? "deleted" : "")" }).count == 4
                && daemon.delivered("payloads").count >= 7
        }
        try daemon.waitUntil("nothing more arrives", timeout: 10) { try daemon.count("pending") == 0 }
        Thread.sleep(forTimeInterval: 1)  // a few more polls: nothing new may come
        let received = daemon.delivered("payloads")
        let contact = received.filter { $0.type == "contacts" }
        #expect(contact.count == 3 && Set(contact.map(\.version)).count == 3, "seeded, email changed (pushed and polled: once), phone changed (polled): \(contact)")
        let events = daemon.effects("payloads").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let order = try #require(events.first { $0["type"] as? String == "order.won" })
        let record = try #require((order["record"] as? [String: Any])?["order"] as? [String: Any])
        #expect((record["customer"] as? [String: String]) == ["object_type": "companies", "object_id": acme])
        let lines = try #require(record["lines"] as? [[String: Any]])
        #expect(lines.count == 1 && lines[0]["quantity"] as? String == "3" && lines[0]["unit_amount_minor"] as? Int == 9_990 && lines[0]["amount_minor"] as? Int == 29_970)
        #expect((lines[0]["product"] as? [String: String]) == ["object_type": "products", "object_id": seat])
        #expect(record["total_minor"] as? Int == 29_970 && record["currency"] as? String == "EUR" && record["status"] as? String == "confirmed")
        #expect(events.filter { $0["type"] as? String == "company.deleted" }.count == 1)
        #expect(try daemon.auditActions().contains("event.duplicate"), "the second copy of the pushed change was dropped")
        #expect(!daemon.log.contains("poll failed"), "\(daemon.log.suffix(2_000))")
        #expect(try daemon.stop() == 0)
    }

    /// OAuth: an access token HubSpot declares expired in the middle of a backfill is refreshed once and
    /// the page read again (nothing lost, nothing twice); the quota headers pace the connector so that a
    /// tight rate limit answers fewer 429s than requests.
    @Test func anExpiredTokenAndATightQuotaLoseNothing() throws {
        let daemon = try DaemonHarness()
        let hubspot = try FakeHubSpot(log: daemon.path("hubspot.log"))
        let start = Int64(Date().timeIntervalSince1970 * 1_000) - 3_600_000
        try hubspot.control("seed", #"{"companies": 100, "contacts": 600, "associate": true, "step_ms": 1, "start": \#(start)}"#)
        try hubspot.control("ratelimit", #"{"max": 8, "interval_ms": 2000}"#)
        try hubspot.control("fault", #"{"kind": "expired_token", "method": "POST", "path": "/crm/v3/objects/contacts/search", "count": 1}"#)
        let config = "auth = \"oauth\"\nclient_id = \"fake-client-id\"\nstreams = [\"contacts\"]"
        try daemon.writeConfig(connectors: "")
        try ForeignPluginTests.addFixturePlugins(daemon)
        try daemon.start()
        for (name, value) in [("client_secret", FakeHubSpot.clientSecret), ("refresh_token", "fake-refresh-token")] {
            #expect(try daemon.hostctl(input: value, "secret", "set", "crm", name).status == 0)
        }
        try daemon.writeConfig(connectors: daemon.hubspotToPySink(url: hubspot.url, payloads: "payloads", pageSize: 25, config: config))
        try ForeignPluginTests.addFixturePlugins(daemon)
        #expect(try daemon.hostctl("reload").status == 0)
        do {
            try daemon.waitUntil("the 600 contacts are delivered", timeout: 30) { try daemon.count("delivered") == 600 }
        } catch {
            Issue.record("\(error)\n\(daemon.log.suffix(3_000))\n\((try? String(contentsOfFile: daemon.path("hubspot.log"), encoding: .utf8))?.suffix(1_500) ?? "")")
            throw error
        }
        let received = daemon.delivered("payloads")
        #expect(received.count == 600 && Set(received.map(\.id)).count == 600)
        let calls = try hubspot.calls()
        let refreshes = calls.filter { $0["path"] as? String == "/oauth/v1/token" }
        let refused = calls.filter { $0["status"] as? Int == 429 }
        let api = calls.filter { ($0["path"] as? String)?.hasPrefix("/crm/") == true }
        #expect(refreshes.count == 2, "the first token, and one after the 401: \(refreshes.count)")
        #expect(calls.contains { $0["status"] as? Int == 401 })
        #expect(refused.count * 4 < api.count, "paced: \(refused.count) refusals for \(api.count) calls")
        #expect(try daemon.stop() == 0)
    }

    /// A revoked private-app token pauses the connector saying why; storing a new one resumes it and the
    /// stream goes on where it stopped.
    @Test func aRefusedTokenPausesUntilANewOneIsStored() throws {
        let daemon = try DaemonHarness()
        let hubspot = try FakeHubSpot(log: daemon.path("hubspot.log"))
        let start = Int64(Date().timeIntervalSince1970 * 1_000) - 3_600_000
        try hubspot.control("seed", #"{"companies": 50, "step_ms": 1, "start": \#(start)}"#)
        try daemon.startWithHubSpotToken(connectors: daemon.hubspotToPySink(url: hubspot.url, payloads: "payloads", config: "streams = [\"companies\"]"))
        try daemon.waitUntil("the 50 companies are delivered", timeout: 30) { try daemon.count("delivered") == 50 }
        try hubspot.control("tokens/revoke", #"{"token": "\#(FakeHubSpot.token)"}"#)
        try hubspot.control("seed", #"{"companies": 5, "step_ms": 1, "start": \#(start + 60_000)}"#)
        try daemon.waitUntil("the connector is paused", timeout: 30) { try daemon.connector("crm").state == "paused" }
        let paused = try daemon.connector("crm")
        #expect(paused.lastError?.contains("HubSpot") == true, "\(paused)")
        let fresh = "pat-na1-11111111-1111-4111-8111-111111111111"
        try hubspot.control("tokens", #"{"private_app_token": "\#(fresh)"}"#)
        #expect(try daemon.hostctl(input: fresh, "secret", "set", "crm", "access_token").status == 0)
        try daemon.waitUntil("the 5 new companies are delivered", timeout: 30) { try daemon.count("delivered") == 55 }
        #expect(try daemon.connector("crm").state == "running")
        #expect(!daemon.log.contains(fresh) && !daemon.log.contains(FakeHubSpot.token), "no token in the log")
        #expect(try daemon.stop() == 0)
    }

    /// The whole story (issue 16): a company, its contact and a won deal in HubSpot become a company
    /// partner with its child, and a confirmed sale order in the EU company of Odoo; an invoice finance
    /// posts in Odoo, past due, comes back to the HubSpot company as its balance due and overdue count.
    @Test(arguments: OdooServer.versions) func aWonDealBecomesASaleOrderAndTheBalanceComesBack(version: Int) throws {
        let daemon = try DaemonHarness()
        let hubspot = try FakeHubSpot(log: daemon.path("hubspot.log"))
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let crm = odoo.source("crm")
        for (name, type) in [("odoo_balance_due", "number"), ("odoo_overdue_invoices", "number")] {
            try hubspot.control("properties", #"{"type": "companies", "name": "\#(name)", "value_type": "\#(type)"}"#)
        }
        let (acme, _, _, deal, _) = try hubspot.seedDeal(company: "ACME \(crm)")
        let since = OdooCursor.odooDateTime(Date(timeIntervalSinceNow: -120))
        let connectors = DaemonHarness.hubspotIntoOdoo(crm, hubspot,
                                                       #"status_properties = { balance_due = "odoo_balance_due", overdue_invoices = "odoo_overdue_invoices" }"#)
            + DaemonHarness.odoo(odoo, "account_status = true\norders = \"confirm\"\nsource_since = \"\(since)\"\nsource_overlap_s = 0")
            + DaemonHarness.route(crm, "erp", events: #""company.*", "contact.*", "order.*", "deal.*""#)
            + DaemonHarness.route("erp", crm, events: #""account_status.*""#)
        try daemon.start(storing: [(crm, "access_token", FakeHubSpot.token), ("erp", "api_key", odoo.apiKey)], then: connectors)
        let reference = "ch:\(crm):deals:\(deal)"
        try daemon.waitUntil("the won deal is a confirmed sale order in Odoo", timeout: 60) {
            try odoo.search("sale.order", [["client_order_ref", "=", reference]], fields: ["state"]).first?["state"] as? String == "sale"
        }
        let order = try #require(try odoo.search("sale.order", [["client_order_ref", "=", reference]], fields: ["id", "partner_id", "company_id", "amount_untaxed"]).first)
        let partner = try #require(OdooServer.id(order["partner_id"]))
        #expect(OdooServer.id(order["company_id"]) == odoo.euCompany && order["amount_untaxed"] as? Double == 299.7)
        let contacts = try odoo.search("res.partner", [["parent_id", "=", partner]], fields: ["id", "email"])
        #expect(contacts.map { $0["email"] as? String } == ["ann@acme.test"])

        // Finance invoices the order in Odoo, and the invoice falls due unpaid.
        let total = try odoo.postPastDueInvoice(partner: partner, price: 299.7, name: "Seats").total
        func company() throws -> [String: String] {
            let answer = try http("GET", "\(hubspot.url)/crm/v3/objects/companies/\(acme)?properties=odoo_balance_due,odoo_overdue_invoices",
                                  headers: ["Authorization": "Bearer \(FakeHubSpot.token)"])
            return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["properties"] as? [String: String] ?? [:]
        }
        try daemon.waitUntil("the balance reaches the HubSpot company", timeout: 60) { try company()["odoo_balance_due"] != nil }
        let properties = try company()
        #expect(properties["odoo_balance_due"].flatMap(Double.init) == total && properties["odoo_overdue_invoices"] == "1", "\(properties)")
        // Written once for this change: the polls that follow read the same status and send nothing.
        Thread.sleep(forTimeInterval: 1.5)
        let writes = try hubspot.calls().filter { $0["method"] as? String == "PATCH" && ($0["path"] as? String) == "/crm/v3/objects/companies/\(acme)" }
        #expect(writes.count == 1, "\(writes.count) writes of the company's status")
        #expect(try daemon.deadLetters().isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// The daemon is killed (SIGKILL) right after Odoo made the sale order and again right after Odoo
    /// confirmed it, before the host wrote either down: the redeliveries find the order, and there is one,
    /// confirmed, its products created once.
    @Test(OdooFlowTests.fakeOnly) func aKilledDaemonMakesNoSecondSaleOrder() throws {
        let daemon = try DaemonHarness()
        let hubspot = try FakeHubSpot(log: daemon.path("hubspot.log"))
        let odoo = try OdooServer(version: 17, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let deal = try hubspot.seedDeal(company: "ACME").deal
        let writes = [("sale.order", "create"), ("sale.order", "action_confirm")]
        for (model, method) in writes {
            try odoo.control("fault", #"{"kind": "hang", "phase": "after", "ms": 30000, "model": "\#(model)", "method": "\#(method)"}"#)
        }
        let connectors = DaemonHarness.hubspotIntoOdoo("crm", hubspot) + DaemonHarness.odoo(odoo, "orders = \"confirm\"") + DaemonHarness.route("crm", "erp", events: #""company.*", "contact.*", "order.*""#)
        try daemon.start(storing: [("crm", "access_token", FakeHubSpot.token), ("erp", "api_key", odoo.apiKey)], then: connectors)
        for (model, method) in writes {
            try daemon.waitUntil("Odoo ran \(model).\(method)", timeout: 30) { try odoo.calls(model, method) >= 1 }
            guard let pid = daemon.daemonPID else { throw HarnessError("no daemon") }
            kill(pid, SIGKILL)
            _ = try? daemon.stop(timeout: 5)
            try daemon.start()
        }
        try daemon.waitUntil("the company, the contact and the order are delivered", timeout: 60) { try daemon.count("delivered") == 3 }
        let orders = try odoo.search("sale.order", [["client_order_ref", "=", "ch:crm:deals:\(deal)"]], fields: ["state"])
        #expect(orders.count == 1 && orders.first?["state"] as? String == "sale", "\(orders)")
        #expect(try odoo.search("product.product", [["default_code", "=like", "ch:crm:products:%"]], fields: ["id"]).count == 1)
        #expect(try daemon.deadLetters().isEmpty)
        #expect(try daemon.stop() == 0)
    }

}

extension HubSpotFlowTests {
    /// `hostctl reconcile crm --side source`: 450 deals won today (more than two search pages) are
    /// 450 orders, each with its amount, read by searches from the last id (never an `after` page
    /// towards the search's cap); a deal in another stage and one won on another day are not listed.
    @Test func wonDealsAreTheSourceSideOfAnOrderReconciliation() throws {
        let daemon = try DaemonHarness()
        let hubspot = try FakeHubSpot(log: daemon.path("hubspot.log"))
        let today = Date()
        let day = today.formatted(.iso8601.year().month().day())
        let closed = today.formatted(.iso8601)
        func deal(_ index: Int, stage: String = "closedwon", closed: String = closed) -> String {
            #"{"type": "deals", "properties": {"dealname": "Deal \#(index)", "dealstage": "\#(stage)", "amount": "\#(100 + index).25", "deal_currency_code": "EUR", "closedate": "\#(closed)"}, "associations": [{"ref": "acme"}]}"#
        }
        let won = (0..<450).map { deal($0) }
        let others = [deal(1_000, stage: "appointmentscheduled"), deal(1_001, closed: today.addingTimeInterval(-3 * 86_400).formatted(.iso8601))]
        try hubspot.control("seed", #"{"objects": [{"type": "companies", "ref": "acme", "properties": {"name": "ACME"}}, \#((won + others).joined(separator: ", "))]}"#)
        try daemon.startWithHubSpotToken(connectors: "[[connector]]\nid = \"crm\"\nplugin = \"hubspot\"\npoll_interval_ms = 3600000\n[connector.config]\napi_base = \"\(hubspot.url)\"\ncurrency = \"EUR\"\nstreams = []\n")
        try daemon.waitUntil("the HubSpot connector runs", timeout: 20) { try daemon.connector("crm").state == "running" }
        let answer = try DaemonHarness.run("hostctl", ["reconcile", "crm", "--side", "source", "--from", day, "--to", day, "--type", "order", "--items", "--json",
                                                       "--socket", daemon.adminSocket])
        #expect(answer.status == 0, "\(answer.stderr)")
        let group = try #require(try JSONDecoder().decode(ReconcileReport.self, from: Data(answer.stdout.utf8)).snapshot.groups.first)
        let amounts = (0..<450).map { Int64(100 + $0) * 100 + 25 }
        #expect(group.count == 450 && Set(group.items.map(\.externalID)).count == 450 && group.sourceObjectType == "deals")
        #expect(group.totals == [Money(amountMinor: amounts.reduce(0, +), currency: try #require(CurrencyCode("EUR")))])
        #expect(group.items.allSatisfy { $0.status == "confirmed" && $0.date == day })
        let searches = try hubspot.calls().filter { ($0["path"] as? String) == "/crm/v3/objects/deals/search" }
        #expect(searches.count == 3, "200 + 200 + 50: \(searches.count) searches")
        #expect(try daemon.stop() == 0)
    }
}
