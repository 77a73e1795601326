public import ConnectorProtocol
import Foundation

/// Stripe events as canonical events: pure functions, no I/O. A Stripe event becomes zero or more
/// canonical events whose version is the Stripe event id, so the same Stripe event — polled, pushed
/// by webhook, or both — always has the same idempotency key and is stored once.
///
/// What is mapped: customers; products, prices and (legacy) plans; invoices once they leave draft;
/// payments — `charge.succeeded` and `payment_intent.succeeded` alike, both as the payment of the
/// charge, versioned by its status, so that the two events Stripe sends for one payment are one
/// canonical event — with the fee of the charge's balance transaction; refunds; subscriptions.
///
/// Ordering keys: a customer's own events, invoices and subscriptions share the customer's key, so an
/// invoice reaches a sink after its customer. A payment is keyed by its invoice instead: Stripe may
/// send it before the invoice's own event, and the sink's `dependency` answer makes it wait for the
/// invoice without holding up the customer's queue.
public enum StripeMapping {
    /// The charge a payment event is about: the event's charge, or a payment intent's latest charge.
    static func charge(of event: JSONValue) -> JSONValue? {
        guard let type = event["type"]?.stringValue, let object = event["data"]?["object"] else { return nil }
        if type.hasPrefix("charge.") { return object }
        guard type.hasPrefix("payment_intent.") else { return nil }
        if let latest = object["latest_charge"], latest.objectValue != nil { return latest }
        return object["charges"]?["data"]?.arrayValue?.first
    }

    /// A payment intent's latest charge when the event names it without expanding it (to fetch first).
    public static func unexpandedCharge(in event: JSONValue) -> String? {
        guard event["type"]?.stringValue?.hasPrefix("payment_intent.") == true, charge(of: event) == nil else { return nil }
        return event["data"]?["object"]?["latest_charge"]?.stringValue
    }

    /// The charge a refund event names without expanding it: its invoice tells Odoo what the refund
    /// reverses (to fetch first).
    public static func unexpandedRefundCharge(in event: JSONValue) -> String? {
        guard let type = event["type"]?.stringValue, type.hasPrefix("refund.") || type == "charge.refund.updated" else { return nil }
        return event["data"]?["object"]?["charge"]?.stringValue
    }

    /// A product's default price when its event names it without expanding it (to fetch first): the
    /// price Odoo's product should carry.
    public static func unexpandedDefaultPrice(in event: JSONValue) -> String? {
        guard event["type"]?.stringValue?.hasPrefix("product.") == true else { return nil }
        return event["data"]?["object"]?["default_price"]?.stringValue
    }

    /// The event with `field` of its object replaced by `value` (an expanded object).
    public static func expanding(_ event: JSONValue, _ field: String, with value: JSONValue) -> JSONValue {
        guard case .object(var envelope) = event, case .object(var data) = envelope["data"], case .object(var object) = data["object"] else { return event }
        object[field] = value
        data["object"] = .object(object)
        envelope["data"] = .object(data)
        return .object(envelope)
    }

    /// Balance transactions a Stripe event's money needs (to fetch before mapping): its charge's, its
    /// refunds', its payout's — what reached or left the Stripe balance, in the balance's currency.
    public static func balanceTransactions(in event: JSONValue) -> [String] {
        guard let type = event["type"]?.stringValue, let object = event["data"]?["object"] else { return [] }
        let holders: [JSONValue?] = switch type {
        case "charge.refunded": object["refunds"]?["data"]?.arrayValue ?? []
        case _ where type.hasPrefix("refund.") || type == "charge.refund.updated" || type.hasPrefix("payout."): [object]
        default: [charge(of: event)]
        }
        return holders.compactMap { $0?["balance_transaction"]?.stringValue }
    }

