import ConnectorKit
import ConnectorProtocol
import Foundation
import Logging
import OdooKit
import Testing

/// The Odoo sink on records the sample source does not emit (products, credit notes, refunds,
/// voids, payments without an invoice), called directly against the Odoo under test over real HTTP
/// (the fake, or a real server when `ODOO_URL` is set: see ``OdooServer``).
@Suite(.serialized) struct OdooSinkTests {
    static let eur = CurrencyCode("EUR")!

    struct Sink {
        let fake: OdooServer
        let sink: OdooSink
        let client: OdooClient
        let settings: OdooSettings
        /// The source connector the records come from (unique per test on a real server).
        let shop: String
        var rate: Int64 { Int64(fake.euRate) }

        init(version: Int) throws {
            try self.init(server: OdooServer.underTest(version: version, apiKey: "sink-key", log: "/dev/null"))
        }

        /// A sink on `server` (another sink's, to change its settings), with or without a fee account.
        init(server: OdooServer, shop: String? = nil, feeAccounts: Bool = true, extra: [String: JSONValue] = [:]) throws {
            fake = server
            self.shop = shop ?? server.source("shop")
            var config: [String: JSONValue] = [
                "url": .string(fake.url), "database": .string(fake.database), "login": .string(fake.login),
                "companies": ["acme-eu": .int(Int64(fake.euCompany))],
                "taxes": [String(fake.euCompany): [String(fake.euRate): .int(Int64(fake.taxes[fake.euCompany]?[fake.euRate] ?? 0))]],
            ]
            if feeAccounts, let account = fake.euFeeAccount { config["fee_accounts"] = [String(fake.euCompany): .int(Int64(account))] }
            if fake.isReal { config["partner_match"] = [] }  // as OdooServer.config says why
            config.merge(extra) { $1 }
            settings = try OdooSettings(.object(config))
            let protocolName = OdooServer.real?.protocolName.flatMap(OdooProtocol.init(rawValue:))
            let key = fake.apiKey
            client = OdooClient(endpoint: OdooEndpoint(url: fake.url, database: fake.database, login: fake.login, preferred: protocolName),
                                http: HTTPClient(maxConcurrent: 2), apiKey: { key })
            sink = OdooSink(client: client, settings: settings, logger: Logger(label: "odoo-sink-test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        @discardableResult
        func deliver(_ type: String, _ objectType: String, _ id: String, version: String = "1", _ record: Record) async throws -> DeliverResult {
            let event = Event(type: type, source: SourceRef(connector: shop, objectType: objectType, objectID: id, version: version),
                              entity: "acme-eu", correlationID: "t-\(id)-\(version)", occurredAt: "2026-11-23T10:00:00Z", record: record)
            return try await sink.deliver(DeliverParams(event: event, sourceConnector: shop, idempotencyKey: event.idempotencyKey(connector: shop), attempt: 1, links: []))
        }

        func invoice(_ status: Invoice.Status = .open, product: RecordRef? = nil, net: Int64 = 10_000) -> Invoice {
            OdooSinkTests.invoice(status, product: product, net: net, rate: rate)
        }
    }

    static let customer = Record.customer(Customer(name: "Globex", email: "ap@globex.test", isCompany: true, vat: "BE0477472701", address: Address(city: "Gent", country: "BE")))

    static func invoice(_ status: Invoice.Status = .open, product: RecordRef? = nil, net: Int64 = 10_000, rate: Int64 = 21) -> Invoice {
        Invoice(number: "INV-9", customer: RecordRef(objectType: "customer", objectID: "cus_1"), status: status, currency: eur,
                lines: [InvoiceLine(description: "Plan", product: product, quantity: "1", unitAmountMinor: net, amountMinor: net, taxes: [TaxLine(rate: String(rate), amountMinor: net * rate / 100)])],
                subtotalMinor: net, taxMinor: net * rate / 100, totalMinor: net + net * rate / 100, amountDueMinor: net + net * rate / 100)
    }

    @Test(arguments: OdooServer.versions) func productsAreUpsertedAndInvoiceLinesUseThem(version: Int) async throws {
        let odoo = try Sink(version: version)
        let product = Product(name: "Pro plan", description: "Monthly", unitPrice: Money(amountMinor: 10_000, currency: Self.eur))
        let created = try await odoo.deliver("product.upserted", "product", "prod_1", .product(product))
        #expect(created.duplicate == false)
        #expect(try await odoo.deliver("product.upserted", "product", "prod_1", .product(product)).duplicate)
        var renamed = product
        renamed.name = "Pro plan (2026)"
        let updated = try await odoo.deliver("product.upserted", "product", "prod_1", version: "2", .product(renamed))
        #expect(updated.duplicate == false && updated.externalID == created.externalID)
        let products = try odoo.fake.records("product.product", "default_code", prefix: "ch:\(odoo.shop):product:")
        #expect(products.count == 1 && products.first?["name"] as? String == "Pro plan (2026)")

        try await odoo.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        try await odoo.deliver("invoice.finalized", "invoice", "in_1", .invoice(odoo.invoice(product: RecordRef(objectType: "product", objectID: "prod_1"))))
        let invoice = try #require(try odoo.fake.records("account.move", "ref", prefix: "ch:\(odoo.shop):invoice:").first)
        let lines = try odoo.fake.lines(of: invoice["id"] as? Int ?? 0).filter { $0["display_type"] as? String == "product" }
        #expect(lines.count == 1 && OdooServer.id(lines.first?["product_id"]) == OdooRecordID(created.externalID ?? "")?.id.asInt)
        #expect(invoice["state"] as? String == "posted")
    }

    @Test func aLineWhoseProductIsNotInOdooYetIsADependencyNamingIt() async throws {
        let odoo = try Sink(version: 19)
        try await odoo.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        await #expect(throws: ConnectorError.self) {
            do {
                try await odoo.deliver("invoice.finalized", "invoice", "in_1", .invoice(odoo.invoice(product: RecordRef(objectType: "product", objectID: "prod_9"))))
            } catch let error as ConnectorError {
                #expect(error.code == .dependency && error.message.contains("product prod_9"))
                #expect(error.waitingFor == RecordRef(objectType: "product", objectID: "prod_9"))
                throw error
            }
        }
        #expect(try odoo.fake.records("account.move", "ref", prefix: "ch:\(odoo.shop):").isEmpty)
    }

    @Test(arguments: OdooServer.versions) func creditNotesReverseTheirInvoiceAndRefundsPayMoneyBack(version: Int) async throws {
        let odoo = try Sink(version: version)
        try await odoo.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        try await odoo.deliver("invoice.finalized", "invoice", "in_1", .invoice(odoo.invoice()))
        var note = odoo.invoice(net: 2_000)
        note.original = RecordRef(objectType: "invoice", objectID: "in_1")
        try await odoo.deliver("credit_note.created", "credit_note", "cn_1", .creditNote(note))
        let moves = try odoo.fake.records("account.move", "ref", prefix: "ch:\(odoo.shop):")
        let invoice = try #require(moves.first { $0["ref"] as? String == "ch:\(odoo.shop):invoice:in_1" })
        let credit = try #require(moves.first { $0["ref"] as? String == "ch:\(odoo.shop):credit_note:cn_1" })
        #expect(credit["move_type"] as? String == "out_refund" && credit["state"] as? String == "posted")
        #expect(OdooServer.id(credit["reversed_entry_id"]) == invoice["id"] as? Int)

        try await odoo.deliver("payment.succeeded", "payment", "py_1", .payment(Payment(invoice: RecordRef(objectType: "invoice", objectID: "in_1"),
                                                                                       amount: Money(amountMinor: odoo.invoice().totalMinor, currency: Self.eur), status: .succeeded)))
        let refund = Record.refund(Refund(payment: RecordRef(objectType: "payment", objectID: "py_1"), invoice: RecordRef(objectType: "invoice", objectID: "in_1"),
                                          amount: Money(amountMinor: 5_000, currency: Self.eur), reason: "requested_by_customer", status: .succeeded,
                                          refundedAt: "2026-10-30T23:10:00Z"))
        let first = try await odoo.deliver("refund.succeeded", "refund", "re_1", refund)
        #expect(first.duplicate == false)
        #expect(first.links.map(\.objectType) == ["refund_credit_note"])
        #expect(try await odoo.deliver("refund.succeeded", "refund", "re_1", refund).duplicate)
        let refundNote = try #require(try odoo.fake.records("account.move", "ref", prefix: "ch:\(odoo.shop):refund_credit_note:re_1").first { $0["move_type"] as? String == "out_refund" })
        #expect(refundNote["state"] as? String == "posted" && refundNote["payment_state"] as? String == "paid")
        // The credit note is dated the day the money went back, as its refund payment is (issue 14, item 3).
        #expect(refundNote["invoice_date"] as? String == "2026-10-30")
        // With the refunded invoice's taxes, scaled to the refunded share (at 21 %: 50.00 gross is 41.32 +
        // 8.68 VAT) (issue 14, item 4; it was one untaxed line of 50.00, leaving the VAT overstated).
        let noteLines = try odoo.fake.lines(of: refundNote["id"] as? Int ?? 0)
        let base = (10_000 * 5_000 + odoo.invoice().totalMinor / 2) / odoo.invoice().totalMinor
        #expect(refundNote["amount_total"] as? Double == 50)
        #expect(noteLines.contains { $0["display_type"] as? String == "tax" && abs(($0["debit"] as? Double ?? 0) - Double(base * odoo.rate) / 10_000) < 0.011 })
        let payments = try odoo.fake.records("account.payment", odoo.fake.memo, prefix: "ch:\(odoo.shop):refund:re_1")
        #expect(payments.count == 1 && payments.first?["payment_type"] as? String == "outbound" && payments.first?["amount"] as? Double == 50)
    }

    /// Refunding a whole invoice gives a credit note with the invoice's own lines: products,
    /// quantities, prices and taxes, so Odoo's VAT report nets to zero (issue 14, item 4).
    @Test(arguments: OdooServer.versions) func aWholeRefundCreditsTheInvoicesOwnLinesAndTaxes(version: Int) async throws {
        let odoo = try Sink(version: version)
        try await odoo.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        var invoice = odoo.invoice(net: 3_000)
        let tax = Int64(3_000) * odoo.rate / 100
        invoice.lines = [InvoiceLine(description: "Seats", quantity: "3", unitAmountMinor: 1_000, amountMinor: 3_000, taxes: [TaxLine(rate: String(odoo.rate), amountMinor: tax)])]
        try await odoo.deliver("invoice.finalized", "invoice", "in_3", .invoice(invoice))
        let ref = RecordRef(objectType: "invoice", objectID: "in_3")
        try await odoo.deliver("payment.succeeded", "payment", "py_3", .payment(Payment(invoice: ref, amount: Money(amountMinor: invoice.totalMinor, currency: Self.eur), status: .succeeded)))
        try await odoo.deliver("refund.succeeded", "refund", "re_3", .refund(Refund(payment: RecordRef(objectType: "payment", objectID: "py_3"), invoice: ref,
                                                                                     amount: Money(amountMinor: invoice.totalMinor, currency: Self.eur), status: .succeeded)))
        let note = try #require(try odoo.fake.records("account.move", "ref", prefix: "ch:\(odoo.shop):refund_credit_note:re_3").first)
        #expect(note["amount_total"] as? Double == Double(invoice.totalMinor) / 100 && note["payment_state"] as? String == "paid")
        let lines = try odoo.fake.search("account.move.line", [["move_id", "=", note["id"] as? Int ?? 0], ["display_type", "=", "product"]],
                                         fields: ["quantity", "price_unit", "tax_ids", "name"])
        #expect(lines.count == 1 && lines.first?["quantity"] as? Double == 3 && (lines.first?["price_unit"] as? Double).map { abs($0 - 10) < 0.001 } == true)
        #expect((lines.first?["tax_ids"] as? [Int]) == [odoo.fake.taxes[odoo.fake.euCompany]?[odoo.fake.euRate] ?? -1])
    }

    /// Two payments of one invoice: after the first the invoice is partly paid (on 19 its payment is
    /// `in_process` meanwhile), after the second paid; each payment once, a redelivery a duplicate.
    @Test(arguments: OdooServer.versions) func partialPaymentsSettleTheInvoiceInTwoSteps(version: Int) async throws {
        let odoo = try Sink(version: version)
        try await odoo.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        let invoice = odoo.invoice()
        try await odoo.deliver("invoice.finalized", "invoice", "in_1", .invoice(invoice))
        let first = invoice.totalMinor / 3
        let ref = RecordRef(objectType: "invoice", objectID: "in_1")
        try await odoo.deliver("payment.succeeded", "payment", "py_1", .payment(Payment(invoice: ref, amount: Money(amountMinor: first, currency: Self.eur), status: .succeeded)))
        let state = { try odoo.fake.records("account.move", "ref", prefix: "ch:\(odoo.shop):invoice:in_1").first?["payment_state"] as? String }
        #expect(try state() == "partial")
        let rest = Record.payment(Payment(invoice: ref, amount: Money(amountMinor: invoice.totalMinor - first, currency: Self.eur), status: .succeeded))
        try await odoo.deliver("payment.succeeded", "payment", "py_2", rest)
        #expect(try await odoo.deliver("payment.succeeded", "payment", "py_2", rest).duplicate)
        #expect(try state() == "paid")
        let payments = try odoo.fake.records("account.payment", odoo.fake.memo, prefix: "ch:\(odoo.shop):payment:")
        #expect(payments.compactMap { ($0["amount"] as? Double).map { Int64(($0 * 100).rounded()) } }.sorted() == [first, invoice.totalMinor - first].sorted())
        #expect(payments.allSatisfy { ["posted", "paid"].contains($0["state"] as? String ?? "") })
    }

    /// `invoice.paid` while Odoo still has part of the invoice open was accepted silently (issue 14,
    /// item 5): it now waits for the payment as a dependency naming both amounts (a dead letter for a
    /// person once the retries run out), and is done once the payment has settled the invoice.
    @Test(arguments: OdooServer.versions) func anInvoicePaidAtTheSourceButOpenInOdooWaitsForItsPayment(version: Int) async throws {
        let odoo = try Sink(version: version)
        try await odoo.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        let invoice = odoo.invoice()
        try await odoo.deliver("invoice.finalized", "invoice", "in_1", .invoice(invoice))
        let ref = RecordRef(objectType: "invoice", objectID: "in_1")
        let first = invoice.totalMinor / 10
        try await odoo.deliver("payment.succeeded", "payment", "py_1", .payment(Payment(invoice: ref, amount: Money(amountMinor: first, currency: Self.eur), status: .succeeded)))
        var paid = invoice
        paid.status = .paid
        paid.amountPaidMinor = invoice.totalMinor
        paid.amountDueMinor = 0
        let open = Money(amountMinor: invoice.totalMinor - first, currency: Self.eur)
        await #expect(throws: ConnectorError.self) {
            do {
                try await odoo.deliver("invoice.paid", "invoice", "in_1", version: "2", .invoice(paid))
            } catch let error as ConnectorError {
                #expect(error.code == .dependency)
                #expect(error.message.contains("\(Money(amountMinor: invoice.totalMinor, currency: Self.eur).decimalText) EUR paid"))
                #expect(error.message.contains("still has \(open.decimalText) EUR open"))
                #expect(error.details?["odoo_open_minor"]?.intValue == open.amountMinor)
                throw error
            }
        }
        try await odoo.deliver("payment.succeeded", "payment", "py_2", .payment(Payment(invoice: ref, amount: open, status: .succeeded)))
        #expect(try await odoo.deliver("invoice.paid", "invoice", "in_1", version: "2", .invoice(paid)).duplicate)
    }

