import ConnectorProtocol
import ConnectorKit
import Foundation
import Synchronization

/// CRM records into Odoo: companies and their contacts as partners (a contact a child of its company),
/// orders as sale orders, and a deal that is no longer won cancelling its order. Idempotent like every
/// write of the sink: a partner is found by its `ref`, a sale order by its `client_order_ref`.
extension OdooSink {
    /// A company: a company partner, shared between Odoo companies as customers are.
    func upsertCompany(_ company: Company, _ write: Write) async throws -> DeliverResult {
        try await upsertPartner(Customer(name: company.name, email: company.email, phone: company.phone, isCompany: true, vat: company.vat,
                                         address: company.address, currency: company.currency), write)
    }

    /// A contact: a person, the child of its company's partner when it has one (Odoo then shows
    /// "Company, Person" and invoices the company). Waits for its company.
    func upsertContact(_ contact: Contact, _ write: Write) async throws -> DeliverResult {
        var countryID: Int64?
        if let country = contact.address?.country { countryID = try await self.countryID(country) }
        var values = OdooMapping.partnerValues(Customer(name: contact.name, email: contact.email, phone: contact.phone, address: contact.address),
                                               reference: write.reference, countryID: countryID, companyID: nil)
        if let company = contact.company {
            values["parent_id"] = .int(try await requirePartner(company, write, for: "contact \(write.event.source.objectID)"))
            values["type"] = "contact"
        }
        if let title = contact.title { values["function"] = .string(title) }
        return try await upsert("res.partner", values: values, domain: [["ref", "=", .string(write.reference)]], write)
    }

    /// A won deal's order: a quotation, or a confirmed sale order (`orders = "confirm"`), in the company
    /// of the event's entity, with the products of its lines found or created by reference. Never invoiced.
    func upsertOrder(_ order: Order, _ write: Write) async throws -> DeliverResult {
        if let existing = try await findOrder(write) {
            switch (order.status, existing.state) {
            case (.cancelled, "cancel"), (.quotation, _), (.confirmed, "sale"), (.done, _):
                return DeliverResult(externalID: existing.id.description, duplicate: true)
            case (.cancelled, _):
                return try await cancelOrder(existing, write)
            case (.confirmed, "cancel"):
                throw ConnectorError(.permanent, "sale order \(existing.name) (\(existing.id)) was cancelled in Odoo but the source's order is confirmed again: set it back to quotation in Odoo (or create a new one), then replay")
            case (.confirmed, _):
                // A draft found again may be one a crash left before its check: checked before it is confirmed
                // (never removed here: the sales team may have edited a quotation since).
                if settings.orders == .confirm, existing.state == "draft", let problem = try await orderProblem(existing, order, write) {
                    throw ConnectorError(.permanent, "order \(write.event.source.objectID): \(problem); the quotation \(existing.name) is left as it is: fix it in Odoo and confirm it there, or remove it and replay",
                                         details: ["odoo_id": .string(existing.id.description)])
                }
                return try await confirm(existing, write)
            }
        }
        guard order.status != .cancelled else { return DeliverResult(externalID: nil, duplicate: true) }  // nothing to cancel
        let partner = try await requirePartner(order.customer, write, for: "order \(write.event.source.objectID)")
        let major = try await client.connect().major
        var lines: [JSONValue] = []
        for (index, line) in order.lines.enumerated() {
            let product = try await orderProduct(line, index: index, currency: order.currency, write)
            var taxIDs: [JSONValue] = []
            for tax in line.taxes {
                guard let id = settings.taxes(forCompany: write.company)[tax.rate] else {
                    throw ConnectorError(.permanent, "order \(write.event.source.objectID), line \(index + 1) (\(line.description)): no Odoo tax is mapped for rate \(tax.rate) %; add it to [connector.config.taxes]")
                }
                taxIDs.append(.int(id))
            }
            for part in OdooLines.parts(of: line, currency: order.currency) {
                var values: [String: JSONValue] = [
                    "product_id": .int(product), "name": .string(part.name), "product_uom_qty": .double(part.quantity),
                    "price_unit": OdooMapping.amount(part.priceMinor, order.currency),
                ]
                // Without taxes of its own a line takes its product's (Odoo's default); with, exactly these.
                // Odoo 17 names the field tax_id, 18 and 19 tax_ids.
                if !line.taxes.isEmpty { values[major >= 18 ? "tax_ids" : "tax_id"] = [[6, 0, .array(taxIDs)]] }
                lines.append([0, 0, .object(values)])
            }
        }
        var values: [String: JSONValue] = ["partner_id": .int(partner), "client_order_ref": .string(write.reference), "order_line": .array(lines)]
        if let company = write.company { values["company_id"] = .int(company) }
        if let ordered = order.orderedAt, ordered.count >= 10 { values["date_order"] = .string(String(ordered.prefix(10)) + " 00:00:00") }
        let id = try await client.create("sale.order", values: values, context: write.context)
        let created = SaleOrder(id: OdooRecordID(model: "sale.order", id: id), name: "", state: "draft")
        try await checkOrderTotal(created, order, write)
        if order.status == .confirmed, settings.orders == .confirm { return try await confirm(created, write) }
        return DeliverResult(externalID: created.id.description)
    }

