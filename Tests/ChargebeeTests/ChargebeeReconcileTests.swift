import ChargebeeKit
import ConnectorKit
import ConnectorProtocol
import Foundation
import Testing

/// What a listed Chargebee record is on the source side of a reconciliation: the id, amount, canonical
/// status and UTC day its event carries — or nothing, for what the Odoo sink never books.
@Suite struct ChargebeeReconcileTests {
    let mapping = ChargebeeEvents(connector: ConnectorInfo(id: "billing", plugin: "chargebee", tenant: "acme", entity: "acme-eu"))

    func json(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    func money(_ minor: Int64, _ code: String) throws -> Money {
        Money(amountMinor: minor, currency: try #require(CurrencyCode(code)))
    }

    func expected(_ id: String, _ amount: Money, _ status: String, state: String, date: String) -> ReconcileItem {
        ReconcileItem(externalID: id, reference: nil, sourceConnector: nil, sourceID: nil, amount: amount, state: state, date: date, status: status)
    }

    func item(_ objectType: String, _ record: JSONValue) -> ReconcileItem? {
        ChargebeeReconcile.item(objectType, record, mapping: mapping)
    }

    /// Dated 2026-03-10 23:59:59 UTC (1773187199): the sink books it on the 10th, whatever the local day.
    func invoice(_ status: String, currency: String = "EUR", total: Int = 12_100, extra: String = "") throws -> JSONValue {
        try json(#"""
            {"id": "inv_7", "customer_id": "cb_1", "status": "\#(status)", "currency_code": "\#(currency)", "date": 1773187199, "price_type": "tax_exclusive",
             "sub_total": \#(total - 2_100), "tax": 2100, "total": \#(total), "amount_paid": 0, "amount_due": \#(total), "resource_version": 1773187199000,
             "line_items": [{"id": "li_1", "description": "Pro", "quantity": 1, "unit_amount": \#(total - 2_100), "amount": \#(total - 2_100)}]\#(extra)}
            """#)
    }

    @Test func anInvoiceCountsItsTotalOnTheUTCDayOfItsDateInItsCanonicalStatus() throws {
        #expect(item("invoice", try invoice("paid")) == expected("inv_7", try money(12_100, "EUR"), "paid", state: "paid", date: "2026-03-10"))
        #expect(item("invoice", try invoice("payment_due"))?.status == "open")
        #expect(item("invoice", try invoice("posted"))?.status == "open")
        #expect(item("invoice", try invoice("not_paid"))?.status == "uncollectible")
        #expect(item("invoice", try invoice("pending")) == nil, "a pending invoice is no event yet")
        #expect(item("invoice", try invoice("voided")) == nil, "the sink never books a void invoice")
        #expect(item("invoice", try invoice("paid", currency: "JPY", total: 3_300)) == expected("inv_7", try money(3_300, "JPY"), "paid", state: "paid", date: "2026-03-10"),
                "yen are whole at Chargebee as in ISO 4217")
    }

    /// What the mapping rejects never reaches the sink; a deleted invoice's event (`invoice.voided`)
    /// carries its record as Chargebee has it, which the sink books by its status: so does the source side.
    @Test func anInvoiceTheMappingRejectsIsNothingAndADeletedOneIsWhatItsEventCarries() throws {
        let mismatched = try json(#"""
            {"id": "inv_8", "customer_id": "cb_1", "status": "paid", "currency_code": "EUR", "date": 1773100800, "tax": 0, "total": 999,
             "line_items": [{"id": "l", "amount": 1000, "unit_amount": 1000}]}
            """#)
        #expect(item("invoice", mismatched) == nil)
        #expect(item("invoice", try invoice("paid", extra: #", "deleted": true"#))?.status == "paid")
        #expect(item("invoice", try json(#"{"id": "inv_9", "customer_id": "cb_1", "status": "paid", "date": 1773100800, "total": 0}"#)) == nil, "no currency")
    }

    func creditNote(_ status: String) throws -> JSONValue {
        try json(#"""
            {"id": "CN-3", "customer_id": "cb_1", "reference_invoice_id": "inv_7", "type": "refundable", "status": "\#(status)", "currency_code": "USD",
             "date": 1773100800, "price_type": "tax_exclusive", "total": 700, "tax": 0, "amount_refunded": 700, "amount_available": 0,
             "line_items": [{"id": "li_CN-3_1", "description": "Credit", "quantity": 1, "unit_amount": 700, "amount": 700}]}
            """#)
    }

    @Test func aCreditNoteCountsItsTotalOnItsDateAndAVoidOneNothing() throws {
        #expect(item("credit_note", try creditNote("refunded")) == expected("CN-3", try money(700, "USD"), "paid", state: "refunded", date: "2026-03-10"))
        #expect(item("credit_note", try creditNote("adjusted"))?.status == "paid")
        #expect(item("credit_note", try creditNote("refund_due"))?.status == "open")
        #expect(item("credit_note", try creditNote("voided")) == nil)
    }

    func transaction(_ type: String, _ status: String, amount: String = #""amount": 2500"#, reference: String = #", "reference_transaction_id": "txn_1""#) throws -> JSONValue {
        try json(#"""
            {"id": "txn_2", "customer_id": "cb_1", "type": "\#(type)", "status": "\#(status)", "currency_code": "EUR", \#(amount), "date": 1773014400,
             "payment_method": "card", "linked_invoices": [{"invoice_id": "inv_7", "applied_amount": 2500}]\#(reference)}
            """#)
    }

    /// A transaction is the payment or refund its event carries, dated by its own `date` (2026-03-09
    /// 00:00:00 UTC here); one that did not succeed is booked by nobody.
    @Test func aTransactionCountsAsThePaymentOrRefundItsEventCarriesWhenItSucceeded() throws {
        #expect(item("payment", try transaction("payment", "success")) == expected("txn_2", try money(2_500, "EUR"), "succeeded", state: "success", date: "2026-03-09"))
        #expect(item("refund", try transaction("refund", "success")) == expected("txn_2", try money(2_500, "EUR"), "succeeded", state: "success", date: "2026-03-09"))
        for status in ["failure", "voided", "timeout", "in_progress", "needs_attention", "late_failure"] {
            #expect(item("payment", try transaction("payment", status)) == nil, "\(status)")
            #expect(item("refund", try transaction("refund", status)) == nil, "\(status)")
        }
        #expect(item("refund", try transaction("payment", "success")) == nil, "a payment is no refund")
        #expect(item("payment", try transaction("refund", "success")) == nil)
        #expect(item("payment", try transaction("authorization", "success")) == nil, "an authorization moves no money")
        #expect(item("refund", try transaction("refund", "success", reference: "")) == nil, "a refund naming no payment is rejected, never delivered")
        // Multi-decimal pricing: the event's amount is the exact text, rounded half away from zero (not the integer).
        let decimals = try transaction("payment", "success", amount: #""amount": 1234, "amount_in_decimal": "12.345""#)
        #expect(item("payment", decimals)?.amount == (try money(1_235, "EUR")))
        #expect(item("customer", try transaction("payment", "success")) == nil)
    }

    /// Refused before Chargebee is asked anything: the key is never read.
    @Test func theTargetSideAndOtherKindsAreRefusedBeforeAnyCall() async throws {
        let settings = try ChargebeeSettings(["api_base": "http://127.0.0.1:9/api/v2"])
        let client = ChargebeeClient(settings: settings, http: HTTPClient(maxConcurrent: 1), apiKey: { throw ConnectorError(.auth, "the key was asked for") })
        let reconcile = ChargebeeReconcile(client: client, mapping: mapping)
        await #expect {
            try await reconcile.snapshot(ReconcileParams(objectTypes: ["invoice"], from: "2026-03-10", to: "2026-03-10", includeItems: true, side: .target))
        } throws: { error in
            (error as? ConnectorError)?.code == .notSupported && "\(error)".contains("the Chargebee connector reconciles as a source only (side source)")
        }
        await #expect {
            try await reconcile.snapshot(ReconcileParams(objectTypes: ["invoice", "subscription"], from: "2026-03-10", to: "2026-03-10", includeItems: true, side: .source))
        } throws: { error in
            (error as? ConnectorError)?.code == .notSupported && "\(error)".contains("reconciles invoice, credit_note, payment and refund, not subscription")
        }
    }
}