    /// A processor fee with no fee account set went to a log line only (issue 14): now the payment is
    /// booked and the delivery dead-lettered naming `fee_accounts`; once it is set, the replay books the
    /// fee (and only the fee) as an entry of its own.
    @Test(arguments: OdooServer.versions) func aFeeWithoutAFeeAccountIsADeadLetterAndTheReplayBooksIt(version: Int) async throws {
        let unset = try Sink(server: OdooServer.underTest(version: version, apiKey: "sink-key", log: "/dev/null"), feeAccounts: false)
        try await unset.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        let invoice = unset.invoice()
        try await unset.deliver("invoice.finalized", "invoice", "in_1", .invoice(invoice))
        let fee = Money(amountMinor: 381, currency: Self.eur)
        let payment = Record.payment(Payment(invoice: RecordRef(objectType: "invoice", objectID: "in_1"), amount: Money(amountMinor: invoice.totalMinor, currency: Self.eur),
                                             fee: fee, status: .succeeded, paidAt: "2026-11-30T09:00:00Z"))
        await #expect(throws: ConnectorError.self) {
            do {
                try await unset.deliver("payment.succeeded", "payment", "py_1", payment)
            } catch let error as ConnectorError {
                #expect(error.code == .permanent && error.message.contains("fee_accounts") && error.message.contains("3.81 EUR"))
                throw error
            }
        }
        #expect(try unset.fake.records("account.payment", unset.fake.memo, prefix: "ch:\(unset.shop):payment:").count == 1)
        #expect(try unset.fake.records("account.move", "ref", prefix: "ch:\(unset.shop):payment_fee:").isEmpty)

