import ConnectorKit
public import ConnectorProtocol
import Foundation

/// Chargebee resources as canonical records. Pure: tested without network.
///
/// Money: Chargebee's integer amounts are in the currency's minor unit (cents; yen for JPY), as the
/// canonical model's; a site with multi-decimal pricing also writes `*_in_decimal` text in major units,
/// read exactly with ``DecimalAmount``. Time stamps are epoch seconds.
public enum ChargebeeMapping {
    /// Why a resource cannot be mapped, naming the field.
    public struct Unmapped: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    public static func customer(_ json: JSONValue) -> Customer {
        let address = json["billing_address"]
        let name = json["company"]?.stringValue
            ?? [json["first_name"]?.stringValue, json["last_name"]?.stringValue].compactMap { $0 }.joined(separator: " ")
        return Customer(
            name: name.isEmpty ? json["email"]?.stringValue ?? "Chargebee customer \(json["id"]?.stringValue ?? "?")" : name,
            email: json["email"]?.stringValue, phone: json["phone"]?.stringValue, isCompany: json["company"]?.stringValue != nil,
            vat: json["vat_number"]?.stringValue,
            address: address.map { address in
                Address(line1: address["line1"]?.stringValue, line2: address["line2"]?.stringValue, city: address["city"]?.stringValue,
                        postalCode: address["zip"]?.stringValue, state: address["state_code"]?.stringValue ?? address["state"]?.stringValue,
                        country: address["country"]?.stringValue?.uppercased())
            },
            currency: json["preferred_currency_code"]?.stringValue.flatMap { CurrencyCode($0.uppercased()) }
        )
    }

