import ChargebeeKit
import ConnectorKit
import ConnectorProtocol
import Foundation
import Testing

/// Chargebee resources as canonical records, settings and answers: pure, without network (issue 17).
@Suite struct ChargebeeMappingTests {
    func json(_ text: String) -> JSONValue { try! JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    /// Lines after their discounts come to the total less tax, taxes per line, as Odoo must book them.
    @Test func anInvoiceWithDiscountsAndTaxesKeepsItsTotal() throws {
        let invoice = try ChargebeeMapping.invoice(json(#"""
            {"id": "inv_1", "customer_id": "cb_7", "subscription_id": "sub_1", "status": "paid", "price_type": "tax_exclusive", "currency_code": "EUR",
             "date": 1764500000, "due_date": 1765000000, "sub_total": 30000, "tax": 5670, "total": 32970, "amount_paid": 32970, "amount_due": 0,
             "line_items": [
               {"id": "li_1", "entity_type": "plan_item_price", "entity_id": "pro-EUR-monthly", "description": "Pro", "quantity": 3, "unit_amount": 9000,
                "amount": 27000, "discount_amount": 2700, "tax_amount": 5103},
               {"id": "li_2", "entity_type": "charge_item_price", "entity_id": "setup-EUR", "description": "Setup", "quantity": 1, "unit_amount": 3000,
                "amount": 3000, "discount_amount": 0, "tax_amount": 567}],
             "line_item_taxes": [{"line_item_id": "li_1", "tax_name": "VAT", "tax_rate": 21.0, "tax_amount": 5103},
                                 {"line_item_id": "li_2", "tax_name": "VAT", "tax_rate": 21.0, "tax_amount": 567}]}
            """#))
        #expect(invoice.lines.map(\.amountMinor) == [24_300, 3_000] && invoice.lines[0].discountMinor == 2_700 && invoice.lines[0].unitAmountMinor == 9_000)
        #expect(invoice.lines[0].taxes == [TaxLine(name: "VAT", rate: "21", amountMinor: 5_103)] && invoice.lines[0].quantity == "3")
        #expect(invoice.lines[0].product == RecordRef(objectType: "item_price", objectID: "pro-EUR-monthly"))
        #expect(invoice.subtotalMinor == 27_300 && invoice.taxMinor == 5_670 && invoice.totalMinor == 32_970, "27,000 − 2,700 + 3,000 = 27,300; + 5,670 tax")
        #expect(invoice.status == .paid && invoice.amountDueMinor == 0 && invoice.customer == RecordRef(objectType: "customer", objectID: "cb_7"))
        #expect(invoice.issuedAt == "2025-11-30T10:53:20Z" && invoice.subscription == RecordRef(objectType: "subscription", objectID: "sub_1"))
    }

    @Test func zeroDecimalAndMultiDecimalCurrencies() throws {
        let yen = try ChargebeeMapping.invoice(json(#"""
            {"id": "inv_2", "customer_id": "c", "status": "payment_due", "currency_code": "JPY", "tax": 100, "total": 1100, "amount_due": 1100,
             "line_items": [{"id": "l", "description": "Plan", "quantity": 1, "unit_amount": 1000, "amount": 1000}]}
            """#))
        #expect(yen.totalMinor == 1_100 && yen.lines[0].amountMinor == 1_000 && yen.status == .open, "yen are whole: ¥1,000 is 1000")
        let decimals = try ChargebeeMapping.invoice(json(#"""
            {"id": "inv_3", "customer_id": "c", "status": "paid", "currency_code": "USD", "tax": 0, "total": 125,
             "line_items": [{"id": "l", "description": "Metered", "quantity_in_decimal": "2.5", "unit_amount_in_decimal": "0.5", "amount_in_decimal": "1.25",
                             "unit_amount": 50, "amount": 125}]}
            """#))
        #expect(decimals.lines[0].quantity == "2.5" && decimals.lines[0].unitAmountMinor == 50 && decimals.lines[0].amountMinor == 125)
    }

    @Test func linesThatDoNotComeToTheTotalAreRefusedNamingBothSums() {
        #expect {
            try ChargebeeMapping.invoice(json(#"{"id": "inv_4", "customer_id": "c", "currency_code": "EUR", "tax": 0, "total": 999, "line_items": [{"id": "l", "amount": 1000, "unit_amount": 1000}]}"#))
        } throws: { error in
            "\(error)".contains("its lines come to 1000 but its total less tax to 999")
        }
    }

    @Test func aCustomerWithItsBillingAddressAndVAT() {
        let customer = ChargebeeMapping.customer(json(#"""
            {"id": "cb_7", "first_name": "Ann", "last_name": "Lee", "email": "ann@globex.example", "company": "Globex BV", "vat_number": "BE0477472701",
             "preferred_currency_code": "eur", "billing_address": {"line1": "Kouter 1", "city": "Gent", "zip": "9000", "country": "be"}}
            """#))
        #expect(customer == Customer(name: "Globex BV", email: "ann@globex.example", isCompany: true, vat: "BE0477472701",
                                     address: Address(line1: "Kouter 1", city: "Gent", postalCode: "9000", country: "BE"), currency: CurrencyCode("EUR")))
    }

    @Test func settingsAndAnswers() throws {
        #expect(try ChargebeeSettings(["site": "acme-test"]).apiBase == "https://acme-test.chargebee.com/api/v2")
        #expect(throws: ChargebeeSettings.Problem.self) { try ChargebeeSettings([:]) }
        #expect(throws: ChargebeeSettings.Problem.self) { try ChargebeeSettings(["site": "acme", "page_size": 500]) }
        func error(_ status: Int, _ body: String, _ headers: [(name: String, value: String)] = []) -> ConnectorError? {
            do { _ = try ChargebeeAnswer.classify(HTTPResponse(status: status, headers: headers, body: Data(body.utf8))); return nil } catch { return error }
        }
        let limited = error(429, #"{"message":"Sorry, access has been blocked temporarily due to request count exceeding acceptable limits.","type":"invalid_request","api_error_code":"api_request_limit_exceeded"}"#,
                            [("Retry-After", "12")])
        #expect(limited?.code == .rateLimited && limited?.retryAfterMilliseconds == 12_000)
        #expect(error(400, #"{"message":"This API operation is not enabled for this site","api_error_code":"configuration_incompatible"}"#)?.message.contains("Product Catalog 1.0") == true)
        #expect(error(404, #"{"message":"Plan is not present","type":"invalid_request","api_error_code":"resource_not_found","param":"item_id"}"#)?.details?["chargebee_param"]?.stringValue == "item_id")
        #expect(error(401, #"{"message":"Sorry, authentication failed. Invalid api key","api_error_code":"api_authentication_failed"}"#)?.code == .auth)
        #expect(error(503, "Service Unavailable")?.code == .transient)
    }

    @Test func transactionsArePaymentsAndRefundsWithTheirFees() throws {
        let payment = try ChargebeeMapping.transaction(json(#"""
            {"id": "txn_1", "type": "payment", "status": "success", "customer_id": "cb_7", "currency_code": "EUR", "amount": 32970, "fee_amount": 509,
             "payment_method": "card", "date": 1764500100, "linked_invoices": [{"invoice_id": "inv_1", "applied_amount": 32970}]}
            """#))
        let eur = CurrencyCode("EUR")!
        #expect(payment == .payment(Payment(customer: RecordRef(objectType: "customer", objectID: "cb_7"), invoice: RecordRef(objectType: "invoice", objectID: "inv_1"),
                                            amount: Money(amountMinor: 32_970, currency: eur), fee: Money(amountMinor: 509, currency: eur), status: .succeeded,
                                            method: "card", paidAt: "2025-11-30T10:55:00Z")))
        let refund = try ChargebeeMapping.transaction(json(#"{"id": "txn_2", "type": "refund", "status": "success", "currency_code": "EUR", "amount": 5000, "reference_transaction_id": "txn_1", "linked_invoices": [{"invoice_id": "inv_1"}]}"#))
        #expect(refund == .refund(Refund(payment: RecordRef(objectType: "transaction", objectID: "txn_1"), invoice: RecordRef(objectType: "invoice", objectID: "inv_1"),
                                         amount: Money(amountMinor: 5_000, currency: eur), status: .succeeded)))
        #expect(try ChargebeeMapping.transaction(json(#"{"id": "txn_3", "type": "authorization", "status": "success", "currency_code": "EUR", "amount": 100}"#)) == nil)
        #expect(throws: ChargebeeMapping.Unmapped.self) { try ChargebeeMapping.transaction(json(#"{"id": "txn_4", "type": "refund", "currency_code": "EUR", "amount": 1}"#)) }
    }

    @Test func aSubscriptionWithItsItemPrices() throws {
        let subscription = try ChargebeeMapping.subscription(json(#"""
            {"id": "sub_1", "customer_id": "cb_7", "status": "active", "currency_code": "EUR", "current_term_start": 1764500000, "current_term_end": 1767178400,
             "subscription_items": [{"item_price_id": "pro-EUR-monthly", "item_type": "plan", "quantity": 3, "unit_price": 9000}]}
            """#))
        #expect(subscription.status == .active && subscription.items == [Subscription.Item(product: RecordRef(objectType: "item_price", objectID: "pro-EUR-monthly"),
                                                                                         quantity: "3", unitAmount: Money(amountMinor: 9_000, currency: CurrencyCode("EUR")!))])
        #expect(try ChargebeeMapping.subscription(json(#"{"id": "s", "customer_id": "c", "status": "in_trial"}"#)).status == .trialing)
    }

    /// A feed event and the same event pushed are one canonical event, versioned by the resource's
    /// `resource_version`; a pending invoice is not booked yet; an event nobody routes gives nothing.
    @Test func eventsBecomeCanonicalEventsVersionedByTheirResource() throws {
        let mapping = ChargebeeEvents(connector: ConnectorInfo(id: "billing", plugin: "chargebee", tenant: "acme", entity: "acme-eu"))
        let event = json(#"""
            {"id": "ev_1", "object": "event", "event_type": "payment_succeeded", "occurred_at": 1764500100, "api_version": "v2",
             "content": {"transaction": {"id": "txn_1", "type": "payment", "status": "success", "customer_id": "cb_7", "currency_code": "EUR",
                                         "amount": 32970, "resource_version": 1764500100123, "linked_invoices": [{"invoice_id": "inv_1"}]}}}
            """#)
        let mapped = try #require(mapping.events(event).events.first)
        #expect(mapped.type == "payment.succeeded" && mapped.source == SourceRef(objectType: "transaction", objectID: "txn_1", version: "1764500100123"))
        #expect(mapped.orderingKey == "customer:cb_7" && mapped.entity == "acme-eu" && mapped.idempotencyKey(connector: "billing") == "billing:transaction:txn_1:1764500100123")
        let pending = json(#"{"id": "ev_2", "event_type": "invoice_generated", "content": {"invoice": {"id": "inv_9", "status": "pending", "currency_code": "EUR", "customer_id": "c"}}}"#)
        #expect(mapping.events(pending).events.isEmpty && mapping.events(pending).rejects.isEmpty)
        #expect(mapping.events(json(#"{"id": "ev_3", "event_type": "coupon_created", "content": {"coupon": {"id": "x"}}}"#)).events.isEmpty)
        let customer = json(#"{"id": "ev_4", "event_type": "customer_changed", "occurred_at": 1764500000, "content": {"customer": {"id": "cb_7", "email": "a@b.c", "resource_version": 17}}}"#)
        #expect(mapping.events(customer).events.first?.type == "customer.upserted")
    }

    /// A record that cannot be mapped is a reject naming the field and keeping the record, not a thrown
    /// error (which failed the whole poll page and stopped the stream behind it).
    @Test func anUnmappableRecordIsARejectAndTheRestFlows() throws {
        let mapping = ChargebeeEvents(connector: ConnectorInfo(id: "billing", plugin: "chargebee"))
        let bad = json(#"{"id": "inv_4", "customer_id": "c", "status": "paid", "currency_code": "EUR", "tax": 0, "total": 999, "resource_version": 5, "line_items": [{"id": "l", "amount": 1000, "unit_amount": 1000}]}"#)
        let mapped = mapping.record("invoice", bad)
        #expect(mapped.events.isEmpty && mapped.rejects.count == 1)
        let reject = try #require(mapped.rejects.first)
        #expect(reject.problem.contains("invoice inv_4: its lines come to 1000") && reject.source == SourceRef(objectType: "invoice", objectID: "inv_4", version: "5"))
        #expect(reject.record?["total"]?.intValue == 999)
        // Encoded for the host: `rejects` beside the events, left out when there are none.
        let page = String(decoding: try JSONEncoder().encode(PollResult(events: [], cursor: "c", hasMore: false, rejects: mapped.rejects)), as: UTF8.self)
        #expect(page.contains(#""rejects":[{"#) && page.contains(#""problem":"Chargebee invoice inv_4"#))
        #expect(!String(decoding: try JSONEncoder().encode(PollResult(events: [], cursor: nil, hasMore: false)), as: UTF8.self).contains("rejects"))
    }

    /// Listed records (a backfill) are the same events as the feed's: deleted customers are deletions,
    /// item prices products with their price and period.
    @Test func backfilledRecordsAndItemPrices() throws {
        let mapping = ChargebeeEvents(connector: ConnectorInfo(id: "billing", plugin: "chargebee"))
        let deleted = mapping.record("customer", json(#"{"id": "cb_9", "email": "x@y.z", "deleted": true, "resource_version": 88, "updated_at": 1764500000}"#))
        #expect(deleted.events.first?.type == "customer.deleted" && deleted.events.first?.source.version == "88" && deleted.events.first?.occurredAt == "2025-11-30T10:53:20Z")
        let price = mapping.record("item_price", json(#"""
            {"id": "pro-JPY-monthly", "name": "pro-JPY-monthly", "external_name": "Pro (monthly)", "item_id": "pro", "status": "active", "pricing_model": "per_unit",
             "price": 1800, "currency_code": "JPY", "period": 1, "period_unit": "month", "resource_version": 3}
            """#))
        #expect(price.events.first?.type == "product.upserted")
        #expect(price.events.first?.record == .product(Product(name: "Pro (monthly)", unitPrice: Money(amountMinor: 1_800, currency: CurrencyCode("JPY")!),
                                                              recurring: Recurrence(interval: "month", intervalCount: 1))))
        let tiered = try ChargebeeMapping.itemPrice(json(#"{"id": "api-calls", "currency_code": "USD", "pricing_model": "tiered", "status": "archived"}"#))
        #expect(tiered.unitPrice == nil && !tiered.active)
        #expect(try ChargebeeSettings(["site": "acme"]).backfill == ChargebeeBackfill.resources)
        #expect(throws: ChargebeeSettings.Problem.self) { try ChargebeeSettings(["site": "acme", "backfill": ["invoices", "plans"]]) }
    }

    /// The id a CRM's customer is created under in Chargebee: readable when it fits, else its start and a
    /// hash of the whole (two references never share one), always in Chargebee's characters and length.
    @Test func customerIDsFromSourceReferences() {
        #expect(ChargebeeCustomerSink.customerID(sourceConnector: "crm", objectType: "companies", objectID: "9001") == "crm-companies-9001")
        let spaced = ChargebeeCustomerSink.customerID(sourceConnector: "crm", objectType: "res partner", objectID: "7")
        let underscored = ChargebeeCustomerSink.customerID(sourceConnector: "crm", objectType: "res_partner", objectID: "7")
        #expect(spaced != underscored && spaced.hasPrefix("crm-res_partner-7-") && underscored == "crm-res_partner-7")
        let long = ChargebeeCustomerSink.customerID(sourceConnector: "salesforce-emea", objectType: "Account", objectID: String(repeating: "0015g00000XyZ", count: 4))
        #expect(long.count == 50 && long.allSatisfy { $0.isLetter || $0.isNumber || "_-.@".contains($0) })
        let (own, billing) = ChargebeeCustomerSink.fields(Customer(name: "Ann Marie Lee", email: "ann@x.test", vat: "BE0477472701",
                                                                   address: Address(city: "Gent", country: "BE")))
        #expect(own.map { "\($0.0)=\($0.1)" } == ["first_name=Ann Marie", "last_name=Lee", "email=ann@x.test"])
        #expect(billing.map { "\($0.0)=\($0.1)" } == ["vat_number=BE0477472701", "billing_address[city]=Gent", "billing_address[country]=BE"])
    }
}
