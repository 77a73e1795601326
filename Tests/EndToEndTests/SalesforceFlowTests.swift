import _CryptoExtras
import ConnectorProtocol
import Foundation
import HostAdmin
import OdooKit
import Testing

/// The fake Salesforce of Tests/Fakes/salesforce, on loopback: login host and instance at once, its
/// connected app trusting a key pair made for the test run.
final class FakeSalesforce {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes/salesforce/fake_salesforce.py").path
    static let consumerKey = "fake_consumer_key"
    static let username = "integration@example.com"
    /// The connected app's key: the private half goes to the vault, the public half to the fake.
    static let key = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static var privateKeyPEM: String { key.pemRepresentation }

    let process = Process()
    let url: String

    init(log: String, directory: String, _ arguments: [String] = []) throws {
        let certificate = directory + "/salesforce-app.pem"
        try Self.key.publicKey.pemRepresentation.write(toFile: certificate, atomically: true, encoding: .utf8)
        url = try launchLoopbackFake(process, "/usr/bin/env", ["python3", Self.script, "--port", "0", "--consumer-key", Self.consumerKey,
                                                               "--username", Self.username, "--certificate", certificate] + arguments,
                                     log: log, name: "the fake Salesforce")
    }

    deinit { stopLoopbackFake(process) }