        let set = try Sink(server: unset.fake, shop: unset.shop)
        #expect(try await set.deliver("payment.succeeded", "payment", "py_1", payment).duplicate == false)
        #expect(try await set.deliver("payment.succeeded", "payment", "py_1", payment).duplicate)
        #expect(try set.fake.records("account.payment", set.fake.memo, prefix: "ch:\(set.shop):payment:").count == 1)
        let entries = try set.fake.records("account.move", "ref", prefix: "ch:\(set.shop):payment_fee:")
        #expect(entries.count == 1 && entries.first?["amount_total"] as? Double == 3.81 && entries.first?["state"] as? String == "posted")
    }

    /// A USD invoice paid and then refunded in full through a EUR balance, at two different Stripe
    /// rates: both sides land in the EUR clearing journal as Stripe moved them (9.20 in, 9.35 out and a
    /// 0.15 refund fee), the invoice and its credit note both settled, the rates' gap left to exchange
    /// differences.
    @Test(arguments: OdooServer.versions) func aRefundStripeConvertedLeavesItsBalanceAsStripeMovedIt(version: Int) async throws {
        let server = try OdooServer.underTest(version: version, apiKey: "sink-key", log: "/dev/null")
        let clearing = try server.clearingJournal(company: server.euCompany, currency: "EUR")
        let odoo = try Sink(server: server, extra: ["bank_journals": [String(server.euCompany): ["EUR": .int(Int64(clearing.journal))]]])
        let eur = Self.eur, usd = CurrencyCode("USD")!
        try await odoo.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        let invoice = Invoice(customer: RecordRef(objectType: "customer", objectID: "cus_1"), status: .open, currency: usd,
                              lines: [InvoiceLine(description: "Consulting", quantity: "1", unitAmountMinor: 1_000, amountMinor: 1_000)],
                              subtotalMinor: 1_000, taxMinor: 0, totalMinor: 1_000, amountDueMinor: 1_000)
        try await odoo.deliver("invoice.finalized", "invoice", "in_1", .invoice(invoice))
        let ref = RecordRef(objectType: "invoice", objectID: "in_1")
        let dollars = Money(amountMinor: 1_000, currency: usd)
        try await odoo.deliver("payment.succeeded", "payment", "ch_1", .payment(Payment(invoice: ref, amount: dollars, status: .succeeded, paidAt: "2026-11-30T09:00:00Z",
            settlement: Settlement(id: "txn_1", amount: Money(amountMinor: 920, currency: eur), fee: Money(amountMinor: 0, currency: eur), net: Money(amountMinor: 920, currency: eur), exchangeRate: "0.92"))))
        try await odoo.deliver("refund.succeeded", "refund", "re_1", .refund(Refund(payment: RecordRef(objectType: "payment", objectID: "ch_1"), invoice: ref, amount: dollars,
            status: .succeeded, refundedAt: "2026-12-02T09:00:00Z",
            settlement: Settlement(id: "txn_2", amount: Money(amountMinor: -935, currency: eur), fee: Money(amountMinor: 15, currency: eur), net: Money(amountMinor: -950, currency: eur), exchangeRate: "0.935"))))
        // A processor charging 0.15 for the refund: an entry of its own, as a payment's fee is.
        #expect(Int64((try server.balance(account: clearing.account, company: server.euCompany) * 100).rounded()) == 920 - 935 - 15)
        #expect(try server.records("account.move", "ref", prefix: "ch:\(odoo.shop):refund_fee:re_1").map { $0["amount_total"] as? Double } == [0.15])
        let moves = try server.records("account.move", "ref", prefix: "ch:\(odoo.shop):")
        #expect(moves.filter { $0["move_type"] as? String == "out_invoice" }.map { $0["payment_state"] as? String } == ["reversed"] ||
                moves.filter { $0["move_type"] as? String == "out_invoice" }.map { $0["payment_state"] as? String } == ["paid"])
        #expect(moves.filter { ($0["ref"] as? String)?.contains("refund_credit_note") == true }.map { $0["payment_state"] as? String } == ["paid"])
        let refund = try #require(try server.records("account.payment", server.memo, prefix: "ch:\(odoo.shop):refund:").first)
        #expect(refund["amount"] as? Double == 9.35 && OdooServer.id(refund["currency_id"]) == server.euro && refund["payment_type"] as? String == "outbound")
    }

    /// A dispute's withdrawal and, once won, its reinstatement: an entry each, once each however many
    /// events repeat them, leaving the clearing account where it was; a payout with no clearing journal
    /// for its currency, or failed after it was booked, is a dead letter saying what to do.
    @Test(arguments: OdooServer.versions) func disputesBookEachBalanceMovementOnceAndPayoutsSayWhatIsMissing(version: Int) async throws {
        let server = try OdooServer.underTest(version: version, apiKey: "sink-key", log: "/dev/null")
        let clearing = try server.clearingJournal(company: server.euCompany, currency: "EUR")
        let disputed = try #require((try server.execute("account.account", "search_read", [[["code", "=", "600000"]]], ["fields": ["id"], "limit": 1],
                                                        context: ["allowed_company_ids": [server.euCompany]]) as? [[String: Any]])?.first?["id"] as? Int)
        let odoo = try Sink(server: server, extra: ["bank_journals": [String(server.euCompany): ["EUR": .int(Int64(clearing.journal))]],
                                                    "dispute_accounts": [String(server.euCompany): .int(Int64(disputed))]])
        let before = try server.balance(account: clearing.account, company: server.euCompany)
        let eur = Self.eur, usd = CurrencyCode("USD")!
        let withdrawal = Settlement(id: "txn_w\(server.tag)", amount: Money(amountMinor: -920, currency: eur), fee: Money(amountMinor: 1_500, currency: eur),
                                    net: Money(amountMinor: -2_420, currency: eur), exchangeRate: "0.92", availableAt: "2026-11-30T00:00:00Z")
        let reinstatement = Settlement(id: "txn_r\(server.tag)", amount: Money(amountMinor: 920, currency: eur), fee: Money(amountMinor: -1_500, currency: eur),
                                       net: Money(amountMinor: 2_420, currency: eur), availableAt: "2026-12-10T00:00:00Z")
        let charge = RecordRef(objectType: "payment", objectID: "ch_1")
        let open = Record.dispute(Dispute(payment: charge, amount: Money(amountMinor: 1_000, currency: usd), status: .open, reason: "fraudulent", settlements: [withdrawal]))
        #expect(try await odoo.deliver("dispute.open", "dispute", "dp_1", version: "a", open).duplicate == false)
        #expect(Int64(((try server.balance(account: clearing.account, company: server.euCompany) - before) * 100).rounded()) == -2_420)
        #expect(try await odoo.deliver("dispute.open", "dispute", "dp_1", version: "a", open).duplicate)
        let won = Record.dispute(Dispute(payment: charge, amount: Money(amountMinor: 1_000, currency: usd), status: .won, settlements: [withdrawal, reinstatement]))
        #expect(try await odoo.deliver("dispute.won", "dispute", "dp_1", version: "b", won).duplicate == false)
        #expect(try server.balance(account: clearing.account, company: server.euCompany) == before)
        #expect(try server.records("account.move", "ref", prefix: "ch:\(odoo.shop):dispute_movement:").count == 2)

        let gbp = Record.payout(Payout(amount: Money(amountMinor: 5_000, currency: CurrencyCode("GBP")!), status: .paid))
        await #expect { try await odoo.deliver("payout.paid", "payout", "po_gbp", gbp) } throws: {
            ($0 as? ConnectorError).map { $0.code == .permanent && $0.message.contains("bank_journals") && $0.message.contains("GBP") } == true
        }
        let paid = Payout(amount: Money(amountMinor: 1_000, currency: eur), status: .paid, arrivalAt: "2026-12-01T00:00:00Z", statementDescriptor: "STRIPE PAYOUT")
        try await odoo.deliver("payout.paid", "payout", "po_1", version: "paid", .payout(paid))
        var failed = paid
        failed.status = .failed
        await #expect { try await odoo.deliver("payout.failed", "payout", "po_1", version: "failed", .payout(failed)) } throws: {
            ($0 as? ConnectorError).map { $0.code == .permanent && $0.message.contains("reverse that entry") } == true
        }
    }

    /// Over JSON-RPC (17), `button_draft` and `button_cancel` answer without a `result` member: the
    /// void must still succeed (it was read as "neither result nor error" and retried).
    @Test(arguments: OdooServer.versions) func aVoidedInvoiceIsCancelledAndAPaymentWithoutInvoiceStandsAlone(version: Int) async throws {
        let odoo = try Sink(version: version)
        try await odoo.deliver("customer.upserted", "customer", "cus_1", Self.customer)
        try await odoo.deliver("invoice.finalized", "invoice", "in_1", .invoice(odoo.invoice()))
        try await odoo.deliver("invoice.voided", "invoice", "in_1", version: "2", .invoice(odoo.invoice(.void)))
        #expect(try odoo.fake.records("account.move", "ref", prefix: "ch:\(odoo.shop):invoice:in_1").first?["state"] as? String == "cancel")
        #expect(try await odoo.deliver("invoice.voided", "invoice", "in_1", version: "2", .invoice(odoo.invoice(.void))).duplicate)

        let charge = Payment(customer: RecordRef(objectType: "customer", objectID: "cus_1"), amount: Money(amountMinor: 4_200, currency: Self.eur), status: .succeeded)
        let result = try await odoo.deliver("payment.succeeded", "payment", "ch_1", .payment(charge))
        #expect(result.externalID?.hasPrefix("account.payment,") == true)
        #expect(try await odoo.deliver("payment.succeeded", "payment", "ch_1", .payment(charge)).duplicate)
        let payments = try odoo.fake.records("account.payment", odoo.fake.memo, prefix: "ch:\(odoo.shop):payment:ch_1")
        #expect(payments.count == 1 && payments.first?["amount"] as? Double == 42)

        // Its refund: a credit note for the payment's customer, paid back; one of an unknown payment waits.
        let refund = Refund(payment: RecordRef(objectType: "payment", objectID: "ch_1"), amount: Money(amountMinor: 1_000, currency: Self.eur), status: .succeeded)
        try await odoo.deliver("refund.succeeded", "refund", "re_7", .refund(refund))
        let note = try #require(try odoo.fake.records("account.move", "ref", prefix: "ch:\(odoo.shop):refund_credit_note:re_7").first)
        #expect(OdooServer.id(note["partner_id"]) == OdooServer.id(payments.first?["partner_id"]) && note["payment_state"] as? String == "paid")
        let unknown = Refund(payment: RecordRef(objectType: "payment", objectID: "ch_404"), amount: Money(amountMinor: 1_000, currency: Self.eur), status: .succeeded)
        let waiting = await #expect(throws: ConnectorError.self) { try await odoo.deliver("refund.succeeded", "refund", "re_8", .refund(unknown)) }
        #expect(waiting?.code == .dependency && waiting?.message.contains("payment refunded by re_8") == true)

        // The refund fails at the source after it was paid back in Odoo: a dead letter that says what to reverse.
        var failed = refund
        failed.status = .failed
        let undone = await #expect(throws: ConnectorError.self) { try await odoo.deliver("refund.failed", "refund", "re_7", version: "2", .refund(failed)) }
        #expect(undone?.code == .permanent && undone?.message.contains("reverse that payment") == true)

        // A crash between creating a payment and posting it left a draft: the redelivery posts it.
        let partner = try #require(OdooServer.id(payments.first?["partner_id"]))
        let draft = try odoo.fake.execute("account.payment", "create", [[["payment_type": "inbound", "partner_type": "customer", "partner_id": partner, "amount": 12,
                                                                          "currency_id": odoo.fake.euro, "company_id": odoo.fake.euCompany, odoo.fake.memo: "ch:\(odoo.shop):payment:ch_2"]]],
                                          context: ["allowed_company_ids": [odoo.fake.euCompany]])
        let draftID = try #require((draft as? [Int])?.first ?? draft as? Int)
        let second = Payment(customer: RecordRef(objectType: "customer", objectID: "cus_1"), amount: Money(amountMinor: 1_200, currency: Self.eur), status: .succeeded)
        let posted = try await odoo.deliver("payment.succeeded", "payment", "ch_2", .payment(second))
        #expect(posted.externalID == "account.payment,\(draftID)" && posted.duplicate == false)
        let states = try odoo.fake.records("account.payment", odoo.fake.memo, prefix: "ch:\(odoo.shop):payment:ch_2").compactMap { $0["state"] as? String }
        #expect(states.count == 1 && states.first != "draft")
    }
}

extension Int64 {
    var asInt: Int { Int(self) }
}