    /// A balance transaction (expanded, or fetched into `transactions`) as a settlement.
    static func settlement(_ reference: JSONValue?, _ transactions: [String: JSONValue]) -> Settlement? {
        guard let reference else { return nil }
        let transaction: JSONValue? = reference.stringValue.flatMap { transactions[$0] } ?? (reference.objectValue != nil ? reference : nil)
        guard let transaction, let currency = transaction["currency"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }),
              let amount = transaction["amount"]?.intValue else { return nil }
        let fee = transaction["fee"]?.intValue ?? 0
        let rate: String? = switch transaction["exchange_rate"] {
        case .double(let value)?: String(value)
        case .int(let value)?: String(value)
        default: nil
        }
        return Settlement(id: transaction["id"]?.stringValue, amount: money(amount, currency), fee: money(fee, currency),
                          net: money(transaction["net"]?.intValue ?? amount - fee, currency), exchangeRate: rate,
                          availableAt: transaction["available_on"]?.intValue.map { rfc3339($0) })
    }

    /// - Parameter transactions: balance transaction id → the balance transaction, for objects whose
    ///   event did not expand it.
    public static func events(from stripeEvent: JSONValue, connector: ConnectorInfo, transactions: [String: JSONValue] = [:]) -> [Event] {
        guard let eventID = stripeEvent["id"]?.stringValue, let type = stripeEvent["type"]?.stringValue,
              let object = stripeEvent["data"]?["object"] else { return [] }
        let occurredAt = rfc3339(stripeEvent["created"]?.intValue)
        func event(_ canonicalType: String, _ objectType: String, _ objectID: String, orderingKey: String?, _ record: Record, index: Int = 0) -> Event {
            Event(
                type: canonicalType,
                source: SourceRef(objectType: objectType, objectID: objectID, version: eventID),
                tenant: connector.tenant, entity: connector.entity,
                correlationID: index == 0 ? eventID : "\(eventID)/\(index)",
                occurredAt: occurredAt, orderingKey: orderingKey, record: record
            )
        }
        let id = object["id"]?.stringValue ?? ""
        switch type {
        case "customer.created", "customer.updated":
            guard let customer = customer(object) else { return [] }
            return [event("customer.upserted", "customer", id, orderingKey: id, .customer(customer))]
        case "product.created", "product.updated":
            guard let name = object["name"]?.stringValue else { return [] }
            let price = object["default_price"]
            let unitPrice = price?["currency"]?.stringValue.flatMap { CurrencyCode($0.uppercased()) }.flatMap { currency in
                price?["unit_amount"]?.intValue.map { money($0, currency) }
            }
            let product = Product(name: name, description: object["description"]?.stringValue, unitPrice: unitPrice, active: object["active"]?.boolValue ?? true)
            return [event("product.upserted", "product", id, orderingKey: id, .product(product))]
        case "price.created", "price.updated", "plan.created", "plan.updated":
            guard let product = price(object) else { return [] }
            return [event("price.upserted", type.hasPrefix("plan") ? "plan" : "price", id, orderingKey: object["product"]?.stringValue, .product(product))]
        case "invoice.created", "invoice.finalized", "invoice.updated", "invoice.paid", "invoice.payment_succeeded",
             "invoice.voided", "invoice.marked_uncollectible":
            guard let invoice = invoice(object), invoice.status != .draft else { return [] }
            let what = switch invoice.status {
            case .open: "finalized"
            case .paid: "paid"
            case .void: "voided"
            case .uncollectible: "uncollectible"
            case .draft: "draft"
            }
            return [event("invoice.\(what)", "invoice", id, orderingKey: invoice.customer.objectID, .invoice(invoice))]
        case "charge.succeeded", "charge.captured", "payment_intent.succeeded":
            guard let charge = charge(of: stripeEvent), let chargeID = charge["id"]?.stringValue,
                  var payment = payment(charge, transactions: transactions) else { return [] }
            if payment.invoice == nil, let invoice = object["invoice"]?.stringValue {  // a payment intent names the invoice its charge may not
                payment.invoice = RecordRef(objectType: "invoice", objectID: invoice)
            }
            var mapped = event("payment.\(payment.status.rawValue)", "payment", chargeID, orderingKey: payment.invoice.map { "invoice:\($0.objectID)" }, .payment(payment))
            mapped.source.version = payment.status.rawValue
            return [mapped]
        case "charge.refunded":
            let refunds = object["refunds"]?["data"]?.arrayValue ?? []
            return refunds.enumerated().compactMap { index, item in
                refund(item, charge: object, transactions: transactions).map { refund in
                    event("refund.\(refund.status.rawValue)", "refund", item["id"]?.stringValue ?? "", orderingKey: "charge:\(refund.payment.objectID)", .refund(refund), index: index)
                }
            }
        case "refund.created", "refund.updated", "refund.failed", "charge.refund.updated":
            guard let refund = refund(object, charge: nil, transactions: transactions) else { return [] }
            return [event("refund.\(refund.status.rawValue)", "refund", id, orderingKey: "charge:\(refund.payment.objectID)", .refund(refund))]
        case "credit_note.created", "credit_note.updated", "credit_note.voided":
            guard let note = creditNote(object) else { return [] }
            // Keyed by the customer, as the invoice is: the note cannot overtake the invoice it credits.
            return [event(note.status == .void ? "credit_note.voided" : "credit_note.issued", "credit_note", id,
                          orderingKey: note.customer.objectID, .creditNote(note))]
        case "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed", "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated":
            guard let dispute = dispute(object) else { return [] }
            // Versioned by what it carries: a status or a balance movement Stripe adds is a new version.
            var mapped = event("dispute.\(dispute.status.rawValue)", "dispute", id, orderingKey: "charge:\(dispute.payment.objectID)", .dispute(dispute))
            mapped.source.version = ([dispute.status.rawValue] + dispute.settlements.compactMap(\.id)).joined(separator: "+")
            return [mapped]
        case "payout.created", "payout.updated", "payout.paid", "payout.failed", "payout.canceled":
            guard let payout = payout(object, transactions: transactions) else { return [] }
            var mapped = event("payout.\(payout.status.rawValue)", "payout", id, orderingKey: "payout:\(id)", .payout(payout))
            mapped.source.version = payout.status.rawValue  // one canonical event per status, however many Stripe events say it
            return [mapped]
        case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
            guard let subscription = subscription(object) else { return [] }
            return [event("subscription.\(subscription.status.rawValue)", "subscription", id, orderingKey: subscription.customer.objectID, .subscription(subscription))]
        default:
            return []
        }
    }

    static func customer(_ object: JSONValue) -> Customer? {
        guard object["deleted"]?.boolValue != true else { return nil }
        let text = { (key: String) in object[key]?.stringValue }
        let address = object["address"].flatMap { address -> Address? in
            guard address.objectValue != nil else { return nil }
            let field = { (key: String) in address[key]?.stringValue }
            return Address(line1: field("line1"), line2: field("line2"), city: field("city"), postalCode: field("postal_code"),
                           state: field("state"), country: field("country"))
        }
        let metadata = object["metadata"]
        return Customer(
            name: text("name") ?? object["shipping"]?["name"]?.stringValue ?? text("description") ?? text("email") ?? object["id"]?.stringValue ?? "Stripe customer",
            email: text("email"), phone: text("phone"),
            isCompany: metadata?["is_company"]?.stringValue == "true",
            vat: metadata?["vat"]?.stringValue, address: address,
            currency: text("currency").flatMap { CurrencyCode($0.uppercased()) }
        )
    }

    /// Stripe's minor units as ISO 4217's, which the canonical model uses. They differ for two
    /// currencies: Stripe takes ISK as two-decimal (for backwards compatibility; amounts end in 00),
    /// where ISO has no decimals, and MGA as zero-decimal, where ISO has two.
    public static func isoMinor(_ stripeAmount: Int64, _ currency: CurrencyCode) -> Int64 {
        switch currency.code {
        case "ISK": stripeAmount / 100
        case "MGA": stripeAmount * 100
        default: stripeAmount
        }
    }

    public static func money(_ stripeAmount: Int64, _ currency: CurrencyCode) -> Money {
        Money(amountMinor: isoMinor(stripeAmount, currency), currency: currency)
    }

    /// A price (or legacy plan): what a product sells for.
    static func price(_ object: JSONValue) -> Product? {
        guard let currency = object["currency"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }) else { return nil }
        let amount = object["unit_amount"]?.intValue ?? object["amount"]?.intValue
        let interval = object["recurring"]?["interval"]?.stringValue ?? object["interval"]?.stringValue
        let count = object["recurring"]?["interval_count"]?.intValue ?? object["interval_count"]?.intValue ?? 1
        let product = object["product"]?.stringValue ?? object["product"]?["id"]?.stringValue ?? ""
        let name = object["nickname"]?.stringValue ?? "\(product) \(amount.map { money($0, currency).decimalText } ?? "") \(currency)\(interval.map { " / \($0)" } ?? "")"
        return Product(name: name, unitPrice: amount.map { money($0, currency) },
                       recurring: interval.map { Recurrence(interval: $0, intervalCount: Int(count)) }, active: object["active"]?.boolValue ?? true)
    }

    static func invoice(_ object: JSONValue) -> Invoice? {
        guard let customer = object["customer"]?.stringValue ?? object["customer"]?["id"]?.stringValue,
              let currency = object["currency"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }),
              let status = object["status"]?.stringValue.flatMap(Invoice.Status.init(rawValue:)) else { return nil }
        let minor = { (stripeAmount: Int64) in isoMinor(stripeAmount, currency) }
        let lines = invoiceLines(object, currency: currency)
        let total = minor(object["total"]?.intValue ?? 0)
        let subtotal = object["subtotal"]?.intValue.map(minor) ?? total
        let tax = minor(object["tax"]?.intValue ?? (object["total_tax_amounts"]?.arrayValue ?? []).compactMap { $0["amount"]?.intValue }.reduce(0, +))
        let finalized = object["status_transitions"]?["finalized_at"]?.intValue ?? object["created"]?.intValue
        return Invoice(
            number: object["number"]?.stringValue, customer: RecordRef(objectType: "customer", objectID: customer), status: status,
            currency: currency, issuedAt: finalized.map { rfc3339($0) }, dueAt: object["due_date"]?.intValue.map { rfc3339($0) }, lines: lines,
            subtotalMinor: subtotal, taxMinor: tax, totalMinor: total, amountPaidMinor: minor(object["amount_paid"]?.intValue ?? 0),
            // What is still owed: `amount_remaining`; without it (older payloads, localstripe) what was due less what was paid.
            amountDueMinor: minor(object["amount_remaining"]?.intValue ?? max((object["amount_due"]?.intValue ?? 0) - (object["amount_paid"]?.intValue ?? 0), 0)),
            subscription: object["subscription"]?.stringValue.map { RecordRef(objectType: "subscription", objectID: $0) }
        )
    }

    /// The lines of an invoice or a credit note (a credit note's lines have the same amounts, discounts,
    /// quantities and taxes as an invoice's).
    static func invoiceLines(_ object: JSONValue, currency: CurrencyCode) -> [InvoiceLine] {
        let defaultRates = object["default_tax_rates"]?.arrayValue ?? []
        let minor = { (stripeAmount: Int64) in isoMinor(stripeAmount, currency) }
        return (object["lines"]?["data"]?.arrayValue ?? []).map { line in
            // Discounts: the line's own and its share of the invoice's, kept apart from the price.
            let discount = minor((line["discount_amounts"]?.arrayValue ?? []).compactMap { $0["amount"]?.intValue }.reduce(0, +))
            let gross = minor(line["amount"]?.intValue ?? 0)
            let quantity = line["quantity"]?.intValue ?? 1
            let price = line["price"]?.objectValue != nil ? line["price"] : line["plan"]
            let product = (price?["product"]?.stringValue ?? price?["product"]?["id"]?.stringValue).map { RecordRef(objectType: "product", objectID: $0) }
            let rates = (line["tax_rates"]?.arrayValue ?? []) + defaultRates
            let taxes: [TaxLine] = (line["tax_amounts"]?.arrayValue ?? []).compactMap { taxAmount in
                let rateID = taxAmount["tax_rate"]?.stringValue ?? taxAmount["tax_rate"]?["id"]?.stringValue
                guard let rate = rates.first(where: { $0["id"]?.stringValue == rateID }) ?? (rates.count == 1 ? rates.first : nil),
                      let percentage = rate["percentage"]?.doubleValue else { return nil }
                return TaxLine(name: rate["display_name"]?.stringValue, rate: percent(percentage), amountMinor: minor(taxAmount["amount"]?.intValue ?? 0),
                               inclusive: taxAmount["inclusive"]?.boolValue ?? rate["inclusive"]?.boolValue ?? false)
            }
            // The unit price is the line's own (prorations, tiers and other currencies make the price's
            // unit_amount wrong here), rounded when the quantity does not divide it; the amounts are exact.
            let description = line["description"]?.stringValue ?? price?["nickname"]?.stringValue ?? "Subscription"
            let units = quantity > 0 ? quantity : (gross == 0 ? 0 : 1)
            let unit = units > 0 ? (gross + (gross >= 0 ? units / 2 : -units / 2)) / units : 0
            return InvoiceLine(description: description, product: product, quantity: String(units), unitAmountMinor: unit,
                               amountMinor: gross - discount, discountMinor: discount, taxes: taxes)
        }
    }

    /// A Stripe credit note: the canonical `credit_note` of the invoice it credits (`original`), with
    /// its lines and taxes, issued on its effective date. `issued` is open (it counts), `void` void.
    static func creditNote(_ object: JSONValue) -> Invoice? {
        guard let customer = object["customer"]?.stringValue ?? object["customer"]?["id"]?.stringValue,
              let invoice = object["invoice"]?.stringValue ?? object["invoice"]?["id"]?.stringValue,
              let currency = object["currency"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }) else { return nil }
        let status: Invoice.Status
        switch object["status"]?.stringValue {
        case "issued": status = .open
        case "void": status = .void
        default: return nil
        }
        let minor = { (stripeAmount: Int64) in isoMinor(stripeAmount, currency) }
        let total = minor(object["total"]?.intValue ?? 0)
        let tax = minor((object["tax_amounts"]?.arrayValue ?? []).compactMap { $0["amount"]?.intValue }.reduce(0, +))
        let subtotal = (object["subtotal_excluding_tax"]?.intValue ?? object["subtotal"]?.intValue).map(minor) ?? total - tax
        let effective = object["effective_at"]?.intValue ?? object["created"]?.intValue
        return Invoice(
            number: object["number"]?.stringValue, customer: RecordRef(objectType: "customer", objectID: customer), status: status,
            currency: currency, issuedAt: effective.map { rfc3339($0) }, lines: invoiceLines(object, currency: currency),
            subtotalMinor: subtotal, taxMinor: tax, totalMinor: total, amountPaidMinor: 0, amountDueMinor: 0,
            original: RecordRef(objectType: "invoice", objectID: invoice)
        )
    }

    static func payment(_ charge: JSONValue, transactions: [String: JSONValue]) -> Payment? {
        guard let currency = charge["currency"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }), let amount = charge["amount"]?.intValue else { return nil }
        let settlement = settlement(charge["balance_transaction"], transactions)
        // A charge of a manual capture "succeeds" when the card is only authorized (`captured` false):
        // no money has moved, so it is pending until captured, and then worth what was captured.
        let captured = charge["captured"]?.boolValue ?? true
        let status: Payment.Status = switch charge["status"]?.stringValue {
        case "succeeded" where captured: .succeeded
        case "failed": .failed
        default: .pending
        }
        let capturedAmount = charge["amount_captured"]?.intValue.flatMap { $0 > 0 ? $0 : nil } ?? amount
        return Payment(
            customer: charge["customer"]?.stringValue.map { RecordRef(objectType: "customer", objectID: $0) },
            invoice: charge["invoice"]?.stringValue.map { RecordRef(objectType: "invoice", objectID: $0) },
            amount: money(captured ? capturedAmount : amount, currency), fee: settlement?.fee, status: status,
            method: charge["payment_method_details"]?["type"]?.stringValue, paidAt: charge["created"]?.intValue.map { rfc3339($0) },
            settlement: settlement
        )
    }

    static func refund(_ object: JSONValue, charge: JSONValue?, transactions: [String: JSONValue] = [:]) -> Refund? {
        guard let currency = object["currency"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }), let amount = object["amount"]?.intValue,
              let chargeID = object["charge"]?.stringValue ?? object["charge"]?["id"]?.stringValue ?? charge?["id"]?.stringValue else { return nil }
        let status = object["status"]?.stringValue.flatMap(Refund.Status.init(rawValue:)) ?? .pending
        let invoice = (charge ?? object["charge"])?["invoice"]?.stringValue
        return Refund(payment: RecordRef(objectType: "payment", objectID: chargeID), invoice: invoice.map { RecordRef(objectType: "invoice", objectID: $0) },
                      amount: money(amount, currency), reason: object["reason"]?.stringValue, status: status,
                      refundedAt: object["created"]?.intValue.map { rfc3339($0) }, settlement: settlement(object["balance_transaction"], transactions))
    }

    /// A dispute with the balance movements Stripe made for it (always expanded in a dispute object).
    static func dispute(_ object: JSONValue) -> Dispute? {
        guard let currency = object["currency"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }), let amount = object["amount"]?.intValue,
              let charge = object["charge"]?.stringValue ?? object["charge"]?["id"]?.stringValue else { return nil }
        let status: Dispute.Status = switch object["status"]?.stringValue {
        case "won", "warning_closed": .won
        case "lost": .lost
        default: .open
        }
        let invoice = object["charge"]?["invoice"]?.stringValue
        return Dispute(payment: RecordRef(objectType: "payment", objectID: charge), invoice: invoice.map { RecordRef(objectType: "invoice", objectID: $0) },
                       amount: money(amount, currency), status: status, reason: object["reason"]?.stringValue,
                       settlements: (object["balance_transactions"]?.arrayValue ?? []).compactMap { settlement($0, [:]) })
    }

    /// A payout: money leaving the Stripe balance for the bank, `paid` once the bank has it.
    static func payout(_ object: JSONValue, transactions: [String: JSONValue]) -> Payout? {
        guard let currency = object["currency"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }), let amount = object["amount"]?.intValue,
              let status = object["status"]?.stringValue.flatMap(Payout.Status.init(rawValue:)) else { return nil }
        return Payout(amount: money(amount, currency), status: status, arrivalAt: object["arrival_date"]?.intValue.map { rfc3339($0) },
                      statementDescriptor: object["statement_descriptor"]?.stringValue ?? object["description"]?.stringValue,
                      settlement: settlement(object["balance_transaction"], transactions))
    }

    static func subscription(_ object: JSONValue) -> Subscription? {
        guard let customer = object["customer"]?.stringValue,
              let status = object["status"]?.stringValue.flatMap(Subscription.Status.init(rawValue:)) else { return nil }
        let items: [Subscription.Item] = (object["items"]?["data"]?.arrayValue ?? []).compactMap { item in
            let price = item["price"]?.objectValue != nil ? item["price"] : item["plan"]
            guard let product = price?["product"]?.stringValue else { return nil }
            let currency = price?["currency"]?.stringValue.flatMap { CurrencyCode($0.uppercased()) }
            let amount = price?["unit_amount"]?.intValue ?? price?["amount"]?.intValue
            return Subscription.Item(product: RecordRef(objectType: "product", objectID: product), quantity: String(item["quantity"]?.intValue ?? 1),
                                     unitAmount: currency.flatMap { currency in amount.map { money($0, currency) } })
        }
        return Subscription(customer: RecordRef(objectType: "customer", objectID: customer), status: status, items: items,
                            currentPeriodStart: object["current_period_start"]?.intValue.map { rfc3339($0) },
                            currentPeriodEnd: object["current_period_end"]?.intValue.map { rfc3339($0) },
                            cancelAt: object["cancel_at"]?.intValue.map { rfc3339($0) })
    }

    /// A tax percentage as the canonical model writes rates: `20`, `5.5`, `8.875`.
    static func percent(_ value: Double) -> String {
        value.rounded() == value ? String(Int64(value)) : String(value)
    }

    static func rfc3339(_ unix: Int64?) -> String {
        guard let unix else { return "" }
        return Date(timeIntervalSince1970: Double(unix)).formatted(.iso8601)
    }
}
