public import ConnectorProtocol

/// `reconcile.snapshot`: the invoices, credit notes, payments, refunds and sale orders Odoo has over a
/// range of days, in the company of the params' entity (without one, across every company the
/// connector's user may see): counts, totals per currency, and each record with the reference it
/// carries — so that the host can find records written twice, records it never wrote, and (against the
/// source) records missing.
public struct OdooReconcile: Sendable {
    let client: OdooClient
    let settings: OdooSettings

    public init(client: OdooClient, settings: OdooSettings) {
        self.client = client
        self.settings = settings
    }

    /// What a canonical kind is in Odoo: the model, which records, and the fields to read.
    struct Kind {
        var model: String
        var domain: [JSONValue]
        var amount: String
        var date: String
        var reference: String
        var state: String
    }

    func kind(_ objectType: String, from: String, to: String) async throws -> Kind {
        let days = { (field: String) -> [JSONValue] in [[.string(field), ">=", .string(from)], [.string(field), "<=", .string(to)]] }
        switch objectType {
        case "invoice", "credit_note":
            let moveType = objectType == "invoice" ? "out_invoice" : "out_refund"
            return Kind(model: "account.move", domain: [["move_type", "=", .string(moveType)], ["state", "=", "posted"]] + days("invoice_date"),
                        amount: "amount_total", date: "invoice_date", reference: "ref", state: "payment_state")
        case "payment", "refund":
            let direction = objectType == "payment" ? "inbound" : "outbound"
            return Kind(model: "account.payment", domain: [["payment_type", "=", .string(direction)], ["partner_type", "=", "customer"],
                                                           ["state", "not in", ["draft", "cancel", "canceled", "rejected"]]] + days("date"),
                        amount: "amount", date: "date", reference: try await client.connect().major >= 18 ? "memo" : "ref", state: "state")
        case "order":
            // A datetime (UTC); the sink dates an order by its day. Amounts before taxes, as the sink checks them.
            return Kind(model: "sale.order", domain: [["state", "!=", "cancel"], ["date_order", ">=", .string(from + " 00:00:00")],
                                                      ["date_order", "<=", .string(to + " 23:59:59")]],
                        amount: "amount_untaxed", date: "date_order", reference: "client_order_ref", state: "state")
        default:
            throw ConnectorError(.notSupported, "the Odoo connector reconciles invoice, credit_note, payment, refund and order, not \(objectType)")
        }
    }

    /// A posted invoice's canonical status from its `payment_state`: `in_payment` is paid and waiting
    /// for the bank statement. Nil for `reversed` (credited in full: the source may say paid or void)
    /// and anything else, which is then not compared.
    static func invoiceStatus(_ paymentState: String) -> String? {
        switch paymentState {
        case "paid", "in_payment": Invoice.Status.paid.rawValue
        case "not_paid", "partial": Invoice.Status.open.rawValue
        default: nil
        }
    }

    /// A sale order's canonical status, compared only when the sink confirms orders (`orders = "confirm"`):
    /// otherwise a quotation is what the sink makes of any order and the sales team confirms it.
    func orderStatus(_ state: String) -> String? {
        guard settings.orders == .confirm else { return nil }
        switch state {
        case "sale", "done": return Order.Status.confirmed.rawValue
        case "draft", "sent": return Order.Status.quotation.rawValue
        default: return nil
        }
    }

    func status(_ objectType: String, _ state: String?) -> String? {
        guard let state else { return nil }
        switch objectType {
        case "invoice": return Self.invoiceStatus(state)
        case "order": return orderStatus(state)
        default: return nil
        }
    }

    public func snapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        guard params.side == .target else {
            throw ConnectorError(.notSupported, "the Odoo connector reconciles as a target only (side target): it reports what its sink wrote")
        }
        let context = try await client.allCompaniesContext()
        // One entity's books: its company's records only (an entity the connector maps to no company: all of them).
        let company: [JSONValue] = params.entity.flatMap { settings.companies[$0] }.map { [["company_id", "=", .int($0)]] } ?? []
        var groups: [ReconcileGroup] = []
        for objectType in params.objectTypes {
            var kind = try await kind(objectType, from: params.from, to: params.to)
            kind.domain += company
            var totals: [CurrencyCode: Int64] = [:]
            var items: [ReconcileItem] = []
            var count = 0
            var after: Int64 = 0
            // Paged by id: a range of days may hold more records than one answer should.
            while true {
                let page = try await client.searchRead(kind.model, domain: .array(kind.domain + [["id", ">", .int(after)]]),
                                                       fields: ["name", kind.amount, "currency_id", kind.date, kind.reference, kind.state],
                                                       order: "id", limit: 1000, context: context)
                for record in page {
                    guard let id = record["id"]?.intValue, let currency = record["currency_id"]?.odooName.flatMap(CurrencyCode.init) else {
                        throw ConnectorError(.transient, "Odoo's \(kind.model) answer lacks id or currency")
                    }
                    after = max(after, id)
                    count += 1
                    let amount = Money(amountMinor: OdooMapping.minorUnits(record[kind.amount]?.doubleValue ?? 0, currency), currency: currency)
                    totals[currency, default: 0] += amount.amountMinor
                    guard params.includeItems else { continue }
                    let reference = record[kind.reference]?.stringValue.flatMap(SinkReference.init(parsing:))
                    let state = record[kind.state]?.stringValue
                    items.append(ReconcileItem(
                        externalID: OdooRecordID(model: kind.model, id: id).description, reference: reference?.description,
                        sourceConnector: reference?.sourceConnector, sourceID: reference?.objectID, amount: amount,
                        state: state, date: record[kind.date]?.stringValue.map { String($0.prefix(10)) },
                        status: status(objectType, state)
                    ))
                }
                if page.count < 1000 { break }
            }
            groups.append(ReconcileGroup(objectType: objectType, count: count,
                                         totals: totals.sorted { $0.key.code < $1.key.code }.map { Money(amountMinor: $0.value, currency: $0.key) },
                                         items: items))
        }
        return ReconcileSnapshot(groups: groups)
    }
}
