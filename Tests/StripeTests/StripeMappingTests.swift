import ConnectorKit
import ConnectorProtocol
import Foundation
import StripeKit
import Testing

/// Stripe events (shapes from Stripe's API reference) as canonical events.
@Suite struct StripeMappingTests {
    let connector = ConnectorInfo(id: "stripe-eu", plugin: "stripe", tenant: "acme", entity: "acme-eu")

    func json(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    @Test func aFinalizedInvoiceWithTaxBecomesAnInvoice() throws {
        let event = try json(#"""
            {"id": "evt_1", "object": "event", "type": "invoice.finalized", "created": 1795400000,
             "data": {"object": {"id": "in_1", "object": "invoice", "customer": "cus_9", "status": "open", "currency": "eur",
               "number": "A1B2-0001", "subtotal": 10000, "tax": 2100, "total": 12100, "amount_paid": 0, "amount_due": 12100, "amount_remaining": 12100,
               "due_date": 1796000000, "subscription": "sub_3", "status_transitions": {"finalized_at": 1795400000},
               "lines": {"object": "list", "data": [{"id": "il_1", "amount": 10000, "quantity": 2, "description": "Pro plan",
                 "price": {"id": "price_1", "product": "prod_7", "unit_amount": 5000, "currency": "eur"},
                 "tax_amounts": [{"amount": 2100, "inclusive": false, "tax_rate": "txr_21"}],
                 "tax_rates": [{"id": "txr_21", "percentage": 21.0, "display_name": "VAT", "inclusive": false}]}]}}}}
            """#)
        let events = StripeMapping.events(from: event, connector: connector)
        #expect(events.count == 1)
        let mapped = try #require(events.first)
        #expect(mapped.type == "invoice.finalized")
        #expect(mapped.idempotencyKey(connector: "stripe-eu") == "stripe-eu:invoice:in_1:evt_1")
        #expect(mapped.entity == "acme-eu" && mapped.tenant == "acme" && mapped.orderingKey == "cus_9")
        guard case .invoice(let invoice) = mapped.record else { Issue.record("not an invoice"); return }
        #expect(invoice.customer == RecordRef(objectType: "customer", objectID: "cus_9"))
        #expect(invoice.status == .open && invoice.currency.code == "EUR" && invoice.number == "A1B2-0001")
        #expect(invoice.totalMinor == 12_100 && invoice.taxMinor == 2_100 && invoice.subtotalMinor == 10_000 && invoice.amountDueMinor == 12_100)
        #expect(invoice.lines == [InvoiceLine(description: "Pro plan", product: RecordRef(objectType: "product", objectID: "prod_7"), quantity: "2",
                                              unitAmountMinor: 5_000, amountMinor: 10_000, taxes: [TaxLine(name: "VAT", rate: "21", amountMinor: 2_100)])])
        #expect(invoice.subscription?.objectID == "sub_3" && invoice.issuedAt == "2026-11-23T02:13:20Z")
    }

    /// Stripe's published credit note example (Tests/Fixtures/stripe): it was answered `{"accepted":0}`
    /// and never reached the books (issue 14, item 1).
    @Test func aStripeCreditNoteIsACanonicalCreditNoteOfItsInvoice() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stripe/credit_note.json")
        let object = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: fixture))
        let event = JSONValue.object(["id": "evt_cn1", "object": "event", "type": "credit_note.created", "created": .int(1_796_000_000),
                                      "data": .object(["object": object])])
        let events = StripeMapping.events(from: event, connector: connector)
        let mapped = try #require(events.first)
        #expect(events.count == 1 && mapped.type == "credit_note.issued" && mapped.orderingKey == "cus_PEHTIoPSgT0tXQ")
        #expect(mapped.source == SourceRef(objectType: "credit_note", objectID: "cn_1OPouvJN5vQBdWExIhfxzf67", version: "evt_cn1"))
        guard case .creditNote(let note) = mapped.record else { Issue.record("not a credit note: \(mapped.record.kind)"); return }
        #expect(note.original == RecordRef(objectType: "invoice", objectID: "in_1OPouvJN5vQBdWExRyU1EhWP"))
        #expect(note.currency.code == "USD" && note.number == "ABCD-1234-CN-01" && note.status == .open)
        #expect(note.subtotalMinor == 1_500 && note.taxMinor == 190 && note.totalMinor == 1_690)
        #expect(note.issuedAt == "2026-11-30T00:53:20Z")
        #expect(note.lines.map(\.amountMinor) == [1_000, 500])
        #expect(note.lines.first?.taxes == [TaxLine(name: "VAT", rate: "19", amountMinor: 190)])
        #expect(note.lines.last?.taxes == [])

        var voided = object
        if case .object(var fields) = voided { fields["status"] = "void"; voided = .object(fields) }
        let void = JSONValue.object(["id": "evt_cn2", "type": "credit_note.voided", "created": .int(1_796_000_100), "data": .object(["object": voided])])
        #expect(StripeMapping.events(from: void, connector: connector).map(\.type) == ["credit_note.voided"])
    }

    @Test func draftsAreNotEmittedAndStatusesNameTheEvent() throws {
        let draft = try json(#"{"id": "evt_2", "type": "invoice.created", "created": 1, "data": {"object": {"id": "in_2", "customer": "cus_1", "status": "draft", "currency": "usd", "total": 0, "lines": {"data": []}}}}"#)
        #expect(StripeMapping.events(from: draft, connector: connector).isEmpty)
        let voided = try json(#"{"id": "evt_3", "type": "invoice.voided", "created": 1, "data": {"object": {"id": "in_2", "customer": "cus_1", "status": "void", "currency": "usd", "total": 500, "lines": {"data": []}}}}"#)
        #expect(StripeMapping.events(from: voided, connector: connector).map(\.type) == ["invoice.voided"])
    }

    @Test func aChargeIsAPaymentWithTheFeeOfItsBalanceTransaction() throws {
        let event = try json(#"""
            {"id": "evt_4", "type": "charge.succeeded", "created": 1795400000, "data": {"object": {"id": "ch_1", "object": "charge", "amount": 12100,
             "currency": "eur", "customer": "cus_9", "invoice": "in_1", "status": "succeeded", "balance_transaction": "txn_1",
             "payment_method_details": {"type": "card"}, "created": 1795400000}}}
            """#)
        #expect(StripeMapping.balanceTransactions(in: event) == ["txn_1"])
        let fee = Money(amountMinor: 381, currency: CurrencyCode("EUR")!)
        let transaction = try json(#"{"id": "txn_1", "object": "balance_transaction", "amount": 12100, "currency": "eur", "fee": 381, "net": 11719, "exchange_rate": null}"#)
        let mapped = try #require(StripeMapping.events(from: event, connector: connector, transactions: ["txn_1": transaction]).first)
        #expect(mapped.type == "payment.succeeded" && mapped.source.objectID == "ch_1" && mapped.source.version == "succeeded")
        guard case .payment(let payment) = mapped.record else { Issue.record("not a payment"); return }
        #expect(payment.amount == Money(amountMinor: 12_100, currency: CurrencyCode("EUR")!) && payment.fee == fee)
        #expect(payment.settlement?.net == Money(amountMinor: 11_719, currency: CurrencyCode("EUR")!) && payment.settlement?.exchangeRate == nil)
        #expect(payment.invoice?.objectID == "in_1" && payment.customer?.objectID == "cus_9" && payment.method == "card")
    }

    /// A USD charge settled into a EUR balance: the fee (0.57 EUR) was dropped with a log line and the
    /// balance transaction's amount, net and rate never read (issue 14, item 2). Now the payment carries
    /// what reached the balance, in its currency, with Stripe's rate.
    @Test func aChargeSettledInAnotherCurrencyCarriesWhatReachedTheBalance() throws {
        let event = try json(#"""
            {"id": "evt_fx", "type": "charge.succeeded", "created": 1795400000, "data": {"object": {"id": "ch_fx", "object": "charge", "amount": 1000,
             "currency": "usd", "customer": "cus_9", "invoice": "in_fx", "status": "succeeded", "created": 1795400000,
             "balance_transaction": {"id": "txn_fx", "object": "balance_transaction", "amount": 920, "currency": "eur", "fee": 57, "net": 863,
                                     "exchange_rate": 0.92, "available_on": 1795593600, "type": "charge"}}}}
            """#)
        guard case .payment(let payment) = try #require(StripeMapping.events(from: event, connector: connector).first).record else { Issue.record("not a payment"); return }
        let eur = CurrencyCode("EUR")!
        #expect(payment.amount == Money(amountMinor: 1_000, currency: CurrencyCode("USD")!))
        #expect(payment.settlement == Settlement(id: "txn_fx", amount: Money(amountMinor: 920, currency: eur), fee: Money(amountMinor: 57, currency: eur),
                                                 net: Money(amountMinor: 863, currency: eur), exchangeRate: "0.92", availableAt: "2026-11-25T08:00:00Z"))
        #expect(payment.fee == Money(amountMinor: 57, currency: eur))
    }

    /// Stripe's dispute example, with the funds withdrawn and then the dispute won (disputes were not
    /// mapped at all, issue 14): one canonical event per status and balance movement, each movement kept.
    @Test func aDisputeCarriesItsBalanceMovements() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/stripe")
        var dispute = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: fixtures.appendingPathComponent("dispute.json"))).objectValue)
        let withdrawal: JSONValue = ["id": "txn_dw", "object": "balance_transaction", "amount": -920, "currency": "eur", "fee": 1_500, "net": -2_420,
                                     "exchange_rate": .double(0.92), "type": "adjustment", "available_on": 1_795_400_000]
        dispute.merge(["status": "needs_response", "balance_transactions": [withdrawal]]) { $1 }
        let opened = JSONValue.object(["id": "evt_d1", "type": "charge.dispute.funds_withdrawn", "created": 1_795_400_000, "data": ["object": .object(dispute)]])
        let first = try #require(StripeMapping.events(from: opened, connector: connector).first)
        #expect(first.type == "dispute.open" && first.source.objectID == "dp_1OPoujJN5vQBdWExZXzZC5oN" && first.source.version == "open+txn_dw")
        #expect(first.orderingKey == "charge:ch_1OPoueJN5vQBdWExHvNS496R")
        guard case .dispute(let open) = first.record else { Issue.record("not a dispute"); return }
        let eur = CurrencyCode("EUR")!
        #expect(open.amount == Money(amountMinor: 1_000, currency: CurrencyCode("USD")!) && open.reason == "general" && open.payment.objectID == "ch_1OPoueJN5vQBdWExHvNS496R")
        #expect(open.settlements.map(\.net) == [Money(amountMinor: -2_420, currency: eur)] && open.settlements.first?.fee == Money(amountMinor: 1_500, currency: eur))

        let reinstated: JSONValue = ["id": "txn_dr", "object": "balance_transaction", "amount": 920, "currency": "eur", "fee": -1_500, "net": 2_420, "type": "adjustment"]
        dispute.merge(["status": "won", "balance_transactions": [withdrawal, reinstated]]) { $1 }
        let won = JSONValue.object(["id": "evt_d2", "type": "charge.dispute.closed", "created": 1_795_500_000, "data": ["object": .object(dispute)]])
        let second = try #require(StripeMapping.events(from: won, connector: connector).first)
        #expect(second.type == "dispute.won" && second.source.version == "won+txn_dw+txn_dr")
        guard case .dispute(let closed) = second.record else { Issue.record("not a dispute"); return }
        #expect(closed.settlements.map(\.id) == ["txn_dw", "txn_dr"])
    }

    /// A paid invoice without `amount_remaining` (localstripe) owes nothing: its due amount was read as
    /// still owed, and a dead letter about an open amount would have said "121.00 EUR remaining".
    @Test func aPaidInvoiceWithoutAmountRemainingOwesNothing() throws {
        let event = try json(#"{"id": "evt_ip", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_p", "customer": "cus_1", "status": "paid", "currency": "eur", "total": 12100, "amount_due": 12100, "amount_paid": 12100, "lines": {"data": []}}}}"#)
        guard case .invoice(let invoice) = try #require(StripeMapping.events(from: event, connector: connector).first).record else { Issue.record("not an invoice"); return }
        #expect(invoice.amountDueMinor == 0 && invoice.amountPaidMinor == 12_100)
    }

    /// A product's price stayed at Odoo's default (issue 14): its default price (fetched when the event
    /// only names it) is now the product's unit price; a customer without a name takes its shipping name.
    @Test func aProductCarriesItsDefaultPriceAndANamelessCustomerItsShippingName() throws {
        let named = try json(#"{"id": "evt_p", "type": "product.created", "created": 1, "data": {"object": {"id": "prod_1", "object": "product", "name": "Pro", "default_price": "price_1"}}}"#)
        #expect(StripeMapping.unexpandedDefaultPrice(in: named) == "price_1")
        let price = try json(#"{"id": "price_1", "object": "price", "currency": "eur", "unit_amount": 4900, "product": "prod_1"}"#)
        guard case .product(let product) = try #require(StripeMapping.events(from: StripeMapping.expanding(named, "default_price", with: price), connector: connector).first).record else {
            Issue.record("not a product"); return
        }
        #expect(product.unitPrice == Money(amountMinor: 4_900, currency: CurrencyCode("EUR")!))
        let customer = try json(#"{"id": "evt_c", "type": "customer.created", "created": 1, "data": {"object": {"id": "cus_1", "name": null, "email": "ap@globex.test", "shipping": {"name": "Globex GmbH"}}}}"#)
        guard case .customer(let mapped) = try #require(StripeMapping.events(from: customer, connector: connector).first).record else { Issue.record("not a customer"); return }
        #expect(mapped.name == "Globex GmbH")
    }

    /// Stripe's payout example, paid: money leaving the balance for the bank, with its balance transaction.
    @Test func aPaidPayoutIsAPayoutEvent() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/stripe")
        var payout = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: fixtures.appendingPathComponent("payout.json"))).objectValue)
        payout["status"] = "paid"
        let event = JSONValue.object(["id": "evt_po", "type": "payout.paid", "created": 1_795_400_000, "data": ["object": .object(payout)]])
        #expect(StripeMapping.balanceTransactions(in: event) == ["txn_1OPoueJN5vQBdWEx8dhHMVqh"])
        let transaction = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: fixtures.appendingPathComponent("balance_transaction.json")))
        let mapped = try #require(StripeMapping.events(from: event, connector: connector, transactions: ["txn_1OPoueJN5vQBdWEx8dhHMVqh": transaction]).first)
        #expect(mapped.type == "payout.paid" && mapped.source.objectType == "payout" && mapped.source.objectID == "po_1OPounJN5vQBdWExyK5eT2UD")
        guard case .payout(let mappedPayout) = mapped.record else { Issue.record("not a payout"); return }
        #expect(mappedPayout.amount == Money(amountMinor: 1_100, currency: CurrencyCode("USD")!) && mappedPayout.status == .paid)
        #expect(mappedPayout.arrivalAt == "2009-02-13T23:31:30Z" && mappedPayout.statementDescriptor == "STRIPE PAYOUT")
        #expect(mappedPayout.settlement?.id == "txn_1OPoueJN5vQBdWEx8dhHMVqh")
    }

    /// The line's own amount, not its price's: a proration credit, an amount its quantity does not
    /// divide (a tiered price), and a discount, each as Stripe computed it; the quantity and the
    /// discount are kept (issue 14: the quantity was dropped, the discount folded into the price).
    @Test func linePricesComeFromTheLineWithQuantitiesAndDiscountsKept() throws {
        let event = try json(#"""
            {"id": "evt_2", "type": "invoice.finalized", "created": 1, "data": {"object": {"id": "in_2", "customer": "cus_9", "status": "open", "currency": "eur",
              "subtotal": 1099, "tax": 0, "total": 899, "amount_due": 899, "lines": {"data": [
                {"amount": -1234, "quantity": 1, "description": "Unused time on Pro", "price": {"product": "prod_7", "unit_amount": 2000}},
                {"amount": 1333, "quantity": 3, "description": "Seats", "price": {"product": "prod_8", "unit_amount": null}},
                {"amount": 1000, "quantity": 2, "description": "Support", "price": {"product": "prod_9", "unit_amount": 500},
                 "discount_amounts": [{"amount": 200, "discount": "di_1"}]}]}}}}
            """#)
        guard case .invoice(let invoice) = try #require(StripeMapping.events(from: event, connector: connector).first).record else { Issue.record("not an invoice"); return }
        #expect(invoice.lines.map(\.quantity) == ["1", "3", "2"])
        #expect(invoice.lines.map(\.unitAmountMinor) == [-1_234, 444, 500])
        #expect(invoice.lines.map(\.amountMinor) == [-1_234, 1_333, 800])
        #expect(invoice.lines.map(\.discountMinor) == [0, 0, 200])
        #expect(invoice.lines.map(\.amountMinor).reduce(0, +) == invoice.totalMinor - invoice.taxMinor)
        #expect(invoice.lines.map(\.description) == ["Unused time on Pro", "Seats", "Support"])
    }

    /// Stripe's minor units differ from ISO 4217's for ISK (two-decimal at Stripe) and MGA (zero-decimal at Stripe).
    @Test func iskAndMgaAmountsBecomeISOMinorUnits() throws {
        func charge(_ currency: String, _ amount: Int) throws -> Money? {
            let event = try json(#"{"id": "evt_c", "type": "charge.succeeded", "created": 1, "data": {"object": {"id": "ch_c", "amount": \#(amount), "currency": "\#(currency)", "status": "succeeded"}}}"#)
            guard case .payment(let payment) = StripeMapping.events(from: event, connector: connector).first?.record else { return nil }
            return payment.amount
        }
        #expect(try charge("isk", 50_000)?.decimalText == "500")      // 500 krónur
        #expect(try charge("mga", 1_000)?.decimalText == "1000.00")   // 1,000 ariary
        #expect(try charge("jpy", 1_999)?.decimalText == "1999")
        #expect(try charge("eur", 1_999)?.decimalText == "19.99")
    }

    /// A manual capture: the authorization is no payment; the capture (here of part of it) is.
    @Test func anAuthorizedChargeIsPendingUntilCaptured() throws {
        func event(_ type: String, captured: Bool, amountCaptured: Int) throws -> Event? {
            StripeMapping.events(from: try json(#"""
                {"id": "evt_\#(type)", "type": "\#(type)", "created": 1, "data": {"object": {"id": "ch_2", "object": "charge", "amount": 10000,
                 "amount_captured": \#(amountCaptured), "captured": \#(captured), "currency": "eur", "invoice": "in_2", "status": "succeeded"}}}
                """#), connector: connector).first
        }
        let authorized = try #require(try event("charge.succeeded", captured: false, amountCaptured: 0))
        #expect(authorized.type == "payment.pending" && authorized.source.version == "pending")
        let captured = try #require(try event("charge.captured", captured: true, amountCaptured: 7_500))
        #expect(captured.type == "payment.succeeded" && captured.source.version == "succeeded")
        guard case .payment(let payment) = captured.record else { Issue.record("not a payment"); return }
        #expect(payment.amount.amountMinor == 7_500)
    }

    @Test func aPaymentIntentAndItsChargeAreOnePayment() throws {
        // localstripe's (API 2017) shape: the charge expanded in latest_charge, the invoice named by the intent only.
        let intent = try json(#"""
            {"id": "evt_5", "type": "payment_intent.succeeded", "created": 1, "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 12100,
             "currency": "eur", "customer": "cus_9", "invoice": "in_1", "status": "succeeded",
             "latest_charge": {"id": "ch_1", "object": "charge", "amount": 12100, "currency": "eur", "customer": "cus_9", "invoice": null,
                               "status": "succeeded", "balance_transaction": "txn_1", "created": 1795400000}}}}
            """#)
        let charge = try json(#"""
            {"id": "evt_4", "type": "charge.succeeded", "created": 1, "data": {"object": {"id": "ch_1", "object": "charge", "amount": 12100,
             "currency": "eur", "customer": "cus_9", "invoice": "in_1", "status": "succeeded", "balance_transaction": "txn_1", "created": 1795400000}}}
            """#)
        #expect(StripeMapping.balanceTransactions(in: intent) == ["txn_1"])
        let fromIntent = try #require(StripeMapping.events(from: intent, connector: connector).first)
        let fromCharge = try #require(StripeMapping.events(from: charge, connector: connector).first)
        #expect(fromIntent.idempotencyKey(connector: "s") == fromCharge.idempotencyKey(connector: "s"))
        #expect(fromIntent.idempotencyKey(connector: "s") == "s:payment:ch_1:succeeded")
        #expect(fromIntent.orderingKey == "invoice:in_1")
        guard case .payment(let payment) = fromIntent.record else { Issue.record("not a payment"); return }
        #expect(payment.invoice?.objectID == "in_1")
        // A newer API names the latest charge without expanding it: the connector fetches it first.
        let unexpanded = try json(#"{"id": "evt_6", "type": "payment_intent.succeeded", "created": 1, "data": {"object": {"id": "pi_2", "latest_charge": "ch_2"}}}"#)
        #expect(StripeMapping.unexpandedCharge(in: unexpanded) == "ch_2")
        #expect(StripeMapping.unexpandedCharge(in: intent) == nil)
    }

    @Test func aRefundedChargeGivesOneRefundPerRefund() throws {
        let event = try json(#"""
            {"id": "evt_6", "type": "charge.refunded", "created": 1, "data": {"object": {"id": "ch_1", "amount": 12100, "currency": "eur", "customer": "cus_9",
             "invoice": "in_1", "refunds": {"data": [{"id": "re_1", "amount": 5000, "currency": "eur", "charge": "ch_1", "status": "succeeded", "reason": "requested_by_customer", "created": 2},
                                                     {"id": "re_2", "amount": 100, "currency": "eur", "charge": "ch_1", "status": "pending", "created": 3}]}}}}
            """#)
        let events = StripeMapping.events(from: event, connector: connector)
        #expect(events.map(\.type) == ["refund.succeeded", "refund.pending"])
        #expect(events.map(\.source.objectID) == ["re_1", "re_2"])
        #expect(Set(events.map(\.correlationID)).count == 2)
        guard case .refund(let refund) = events[0].record else { Issue.record("not a refund"); return }
        #expect(refund.payment.objectID == "ch_1" && refund.invoice?.objectID == "in_1" && refund.amount.amountMinor == 5_000)
    }

    /// `refund.created` names its charge unexpanded: the connector fetches it, and its invoice says
    /// what the refund reverses.
    @Test func aRefundEventGetsTheInvoiceOfItsFetchedCharge() throws {
        let event = try json(#"""
            {"id": "evt_9", "type": "refund.created", "created": 5, "data": {"object": {"id": "re_3", "object": "refund", "amount": 700, "currency": "eur", "charge": "ch_4", "status": "succeeded", "created": 5}}}
            """#)
        #expect(StripeMapping.unexpandedRefundCharge(in: event) == "ch_4")
        let charge = try json(#"{"id": "ch_4", "object": "charge", "invoice": "in_4", "amount": 2420, "currency": "eur"}"#)
        let expanded = StripeMapping.expanding(event, "charge", with: charge)
        #expect(StripeMapping.unexpandedRefundCharge(in: expanded) == nil)
        guard case .refund(let refund) = try #require(StripeMapping.events(from: expanded, connector: connector).first).record else { Issue.record("not a refund"); return }
        #expect(refund.payment.objectID == "ch_4" && refund.invoice?.objectID == "in_4" && refund.amount.amountMinor == 700)
    }

    @Test func customersPricesAndSubscriptions() throws {
        let customer = try json(#"{"id": "evt_7", "type": "customer.created", "created": 1, "data": {"object": {"id": "cus_9", "name": "Globex", "email": "ap@globex.test", "address": {"city": "Gent", "country": "BE", "line1": null}, "metadata": {"vat": "BE0123456789", "is_company": "true"}}}}"#)
        guard case .customer(let mapped) = try #require(StripeMapping.events(from: customer, connector: connector).first).record else { Issue.record("no customer"); return }
        #expect(mapped == Customer(name: "Globex", email: "ap@globex.test", isCompany: true, vat: "BE0123456789", address: Address(city: "Gent", country: "BE")))
        let plan = try json(#"{"id": "evt_8", "type": "plan.created", "created": 1, "data": {"object": {"id": "gold", "product": "prod_7", "amount": 1999, "currency": "jpy", "interval": "month", "interval_count": 1, "active": true}}}"#)
        guard case .product(let product) = try #require(StripeMapping.events(from: plan, connector: connector).first).record else { Issue.record("no price"); return }
        #expect(product.unitPrice == Money(amountMinor: 1_999, currency: CurrencyCode("JPY")!) && product.recurring == Recurrence(interval: "month", intervalCount: 1))
        #expect(product.name == "prod_7 1999 JPY / month")
        let subscription = try json(#"{"id": "evt_9", "type": "customer.subscription.created", "created": 1, "data": {"object": {"id": "sub_1", "customer": "cus_9", "status": "active", "current_period_start": 1795400000, "items": {"data": [{"quantity": 3, "price": {"id": "price_1", "product": "prod_7", "unit_amount": 500, "currency": "eur"}}]}}}}"#)
        let mappedSubscription = try #require(StripeMapping.events(from: subscription, connector: connector).first)
        #expect(mappedSubscription.type == "subscription.active")
        guard case .subscription(let sub) = mappedSubscription.record else { Issue.record("no subscription"); return }
        #expect(sub.items == [Subscription.Item(product: RecordRef(objectType: "product", objectID: "prod_7"), quantity: "3", unitAmount: Money(amountMinor: 500, currency: CurrencyCode("EUR")!))])
    }
}

@Suite struct StripeAnswerTests {
    func classify(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> ConnectorError? {
        do {
            _ = try StripeAnswer.classify(HTTPResponse(status: status, headers: headers, body: Data(body.utf8)))
            return nil
        } catch {
            return error
        }
    }

    @Test func errorsGetTheClassThatSaysWhatToDo() {
        let limited = classify(429, #"{"error": {"type": "invalid_request_error", "message": "Too many requests"}}"#, headers: [("Retry-After", "2")])
        #expect(limited?.code == .rateLimited && limited?.retryAfterMilliseconds == 2_000)
        // Garbage in Retry-After neither traps nor waits forever: the default second, or an hour at most;
        // an HTTP-date counts from now (one already past: no wait).
        for garbage in ["nan", "inf", "1e300", "-5"] {
            #expect(classify(429, "{}", headers: [("Retry-After", garbage)])?.retryAfterMilliseconds == 1_000, "\(garbage)")
        }
        #expect(classify(429, "{}", headers: [("Retry-After", "99999999999999999999")])?.retryAfterMilliseconds == 3_600_000)
        #expect(classify(429, "{}", headers: [("Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT")])?.retryAfterMilliseconds == 0)
        #expect(classify(429, "{}", headers: [("Retry-After", "86400")])?.retryAfterMilliseconds == 3_600_000)
        #expect(classify(401, #"{"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****1234"}}"#)?.code == .auth)
        #expect(classify(403, #"{"error": {"message": "restricted key"}}"#)?.code == .auth)
        #expect(classify(500, #"{"error": {"type": "api_error", "message": "boom"}}"#)?.code == .transient)
        #expect(classify(502, "<html>bad gateway</html>")?.code == .transient)
        #expect(classify(400, #"{"error": {"type": "invalid_request_error", "code": "lock_timeout", "message": "locked"}}"#)?.code == .transient)
        #expect(classify(409, #"{"error": {"type": "idempotency_error", "message": "in progress"}}"#)?.code == .transient)
        let invalid = classify(400, #"{"error": {"type": "invalid_request_error", "param": "email", "message": "Invalid email address"}}"#)
        #expect(invalid?.code == .permanent && invalid?.message == "Stripe: Invalid email address" && invalid?.details?["stripe_param"] == "email")
        #expect(classify(400, #"{"error": {"message": "x"}}"#, headers: [("Stripe-Should-Retry", "true")])?.code == .transient)
        #expect(classify(500, #"{"error": {"message": "x"}}"#, headers: [("stripe-should-retry", "false")])?.code == .permanent)
        #expect(classify(200, "not json")?.code == .transient)
        #expect(classify(200, #"{"id": "cus_1"}"#) == nil)
    }

    @Test func formFieldsKeepStripesBrackets() {
        #expect(StripeClient.formEncode([("address[city]", "Saint-Étienne"), ("metadata[ref]", "ch:crm:customer:1"), ("email", "a+b@x.test")])
                == "address[city]=Saint-%C3%89tienne&metadata[ref]=ch%3Acrm%3Acustomer%3A1&email=a%2Bb%40x.test")
    }
}

@Suite struct StripeSettingsTests {
    @Test func defaultsAndProblems() throws {
        let settings = try StripeSettings([:])
        #expect(settings.apiBase == "https://api.stripe.com" && settings.stripeVersion == StripeSettings.defaultVersion)
        #expect(settings.webhookSecrets == ["webhook_secret"] && settings.webhookToleranceSeconds == 300 && settings.listOrder == nil)
        func problem(_ config: JSONValue) -> String? {
            do { _ = try StripeSettings(config); return nil } catch { return error.description }
        }
        #expect(problem(["api_base": "http://stripe.example.test"]) == "api_base: \"http://stripe.example.test\" must be https:// (plain http only on loopback, for fakes)")
        #expect(problem(["page_size": 500]) == "page_size: must be between 1 and 100")
        #expect(problem(["list_order": "random"]) == "list_order: \"random\" is not one of auto, newest_first, oldest_first")
        #expect(problem(["webhook_secrets": "x"])?.hasPrefix("webhook_secrets: is not a setting of the Stripe connector (did you mean webhook_secret?") == true)
        #expect(problem(["page_size": "100"]) == "page_size: must be an integer")
        #expect(problem(["backfill_days": 31]) == "backfill_days: must be between 0 and 30 (Stripe keeps events 30 days)")
        #expect(try StripeSettings(["webhook_secret_next": "whsec_next"]).webhookSecrets == ["webhook_secret", "whsec_next"])
    }

    @Test func cursorsSurviveTheirTextForm() throws {
        let cursor = StripeCursor(last: "evt_9", since: 1_795_000_000, order: .newestFirst)
        #expect(try StripeCursor.decode(cursor.encoded()) == cursor)
        #expect(throws: ConnectorError.self) { try StripeCursor.decode("evt_9") }
    }
}
