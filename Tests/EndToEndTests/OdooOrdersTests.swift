import ConnectorKit
import ConnectorProtocol
import Foundation
import OdooKit
import Testing

/// CRM records into Odoo (issue 16): a company and its contact as partners, a won deal's order as a
/// sale order, a deal reopened cancelling it. Against the fake, or a real Odoo with `ODOO_URL`.
@Suite(.serialized) struct OdooOrdersTests {
    static let eur = CurrencyCode("EUR")!

    static func order(_ status: Order.Status = .confirmed) -> Order {
        Order(number: "ACME renewal", customer: RecordRef(objectType: "companies", objectID: "101"), status: status, currency: eur, lines: [
            InvoiceLine(description: "Seats", product: RecordRef(objectType: "products", objectID: "77"), quantity: "3", unitAmountMinor: 9_990, amountMinor: 26_973,
                        discountMinor: 2_997),
            InvoiceLine(description: "Onboarding", quantity: "1", unitAmountMinor: 50_000, amountMinor: 50_000),
        ], subtotalMinor: 76_973, taxMinor: 0, totalMinor: 76_973, orderedAt: "2026-11-29T00:00:00Z", deal: RecordRef(objectType: "deals", objectID: "501"))
    }

    @Test(arguments: OdooServer.versions) func aWonDealBecomesOneSaleOrderAndReopeningCancelsIt(version: Int) async throws {
        let server = try OdooServer.underTest(version: version, apiKey: "sink-key", log: "/dev/null")
        let fallback = try #require((try server.execute("product.product", "create", [["name": "Services", "sale_ok": true]]) as? Int).map(Int64.init))
        let odoo = try OdooSinkTests.Sink(server: server, extra: ["orders": "confirm", "default_order_product": .int(fallback)])
        let company = Company(name: "ACME SAS \(odoo.shop)", domain: "acme.test", vat: "BE0477472701", address: Address(city: "Gent", country: "BE"), email: "ap@acme.test")
        try await odoo.deliver("company.upserted", "companies", "101", .company(company))
        try await odoo.deliver("contact.upserted", "contacts", "7", .contact(Contact(name: "Ann Lee", email: "ann@acme.test", title: "CFO",
                                                                                      company: RecordRef(objectType: "companies", objectID: "101"))))
        let partners = try server.search("res.partner", [["ref", "=like", "ch:\(odoo.shop):%"]], fields: ["id", "ref", "is_company", "parent_id", "type", "function"])
        let parent = try #require(partners.first { $0["is_company"] as? Bool == true })
        let child = try #require(partners.first { $0["is_company"] as? Bool == false })
        #expect(OdooServer.id(child["parent_id"]) == parent["id"] as? Int && child["type"] as? String == "contact" && child["function"] as? String == "CFO")

        let created = try await odoo.deliver("order.won", "deals", "501", .order(Self.order()))
        #expect(created.duplicate == false && created.externalID?.hasPrefix("sale.order,") == true)
        let orders = try server.search("sale.order", [["client_order_ref", "=", "ch:\(odoo.shop):deals:501"]],
                                       fields: ["id", "state", "partner_id", "company_id", "amount_untaxed", "currency_id"])
        #expect(orders.count == 1)
        let order = try #require(orders.first)
        #expect(order["state"] as? String == "sale" && OdooServer.id(order["partner_id"]) == parent["id"] as? Int)
        #expect(OdooServer.id(order["company_id"]) == server.euCompany && order["amount_untaxed"] as? Double == 769.73)
        // Delivered again (a retry, a replay): the same order, nothing new.
        let again = try await odoo.deliver("order.won", "deals", "501", .order(Self.order()))
        #expect(again.duplicate && again.externalID == created.externalID)
        #expect(try server.search("product.product", [["default_code", "=", "ch:\(odoo.shop):products:77"]], fields: ["id"]).count == 1, "the line's product, created once")

        // The deal is reopened in the CRM: its confirmed order is cancelled.
        let reopened = Deal(name: "ACME renewal", stage: "qualifiedtobuy", outcome: .open, company: RecordRef(objectType: "companies", objectID: "101"))
        let cancelled = try await odoo.deliver("deal.upserted", "deals", "501", version: "2", .deal(reopened))
        #expect(cancelled.externalID == created.externalID)
        #expect(try server.search("sale.order", [["id", "=", order["id"] as? Int ?? 0]], fields: ["state"]).first?["state"] as? String == "cancel")
        // A deal that never had an order: nothing to do.
        #expect(try await odoo.deliver("deal.upserted", "deals", "502", .deal(reopened)).externalID == nil)
        // Deleted in the CRM: the contact's partner is archived; a deleted deal leaves its order to a person.
        try await odoo.deliver("contact.deleted", "contacts", "7", version: "archived:1", .contact(Contact(name: "Ann Lee")))
        #expect(try server.search("res.partner", [["id", "=", child["id"] as? Int ?? 0], ["active", "in", [true, false]]], fields: ["active"]).first?["active"] as? Bool == false)
        try await odoo.deliver("order.won", "deals", "503", .order(Self.order()))
        await #expect {
            try await odoo.deliver("order.deleted", "deals", "503", version: "archived:1", .order(Self.order()))
        } throws: { error in
            (error as? ConnectorError)?.code == .permanent && (error as? ConnectorError)?.message.contains("was deleted at the source") == true
        }
        #expect(try await odoo.deliver("company.deleted", "companies", "999", version: "archived:1", .company(Company(name: "Gone"))).externalID == nil)
    }

    /// An order in a currency its Odoo company's pricelist does not sell in is a dead letter saying
    /// what to do, and leaves no draft behind; an order line without a product needs a fallback.
    @Test(arguments: OdooServer.versions) func anOrderOdooCannotMakeExactlyIsADeadLetter(version: Int) async throws {
        let server = try OdooServer.underTest(version: version, apiKey: "sink-key", log: "/dev/null")
        let odoo = try OdooSinkTests.Sink(server: server, extra: ["orders": "quotation"])
        try await odoo.deliver("company.upserted", "companies", "101", .company(Company(name: "Initech \(odoo.shop)")))
        await #expect {
            try await odoo.deliver("order.won", "deals", "601", .order(Self.order()))
        } throws: { error in
            (error as? ConnectorError)?.code == .permanent && (error as? ConnectorError)?.message.contains("default_order_product") == true
        }
        var usd = Self.order()
        usd.currency = CurrencyCode("USD")!
        usd.lines.removeLast()
        usd.subtotalMinor = 26_973
        await #expect {
            try await odoo.deliver("order.won", "deals", "602", .order(usd))
        } throws: { error in
            (error as? ConnectorError)?.message.contains("give the customer a pricelist in USD") == true
        }
        #expect(try server.search("sale.order", [["client_order_ref", "=like", "ch:\(odoo.shop):deals:%"]], fields: ["id"]).isEmpty, "no draft left behind")
    }

    /// A customer's account status follows its invoices and payments: an invoice past due makes it owe
    /// and be overdue, the payment clears it and is its last payment; read again unchanged, the same version.
    @Test(arguments: OdooServer.versions) func anAccountStatusFollowsInvoicesAndPayments(version: Int) async throws {
        let server = try OdooServer.underTest(version: version, apiKey: "sink-key", log: "/dev/null")
        let since = OdooCursor.odooDateTime(Date(timeIntervalSinceNow: -120))
        let odoo = try OdooSinkTests.Sink(server: server, extra: ["account_status": true, "source_since": .string(since)])
        try await odoo.deliver("customer.upserted", "customer", "cus_1", OdooSinkTests.customer)
        var invoice = odoo.invoice()
        (invoice.issuedAt, invoice.dueAt) = ("2026-01-01", "2026-01-15")
        try await odoo.deliver("invoice.finalized", "invoice", "in_1", .invoice(invoice))
        let partner = try #require(try server.search("res.partner", [["ref", "=", "ch:\(odoo.shop):customer:cus_1"]], fields: ["id"]).first?["id"] as? Int)
        let statuses = OdooAccountStatus(client: odoo.client, settings: odoo.settings, connector: ConnectorInfo(id: "erp", plugin: "odoo"), today: { "2026-12-06" })

        /// Polls from `cursor` until caught up; the last status of the partner read, and the cursor.
        func poll(_ cursor: String?) async throws -> (AccountStatus?, String?, String?) {
            var cursor = cursor, found: (AccountStatus, String?)?
            for _ in 0..<50 {
                let page = try await statuses.poll(PollParams(stream: OdooAccountStatus.stream, cursor: cursor, maxEvents: 100))
                for event in page.events where event.source.objectID == String(partner) {
                    if case .accountStatus(let status) = event.record { found = (status, event.source.version) }
                }
                cursor = page.cursor
                if !page.hasMore { break }
            }
            return (found?.0, found?.1, cursor)
        }
        let (owing, version, cursor) = try await poll(nil)
        let eur = OdooSinkTests.eur
        #expect(owing?.balanceDue == Money(amountMinor: invoice.totalMinor, currency: eur) && owing?.overdue == Money(amountMinor: invoice.totalMinor, currency: eur))
        #expect(owing?.overdueInvoices == 1 && owing?.lastPayment == nil && owing?.customer == RecordRef(objectType: "res.partner", objectID: String(partner)))
        try await odoo.deliver("payment.succeeded", "payment", "py_1", .payment(Payment(invoice: RecordRef(objectType: "invoice", objectID: "in_1"),
                                                                                     amount: Money(amountMinor: invoice.totalMinor, currency: eur), status: .succeeded,
                                                                                     paidAt: "2026-12-05T10:00:00Z")))
        let (cleared, clearedVersion, _) = try await poll(cursor)
        #expect(cleared?.balanceDue.amountMinor == 0 && cleared?.overdue.amountMinor == 0 && cleared?.overdueInvoices == 0, "\(String(describing: cleared))")
        #expect(cleared?.lastPayment == Money(amountMinor: invoice.totalMinor, currency: eur) && clearedVersion != version)
        let (again, againVersion, _) = try await poll(nil)
        #expect(again?.balanceDue.amountMinor == 0 && againVersion == clearedVersion, "read again unchanged: the same version, dropped by the host")
    }
}