    @discardableResult
    func control(_ name: String, _ json: String) throws -> [String: Any] {
        let answer = try http("POST", "\(url)/__fake__/\(name)", headers: ["Content-Type": "application/json"], body: json)
        guard answer.status == 200 else { throw HarnessError("fake Salesforce \(name): \(answer.status) \(answer.body)") }
        return (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }

    /// Creates records through the fake's own validation: their ids, in order.
    func seed(_ object: String, _ records: [[String: Any]]) throws -> [String] {
        let body = try JSONSerialization.data(withJSONObject: ["object": object, "records": records])
        return try control("seed", String(decoding: body, as: UTF8.self))["ids"] as? [String] ?? []
    }

    /// A product priced in the standard price book, and an opportunity of `account` at `stage`, closing
    /// on `closeDate`, with one line item of it: the opportunity's id.
    func seedOpportunity(_ name: String, account: String, stage: String, product code: String, quantity: Int, price: Double, discount: Double = 0,
                         currency: String? = nil, closeDate: String = "2026-12-01") throws -> String {
        let currency: [String: Any] = currency.map { ["CurrencyIsoCode": $0] } ?? [:]
        guard let product = try seed("Product2", [["Name": "Seat", "ProductCode": code, "IsActive": true]]).first,
              let standard = try records("Pricebook2").first(where: { $0["IsStandard"] as? Bool == true })?["Id"] as? String,
              let entry = try seed("PricebookEntry", [["Pricebook2Id": standard, "Product2Id": product, "UnitPrice": price, "IsActive": true].merging(currency) { $1 }]).first,
              let opportunity = try seed("Opportunity", [["Name": name, "StageName": stage, "CloseDate": closeDate, "AccountId": account,
                                                          "Pricebook2Id": standard].merging(currency) { $1 }]).first else {
            throw HarnessError("the fake Salesforce did not seed the opportunity \(name)")
        }
        _ = try seed("OpportunityLineItem", [["OpportunityId": opportunity, "PricebookEntryId": entry, "Quantity": quantity, "UnitPrice": price, "Discount": discount]])
        return opportunity
    }

    /// Every record of an object, deleted ones too.
    func records(_ object: String) throws -> [[String: Any]] {
        let answer = try http("GET", "\(url)/__fake__/records/\(object)")
        let json = try JSONSerialization.jsonObject(with: Data(answer.body.utf8))
        return json as? [[String: Any]] ?? (json as? [String: Any])?["records"] as? [[String: Any]] ?? []
    }

    /// A REST call as another client of the org makes it: with its own session (the refresh-token grant
    /// of a second connected-app user), so the connector's sessions are not touched.
    func api(_ method: String, _ path: String) throws -> (status: Int, body: String) {
        try control("org", #"{"client_secret": "test-secret", "refresh_token": "test-refresh"}"#)
        let token = try http("POST", "\(url)/services/oauth2/token", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                             body: "grant_type=refresh_token&client_id=\(Self.consumerKey)&client_secret=test-secret&refresh_token=test-refresh")
        guard let access = (try JSONSerialization.jsonObject(with: Data(token.body.utf8)) as? [String: Any])?["access_token"] as? String else {
            throw HarnessError("the fake Salesforce gave no token: \(token.status) \(token.body)")
        }
        let answer = try http(method, "\(url)/services/data/v59.0\(path)", headers: ["Authorization": "Bearer \(access)"])
        return (answer.status, answer.body)
    }

    func calls() throws -> [[String: Any]] {
        let answer = try http("GET", "\(url)/__fake__/calls")
        return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
    }
}

extension DaemonHarness {
    /// A Salesforce source `sf` (JWT-bearer against the fake) polling every 200 ms, and a Python sink
    /// `py` that writes each event it gets.
    func salesforceToPySink(url: String, payloads: String, config: String = "") -> String {
        Self.salesforce(url: url, config) + """
        [[connector]]
        id = "py"
        plugin = "pysink"
        [connector.config]
        effects_file = "\(path(payloads + ".effects"))"
        payloads_file = "\(path(payloads))"

        """ + Self.route("sf", "py")
    }

    static func salesforce(url: String, id: String = "sf", entity: String? = nil, currency: String = "USD", _ config: String = "") -> String {
        """
        [[connector]]
        id = "\(id)"
        plugin = "salesforce"
        poll_interval_ms = 200
        \(entity.map { "entity = \"\($0)\"" } ?? "")
        [connector.config]
        login_url = "\(url)"
        client_id = "\(FakeSalesforce.consumerKey)"
        username = "\(FakeSalesforce.username)"
        currency = "\(currency)"
        lookback_s = 5
        \(config.contains("idle_interval_s") ? "" : "idle_interval_s = 0")
        \(config)

        """
    }

    /// ``waitUntil(_:timeout:_:)``, and on a timeout the end of the daemon's log and its dead letters
    /// in the test's record.
    func waitReporting(_ what: String, timeout: TimeInterval = 10, _ condition: () throws -> Bool) throws {
        do {
            try waitUntil(what, timeout: timeout, condition)
        } catch {
            let queue = (try? hostctl("queue"))?.stdout ?? "?"
            let rejects = (try? hostctl("dlq", "rejects"))?.stdout ?? "?"
            let pending = (try? Self.run("/usr/bin/python3", ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"SELECT d.id, e.type, d.state, d.attempts, d.ordering_key, d.next_attempt_at, d.created_at, d.route, d.last_error FROM deliveries d JOIN events e ON e.id = d.event_id\").fetchall())", path("state/connector-host.sqlite")]))?.stdout ?? "?"
            let fakes = ["odoo.log", "salesforce.log"].map { name in
                let lines = ((try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "").split(separator: "\n")
                return "\(name): " + lines.filter { !$0.contains("__fake__") && !$0.contains("account.move") && !$0.contains("res.users") && !$0.contains("queryAll") }.suffix(30).joined(separator: "\n")
            }
            Issue.record("\(error)\n\(fakes.joined(separator: "\n"))\nqueue: \(queue)\ndeliveries: \(pending)\nrejects: \(rejects)\ndead letters: \((try? deadLetters()).map { "\($0)" } ?? "?")\n\(log.suffix(3_000))")
            throw error
        }
    }

    /// Starts the daemon with the fixture plugins, stores the connected app's private key for `sf`,
    /// then loads `connectors`.
    func startWithSalesforceKey(connectors: String, http: Bool = false) throws {
        let listeners = http ? Self.httpListeners : ""
        try writeConfig(connectors: listeners)
        try ForeignPluginTests.addFixturePlugins(self)
        try start()
        let stored = try hostctl(input: FakeSalesforce.privateKeyPEM, "secret", "set", "sf", "private_key")
        guard stored.status == 0 else { throw HarnessError("secret set: \(stored.stderr)") }
        try writeConfig(connectors: listeners + connectors)
        try ForeignPluginTests.addFixturePlugins(self)
        let reload = try hostctl("reload")
        guard reload.status == 0 else { throw HarnessError("reload: \(reload.stdout) \(reload.stderr)") }
    }
}

@Suite(.serialized) struct SalesforceFlowTests {
    /// `count` accounts, each with one contact: their ids.
    static func seedAccounts(_ salesforce: FakeSalesforce, _ count: Int, prefix: String = "Acme") throws -> (accounts: [String], contacts: [String]) {
        let accounts = try salesforce.seed("Account", (0..<count).map { ["Name": "\(prefix) \($0)", "BillingCountry": "United States", "Website": "https://acme\($0).test"] })
        let contacts = try salesforce.seed("Contact", accounts.enumerated().map { index, id in
            ["LastName": "Buyer \(index)", "FirstName": "Ann", "Email": "ann\(index)@acme\(index).test", "AccountId": id]
        })
        return (accounts, contacts)
    }

    /// 2,500 accounts and their 2,500 contacts backfilled by Bulk API 2.0 query jobs, then kept current
    /// by SOQL: every record arrives once; an account changed while the backfill runs arrives again with
    /// its change; a deleted account and its contact arrive as deletions, once; the org's API usage is a
    /// gauge of the connector.
    @Test func aBulkBackfillThenQueriesReadEveryRecordOnce() throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""))
        let (accounts, contacts) = try Self.seedAccounts(salesforce, 2_500)
        try daemon.startWithSalesforceKey(connectors: daemon.salesforceToPySink(url: salesforce.url, payloads: "payloads", config: #"streams = ["accounts", "contacts"]"#),
                                          http: true)
        try daemon.waitUntil("a first thousand records are delivered", timeout: 60) { try daemon.count("delivered") >= 1_000 }
        try salesforce.control("touch", #"{"object": "Account", "ids": ["\#(accounts[0])"], "fields": {"Phone": "+1 617 555 0100"}}"#)
        try daemon.waitUntil("5,000 records and the changed account are delivered", timeout: 120) { try daemon.count("delivered") >= 5_001 }
        let deleted = try salesforce.api("DELETE", "/sobjects/Account/\(accounts[7])")
        #expect(deleted.status == 204, "\(deleted)")
        try daemon.waitUntil("the account and its contact are deleted", timeout: 30) { try daemon.count("delivered") >= 5_003 }
        try daemon.waitUntil("nothing more arrives", timeout: 10) { try daemon.count("pending") == 0 }
        Thread.sleep(forTimeInterval: 1)  // a few more polls, look-backs included: nothing new may come
        let received = daemon.delivered("payloads")
        let byRecord = Dictionary(grouping: received) { "\($0.type):\($0.id)" }
        #expect(byRecord.count == 5_000, "every record, once: \(byRecord.count)")
        #expect(received.count == 5_003, "and the change made during the backfill, and two deletions: \(received.count)")
        #expect(byRecord["accounts:\(accounts[0])"]?.count == 2, "the early account read again with its change")
        #expect(byRecord["accounts:\(accounts[7])"]?.last?.version.hasPrefix("deleted:") == true && byRecord["contacts:\(contacts[7])"]?.last?.version.hasPrefix("deleted:") == true)
        let calls = try salesforce.calls()
        let jobs = calls.filter { $0["method"] as? String == "POST" && ($0["path"] as? String)?.hasSuffix("/jobs/query") == true }
        #expect(jobs.count == 2, "one Bulk query job per stream: \(jobs.count)")
        let queries = calls.filter { ($0["path"] as? String)?.contains("/queryAll") == true }
        #expect(!queries.isEmpty && calls.allSatisfy { ($0["status"] as? Int ?? 200) < 400 }, "\(calls.filter { ($0["status"] as? Int ?? 200) >= 400 }.prefix(3))")
        let events = daemon.effects("payloads").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let company = try #require(events.first { ($0["source"] as? [String: Any])?["object_id"] as? String == accounts[1] }?["record"] as? [String: Any])
        #expect((company["company"] as? [String: Any])?["email"] as? String == "ann1@acme1.test", "the account's contact's email: \(company)")
        // The org's API usage, reported by the plugin: in hostctl status and on /metrics.
        let gauges = try daemon.connector("sf").gauges ?? [:]
        #expect((gauges["salesforce_api_requests_used"] ?? 0) > 0 && gauges["salesforce_api_requests_max"] == 15_000, "\(gauges)")
        let metrics = try http("GET", "http://\(try daemon.metricsAddress())/metrics").body
        #expect(metrics.contains(#"connector_host_plugin_gauge{connector="sf",name="salesforce_api_requests_max"} 15000"#), "\(metrics.suffix(1_500))")
        #expect(!daemon.log.contains("poll failed"), "\(daemon.log.suffix(2_000))")
        #expect(try daemon.stop() == 0)
    }

    /// The session expires in the middle of a query's pages: one new token, the page read again,
    /// nothing lost or doubled. The org's daily API requests run out: the stream pauses, health says
    /// why, and it resumes where it was once requests are available again.
    @Test func anExpiredSessionAndTheDailyLimitLoseNothing() throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""))
        _ = try Self.seedAccounts(salesforce, 1_000)
        try salesforce.control("fault", #"{"kind": "sf_error", "method": "GET", "path": "/services/data/v59.0/query/", "status": 401, "errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid", "count": 1}"#)
        try daemon.startWithSalesforceKey(connectors: daemon.salesforceToPySink(url: salesforce.url, payloads: "payloads",
                                                                                config: "streams = [\"contacts\"]\nbulk_backfill = false\npage_size = 200\nlimit_backoff_s = 1"))
        try daemon.waitUntil("400 contacts are delivered", timeout: 30) { try daemon.count("delivered") >= 400 }
        try salesforce.control("limits", #"{"used": 15000, "max": 15000}"#)
        _ = try Self.seedAccounts(salesforce, 200, prefix: "Later")
        try daemon.waitUntil("health names the daily limit", timeout: 60) {
            let health = try daemon.hostctl("health")
            return health.status != 0 && health.stdout.contains("daily API request limit")
        }
        try salesforce.control("limits", #"{"used": 100, "max": 15000}"#)
        try daemon.waitUntil("the 1,200 contacts are delivered", timeout: 60) { try daemon.count("delivered") >= 1_200 }
        try daemon.waitUntil("health is back", timeout: 30) { try daemon.hostctl("health").status == 0 }
        let received = daemon.delivered("payloads")
        #expect(received.count == 1_200 && Set(received.map(\.id)).count == 1_200)
        let calls = try salesforce.calls()
        let tokens = calls.filter { $0["path"] as? String == "/services/oauth2/token" }
        #expect(tokens.count == 2, "the first token, and one after the 401: \(tokens.count)")
        #expect(calls.contains { $0["status"] as? Int == 403 } && calls.contains { $0["status"] as? Int == 401 })
        #expect(!daemon.log.contains("BEGIN") && !daemon.log.contains("PRIVATE KEY"), "no key in the log")
        #expect(try daemon.stop() == 0)
    }

    /// A multi-currency org, signed in with a user's refresh token that Salesforce rotates: a won
    /// opportunity in EUR is an order in EUR with its discount; after the session expires, the rotated
    /// refresh token (kept in the vault) signs in again.
    @Test func aMultiCurrencyOrgWithRotatedRefreshTokens() throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""),
                                            ["--multi-currency", "--currency", "USD", "--client-secret", "test-client-secret", "--refresh-token", "test-refresh-1",
                                             "--rotate-refresh-tokens"])
        let account = try #require(try salesforce.seed("Account", [["Name": "Globex GmbH", "CurrencyIsoCode": "EUR"]]).first)
        let opportunity = try salesforce.seedOpportunity("Globex seats", account: account, stage: "Closed Won", product: "SEAT", quantity: 2, price: 80, discount: 10,
                                                         currency: "EUR")
        try daemon.writeConfig(connectors: "")
        try ForeignPluginTests.addFixturePlugins(daemon)
        try daemon.start()
        for (name, value) in [("client_secret", "test-client-secret"), ("refresh_token", "test-refresh-1")] {
            #expect(try daemon.hostctl(input: value, "secret", "set", "sf", name).status == 0)
        }
        try daemon.writeConfig(connectors: daemon.salesforceToPySink(url: salesforce.url, payloads: "payloads",
                                                                     config: "auth = \"refresh_token\"\nmulti_currency = true\nstreams = [\"opportunities\"]"))
        try ForeignPluginTests.addFixturePlugins(daemon)
        #expect(try daemon.hostctl("reload").status == 0)
        try daemon.waitReporting("the won opportunity is delivered", timeout: 30) { try daemon.count("delivered") >= 1 }
        let events = daemon.effects("payloads").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let order = try #require((events.first { $0["type"] as? String == "order.won" }?["record"] as? [String: Any])?["order"] as? [String: Any])
        let lines = try #require(order["lines"] as? [[String: Any]])
        #expect(order["currency"] as? String == "EUR" && order["total_minor"] as? Int == 14_400, "\(order)")
        #expect(lines.count == 1 && lines[0]["unit_amount_minor"] as? Int == 8_000 && lines[0]["amount_minor"] as? Int == 14_400 && lines[0]["discount_minor"] as? Int == 1_600)
        // The session ends; the next read signs in with the refresh token Salesforce rotated last time.
        try salesforce.control("sessions", #"{"expire": true}"#)
        try salesforce.control("touch", #"{"object": "Opportunity", "ids": ["\#(opportunity)"], "fields": {"Name": "Globex seats (signed)"}}"#)
        try daemon.waitReporting("the renamed opportunity is delivered", timeout: 30) { try daemon.count("delivered") >= 2 }
        let grants = try salesforce.calls().filter { $0["path"] as? String == "/services/oauth2/token" }
        #expect(grants.count == 2 && grants.allSatisfy { $0["status"] as? Int == 200 }, "\(grants)")
        #expect(try daemon.connector("sf").state == "running")
        #expect(!daemon.log.contains("test-refresh") && !daemon.log.contains("test-client-secret"), "no secret in the log")
        #expect(try daemon.stop() == 0)
    }

    /// A Bulk job that runs long: its state is read less and less often (never in a tight loop), the
    /// stream waits across polls, and its records arrive once it completes.
    @Test func aLongBulkJobIsWaitedForWithoutATightLoop() throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""))
        _ = try Self.seedAccounts(salesforce, 100)
        try salesforce.control("bulk", #"{"polls_to_complete": 9}"#)
        try daemon.startWithSalesforceKey(connectors: daemon.salesforceToPySink(url: salesforce.url, payloads: "payloads", config: #"streams = ["accounts"]"#))
        try daemon.waitReporting("the 100 accounts are delivered", timeout: 60) { try daemon.count("delivered") >= 100 }
        let states = try salesforce.calls().filter { $0["method"] as? String == "GET" && ($0["path"] as? String)?.contains("/jobs/query/") == true
            && ($0["path"] as? String)?.hasSuffix("/results") == false }
        #expect(states.count == 9, "each state read spaced twice as far as the one before: \(states.count) reads")
        #expect(Set(daemon.delivered("payloads").map(\.id)).count == 100 && daemon.delivered("payloads").count == 100)
        #expect(try daemon.stop() == 0)
    }

    /// A Bulk query job that fails: the history is read by REST queries instead, every record once. Once
    /// caught up, the stream's polls every 200 ms ask Salesforce nothing within its idle interval.
    @Test func aFailedBulkJobFallsBackToQueries() throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""))
        _ = try Self.seedAccounts(salesforce, 300)
        try salesforce.control("bulk", #"{"fail_next": "InvalidBatch : Failed to process query: too complicated"}"#)
        try daemon.startWithSalesforceKey(connectors: daemon.salesforceToPySink(url: salesforce.url, payloads: "payloads",
                                                                                config: "streams = [\"accounts\"]\nidle_interval_s = 60"))
        try daemon.waitUntil("the 300 accounts are delivered", timeout: 30) { try daemon.count("delivered") >= 300 }
        func queries() throws -> Int { try salesforce.calls().filter { ($0["path"] as? String)?.hasSuffix("/queryAll") == true }.count }
        Thread.sleep(forTimeInterval: 0.5)
        let asked = try queries()
        Thread.sleep(forTimeInterval: 2)  // ten polls
        #expect(try queries() == asked, "a caught-up stream asks nothing within its idle interval")
        let received = daemon.delivered("payloads")
        #expect(received.count == 300 && Set(received.map(\.id)).count == 300)
        #expect(daemon.log.contains("reading the history by REST queries instead"), "\(daemon.log.suffix(1_500))")
        #expect(try daemon.stop() == 0)
    }

    /// The B2B story (issue 18): an opportunity won in Salesforce, with its line items, becomes one
    /// quotation (never an invoice) in the Odoo company of the connector's entity; a new version of it,
    /// nothing more. Finance invoices it in Odoo, past due: the Account's status fields are written once,
    /// by Id through sObject Collections. Reopened, the opportunity's quotation is cancelled.
    @Test(arguments: OdooServer.versions) func aWonOpportunityBecomesAQuotationAndTheStatusComesBack(version: Int) throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""))
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let crm = odoo.source("sf")
        try salesforce.control("fields", #"{"object": "Account", "fields": {"Balance_Due__c": "currency", "Overdue_Invoices__c": "double"}}"#)
        let account = try #require(try salesforce.seed("Account", [["Name": "Acme \(crm)", "BillingCountry": "Belgium", "Website": "acme.test"]]).first)
        _ = try salesforce.seed("Contact", [["LastName": "Lee", "FirstName": "Ann", "Email": "ann@acme.test", "AccountId": account]])
        let opportunity = try salesforce.seedOpportunity("Acme seats", account: account, stage: "Negotiation/Review", product: "SEAT-\(crm)", quantity: 3, price: 99.9)
        let since = OdooCursor.odooDateTime(Date(timeIntervalSinceNow: -120))
        let connectors = DaemonHarness.salesforce(url: salesforce.url, id: crm, entity: "acme-eu", currency: "EUR", """
            streams = ["accounts", "contacts", "opportunities", "products"]
            status_fields = { balance_due = "Balance_Due__c", overdue_invoices = "Overdue_Invoices__c" }
            """) + DaemonHarness.odoo(odoo, "account_status = true\nsource_since = \"\(since)\"\nsource_overlap_s = 0")
            + DaemonHarness.route(crm, "erp", events: #""company.*", "contact.*", "product.*", "order.*", "deal.*""#)
            + DaemonHarness.route("erp", crm, events: #""account_status.*""#)
        try daemon.start(storing: [(crm, "private_key", FakeSalesforce.privateKeyPEM), ("erp", "api_key", odoo.apiKey)], then: connectors)
        try daemon.waitReporting("the account, contact, product and open opportunity are delivered", timeout: 60) { try daemon.count("delivered") >= 4 }
        let reference = "ch:\(crm):opportunities:\(opportunity)"
        #expect(try odoo.search("sale.order", [["client_order_ref", "=", reference]], fields: ["id"]).isEmpty, "an open opportunity is no order")
        try salesforce.control("touch", #"{"object": "Opportunity", "ids": ["\#(opportunity)"], "fields": {"StageName": "Closed Won"}}"#)
        try daemon.waitReporting("the won opportunity is a quotation in Odoo", timeout: 60) {
            try !odoo.search("sale.order", [["client_order_ref", "=", reference]], fields: ["id"]).isEmpty
        }
        // Won again in a new version (renamed within the same second, maybe): the order is found, not made twice.
        let delivered = try daemon.count("delivered")
        try salesforce.control("touch", #"{"object": "Opportunity", "ids": ["\#(opportunity)"], "fields": {"Name": "Acme seats (signed)"}}"#)
        try daemon.waitReporting("the new version is delivered", timeout: 30) { try daemon.count("delivered") > delivered }
        try daemon.waitReporting("nothing more arrives", timeout: 20) { try daemon.count("pending") == 0 }
        let orders = try odoo.search("sale.order", [["client_order_ref", "=", reference]], fields: ["id", "name", "state", "partner_id", "company_id", "amount_untaxed"])
        #expect(orders.count == 1, "one quotation, whatever the versions: \(orders)")
        let order = try #require(orders.first)
        #expect(order["state"] as? String == "draft" && OdooServer.id(order["company_id"]) == odoo.euCompany && order["amount_untaxed"] as? Double == 299.7, "\(order)")
        #expect(try odoo.search("account.move", [["invoice_origin", "=", order["name"] as? String ?? "-"]], fields: ["id"]).isEmpty, "never an invoice")
        let partner = try #require(OdooServer.id(order["partner_id"]))

        // Finance invoices the order in Odoo, and the invoice falls due unpaid.
        let total = try odoo.postPastDueInvoice(partner: partner, price: 299.7, name: "Seats").total
        func fields() throws -> [String: Any] {
            try salesforce.records("Account").first { $0["Id"] as? String == account } ?? [:]
        }
        do {
            try daemon.waitReporting("the balance reaches the Salesforce account", timeout: 60) { try fields()["Balance_Due__c"] as? Double != nil }
        } catch {
            Issue.record("account \(account): \(try salesforce.records("Account"))")
            throw error
        }
        let written = try fields()
        #expect(written["Balance_Due__c"] as? Double == total && written["Overdue_Invoices__c"] as? Double == 1, "\(written)")
        Thread.sleep(forTimeInterval: 1.5)  // the polls that follow read the same status and send nothing
        let writes = try salesforce.calls().filter { $0["method"] as? String == "PATCH" && ($0["path"] as? String)?.contains("/composite/sobjects") == true }
        #expect(writes.count == 1, "\(writes.count) Collections writes of the account's status")

        // The opportunity is reopened: its quotation is cancelled.
        try salesforce.control("touch", #"{"object": "Opportunity", "ids": ["\#(opportunity)"], "fields": {"StageName": "Negotiation/Review"}}"#)
        try daemon.waitReporting("the reopened opportunity's quotation is cancelled", timeout: 60) {
            try odoo.search("sale.order", [["client_order_ref", "=", reference]], fields: ["state"]).first?["state"] as? String == "cancel"
        }
        #expect(try daemon.deadLetters().isEmpty)
        #expect(try daemon.stop() == 0)
    }

    /// Statuses of customers that never came from Salesforce are upserted by the Account External ID
    /// that holds their Odoo id (`status_key_field`); one no Account holds creates nothing; a validation
    /// rule's refusal is a dead letter with Salesforce's message.
    @Test(arguments: OdooServer.versions) func statusesAreUpsertedByTheExternalIDOfTheBooks(version: Int) throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""))
        let odoo = try OdooServer.underTest(version: version, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let crm = odoo.source("sf")
        try salesforce.control("fields", #"{"object": "Account", "fields": {"Balance_Due__c": "currency", "Odoo_Partner__c": {"type": "string", "external_id": true, "unique": true}}}"#)
        let context: [String: Any] = ["allowed_company_ids": [odoo.euCompany]]
        func partner(_ name: String) throws -> Int {
            try #require(try odoo.execute("res.partner", "create", [["name": name, "is_company": true]], context: context) as? Int)
        }
        let (umbrella, nobody) = (try partner("Umbrella \(crm)"), try partner("Nobody \(crm)"))
        let account = try #require(try salesforce.seed("Account", [["Name": "Umbrella", "Odoo_Partner__c": String(umbrella)]]).first)
        let since = OdooCursor.odooDateTime(Date(timeIntervalSinceNow: -120))
        let connectors = DaemonHarness.salesforce(url: salesforce.url, id: crm, entity: "acme-eu", currency: "EUR", """
            streams = ["products"]
            status_fields = { balance_due = "Balance_Due__c" }
            status_key_field = "Odoo_Partner__c"
            """) + DaemonHarness.odoo(odoo, "account_status = true\nsource_since = \"\(since)\"\nsource_overlap_s = 0")
            + DaemonHarness.route("erp", crm, events: #""account_status.*""#)
        try daemon.start(storing: [(crm, "private_key", FakeSalesforce.privateKeyPEM), ("erp", "api_key", odoo.apiKey)], then: connectors)
        try daemon.waitUntil("the Salesforce connector runs", timeout: 15) { try daemon.connector(crm).state == "running" }
        let check = try daemon.hostctl("check", crm)
        #expect(check.status == 0 && check.stdout.contains("the status fields are writable"), "\(check)")
        let total = try odoo.postPastDueInvoice(partner: umbrella, price: 100).total
        try odoo.postPastDueInvoice(partner: nobody, price: 50)
        func balance() throws -> Double? {
            try salesforce.records("Account").first { $0["Id"] as? String == account }?["Balance_Due__c"] as? Double
        }
        try daemon.waitReporting("the balance reaches the Account keyed by its Odoo id", timeout: 60) { try balance() != nil }
        try daemon.waitReporting("both statuses are delivered", timeout: 30) { try daemon.count("delivered") >= 2 && daemon.count("pending") == 0 }
        #expect(try balance() == total)
        #expect(try salesforce.records("Account").count == 1, "no Account made for a customer no Account holds")
        let upserts = try salesforce.calls().filter { ($0["path"] as? String)?.hasSuffix("/composite/sobjects/Account/Odoo_Partner__c") == true }
        #expect(!upserts.isEmpty && upserts.allSatisfy { $0["method"] as? String == "PATCH" })

        // A validation rule refuses the next write: a dead letter that says why.
        try salesforce.control("reject", #"{"object": "Account", "match": {"Odoo_Partner__c": "\#(umbrella)"}, "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Balance changes need finance approval", "count": 100}"#)
        try odoo.postPastDueInvoice(partner: umbrella, price: 20)
        try daemon.waitReporting("the refused status is a dead letter", timeout: 60) { try !daemon.deadLetters().isEmpty }
        let dead = try #require(try daemon.deadLetters().first)
        #expect(dead.errorClass == "permanent" && dead.reason.contains("Balance changes need finance approval") && dead.attempts == 1, "\(dead)")
        #expect(try balance() == total)
        #expect(try daemon.stop() == 0)
    }

    /// The daemon is killed (SIGKILL) right after Odoo made the quotation, before the host wrote it
    /// down: the redelivery finds it, and there is one, its product created once.
    @Test(OdooFlowTests.fakeOnly) func aKilledDaemonMakesNoSecondQuotation() throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""))
        let odoo = try OdooServer(version: 17, apiKey: DaemonHarness.odooKey, log: daemon.path("odoo.log"))
        let account = try #require(try salesforce.seed("Account", [["Name": "Acme"]]).first)
        let opportunity = try salesforce.seedOpportunity("Acme deal", account: account, stage: "Closed Won", product: "SEAT", quantity: 3, price: 500)
        try odoo.control("fault", #"{"kind": "hang", "phase": "after", "ms": 30000, "model": "sale.order", "method": "create"}"#)
        let connectors = DaemonHarness.salesforce(url: salesforce.url, entity: "acme-eu", currency: "EUR", #"streams = ["accounts", "opportunities"]"#)
            + DaemonHarness.odoo(odoo) + DaemonHarness.route("sf", "erp", events: #""company.*", "order.*", "deal.*""#)
        try daemon.start(storing: [("sf", "private_key", FakeSalesforce.privateKeyPEM), ("erp", "api_key", odoo.apiKey)], then: connectors)
        try daemon.waitReporting("Odoo made the quotation", timeout: 30) { try odoo.calls("sale.order", "create") >= 1 }
        guard let pid = daemon.daemonPID else { throw HarnessError("no daemon") }
        kill(pid, SIGKILL)
        _ = try? daemon.stop(timeout: 5)
        try daemon.start()
        try daemon.waitReporting("the account and the order are delivered", timeout: 60) { try daemon.count("delivered") == 2 }
        let orders = try odoo.search("sale.order", [["client_order_ref", "=", "ch:sf:opportunities:\(opportunity)"]], fields: ["state", "amount_untaxed"])
        #expect(orders.count == 1 && orders.first?["state"] as? String == "draft" && orders.first?["amount_untaxed"] as? Double == 1500, "\(orders)")
        #expect(try odoo.search("product.product", [["default_code", "=like", "ch:sf:products:%"]], fields: ["id"]).count == 1, "the product made once")
        #expect(try daemon.deadLetters().isEmpty)
        #expect(try daemon.stop() == 0)
    }
}

extension SalesforceFlowTests {
    /// `hostctl reconcile sf --side source`: the won opportunities closed in the range, each as the order
    /// its event carries (its line items' amount before taxes, the configured status, its close date);
    /// not an open one, nor one won on another day.
    @Test func wonOpportunitiesAreTheSourceSideOfAnOrderReconciliation() throws {
        let daemon = try DaemonHarness()
        let salesforce = try FakeSalesforce(log: daemon.path("salesforce.log"), directory: daemon.path(""))
        let account = try #require(try Self.seedAccounts(salesforce, 1).accounts.first)
        let seats = try salesforce.seedOpportunity("Seats", account: account, stage: "Closed Won", product: "SEAT", quantity: 3, price: 99.9)
        let support = try salesforce.seedOpportunity("Support", account: account, stage: "Closed Won", product: "SUPPORT", quantity: 1, price: 250, discount: 10)
        _ = try salesforce.seedOpportunity("Open", account: account, stage: "Negotiation/Review", product: "OPEN", quantity: 1, price: 10)
        _ = try salesforce.seedOpportunity("Later", account: account, stage: "Closed Won", product: "LATER", quantity: 1, price: 10, closeDate: "2026-12-02")
        try daemon.startWithSalesforceKey(connectors: DaemonHarness.salesforce(url: salesforce.url, currency: "USD", "order_status = \"confirmed\""))
        try daemon.waitUntil("the Salesforce connector runs", timeout: 20) { try daemon.connector("sf").state == "running" }
        let answer = try DaemonHarness.run("hostctl", ["reconcile", "sf", "--side", "source", "--from", "2026-12-01", "--to", "2026-12-01", "--type", "order",
                                                       "--items", "--json", "--socket", daemon.adminSocket])
        #expect(answer.status == 0, "\(answer.stderr)")
        let report = try JSONDecoder().decode(ReconcileReport.self, from: Data(answer.stdout.utf8))
        let group = try #require(report.snapshot.groups.first)
        #expect(group.objectType == "order" && group.sourceObjectType == "opportunities")
        let usd = try #require(CurrencyCode("USD"))
        let items = group.items.sorted { $0.externalID < $1.externalID }.map { "\($0.externalID) \($0.amount?.amountMinor ?? -1) \($0.status ?? "-") \($0.date ?? "-")" }
        #expect(items == [(seats, 29_970), (support, 22_500)].sorted { $0.0 < $1.0 }.map { "\($0.0) \($0.1) confirmed 2026-12-01" }, "\(group.items)")
        #expect(group.count == 2 && group.totals == [Money(amountMinor: 52_470, currency: usd)])
        // Odoo's side only: a source does not answer as a target.
        let refused = try DaemonHarness.run("hostctl", ["reconcile", "sf", "--from", "2026-12-01", "--to", "2026-12-01", "--type", "order", "--socket", daemon.adminSocket])
        #expect(refused.status != 0 && refused.stderr.contains("reconciles as a source only"), "\(refused.stderr)")
        #expect(try daemon.stop() == 0)
    }
}
