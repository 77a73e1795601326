import ConnectorProtocol
import Foundation
import StripeKit
import Testing

/// What a listed Stripe object is on the source side of a reconciliation: the id, amount, canonical
/// status and day its event carries — or nothing, for what the sink never books.
@Suite struct StripeReconcileTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/stripe")

    func json(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    func fixture(_ name: String, _ changes: [String: JSONValue]) throws -> JSONValue {
        var object = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent(name))).objectValue)
        object.merge(changes) { $1 }
        return .object(object)
    }

    func money(_ minor: Int64, _ code: String) throws -> Money {
        Money(amountMinor: minor, currency: try #require(CurrencyCode(code)))
    }

    func item(_ id: String, _ amount: Money, _ status: String, state: String, date: String, fee: Money? = nil) -> ReconcileItem {
        ReconcileItem(externalID: id, reference: nil, sourceConnector: nil, sourceID: nil, amount: amount, state: state, date: date, status: status, fee: fee)
    }

    /// Created on the 18th, finalized on the 23rd: the sink dates it by the 23rd.
    func invoice(status: String) throws -> JSONValue {
        try json(#"""
            {"id": "in_1", "object": "invoice", "customer": "cus_9", "status": "\#(status)", "currency": "eur", "created": 1795000000,
             "subtotal": 10000, "tax": 2100, "total": 12100, "amount_paid": 12100, "amount_due": 12100, "amount_remaining": 0,
             "status_transitions": {"finalized_at": 1795400000}, "lines": {"object": "list", "data": []}}
            """#)
    }

    @Test func anInvoiceCountsItsTotalOnTheDayItWasFinalized() throws {
        #expect(StripeReconcile.item("invoice", try invoice(status: "paid")) == item("in_1", try money(12_100, "EUR"), "paid", state: "paid", date: "2026-11-23"))
        #expect(StripeReconcile.item("invoice", try invoice(status: "uncollectible"))?.status == "uncollectible")
        #expect(StripeReconcile.item("invoice", try invoice(status: "open"))?.status == "open")
        #expect(StripeReconcile.item("invoice", try invoice(status: "draft")) == nil, "a draft is no event")
        #expect(StripeReconcile.item("invoice", try invoice(status: "void")) == nil, "the sink never books a void invoice as posted")
    }

    /// Stripe's credit note example, effective a day before it was created (as `effective_at` allows).
    @Test func aCreditNoteCountsItsTotalOnItsEffectiveDayAndAVoidOneNothing() throws {
        let note = try fixture("credit_note.json", ["effective_at": 1_795_920_000])
        #expect(StripeReconcile.item("credit_note", note) == item("cn_1OPouvJN5vQBdWExIhfxzf67", try money(1_690, "USD"), "open", state: "issued", date: "2026-11-29"))
        #expect(StripeReconcile.item("credit_note", try fixture("credit_note.json", ["status": "void"])) == nil)
    }

    /// A charge is the payment its event carries: what was captured, in ISO minor units (ISK has two
    /// decimals at Stripe, none in ISO 4217), with the fee of its balance transaction (converted: in
    /// the balance's currency); an authorization or a declined charge books nothing.
    @Test func aChargeCountsWhenCapturedAndARefundWhenSucceeded() throws {
        let settled: JSONValue = ["id": "txn_1", "object": "balance_transaction", "amount": 345, "currency": "eur", "fee": 40, "net": 305, "exchange_rate": .double(0.0069)]
        let charge = try fixture("charge.json", ["id": "ch_1", "currency": "isk", "amount": 50_000, "amount_captured": 50_000, "created": 1_795_400_000,
                                                 "balance_transaction": settled])
        #expect(StripeReconcile.item("payment", charge) == item("ch_1", try money(500, "ISK"), "succeeded", state: "succeeded", date: "2026-11-23",
                                                               fee: try money(40, "EUR")))
        let partly = try fixture("charge.json", ["id": "ch_2", "currency": "eur", "amount": 1_000, "amount_captured": 800])
        #expect(StripeReconcile.item("payment", partly)?.amount == (try money(800, "EUR")))
        #expect(StripeReconcile.item("payment", try fixture("charge.json", ["captured": false, "amount_captured": 0])) == nil)
        #expect(StripeReconcile.item("payment", try fixture("charge.json", ["status": "failed"])) == nil)

        let refund = try json(#"{"id": "re_1", "object": "refund", "amount": 1000, "currency": "eur", "charge": "ch_2", "status": "succeeded", "created": 1795400000}"#)
        #expect(StripeReconcile.item("refund", refund) == item("re_1", try money(1_000, "EUR"), "succeeded", state: "succeeded", date: "2026-11-23"))
        let pending = try json(#"{"id": "re_2", "object": "refund", "amount": 1000, "currency": "eur", "charge": "ch_2", "status": "pending", "created": 1795400000}"#)
        #expect(StripeReconcile.item("refund", pending) == nil)
        #expect(StripeReconcile.item("customer", refund) == nil)
    }
}