    /// A deal no longer won: its order (if one was made) is cancelled; a deal without one is nothing to do.
    func settleDeal(_ deal: Deal, _ write: Write) async throws -> DeliverResult {
        guard deal.outcome != .won, let existing = try await findOrder(write) else { return DeliverResult(externalID: nil, duplicate: true) }
        guard existing.state != "cancel" else { return DeliverResult(externalID: existing.id.description, duplicate: true) }
        return try await cancelOrder(existing, write)
    }

    struct SaleOrder {
        var id: OdooRecordID
        var name: String
        var state: String
    }

    func findOrder(_ write: Write) async throws -> SaleOrder? {
        let found = try await client.searchRead("sale.order", domain: [["client_order_ref", "=", .string(write.reference)]], fields: ["name", "state"],
                                                order: "id", limit: 1, context: write.context)
        guard let record = found.first, let id = record["id"]?.intValue else { return nil }
        return SaleOrder(id: OdooRecordID(model: "sale.order", id: id), name: record["name"]?.stringValue ?? "", state: record["state"]?.stringValue ?? "")
    }

    func confirm(_ order: SaleOrder, _ write: Write) async throws -> DeliverResult {
        guard settings.orders == .confirm else { return DeliverResult(externalID: order.id.description, duplicate: true) }
        _ = try await client.call(model: "sale.order", method: "action_confirm", ids: [order.id.id], context: write.context)
        return DeliverResult(externalID: order.id.description)
    }

    /// Cancels a sale order. Odoo 17 answers a confirmed order's cancel with its warning wizard unless told
    /// not to warn; an order Odoo will not cancel (invoiced, locked) is a dead letter saying what to do.
    func cancelOrder(_ order: SaleOrder, _ write: Write) async throws -> DeliverResult {
        var context = write.context
        context["disable_cancel_warning"] = true
        let answer = try await client.call(model: "sale.order", method: "action_cancel", ids: [order.id.id], context: context)
        let state = try await client.searchRead("sale.order", domain: [["id", "=", .int(order.id.id)]], fields: ["state"], limit: 1, context: write.context)
            .first?["state"]?.stringValue
        guard state == "cancel" else {
            throw ConnectorError(.permanent, "the deal behind sale order \(order.name) (\(order.id)) is no longer won, but Odoo did not cancel the order (state \(state ?? "?"), answer \(answer)): cancel it in Odoo by hand (undo its invoices or deliveries first), or win the deal again",
                                 details: ["odoo_id": .string(order.id.description)])
        }
        return DeliverResult(externalID: order.id.description)
    }