    /// An invoice (or a credit note) with its lines: each line's price before discounts, its amount after
    /// them, and its taxes from the resource's `line_item_taxes`. The lines must come to the total less tax
    /// (inclusive prices: to the total): a mismatch is refused, naming both sums, rather than booked differently.
    public static func invoice(_ json: JSONValue, creditNote: Bool = false) throws(Unmapped) -> Invoice {
        let id = json["id"]?.stringValue ?? "?"
        guard let currency = json["currency_code"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }) else {
            throw Unmapped(description: "\(creditNote ? "credit note" : "invoice") \(id): currency_code is missing or not an ISO 4217 code")
        }
        guard let customer = json["customer_id"]?.stringValue else {
            throw Unmapped(description: "\(creditNote ? "credit note" : "invoice") \(id): customer_id is missing")
        }
        let inclusive = json["price_type"]?.stringValue == "tax_inclusive"
        var taxesByLine: [String: [TaxLine]] = [:]
        for tax in json["line_item_taxes"]?.arrayValue ?? [] {
            guard let line = tax["line_item_id"]?.stringValue else { continue }
            taxesByLine[line, default: []].append(TaxLine(name: tax["tax_name"]?.stringValue, rate: rate(tax["tax_rate"]),
                                                          amountMinor: tax["tax_amount"]?.intValue ?? 0, inclusive: inclusive))
        }
        var lines: [InvoiceLine] = []
        for (index, item) in (json["line_items"]?.arrayValue ?? []).enumerated() {
            let amount = try minor(item, "amount", currency, what: "\(id) line \(index + 1)")
            let discount = item["discount_amount"]?.intValue ?? 0
            let quantity = item["quantity_in_decimal"]?.stringValue ?? item["quantity"]?.intValue.map(String.init) ?? "1"
            let product = item["entity_id"]?.stringValue.flatMap { entity in
                ["plan_item_price", "addon_item_price", "charge_item_price"].contains(item["entity_type"]?.stringValue ?? "") ? entity : nil
            }
            lines.append(InvoiceLine(
                description: item["description"]?.stringValue ?? "Chargebee line \(index + 1)",
                product: product.map { RecordRef(objectType: "item_price", objectID: $0) },
                quantity: quantity, unitAmountMinor: try minor(item, "unit_amount", currency, what: "\(id) line \(index + 1)"),
                amountMinor: amount - discount, discountMinor: discount, taxes: item["id"]?.stringValue.flatMap { taxesByLine[$0] } ?? []
            ))
        }
        let total = json["total"]?.intValue ?? 0
        let tax = json["tax"]?.intValue ?? 0
        let net = lines.reduce(0) { $0 + $1.amountMinor }
        guard net == (inclusive ? total : total - tax) else {
            throw Unmapped(description: "\(creditNote ? "credit note" : "invoice") \(id): its lines come to \(net) but its total\(inclusive ? "" : " less tax") to \(inclusive ? total : total - tax) (minor units of \(currency))")
        }
        let paid = json["amount_paid"]?.intValue ?? (creditNote ? json["amount_refunded"]?.intValue ?? 0 : 0)
        let due = json["amount_due"]?.intValue ?? (creditNote ? json["amount_available"]?.intValue ?? 0 : total - paid)
        return Invoice(
            number: id, customer: RecordRef(objectType: "customer", objectID: customer), status: status(json["status"]?.stringValue, creditNote: creditNote),
            currency: currency, issuedAt: json["date"]?.intValue.map(rfc3339), dueAt: json["due_date"]?.intValue.map(rfc3339), lines: lines,
            subtotalMinor: inclusive ? total - tax : net, taxMinor: tax, totalMinor: total, amountPaidMinor: paid, amountDueMinor: due,
            original: json["reference_invoice_id"]?.stringValue.map { RecordRef(objectType: "invoice", objectID: $0) },
            subscription: json["subscription_id"]?.stringValue.map { RecordRef(objectType: "subscription", objectID: $0) }
        )
    }

    /// A transaction: a `payment` (against the invoice it is linked to first, if any) or a `refund` (of
    /// the payment it reverses); others (authorizations, reversals) are not money that reached the books.
    /// A gateway's fee, where Chargebee reports one (`fee_amount`), is kept.
    public static func transaction(_ json: JSONValue) throws(Unmapped) -> Record? {
        let id = json["id"]?.stringValue ?? "?"
        guard let currency = json["currency_code"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }) else {
            throw Unmapped(description: "transaction \(id): currency_code is missing or not an ISO 4217 code")
        }
        let amount = Money(amountMinor: try minor(json, "amount", currency, what: "transaction \(id)"), currency: currency)
        let invoice = json["linked_invoices"]?.arrayValue?.first?["invoice_id"]?.stringValue.map { RecordRef(objectType: "invoice", objectID: $0) }
        let at = json["date"]?.intValue.map(rfc3339)
        let state = json["status"]?.stringValue ?? ""
        switch json["type"]?.stringValue {
        case "payment":
            let status: Payment.Status = switch state {
            case "success": .succeeded
            case "in_progress", "needs_attention": .pending
            default: .failed
            }
            let fee = json["fee_amount"]?.intValue.map { Money(amountMinor: $0, currency: currency) }
            return .payment(Payment(customer: json["customer_id"]?.stringValue.map { RecordRef(objectType: "customer", objectID: $0) }, invoice: invoice,
                                    amount: amount, fee: fee, status: status, method: json["payment_method"]?.stringValue, paidAt: at))
        case "refund":
            guard let payment = json["reference_transaction_id"]?.stringValue ?? json["refunded_txn_id"]?.stringValue else {
                throw Unmapped(description: "refund transaction \(id): it names no payment (reference_transaction_id)")
            }
            let status: Refund.Status = switch state {
            case "success": .succeeded
            case "in_progress", "needs_attention": .pending
            case "voided": .canceled
            default: .failed
            }
            return .refund(Refund(payment: RecordRef(objectType: "transaction", objectID: payment), invoice: invoice, amount: amount, status: status,
                                  refundedAt: at))
        default:
            return nil
        }
    }

    /// A subscription and its items (item prices), in the canonical statuses.
    public static func subscription(_ json: JSONValue) throws(Unmapped) -> Subscription {
        let id = json["id"]?.stringValue ?? "?"
        guard let customer = json["customer_id"]?.stringValue else { throw Unmapped(description: "subscription \(id): customer_id is missing") }
        let currency = json["currency_code"]?.stringValue.flatMap { CurrencyCode($0.uppercased()) }
        var items: [Subscription.Item] = []
        for (index, item) in (json["subscription_items"]?.arrayValue ?? []).enumerated() {
            guard let price = item["item_price_id"]?.stringValue else { throw Unmapped(description: "subscription \(id), item \(index + 1): item_price_id is missing") }
            let unit = try currency.map { currency throws(Unmapped) in Money(amountMinor: try minor(item, "unit_price", currency, what: "subscription \(id) item \(index + 1)"), currency: currency) }
            items.append(Subscription.Item(product: RecordRef(objectType: "item_price", objectID: price),
                                           quantity: item["quantity_in_decimal"]?.stringValue ?? item["quantity"]?.intValue.map(String.init) ?? "1", unitAmount: unit))
        }
        let status: Subscription.Status = switch json["status"]?.stringValue {
        case "in_trial": .trialing
        case "future": .incomplete
        case "paused": .paused
        case "cancelled", "transferred": .canceled
        default: (json["due_invoices_count"]?.intValue ?? 0) > 0 ? .pastDue : .active
        }
        return Subscription(customer: RecordRef(objectType: "customer", objectID: customer), status: status, items: items,
                            currentPeriodStart: json["current_term_start"]?.intValue.map(rfc3339), currentPeriodEnd: json["current_term_end"]?.intValue.map(rfc3339),
                            cancelAt: json["cancelled_at"]?.intValue.map(rfc3339))
    }

    /// An item price (Product Catalog 2.0) as a product: its item's sale under one currency and period.
    /// A price that is not per unit (tiered, volume, stairstep) has no single unit price.
    public static func itemPrice(_ json: JSONValue) throws(Unmapped) -> Product {
        let id = json["id"]?.stringValue ?? "?"
        guard let currency = json["currency_code"]?.stringValue.flatMap({ CurrencyCode($0.uppercased()) }) else {
            throw Unmapped(description: "item price \(id): currency_code is missing or not an ISO 4217 code")
        }
        let perUnit = ["flat_fee", "per_unit", nil].contains(json["pricing_model"]?.stringValue)
        let price = perUnit && (json["price"] != nil || json["price_in_decimal"] != nil)
            ? Money(amountMinor: try minor(json, "price", currency, what: "item price \(id)"), currency: currency) : nil
        let recurring = json["period_unit"]?.stringValue.map { Recurrence(interval: $0, intervalCount: json["period"]?.intValue.map(Int.init) ?? 1) }
        return Product(name: json["external_name"]?.stringValue ?? json["name"]?.stringValue ?? id, description: json["description"]?.stringValue,
                       unitPrice: price, recurring: recurring, active: json["status"]?.stringValue ?? "active" == "active" && json["deleted"]?.boolValue != true)
    }

    /// An amount field in minor units: its `*_in_decimal` text when the site writes one (multi-decimal
    /// pricing), else its integer.
    static func minor(_ json: JSONValue, _ field: String, _ currency: CurrencyCode, what: String) throws(Unmapped) -> Int64 {
        if let text = json["\(field)_in_decimal"]?.stringValue {
            guard let value = DecimalAmount.minorUnits(text, currency) else { throw Unmapped(description: "\(what): \(field)_in_decimal \"\(text)\" is not a decimal amount") }
            return value
        }
        return json[field]?.intValue ?? 0
    }

    static func status(_ text: String?, creditNote: Bool) -> Invoice.Status {
        switch text {
        case "paid", "refunded", "adjusted": .paid
        case "voided": .void
        case "pending": .draft
        case "not_paid" where !creditNote: .uncollectible
        default: .open
        }
    }

    /// A tax rate as the canonical model writes it: a decimal string, no trailing zeros (`20`, `5.5`).
    static func rate(_ value: JSONValue?) -> String {
        if let integer = value?.intValue { return String(integer) }
        guard let number = value?.doubleValue else { return "0" }
        var text = String(format: "%.4f", number)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func rfc3339(_ seconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601)
    }
}
