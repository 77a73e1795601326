import ConnectorKit
import ConnectorProtocol
import Foundation
import HubSpotKit
import Testing

/// HubSpot records as canonical events, settings and answers: pure, without network (issue 16).
@Suite struct HubSpotMappingTests {
    static let settings = try! HubSpotSettings(["currency": "EUR", "vat_property": "vat_number", "won_stages": ["closedwon", "contractsigned"],
                                                "status_properties": ["balance_due": "odoo_balance_due", "overdue_invoices": "odoo_overdue_invoices"]])
    let mapping = HubSpotMapping(settings: Self.settings, connector: ConnectorInfo(id: "crm", plugin: "hubspot", tenant: "t1", entity: "fr"))

    func object(_ id: String, _ properties: [String: String], archivedAt: String? = nil) -> HubSpotObject {
        HubSpotObject(id: id, properties: properties, archived: archivedAt != nil, archivedAt: archivedAt)
    }

    @Test func aCompanyWithItsContactsIsACompanyWithTheirEmail() throws {
        let company = object("101", ["name": "ACME SAS", "domain": "acme.test", "vat_number": "FR40303265045", "address": "1 rue de la Paix",
                                     "city": "Paris", "zip": "75002", "country": "France", "hs_lastmodifieddate": "2026-11-30T10:00:00.123Z"])
        let event = try #require(mapping.event("companies", company, associations: ["contacts": ["7", "8"]], contactEmails: ["8": "ap@acme.test"]))
        #expect(event.type == "company.upserted" && event.source == SourceRef(objectType: "companies", objectID: "101", version: "1796032800123"))
        #expect(event.occurredAt == "2026-11-30T10:00:00.123Z")
        #expect(event.orderingKey == "companies:101" && event.entity == "fr" && event.tenant == "t1")
        guard case .company(let mapped) = event.record else { Issue.record("\(event.record)"); return }
        #expect(mapped == Company(name: "ACME SAS", domain: "acme.test", vat: "FR40303265045", address: Address(line1: "1 rue de la Paix", city: "Paris", postalCode: "75002", country: "FR"),
                                  email: "ap@acme.test"))
    }

    @Test func aContactRefersToItsCompanyAndKeepsItsOrder() throws {
        let contact = object("7", ["firstname": "Ann", "lastname": "Lee", "email": "ann@acme.test", "jobtitle": "CFO", "country": "de",
                                   "lastmodifieddate": "2026-11-30T10:00:01Z"])
        let event = try #require(mapping.event("contacts", contact, associations: ["companies": ["101"]]))
        #expect(event.type == "contact.upserted" && event.orderingKey == "companies:101", "a contact goes after its company")
        guard case .contact(let mapped) = event.record else { Issue.record("\(event.record)"); return }
        #expect(mapped.name == "Ann Lee" && mapped.company == RecordRef(objectType: "companies", objectID: "101") && mapped.title == "CFO")
        #expect(mapped.address?.country == "DE")
    }

    /// A won deal is an order of its company with its line items, discounts kept apart, money exact.
    @Test func aWonDealIsAnOrderWithItsLines() throws {
        let deal = object("501", ["dealname": "ACME renewal", "dealstage": "contractsigned", "amount": "2970.10", "deal_currency_code": "usd",
                                  "closedate": "2026-11-29T00:00:00Z", "hs_lastmodifieddate": "2026-11-30T11:00:00Z"])
        let items = [
            "9001": object("9001", ["name": "Seats", "quantity": "3", "price": "999.99", "amount": "2699.97", "hs_product_id": "77"]),
            "9002": object("9002", ["name": "Setup", "quantity": "1.5", "price": "180.09", "amount": "270.13"]),
        ]
        let event = try #require(mapping.event("deals", deal, associations: ["companies": ["101"], "contacts": ["7"], "line_items": ["9001", "9002"]],
                                               lineItems: items))
        #expect(event.type == "order.won" && event.orderingKey == "companies:101")
        guard case .order(let order) = event.record else { Issue.record("\(event.record)"); return }
        #expect(order.customer == RecordRef(objectType: "companies", objectID: "101") && order.status == .confirmed && order.currency.code == "USD")
        #expect(order.deal == RecordRef(objectType: "deals", objectID: "501") && order.number == "ACME renewal")
        #expect(order.lines == [
            InvoiceLine(description: "Seats", product: RecordRef(objectType: "products", objectID: "77"), quantity: "3", unitAmountMinor: 99_999,
                        amountMinor: 269_997, discountMinor: 30_000),
            InvoiceLine(description: "Setup", quantity: "1.5", unitAmountMinor: 18_009, amountMinor: 27_013, discountMinor: 0),
        ])
        #expect(order.subtotalMinor == 297_010 && order.totalMinor == 297_010 && order.taxMinor == 0)
    }

    @Test func anOpenOrLostDealStaysADealAndADeletionSaysSo() throws {
        let open = object("502", ["dealname": "Pilot", "dealstage": "appointmentscheduled", "amount": "100", "hs_lastmodifieddate": "2026-11-30T11:00:00Z"])
        let event = try #require(mapping.event("deals", open, associations: ["companies": ["101"]]))
        guard case .deal(let deal) = event.record else { Issue.record("\(event.record)"); return }
        #expect(event.type == "deal.upserted" && deal.outcome == .open && deal.amount == Money(amountMinor: 10_000, currency: CurrencyCode("EUR")!))
        #expect(deal.lines.count == 1 && deal.lines[0].amountMinor == 10_000, "a deal without line items is one line of its amount")
        let lost = try #require(mapping.event("deals", object("503", ["dealstage": "closedlost", "hs_lastmodifieddate": "2026-11-30T11:00:00Z"])))
        guard case .deal(let lostDeal) = lost.record else { Issue.record("\(lost.record)"); return }
        #expect(lostDeal.outcome == .lost && lostDeal.name == "HubSpot deal 503")
        // A won deal with neither company nor contact cannot be an order: it stays a won deal.
        let orphan = try #require(mapping.event("deals", object("504", ["dealstage": "closedwon", "hs_lastmodifieddate": "2026-11-30T11:00:00Z"])))
        #expect(orphan.type == "deal.upserted")
        let deleted = try #require(mapping.event("companies", object("101", ["name": "ACME", "hs_lastmodifieddate": "2026-11-30T10:00:00Z"],
                                                                     archivedAt: "2026-12-01T09:00:00Z")))
        #expect(deleted.type == "company.deleted" && deleted.source.version == "archived:1796115600000")
    }

    @Test func settingsNameTheKeyAtFault() {
        func problem(_ config: JSONValue) -> String? {
            do { _ = try HubSpotSettings(config); return nil } catch { return error.description }
        }
        #expect(problem([:]) == "currency: is required (a string)")
        #expect(problem(["currency": "EURO"])?.hasPrefix("currency: \"EURO\" is not an ISO 4217 currency code") == true)
        #expect(problem(["currency": "EUR", "auth": "oauth"])?.hasPrefix("client_id: is required with auth = \"oauth\"") == true)
        #expect(problem(["currency": "EUR", "page_size": 500])?.hasPrefix("page_size: must be between 1 and 200") == true)
        #expect(problem(["currency": "EUR", "streams": ["companies", "tickets"]])?.hasPrefix("streams[1]: \"tickets\" is not one of") == true)
        #expect(problem(["currency": "EUR", "since": "yesterday"])?.hasPrefix("since: \"yesterday\" is not a date") == true)
        #expect(problem(["currency": "EUR", "status_properties": ["balance": "x"]])?.contains("did you mean balance_due?") == true)
        #expect(problem(["currency": "EUR", "webhook_public_url": "https://hooks.example.com/hooks/crm"])?.hasPrefix("webhook_public_url:") == true)
        #expect(problem(["currency": "EUR", "tokn_secret": "x"])?.contains("did you mean token_secret?") == true)
        #expect((try? HubSpotSettings(["currency": "EUR", "since": "2026-01-01"]))?.sinceMilliseconds == 1_767_225_600_000)
    }

    @Test func answersAreClassifiedByHubSpotsCategory() {
        func error(_ status: Int, _ body: String, _ headers: [(name: String, value: String)] = []) -> ConnectorError? {
            do { _ = try HubSpotAnswer.classify(HTTPResponse(status: status, headers: headers, body: Data(body.utf8))); return nil } catch { return error }
        }
        let expired = error(401, #"{"status":"error","message":"The OAuth token used to make this call expired 0 second(s) ago.","correlationId":"c1","category":"EXPIRED_AUTHENTICATION"}"#)
        #expect(expired?.code == .auth && expired?.details?["hubspot_category"]?.stringValue == "EXPIRED_AUTHENTICATION")
        let limited = error(429, #"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c2","policyName":"TEN_SECONDLY_ROLLING"}"#,
                            [("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")])
        #expect(limited?.code == .rateLimited && limited?.retryAfterMilliseconds == 10_000)
        #expect(error(429, "{}", [("Retry-After", "2")])?.retryAfterMilliseconds == 2_000)
        #expect(error(400, #"{"status":"error","message":"Property values were not valid","correlationId":"c3","category":"VALIDATION_ERROR"}"#)?.code == .permanent)
        #expect(error(502, "<html>bad gateway</html>")?.code == .transient)
        #expect(error(200, "not json")?.code == .transient)
        #expect(error(204, "") == nil)
    }

    @Test func decimalAmountsAreExactMinorUnits() {
        let eur = CurrencyCode("EUR")!, jpy = CurrencyCode("JPY")!, kwd = CurrencyCode("KWD")!
        #expect(DecimalAmount.minorUnits("1500.50", eur) == 150_050)
        #expect(DecimalAmount.minorUnits("0.1", eur) == 10 && DecimalAmount.minorUnits("-12.345", eur) == -1_235 && DecimalAmount.minorUnits("12.344", eur) == 1_234)
        #expect(DecimalAmount.minorUnits("1999", jpy) == 1_999 && DecimalAmount.minorUnits("1.0005", kwd) == 1_001)
        #expect(DecimalAmount.minorUnits("92233720368547758.08", eur) == nil, "beyond Int64")
        for bad in ["", "1e3", "12,5", "1.2.3", "--1", "abc", "."] { #expect(DecimalAmount.minorUnits(bad, eur) == nil, "\(bad)") }
    }

    @Test func accountStatusesBecomePropertyValues() {
        let status = AccountStatus(customer: RecordRef(objectType: "res.partner", objectID: "42"), balanceDue: Money(amountMinor: 123_450, currency: CurrencyCode("EUR")!),
                                   overdue: Money(amountMinor: 0, currency: CurrencyCode("EUR")!), overdueInvoices: 2, asOf: "2026-12-06T10:00:00Z")
        #expect(HubSpotStatus.properties(status, names: Self.settings.statusProperties) == ["odoo_balance_due": "1234.50", "odoo_overdue_invoices": "2"])
    }
}