    /// The product a line is sold as: its own (by the link the host knows, else by its reference,
    /// else created from the line), or `default_order_product` for a line without one.
    func orderProduct(_ line: InvoiceLine, index: Int, currency: CurrencyCode, _ write: Write) async throws -> Int64 {
        guard let product = line.product else {
            guard let fallback = settings.defaultOrderProduct else {
                throw ConnectorError(.permanent, "order \(write.event.source.objectID), line \(index + 1) (\(line.description)) has no product: set default_order_product in [connector.config] (the product.product such lines are sold as)",
                                     details: ["setting": "default_order_product"])
            }
            return fallback
        }
        if let id = write.linked(product, model: "product.product") { return id }
        let reference = write.reference(product.objectType, product.objectID)
        // Two orders of one new product delivered side by side must not create it twice: one lookup-or-create
        // per reference at a time.
        let task = productLookups.withLock { running in
            if let task = running[reference] { return task }
            let task = Task {
                let found = try await self.client.searchRead("product.product", domain: [["default_code", "=", .string(reference)], ["active", "in", [true, false]]],
                                                             fields: ["id"], limit: 1, context: write.context)
                if let id = found.first?["id"]?.intValue { return id }
                let major = try await self.client.connect().major
                let values = OdooMapping.productValues(Product(name: line.description, unitPrice: Money(amountMinor: line.unitAmountMinor, currency: currency),
                                                               active: true), reference: reference, major: major)
                return try await self.client.create("product.product", values: values, context: write.context)
            }
            running[reference] = task
            return task
        }
        defer { productLookups.withLock { _ = $0.removeValue(forKey: reference) } }
        return try await task.value
    }

    /// The order Odoo computed must be in the source's currency and come to its amount before taxes: a
    /// mismatch is a mapping to fix, never a silently different order. The draft just made is removed,
    /// so that the replay after the fix makes the order anew.
    func checkOrderTotal(_ created: SaleOrder, _ order: Order, _ write: Write) async throws {
        guard let problem = try await orderProblem(created, order, write) else { return }
        _ = try await client.call(model: "sale.order", method: "unlink", ids: [created.id.id], context: write.context)
        throw ConnectorError(.permanent, "order \(write.event.source.objectID): \(problem), then replay (the draft was removed)")
    }

    /// Why a sale order in Odoo is not the source's order (its currency, its untaxed total), or nil.
    func orderProblem(_ made: SaleOrder, _ order: Order, _ write: Write) async throws -> String? {
        let read = try await client.searchRead("sale.order", domain: [["id", "=", .int(made.id.id)]], fields: ["amount_untaxed", "currency_id"], limit: 1,
                                               context: write.context).first
        let untaxed = OdooMapping.minorUnits(read?["amount_untaxed"]?.doubleValue ?? 0, order.currency)
        if let currency = read?["currency_id"]?.odooName, currency != order.currency.code {
            return "Odoo made the sale order in \(currency) (its pricelist's currency) but the order is in \(order.currency): give the customer a pricelist in \(order.currency) in Odoo"
        }
        if abs(untaxed - order.subtotalMinor) > settings.totalToleranceMinor {
            return "the sale order comes to \(Self.format(untaxed, order.currency)) before taxes in Odoo but the source's order to \(Self.format(order.subtotalMinor, order.currency)): check the line mapping"
        }
        return nil
    }

    /// A record deleted at the source (`*.deleted`): a partner is archived, as Odoo keeps partners that
    /// books refer to; a sale order is never cancelled for it (a deleted deal may be a CRM clean-up): a
    /// person decides, told by a dead letter. Not there: nothing to do.
    func delete(_ write: Write) async throws -> DeliverResult {
        switch write.event.record {
        case .company, .contact, .customer:
            let found = try await client.searchRead("res.partner", domain: [["ref", "=", .string(write.reference)]], fields: ["id"], limit: 1, context: write.context)
            guard let id = found.first?["id"]?.intValue else { return DeliverResult(externalID: nil, duplicate: true) }
            try await client.write("res.partner", ids: [id], values: ["active": false], context: write.context)
            return DeliverResult(externalID: OdooRecordID(model: "res.partner", id: id).description)
        case .order, .deal:
            guard let existing = try await findOrder(write), existing.state != "cancel" else { return DeliverResult(externalID: nil, duplicate: true) }
            throw ConnectorError(.permanent, "the deal behind sale order \(existing.name) (\(existing.id)) was deleted at the source; the order stays as it is (\(existing.state)): cancel it in Odoo if the sale is off",
                                 details: ["odoo_id": .string(existing.id.description)])
        default:
            throw ConnectorError(.notSupported, "the Odoo connector does not take deletions of \(write.event.record.kind) records")
        }
    }
}
