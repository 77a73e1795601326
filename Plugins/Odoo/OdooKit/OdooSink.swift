public import ConnectorProtocol
import ConnectorKit
import Foundation
public import Logging
import Synchronization

/// Writes canonical records into Odoo, each write idempotent through the reference it carries (see
/// ``OdooMapping``): every delivery first looks for its reference, so a redelivery after a crash —
/// whether Odoo's write or the host's bookkeeping was lost — finds the record instead of making a
/// second one. Answers are `DeliverResult`s whose external ids read `model,id` (Odoo's own notation).
public final class OdooSink: Sendable {
    let client: OdooClient
    let settings: OdooSettings
    let logger: Logger
    /// Country and currency ids by ISO code: they never change while the plugin runs.
    private let ids = Mutex<[String: Int64]>([:])
    /// Products being looked up or created for order lines, by reference: one at a time each.
    let productLookups = Mutex<[String: Task<Int64, any Error>]>([:])
    /// New partners are matched and created one at a time (see ``upsertPartner(_:_:)``).
    let partnerGate = SerialGate()

    public init(client: OdooClient, settings: OdooSettings, logger: Logger) {
        self.client = client
        self.settings = settings
        self.logger = logger
    }

    public func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        let event = params.event
        let company: Int64?
        do {
            company = try settings.company(forEntity: event.entity)
        } catch {
            throw ConnectorError(.permanent, "\(error.description); add it to [connector.config.companies]", details: ["setting": .string(error.key)])
        }
        let write = Write(
            params: params, company: company,
            context: company.map { ["allowed_company_ids": [.int($0)]] } ?? [:],
            source: params.sourceConnector ?? event.source.connector ?? "unknown"
        )
        if event.type.hasSuffix(".deleted") { return try await delete(write) }
        switch event.record {
        case .customer(let customer): return try await upsertPartner(customer, write)
        case .product(let product): return try await upsertProduct(product, write)
        case .invoice(let invoice): return try await upsertInvoice(invoice, creditNote: false, write)
        case .creditNote(let invoice): return try await upsertInvoice(invoice, creditNote: true, write)
        case .payment(let payment): return try await registerPayment(payment, write)
        case .refund(let refund): return try await registerRefund(refund, write)
        case .payout(let payout): return try await bookPayout(payout, write)
        case .dispute(let dispute): return try await bookDispute(dispute, write)
        case .subscription:
            throw ConnectorError(.permanent, "the Odoo connector does not take subscriptions (Odoo's subscriptions module is not supported); route only customer, product, invoice, credit_note, payment, refund, payout and dispute events to it")
        case .company(let company): return try await upsertCompany(company, write)
        case .contact(let contact): return try await upsertContact(contact, write)
        case .order(let order): return try await upsertOrder(order, write)
        case .deal(let deal): return try await settleDeal(deal, write)
        case .accountStatus, .other:
            throw ConnectorError(.notSupported, "the Odoo connector does not take records of kind \"\(event.record.kind)\"; route only customer, company, contact, product, order, deal, invoice, credit_note, payment, refund, payout and dispute events to it")
        }
    }

    /// What every write of one delivery shares.
    struct Write {
        var params: DeliverParams
        var company: Int64?
        /// `allowed_company_ids`: the company every call works in (Odoo's multi-company rules).
        var context: [String: JSONValue]
        var source: String

        var event: Event { params.event }
        var reference: String { reference(event.source.objectType, event.source.objectID) }

        func reference(_ objectType: String, _ objectID: String) -> String {
            OdooMapping.reference(sourceConnector: source, objectType: objectType, objectID: objectID)
        }

        /// The Odoo id the host already knows for a record this event refers to.
        func linked(_ record: RecordRef, model: String) -> Int64? {
            params.links.lazy
                .filter { $0.objectType == record.objectType && $0.sourceID == record.objectID }
                .compactMap { OdooRecordID($0.externalID) }
                .first { $0.model == model }?.id
        }
    }

    // MARK: Partners and products

    func upsertPartner(_ customer: Customer, _ write: Write) async throws -> DeliverResult {
        var countryID: Int64?
        if let country = customer.address?.country { countryID = try await self.countryID(country) }
        // Partners are shared between companies (company_id empty), as Odoo creates them by default:
        // one customer buying from two legal entities is one contact.
        let values = OdooMapping.partnerValues(customer, reference: write.reference, countryID: countryID, companyID: nil)
        let own: JSONValue = [["ref", "=", .string(write.reference)]]
        let source = RecordRef(objectType: write.event.source.objectType, objectID: write.event.source.objectID)
        let fields = Array(values.keys)
        // The host's link first (this customer may have been matched to another source's partner), then
        // its own reference; a partner gone from Odoo since is looked for again.
        if let linked = write.linked(source, model: "res.partner"), let known = try await partner([["id", "=", .int(linked)]], fields: fields, write) {
            return try await self.write(known, values: values, write)
        }
        if let known = try await partner(own, fields: fields, write) { return try await self.write(known, values: values, write) }
        guard !settings.partnerMatch.isEmpty else { return try await upsert("res.partner", values: values, domain: own, write) }
        // Matched and created one at a time: two sources delivering the same new customer at once
        // would each find nothing and create a partner.
        return try await partnerGate.serially {
            if let matched = try await matchPartner(customer, write), let known = try await partner([["id", "=", .int(matched)]], fields: fields, write) {
                return try await self.write(known, values: values, write)
            }
            return try await upsert("res.partner", values: values, domain: own, write)
        }
    }

    func upsertProduct(_ product: Product, _ write: Write) async throws -> DeliverResult {
        let major = try await client.connect().major
        let values = OdooMapping.productValues(product, reference: write.reference, major: major)
        // A product with a SKU is matched by it, so a catalogue product finance already keeps in Odoo is reused.
        let code = values["default_code"] ?? .string(write.reference)
        return try await upsert("product.product", values: values, domain: [["default_code", "=", code], ["active", "in", [true, false]]], write)
    }

    /// Creates the record, or writes what changed on the one found; nothing changed is a duplicate.
    func upsert(_ model: String, values: [String: JSONValue], domain: JSONValue, _ write: Write) async throws -> DeliverResult {
        let found = try await client.searchRead(model, domain: domain, fields: values.keys.sorted(), order: "id", limit: 2, context: write.context)
        if let existing = found.first, let id = existing["id"]?.intValue {
            if found.count > 1 {
                logger.warning("several Odoo records carry one reference; updating the oldest", metadata: ["odoo.model": "\(model)", "odoo.reference": "\(write.reference)"])
            }
            let changed = values.filter { key, value in !Self.same(existing[key], value) }
            if !changed.isEmpty { try await client.write(model, ids: [id], values: changed, context: write.context) }
            return DeliverResult(externalID: OdooRecordID(model: model, id: id).description, duplicate: changed.isEmpty,
                                 sourceRef: RecordRef(objectType: model, objectID: String(id)))
        }
        let id = try await client.create(model, values: values, context: write.context)
        // As the Odoo source names it: the way back for events of this record (an account status).
        return DeliverResult(externalID: OdooRecordID(model: model, id: id).description, sourceRef: RecordRef(objectType: model, objectID: String(id)))
    }

    /// Whether a value read back from Odoo equals one we would write (many2one reads as `[id, name]`,
    /// empty as `false`, floats may come back as integers).
    static func same(_ read: JSONValue?, _ written: JSONValue) -> Bool {
        guard let read else { return false }
        switch written {
        case .int(let id): return read.odooID == id
        case .double(let value): return read.doubleValue == value
        case .string(let text): return read.stringValue == text
        default: return read == written
        }
    }

    // MARK: Invoices and credit notes

    func upsertInvoice(_ invoice: Invoice, creditNote: Bool, _ write: Write) async throws -> DeliverResult {
        var result: DeliverResult
        if let found = try await findMove(write.reference, write) {
            result = try await advance(found, invoice, creditNote: creditNote, write)
        } else if invoice.status == .void {
            logger.info("void invoice never reached Odoo: nothing to do", metadata: ["odoo.reference": "\(write.reference)"])
            return DeliverResult(externalID: nil, duplicate: true)
        } else {
            let values = try await moveValues(invoice, creditNote: creditNote, write)
            let id = try await client.create("account.move", values: values, context: write.context)
            let created = OdooMove(id: id, state: "draft", currency: invoice.currency)
            result = try await advance(created, invoice, creditNote: creditNote, write)
            result.duplicate = false
        }
        if invoice.status == .paid, !creditNote { try await requireSettled(invoice, write) }
        return result
    }

    /// The source says the invoice is paid: Odoo must say so too. While Odoo still has an amount open
    /// the payment may simply not be delivered yet (Stripe sends `invoice.paid` and the charge in any
    /// order), so this waits as a `dependency`; if no payment comes (paid outside the processor, or its
    /// payment dead-lettered), the retries end in a dead letter naming both amounts, for a person.
    func requireSettled(_ invoice: Invoice, _ write: Write) async throws {
        guard let move = try await findMove(write.reference, write), move.state == "posted",
              !["paid", "in_payment", "reversed"].contains(move.paymentState), let open = move.residualMinor, open > 0 else { return }
        throw ConnectorError(
            .dependency,
            "the source says invoice \(write.event.source.objectID) is paid (\(Self.format(invoice.amountPaidMinor, invoice.currency)) paid, \(Self.format(invoice.amountDueMinor, invoice.currency)) remaining) but Odoo still has \(Self.format(open, move.currency)) open on \(move.label): waiting for its payment. If none comes, register the payment in Odoo (or replay the payment's dead letter), then replay this one",
            details: ["odoo_id": .int(move.id), "odoo_open_minor": .int(open), "source_paid_minor": .int(invoice.amountPaidMinor)]
        )
    }

    /// An invoice as Odoo has it (the fields a delivery decides on).
    struct OdooMove {
        var id: Int64
        var state: String
        var paymentState: String = "not_paid"
        var name: String?
        var totalMinor: Int64?
        var residualMinor: Int64?
        var currency: CurrencyCode

        static let fields = ["state", "payment_state", "name", "amount_total", "amount_residual", "currency_id"]

        var externalID: String { OdooRecordID(model: "account.move", id: id).description }
        var label: String { name.map { "\($0) (account.move \(id))" } ?? "account.move \(id)" }
    }

    /// The invoice or credit note carrying a reference: read by the id the host's link gives when there
    /// is one (a read by id, not a search), else searched by the reference.
    func findMove(_ reference: String, linked: Int64? = nil, _ write: Write) async throws -> OdooMove? {
        var found: [JSONValue] = []
        if let linked {
            // A record deleted in Odoo since makes the read fail: the search below decides then.
            found = (try? await client.call(model: "account.move", method: "read", ids: [linked], arguments: ["fields": .array(OdooMove.fields.map { .string($0) })],
                                            context: write.context).arrayValue) ?? []
        }
        if found.isEmpty {
            found = try await client.searchRead("account.move", domain: [["ref", "=", .string(reference)], ["move_type", "in", ["out_invoice", "out_refund"]]],
                                                fields: OdooMove.fields, order: "id", limit: 1, context: write.context)
        }
        guard let record = found.first else { return nil }
        guard let id = record["id"]?.intValue, let state = record["state"]?.stringValue,
              let currency = record["currency_id"]?.odooName.flatMap(CurrencyCode.init) else {
            throw ConnectorError(.transient, "Odoo's account.move answer lacks id, state or currency")
        }
        return OdooMove(id: id, state: state, paymentState: record["payment_state"]?.stringValue ?? "not_paid", name: record["name"]?.stringValue,
                        totalMinor: record["amount_total"]?.doubleValue.map { OdooMapping.minorUnits($0, currency) },
                        residualMinor: record["amount_residual"]?.doubleValue.map { OdooMapping.minorUnits($0, currency) }, currency: currency)
    }

    /// Brings an Odoo invoice to where the source's is: posted when final (after checking Odoo's
    /// total against the source's), cancelled when void. Each step is safe to repeat.
    func advance(_ move: OdooMove, _ invoice: Invoice, creditNote: Bool, _ write: Write) async throws -> DeliverResult {
        let done = DeliverResult(externalID: move.externalID, duplicate: true)
        switch (move.state, invoice.status) {
        case ("posted", .void):
            guard move.paymentState == "not_paid" else {
                throw ConnectorError(.permanent, "the source voided \(move.label), but it is \(move.paymentState) in Odoo: reverse it there with a credit note",
                                     details: ["odoo_id": .int(move.id)])
            }
            _ = try await client.call(model: "account.move", method: "button_draft", ids: [move.id], context: write.context)
            _ = try await client.call(model: "account.move", method: "button_cancel", ids: [move.id], context: write.context)
            return DeliverResult(externalID: move.externalID)
        case ("draft", .void):
            _ = try await client.call(model: "account.move", method: "button_cancel", ids: [move.id], context: write.context)
            return DeliverResult(externalID: move.externalID)
        case ("draft", _) where OdooMapping.shouldPost(invoice):
            try await checkTotal(move, invoice, creditNote: creditNote, write)
            _ = try await client.call(model: "account.move", method: "action_post", ids: [move.id], context: write.context)
            return DeliverResult(externalID: move.externalID)
        case ("cancel", let status) where status != .void:
            throw ConnectorError(.permanent, "\(move.label) was cancelled in Odoo; the source says it is \(status.rawValue). Reset it to draft in Odoo, then replay",
                                 details: ["odoo_id": .int(move.id)])
        default:
            return done  // already where the source is (posted, cancelled, or a draft that stays one)
        }
    }

    /// Odoo computes taxes itself: an invoice whose total differs from the source's (a tax mapped to
    /// the wrong rate, a price-included tax set up as excluded) stays in draft for finance to look at.
    /// A replay after the mapping is fixed rewrites the draft's lines and checks again.
    func checkTotal(_ move: OdooMove, _ invoice: Invoice, creditNote: Bool, _ write: Write) async throws {
        var total = move.totalMinor
        if let known = total, abs(known - invoice.totalMinor) > settings.totalToleranceMinor {
            // A draft left by an earlier attempt: its lines may predate a fix of the mapping.
            let values = try await moveValues(invoice, creditNote: creditNote, write)
            var rewrite = values.filter { ["partner_id", "currency_id", "invoice_date", "invoice_date_due", "payment_reference"].contains($0.key) }
            rewrite["invoice_line_ids"] = .array([[5, 0, 0]] + (values["invoice_line_ids"]?.arrayValue ?? []))
            try await client.write("account.move", ids: [move.id], values: rewrite, context: write.context)
            total = nil
        }
        if total == nil { total = try await readMinor("amount_total", of: move, write) }
        guard let total else { throw ConnectorError(.transient, "Odoo did not read back the total of \(move.label)") }
        if abs(total - invoice.totalMinor) > settings.totalToleranceMinor {
            throw ConnectorError(
                .permanent,
                "Odoo computes \(Self.format(total, move.currency)) for \(move.label) but the source's total is \(Self.format(invoice.totalMinor, invoice.currency)); left in draft. Check [connector.config.taxes] (rates, and whether prices include tax), then replay",
                details: ["odoo_id": .int(move.id), "odoo_total_minor": .int(total), "source_total_minor": .int(invoice.totalMinor)]
            )
        }
    }

    /// The `account.move` values of an invoice, with the partner, currency, products and taxes resolved.
    func moveValues(_ invoice: Invoice, creditNote: Bool, _ write: Write) async throws -> [String: JSONValue] {
        let partner = try await requirePartner(invoice.customer, write, for: "invoice \(write.event.source.objectID)")
        var products: [String: Int64] = [:]
        for product in invoice.lines.compactMap(\.product) {
            let key = write.reference(product.objectType, product.objectID)
            guard products[key] == nil else { continue }
            if let id = write.linked(product, model: "product.product") {
                products[key] = id
            } else if let id = try await client.searchRead("product.product", domain: [["default_code", "=", .string(key)]], fields: ["id"], limit: 1, context: write.context).first?["id"]?.intValue {
                products[key] = id
            } else {
                throw ConnectorError.dependency(on: product, "product \(product.objectID) of invoice \(write.event.source.objectID) is not in Odoo yet (its product event has not been delivered)",
                                                details: ["missing": .string(key)])
            }
        }
        let currency = try await currencyID(invoice.currency)
        var values: [String: JSONValue]
        do {
            values = try OdooMapping.invoiceValues(
                invoice, creditNote: creditNote, reference: write.reference, partnerID: partner, currencyID: currency,
                companyID: write.company, journalID: OdooSettings.lookup(settings.saleJournals, company: write.company), products: products,
                taxes: settings.taxes(forCompany: write.company), sourceConnector: write.source
            )
        } catch {
            throw ConnectorError(.permanent, "invoice \(write.event.source.objectID): \(error.description)")
        }
        if creditNote, let original = invoice.original {
            // A credit note credits its invoice: it waits for it rather than stand alone in the books.
            guard let credited = try await findMove(write.reference(original.objectType, original.objectID), write) else {
                throw ConnectorError.dependency(on: original, "invoice \(original.objectID) credited by \(write.event.source.objectID) is not in Odoo yet",
                                                details: ["missing": .string(write.reference(original.objectType, original.objectID))])
            }
            values["reversed_entry_id"] = .int(credited.id)
        }
        return values
    }

    /// The Odoo partner of a customer this event refers to: `dependency` while it is not there yet.
    func requirePartner(_ customer: RecordRef, _ write: Write, for what: String) async throws -> Int64 {
        if let id = write.linked(customer, model: "res.partner") { return id }
        let reference = write.reference(customer.objectType, customer.objectID)
        if let id = try await client.searchRead("res.partner", domain: [["ref", "=", .string(reference)]], fields: ["id"], limit: 1, context: write.context).first?["id"]?.intValue {
            return id
        }
        throw ConnectorError.dependency(on: customer, "customer \(customer.objectID) of \(what) is not in Odoo yet (its customer event has not been delivered)",
                                        details: ["missing": .string(reference)])
    }

    // MARK: Payments and refunds

    /// What a payment or refund delivery answers before booking anything: nothing to book (it did not
    /// succeed), already booked (found by its reference; a draft left by a crash between create and
    /// post is posted now), or booked but since failed at the source (a dead letter for finance: the
    /// entries must be reversed by hand). Nil: book it.
    func settled(_ kind: String, status: String, _ write: Write) async throws -> DeliverResult? {
        let reversed = ["failed", "canceled"].contains(status)
        // Odoo is asked only when its answer matters: to book, or to find what a reversal undoes.
        let booked = status == "succeeded" || reversed ? try await findPayment(write.reference, write) : nil
        guard status == "succeeded" else {
            if let booked, reversed, !["draft", "cancel"].contains(booked.state) {
                throw ConnectorError(.permanent, "\(kind) \(write.event.source.objectID) is \(status) at the source, but Odoo booked it as \(booked.id) (\(booked.state)): reverse that payment (and its credit note for a refund) in Odoo",
                                     details: ["odoo_id": .string(booked.id.description)])
            }
            logger.info("\(kind) is \(status): nothing to book", metadata: ["odoo.reference": "\(write.reference)"])
            return DeliverResult(externalID: booked?.id.description, duplicate: true)
        }
        guard let booked else { return nil }
        if booked.state == "draft" {
            _ = try await client.call(model: "account.payment", method: "action_post", ids: [booked.id.id], context: write.context)
            return DeliverResult(externalID: booked.id.description)
        }
        return DeliverResult(externalID: booked.id.description, duplicate: true)
    }

    /// A payment: registered against its invoice (or standing alone when it names none), in the
    /// processor's clearing journal of the currency its balance received the money in; then its fee, as
    /// an entry of its own. A payment booked by an earlier attempt whose fee was not (no fee account
    /// then) gets its fee on replay.
    func registerPayment(_ payment: Payment, _ write: Write) async throws -> DeliverResult {
        var result: DeliverResult
        if let answer = try await settled("payment", status: payment.status.rawValue, write) {
            guard payment.status == .succeeded, answer.externalID != nil else { return answer }
            result = answer
        } else if let invoiceRef = payment.invoice {
            guard let invoice = try await findMove(write.reference(invoiceRef.objectType, invoiceRef.objectID),
                                                   linked: write.linked(invoiceRef, model: "account.move"), write) else {
                throw ConnectorError.dependency(on: invoiceRef, "invoice \(invoiceRef.objectID) of payment \(write.event.source.objectID) is not in Odoo yet",
                                                details: ["missing": .string(write.reference(invoiceRef.objectType, invoiceRef.objectID))])
            }
            let id = try await register(payment.amount, settlement: payment.settlement, date: payment.paidAt ?? write.event.occurredAt, on: invoice, write)
            result = DeliverResult(externalID: id.description)
        } else {
            result = try await createUnappliedPayment(payment, write)
        }
        if let fee = payment.settlement?.fee ?? payment.fee, fee.amountMinor != 0, let booked = result.externalID.flatMap(OdooRecordID.init) {
            if try await bookFee(fee, of: booked, date: payment.paidAt ?? write.event.occurredAt, write) { result.duplicate = false }
        }
        return result
    }

    /// Money returned to the customer: a posted credit note (`out_refund`, reversing the paid invoice
    /// when it is known) with the refund registered against it. The payment carries the refund's
    /// reference; the credit note one of its own kind (`refund_credit_note`), returned as a link, so
    /// that a reconciliation sees two records of two kinds, not one record written twice.
    func registerRefund(_ refund: Refund, _ write: Write) async throws -> DeliverResult {
        if var answer = try await settled("refund", status: refund.status.rawValue, write) {
            // Booked by an earlier attempt: its fee may not have been (no fee account then).
            if refund.status == .succeeded, let fee = refund.settlement?.fee, fee.amountMinor != 0, let booked = answer.externalID.flatMap(OdooRecordID.init),
               try await bookFee(fee, of: booked, date: refund.refundedAt ?? write.event.occurredAt, write) {
                answer.duplicate = false
            }
            return answer
        }
        let noteReference = write.reference("refund_credit_note", write.event.source.objectID)
        var move = try await findMove(noteReference, write)
        if move == nil {
            let original = try await refund.invoice.asyncMap { try await findMove(write.reference($0.objectType, $0.objectID), write) } ?? nil
            // The customer: the refunded invoice's, or for a payment that paid no invoice, the payment's.
            let partner: Int64
            if let original, let found = try await partnerOf("account.move", original.id, write) {
                partner = found
            } else if refund.invoice == nil, let payment = try await findPayment(write.reference(refund.payment.objectType, refund.payment.objectID), write),
                      let found = try await partnerOf("account.payment", payment.id.id, write) {
                partner = found
            } else {
                let missing = refund.invoice ?? refund.payment
                throw ConnectorError.dependency(on: missing, "the \(missing.objectType) refunded by \(write.event.source.objectID) is not in Odoo yet",
                                                details: ["missing": .string(write.reference(missing.objectType, missing.objectID))])
            }
            let label = "Refund \(write.event.source.objectID)" + (refund.reason.map { ": \($0)" } ?? "")
            let lines = try await original.asyncMap { try await refundLines(refund.amount, of: $0, write) }
                ?? [["name": .string(label), "quantity": 1, "price_unit": OdooMapping.amount(refund.amount.amountMinor, refund.amount.currency), "tax_ids": [[6, 0, []]]]]
            var values: [String: JSONValue] = [
                "move_type": "out_refund", "partner_id": .int(partner), "currency_id": .int(try await currencyID(refund.amount.currency)),
                "ref": .string(noteReference), "invoice_line_ids": .array(lines.map { [0, 0, .object($0)] }),
            ]
            if let original {
                values["reversed_entry_id"] = .int(original.id)
                values["invoice_origin"] = .string(label)
            }
            if let company = write.company { values["company_id"] = .int(company) }
            // Dated as the refund payment is: the day the money went back, not the day of delivery, so
            // both land in one period (and a replay months later books it where it belongs).
            values["invoice_date"] = .string(String((refund.refundedAt ?? write.event.occurredAt).prefix(10)))
            let id = try await client.create("account.move", values: values, context: write.context)
            let draft = OdooMove(id: id, state: "draft", currency: refund.amount.currency)
            try await roundToTotal(draft, refund.amount, write)
            move = draft
        }
        guard var creditNote = move else { throw ConnectorError(.transient, "no credit note") }
        if creditNote.state == "draft" {
            _ = try await client.call(model: "account.move", method: "action_post", ids: [creditNote.id], context: write.context)
            creditNote.state = "posted"
        }
        let id = try await register(refund.amount, settlement: refund.settlement, date: refund.refundedAt ?? write.event.occurredAt, on: creditNote, write)
        // A processor that charges for refunds (or returns part of the payment's fee) moves its balance by that too.
        if let fee = refund.settlement?.fee, fee.amountMinor != 0 {
            _ = try await bookFee(fee, of: id, date: refund.refundedAt ?? write.event.occurredAt, write)
        }
        let link = Link(connector: "", objectType: "refund_credit_note", sourceID: write.event.source.objectID, externalID: creditNote.externalID)
        return DeliverResult(externalID: id.description, links: [link])
    }

    /// The lines of a refund's credit note: the refunded invoice's own lines with their products and
    /// taxes, so the refund reverses the VAT it charged; a partial refund scales each line by the
    /// refunded share of the invoice's total (Odoo then computes the taxes, and ``roundToTotal(_:_:_:)``
    /// books what rounding leaves over).
    func refundLines(_ amount: Money, of invoice: OdooMove, _ write: Write) async throws -> [[String: JSONValue]] {
        guard amount.currency == invoice.currency else {
            throw ConnectorError(.permanent, "refund \(write.event.source.objectID) is in \(amount.currency) but the invoice it refunds, \(invoice.label), is in \(invoice.currency)")
        }
        let read = try await client.searchRead("account.move.line", domain: [["move_id", "=", .int(invoice.id)], ["display_type", "=", "product"]],
                                               fields: ["name", "product_id", "quantity", "price_unit", "discount", "tax_ids"], order: "id", context: write.context)
        guard let total = invoice.totalMinor, total > 0, !read.isEmpty else {
            throw ConnectorError(.transient, "Odoo's answer for \(invoice.label) lacks its lines or total")
        }
        let whole = amount.amountMinor == total
        return read.map { line in
            var values: [String: JSONValue] = [
                "name": line["name"]?.stringValue.map(JSONValue.string) ?? "Refund",
                "tax_ids": [[6, 0, .array((line["tax_ids"]?.arrayValue ?? []).compactMap { $0.intValue.map(JSONValue.int) })]],
            ]
            if let product = line["product_id"]?.odooID { values["product_id"] = .int(product) }
            let quantity = line["quantity"]?.doubleValue ?? 1, price = line["price_unit"]?.doubleValue ?? 0, discount = line["discount"]?.doubleValue ?? 0
            if whole {
                values["quantity"] = .double(quantity)
                values["price_unit"] = .double(price)
                values["discount"] = .double(discount)
            } else {
                // The line's amount before tax, times the refunded share, in whole minor units.
                let base = OdooMapping.minorUnits(quantity * price * (1 - discount / 100), amount.currency)
                let (share, remainder) = (base * amount.amountMinor).quotientAndRemainder(dividingBy: total)
                values["quantity"] = 1
                values["price_unit"] = OdooMapping.amount(share + (2 * remainder >= total ? 1 : 0), amount.currency)
            }
            return values
        }
    }

    /// A scaled credit note's total may miss the refund by a rounding: a line without tax makes it exact,
    /// so the refund payment settles it.
    func roundToTotal(_ move: OdooMove, _ amount: Money, _ write: Write) async throws {
        guard let total = try await readMinor("amount_total", of: move, write) else {
            throw ConnectorError(.transient, "Odoo did not read back the total of \(move.label)")
        }
        guard total != amount.amountMinor else { return }
        let line: JSONValue = ["name": "Rounding", "quantity": 1, "price_unit": OdooMapping.amount(amount.amountMinor - total, amount.currency), "tax_ids": [[6, 0, []]]]
        try await client.write("account.move", ids: [move.id], values: ["invoice_line_ids": [[0, 0, line]]], context: write.context)
    }

    func partnerOf(_ model: String, _ id: Int64, _ write: Write) async throws -> Int64? {
        try await client.call(model: model, method: "read", ids: [id], arguments: ["fields": ["partner_id"]], context: write.context).arrayValue?.first?["partner_id"]?.odooID
    }

    /// The payment's memo field: `ref` on Odoo 17, `memo` from 18 on.
    func memoField() async throws -> String {
        try await client.connect().major >= 18 ? "memo" : "ref"
    }

    func findPayment(_ reference: String, _ write: Write) async throws -> (id: OdooRecordID, state: String)? {
        let found = try await client.searchRead("account.payment", domain: [[.string(try await memoField()), "=", .string(reference)]], fields: ["id", "state"], limit: 1, context: write.context)
        guard let record = found.first, let id = record["id"]?.intValue else { return nil }
        return (OdooRecordID(model: "account.payment", id: id), record["state"]?.stringValue ?? "")
    }

    /// Registers money against a posted invoice (or credit note) through Odoo's own payment wizard,
    /// which creates the payment, its journal entry and the reconciliation in one call.
    ///
    /// Money the processor converted (a USD charge into a EUR balance) is registered as the balance
    /// received it (9.20 EUR) in that currency's clearing journal, when one is configured: the journal
    /// then holds what the processor holds. When it settles the invoice in full, what Odoo's own rate
    /// makes of the difference is written off to the company's exchange difference account, so the
    /// invoice is paid and the gap between the two rates is booked as what it is.
    ///
    /// - Parameter settlement: the processor's balance movement of this money (its amount negative for
    ///   money going out), nil when unknown.
    func register(_ amount: Money, settlement: Settlement?, date: String, on move: OdooMove, _ write: Write) async throws -> OdooRecordID {
        try registrable(move, write)
        guard amount.currency == move.currency else {
            throw ConnectorError(.permanent, "payment \(write.event.source.objectID) is in \(amount.currency) but \(move.label) is in \(move.currency)")
        }
        let converted = settlement.map { Money(amountMinor: abs($0.amount.amountMinor), currency: $0.amount.currency) }.flatMap { received in
            received.currency != amount.currency && settings.hasBankJournal(company: write.company, exactly: received.currency) ? received : nil
        }
        let booked = converted ?? amount
        var values: [String: JSONValue] = [
            "amount": OdooMapping.amount(booked.amountMinor, booked.currency),
            "payment_date": .string(String(date.prefix(10))),
            "communication": .string(write.reference),
        ]
        if let journal = settings.bankJournal(company: write.company, currency: booked.currency) { values["journal_id"] = .int(journal) }
        var context = write.context
        context["active_model"] = "account.move"
        context["active_ids"] = [.int(move.id)]
        if converted != nil {
            values["currency_id"] = .int(try await currencyID(booked.currency))
        }
        let wizard = try await client.create("account.payment.register", values: values, context: context)
        var residual = move.residualMinor
        if converted != nil, residual == nil {  // a credit note just created and posted: what it leaves open
            residual = try await readMinor("amount_residual", of: move, write)
        }
        if converted != nil, residual == amount.amountMinor {
            try await writeOffExchangeDifference(wizard, label: "Exchange difference \(write.event.source.objectID) (processor rate \(settlement?.exchangeRate ?? "?"))", context: context, write)
        }
        let action = try await client.call(model: "account.payment.register", method: "action_create_payments", ids: [wizard], context: context)
        guard let paymentID = action["res_id"]?.intValue else {
            // Registered, but the answer does not say which payment: find it by its memo.
            guard let found = try await findPayment(write.reference, write) else {
                throw ConnectorError(.transient, "Odoo registered no payment for \(move.label)")
            }
            return found.id
        }
        return OdooRecordID(model: "account.payment", id: paymentID)
    }

    /// Whether money can be registered on this invoice or credit note at all.
    func registrable(_ move: OdooMove, _ write: Write) throws {
        switch move.state {
        case "posted": break
        case "draft":
            throw ConnectorError(.dependency, "\(move.label) is still a draft in Odoo: the payment waits until it is posted",
                                 details: ["odoo_id": .int(move.id)])
        default:
            throw ConnectorError(.permanent, "\(move.label) is \(move.state) in Odoo: the payment \(write.event.source.objectID) cannot be registered on it",
                                 details: ["odoo_id": .int(move.id)])
        }
        if ["paid", "in_payment", "reversed"].contains(move.paymentState) {
            throw ConnectorError(.permanent, "\(move.label) is already \(move.paymentState) in Odoo by another payment; \(write.event.source.objectID) was not registered. Check for a double payment",
                                 details: ["odoo_id": .int(move.id)])
        }
    }

    /// The payment wizard's difference (the invoice's residual at Odoo's rate minus what the processor
    /// converted) written off to the company's exchange loss or gain account.
    func writeOffExchangeDifference(_ wizard: Int64, label: String, context: [String: JSONValue], _ write: Write) async throws {
        let read = try await client.call(model: "account.payment.register", method: "read", ids: [wizard], arguments: ["fields": ["payment_difference", "company_id"]], context: context)
        guard let difference = read.arrayValue?.first?["payment_difference"]?.doubleValue, difference != 0 else { return }
        guard let company = read.arrayValue?.first?["company_id"]?.odooID else { throw ConnectorError(.transient, "Odoo's payment wizard answer lacks its company") }
        let accounts = try await companyAccounts(company, write)
        guard let account = difference > 0 ? accounts.exchangeLoss : accounts.exchangeGain else {
            throw ConnectorError(.permanent, "company \(accounts.company) has no exchange \(difference > 0 ? "loss" : "gain") account in Odoo (Accounting ▸ Settings ▸ Default Accounts): set it, then replay",
                                 details: ["odoo_company": .int(accounts.company)])
        }
        try await client.write("account.payment.register", ids: [wizard], values: [
            "payment_difference_handling": "reconcile", "writeoff_account_id": .int(account), "writeoff_label": .string(label),
        ], context: context)
    }

    /// A payment no invoice is known for (a one-off charge, Checkout, a payment link): an inbound
    /// customer payment of its own, posted, for finance to match; without a partner when the source
    /// knows no customer either (the money still reaches the books, in the outstanding receipts).
    func createUnappliedPayment(_ payment: Payment, _ write: Write) async throws -> DeliverResult {
        let partner = try await payment.customer.asyncMap { try await requirePartner($0, write, for: "payment \(write.event.source.objectID)") }
        let memo = try await memoField()
        var values: [String: JSONValue] = [
            "payment_type": "inbound", "partner_type": "customer",
            "amount": OdooMapping.amount(payment.amount.amountMinor, payment.amount.currency),
            "currency_id": .int(try await currencyID(payment.amount.currency)),
            "date": .string(String((payment.paidAt ?? write.event.occurredAt).prefix(10))),
            memo: .string(write.reference),
        ]
        if let partner { values["partner_id"] = .int(partner) }
        if let company = write.company { values["company_id"] = .int(company) }
        if let journal = settings.bankJournal(company: write.company, currency: payment.amount.currency) { values["journal_id"] = .int(journal) }
        let id = try await client.create("account.payment", values: values, context: write.context)
        _ = try await client.call(model: "account.payment", method: "action_post", ids: [id], context: write.context)
        return DeliverResult(externalID: OdooRecordID(model: "account.payment", id: id).description)
    }

    // MARK: Fees and payouts: journal entries of their own

    /// The processor's fee on a payment: an entry of its own in the payment's journal, the expense
    /// (`fee_accounts`) against the account the payment landed on, in the fee's currency and dated as
    /// the payment, found again by its reference (`payment_fee`). True when booked now.
    func bookFee(_ fee: Money, of payment: OdooRecordID, date: String, _ write: Write) async throws -> Bool {
        let reference = write.reference("\(write.event.source.objectType)_fee", write.event.source.objectID)
        if let entry = try await findEntry(reference, write) { return try await postIfDraft(entry, write) }
        guard let account = OdooSettings.lookup(settings.feeAccounts, company: write.company) else {
            throw ConnectorError(
                .permanent,
                "payment \(write.event.source.objectID) is booked in Odoo (\(payment)) but its processor fee of \(Self.format(fee.amountMinor, fee.currency)) is not: set fee_accounts for company \(write.company.map(String.init) ?? "\"*\"") in [connector.config] (the account.account id of the bank fees expense account), then replay this dead letter",
                details: ["setting": "fee_accounts", "odoo_id": .string(payment.description), "fee_minor": .int(fee.amountMinor), "fee_currency": .string(fee.currency.code)]
            )
        }
        let read = try await client.call(model: "account.payment", method: "read", ids: [payment.id], arguments: ["fields": ["journal_id", "outstanding_account_id"]], context: write.context)
        guard let journal = read.arrayValue?.first?["journal_id"]?.odooID, let landed = read.arrayValue?.first?["outstanding_account_id"]?.odooID else {
            throw ConnectorError(.transient, "Odoo's answer for \(payment) lacks its journal or outstanding account")
        }
        let label = "Processor fee \(write.event.source.objectID)"
        try await postEntry(reference: reference, journal: journal, date: date, currency: fee.currency,
                            lines: [(account, fee.amountMinor, label), (landed, -fee.amountMinor, label)], write)
        return true
    }

    /// A payout: the money leaves the processor's clearing journal of its currency for the company's
    /// liquidity transfer account, where the bank statement line of its arrival is matched against it
    /// (with an instant payout's fee as an expense). Booked once paid, dated the day it arrives.
    func bookPayout(_ payout: Payout, _ write: Write) async throws -> DeliverResult {
        let reference = write.reference
        let found = try await findEntry(reference, write)
        guard payout.status == .paid else {
            if let found, ["failed", "canceled"].contains(payout.status.rawValue), found.state == "posted" {
                throw ConnectorError(.permanent, "payout \(write.event.source.objectID) is \(payout.status.rawValue) at the source, but Odoo booked it as \(found.externalID): the money is back in the processor's balance; reverse that entry in Odoo",
                                     details: ["odoo_id": .int(found.id)])
            }
            logger.info("payout is \(payout.status.rawValue): nothing to book", metadata: ["odoo.reference": "\(reference)"])
            return DeliverResult(externalID: found?.externalID, duplicate: true)
        }
        if let found {
            return DeliverResult(externalID: found.externalID, duplicate: try await !postIfDraft(found, write))
        }
        let currency = payout.amount.currency
        guard let journal = settings.bankJournal(company: write.company, currency: currency) else {
            throw ConnectorError(.permanent, "payout \(write.event.source.objectID) (\(Self.format(payout.amount.amountMinor, currency))) cannot be booked: set bank_journals for company \(write.company.map(String.init) ?? "\"*\"") and \(currency) in [connector.config] (the processor's clearing journal, a bank journal), then replay",
                                 details: ["setting": "bank_journals"])
        }
        let clearing = try await bankJournal(journal, write)
        let accounts = try await companyAccounts(clearing.company, write)
        guard let transfer = accounts.transfer else {
            throw ConnectorError(.permanent, "company \(accounts.company) has no internal transfer account in Odoo (Accounting ▸ Settings ▸ Default Accounts): set it, then replay payout \(write.event.source.objectID)",
                                 details: ["odoo_company": .int(accounts.company)])
        }
        let label = "Payout \(write.event.source.objectID)" + (payout.statementDescriptor.map { " (\($0))" } ?? "")
        var lines: [(Int64, Int64, String)] = [(transfer, payout.amount.amountMinor, label)]
        var out = payout.amount.amountMinor
        if let fee = payout.settlement?.fee, fee.amountMinor != 0 {
            guard fee.currency == currency, let account = OdooSettings.lookup(settings.feeAccounts, company: write.company) else {
                throw ConnectorError(.permanent, "the fee of payout \(write.event.source.objectID) (\(Self.format(fee.amountMinor, fee.currency))) cannot be booked: set fee_accounts for company \(write.company.map(String.init) ?? "\"*\"") in [connector.config], then replay",
                                     details: ["setting": "fee_accounts"])
            }
            lines.append((account, fee.amountMinor, "Payout fee \(write.event.source.objectID)"))
            out += fee.amountMinor
        }
        lines.append((clearing.account, -out, label))
        let id = try await postEntry(reference: reference, journal: journal, date: payout.arrivalAt ?? write.event.occurredAt, currency: currency, lines: lines, write)
        return DeliverResult(externalID: OdooRecordID(model: "account.move", id: id).description)
    }

    /// A dispute: each balance movement the processor made for it — the withdrawal of the disputed
    /// amount and its fee, the reinstatement once won — is an entry of its own in the clearing journal of
    /// its currency, the amount on `dispute_accounts` and the fee on `fee_accounts`, found again by the
    /// movement's id; a movement already booked is not booked again, whichever event brings it.
    func bookDispute(_ dispute: Dispute, _ write: Write) async throws -> DeliverResult {
        var result = DeliverResult(externalID: nil, duplicate: true)
        for movement in dispute.settlements {
            guard let movementID = movement.id else { continue }
            let reference = write.reference("dispute_movement", movementID)
            if let found = try await findEntry(reference, write) {
                if try await postIfDraft(found, write) { result.duplicate = false }
                result.externalID = found.externalID
                continue
            }
            let what = "dispute \(write.event.source.objectID) (\(Self.format(movement.amount.amountMinor, movement.amount.currency)), fee \(Self.format(movement.fee.amountMinor, movement.fee.currency)))"
            let company = write.company.map(String.init) ?? "\"*\""
            guard let journal = settings.bankJournal(company: write.company, currency: movement.amount.currency) else {
                throw ConnectorError(.permanent, "\(what) cannot be booked: set bank_journals for company \(company) and \(movement.amount.currency) in [connector.config] (the processor's clearing journal), then replay",
                                     details: ["setting": "bank_journals"])
            }
            guard let disputed = OdooSettings.lookup(settings.disputeAccounts, company: write.company) else {
                throw ConnectorError(.permanent, "\(what) cannot be booked: set dispute_accounts for company \(company) in [connector.config] (the account.account id where disputed money is held: a chargeback expense or a receivable), then replay",
                                     details: ["setting": "dispute_accounts"])
            }
            let label = "Dispute \(write.event.source.objectID)" + (dispute.reason.map { " (\($0))" } ?? "")
            var lines: [(Int64, Int64, String)] = [(disputed, -movement.amount.amountMinor, label)]
            if movement.fee.amountMinor != 0 {
                guard let feeAccount = OdooSettings.lookup(settings.feeAccounts, company: write.company) else {
                    throw ConnectorError(.permanent, "\(what) cannot be booked: set fee_accounts for company \(company) in [connector.config], then replay", details: ["setting": "fee_accounts"])
                }
                lines.append((feeAccount, movement.fee.amountMinor, "Dispute fee \(write.event.source.objectID)"))
            }
            lines.append((try await bankJournal(journal, write).account, movement.net.amountMinor, label))
            let id = try await postEntry(reference: reference, journal: journal, date: movement.availableAt ?? write.event.occurredAt,
                                         currency: movement.amount.currency, lines: lines, write)
            result = DeliverResult(externalID: OdooRecordID(model: "account.move", id: id).description)
        }
        if result.externalID == nil {
            logger.info("dispute moved no money yet: nothing to book", metadata: ["odoo.reference": "\(write.reference)"])
        }
        return result
    }

    /// Posts an entry of ours that an interrupted attempt left in draft; false when it was posted already.
    func postIfDraft(_ entry: OdooMove, _ write: Write) async throws -> Bool {
        guard entry.state == "draft" else { return false }
        _ = try await client.call(model: "account.move", method: "action_post", ids: [entry.id], context: write.context)
        return true
    }

    /// An amount field of a move (`amount_total`, `amount_residual`) read back, in minor units.
    func readMinor(_ field: String, of move: OdooMove, _ write: Write) async throws -> Int64? {
        try await client.call(model: "account.move", method: "read", ids: [move.id], arguments: ["fields": [.string(field)]], context: write.context)
            .arrayValue?.first?[field]?.doubleValue.map { OdooMapping.minorUnits($0, move.currency) }
    }

    /// A journal entry (`entry`) of our own, found by its `ref`.
    func findEntry(_ reference: String, _ write: Write) async throws -> OdooMove? {
        let found = try await client.searchRead("account.move", domain: [["ref", "=", .string(reference)], ["move_type", "=", "entry"]],
                                                fields: ["state", "currency_id"], order: "id", limit: 1, context: write.context)
        guard let record = found.first, let id = record["id"]?.intValue, let state = record["state"]?.stringValue,
              let currency = record["currency_id"]?.odooName.flatMap(CurrencyCode.init) else { return nil }
        return OdooMove(id: id, state: state, currency: currency)
    }

    /// Creates and posts a balanced journal entry: each line an account and a signed amount (debit
    /// positive) in `currency`, which Odoo converts to the company's at its rate.
    @discardableResult
    func postEntry(reference: String, journal: Int64, date: String, currency: CurrencyCode, lines: [(account: Int64, minor: Int64, label: String)], _ write: Write) async throws -> Int64 {
        let currencyID = try await currencyID(currency)
        var values: [String: JSONValue] = [
            "move_type": "entry", "journal_id": .int(journal), "date": .string(String(date.prefix(10))), "ref": .string(reference), "currency_id": .int(currencyID),
            "line_ids": .array(lines.map { line in
                [0, 0, ["name": .string(line.label), "account_id": .int(line.account), "currency_id": .int(currencyID), "amount_currency": OdooMapping.amount(line.minor, currency)]]
            }),
        ]
        if let company = write.company { values["company_id"] = .int(company) }
        let id = try await client.create("account.move", values: values, context: write.context)
        _ = try await client.call(model: "account.move", method: "action_post", ids: [id], context: write.context)
        return id
    }

    /// A bank journal as the sink books on it: its own account and its company.
    struct BankJournal {
        var account: Int64
        var company: Int64
    }

    /// A journal of `bank_journals`, read once: the account it books its money on and its company.
    func bankJournal(_ journal: Int64, _ write: Write) async throws -> BankJournal {
        let keys = ("journal-account:\(journal)", "journal-company:\(journal)")
        if let known = ids.withLock({ ids in ids[keys.0].flatMap { account in ids[keys.1].map { BankJournal(account: account, company: $0) } } }) {
            return known
        }
        let read = try await client.call(model: "account.journal", method: "read", ids: [journal], arguments: ["fields": ["default_account_id", "company_id"]], context: write.context)
        guard let account = read.arrayValue?.first?["default_account_id"]?.odooID, let company = read.arrayValue?.first?["company_id"]?.odooID else {
            throw ConnectorError(.permanent, "journal \(journal) in bank_journals has no default account in Odoo: is it a bank journal?", details: ["setting": "bank_journals"])
        }
        ids.withLock { $0[keys.0] = account; $0[keys.1] = company }
        return BankJournal(account: account, company: company)
    }

    /// A company's default accounts the sink books against.
    struct CompanyAccounts {
        var company: Int64
        var exchangeGain: Int64?
        var exchangeLoss: Int64?
        var transfer: Int64?
    }

    func companyAccounts(_ company: Int64, _ write: Write) async throws -> CompanyAccounts {
        let read = try await client.call(model: "res.company", method: "read", ids: [company], arguments: [
            "fields": ["income_currency_exchange_account_id", "expense_currency_exchange_account_id", "transfer_account_id"],
        ], context: write.context).arrayValue?.first
        return CompanyAccounts(company: company, exchangeGain: read?["income_currency_exchange_account_id"]?.odooID,
                               exchangeLoss: read?["expense_currency_exchange_account_id"]?.odooID, transfer: read?["transfer_account_id"]?.odooID)
    }

    // MARK: Reference data

    func countryID(_ code: String) async throws -> Int64? {
        try await cachedID("country:\(code)") {
            try await client.searchRead("res.country", domain: [["code", "=", .string(code.uppercased())]], fields: ["id"], limit: 1).first?["id"]?.intValue
        }
    }

    func currencyID(_ currency: CurrencyCode) async throws -> Int64 {
        let id = try await cachedID("currency:\(currency.code)") {
            try await client.searchRead("res.currency", domain: [["name", "=", .string(currency.code)]], fields: ["id"], limit: 1).first?["id"]?.intValue
        }
        guard let id else {
            throw ConnectorError(.permanent, "currency \(currency.code) is not active in Odoo: activate it (Accounting ▸ Configuration ▸ Currencies), then replay")
        }
        return id
    }

    private func cachedID(_ key: String, lookup: () async throws -> Int64?) async throws -> Int64? {
        if let id = ids.withLock({ $0[key] }) { return id }
        guard let id = try await lookup() else { return nil }
        ids.withLock { $0[key] = id }
        return id
    }

    static func format(_ minor: Int64, _ currency: CurrencyCode) -> String {
        Money(amountMinor: minor, currency: currency).text()
    }
}

/// An Odoo record as the host keeps it in its links: `model,id`, Odoo's own reference notation.
public struct OdooRecordID: Sendable, Hashable, CustomStringConvertible {
    public var model: String
    public var id: Int64

    public init(model: String, id: Int64) {
        self.model = model
        self.id = id
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ",", maxSplits: 1)
        guard parts.count == 2, let id = Int64(parts[1]), id > 0 else { return nil }
        self.init(model: String(parts[0]), id: id)
    }

    public var description: String { "\(model),\(id)" }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
