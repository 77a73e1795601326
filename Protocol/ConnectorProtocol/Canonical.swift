// The canonical model: what every source maps into and every sink maps out of.
// Money is always integer minor units plus an ISO 4217 currency code.

/// An ISO 4217 alphabetic currency code, e.g. `EUR`.
public struct CurrencyCode: Codable, Sendable, Hashable, CustomStringConvertible {
    public let code: String

    public init?(_ code: String) {
        guard code.utf8.count == 3, code.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else { return nil }
        self.code = code
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let code = CurrencyCode(raw.uppercased()) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "\"\(raw)\" is not an ISO 4217 currency code"
            )
        }
        self = code
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }

    public var description: String { code }

    /// ISO 4217 minor-unit digits: how many of an amount's minor units are decimals. 2 for most currencies.
    public var minorUnitExponent: Int {
        switch code {
        case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF": 0
        case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND": 3
        default: 2
        }
    }
}

/// An amount of money: integer minor units (cents for EUR, yen for JPY) and its currency.
public struct Money: Codable, Sendable, Hashable {
    public var amountMinor: Int64
    public var currency: CurrencyCode

    public init(amountMinor: Int64, currency: CurrencyCode) {
        self.amountMinor = amountMinor
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey {
        case currency
        case amountMinor = "amount_minor"
    }

    /// The amount as a decimal with the currency's digits, e.g. `-1234.50` for EUR, `1999` for JPY:
    /// worked out on integers, for people to read (never parse it back).
    public var decimalText: String {
        let exponent = currency.minorUnitExponent
        let digits = String(amountMinor.magnitude)
        let sign = amountMinor < 0 ? "-" : ""
        guard exponent > 0 else { return sign + digits }
        let padded = String(repeating: "0", count: max(0, exponent + 1 - digits.count)) + digits
        return sign + padded.dropLast(exponent) + "." + padded.suffix(exponent)
    }

    /// The amount and its currency for people to read: `-1234.50 EUR`, or with `grouped` digits
    /// `-1,234.50 EUR` (a page's tables).
    public func text(grouped: Bool = false) -> String {
        let decimal = decimalText
        guard grouped else { return "\(decimal) \(currency)" }
        let sign = decimal.hasPrefix("-") ? "-" : ""
        let parts = decimal.dropFirst(sign.count).split(separator: ".", maxSplits: 1)
        var whole = Substring(parts[0])
        var groups: [Substring] = []
        while whole.count > 3 {
            groups.insert(whole.suffix(3), at: 0)
            whole = whole.dropLast(3)
        }
        groups.insert(whole, at: 0)
        return sign + groups.joined(separator: ",") + (parts.count > 1 ? ".\(parts[1])" : "") + " \(currency)"
    }
}

/// Where an event came from. With the connector id, it makes the idempotency key.
public struct SourceRef: Codable, Sendable, Hashable {
    /// The host's connector id. Set by the host on ingest; a plugin may leave it out.
    public var connector: String?
    /// The object's kind in the source system, e.g. `invoice`, `in` (Stripe's prefix) or `account.move`.
    public var objectType: String
    /// The object's id in the source system.
    public var objectID: String
    /// The object's version or the source's event id: what makes this change distinct from others.
    public var version: String?

    public init(connector: String? = nil, objectType: String, objectID: String, version: String?) {
        self.connector = connector
        self.objectType = objectType
        self.objectID = objectID
        self.version = version
    }

    enum CodingKeys: String, CodingKey {
        case connector, version
        case objectType = "object_type"
        case objectID = "object_id"
    }
}

/// A reference to another record of the same source (an invoice's customer, a payment's invoice).
public struct RecordRef: Codable, Sendable, Hashable {
    public var objectType: String
    public var objectID: String

    public init(objectType: String, objectID: String) {
        self.objectType = objectType
        self.objectID = objectID
    }

    enum CodingKeys: String, CodingKey {
        case objectType = "object_type"
        case objectID = "object_id"
    }
}

/// A business event in canonical form, as sources emit it and sinks receive it.
public struct Event: Codable, Sendable, Hashable {
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    /// `<record kind>.<what happened>`, e.g. `invoice.finalized`, `payment.succeeded`, `customer.upserted`.
    public var type: String
    public var source: SourceRef
    public var tenant: String?
    /// The legal entity (company) the record belongs to.
    public var entity: String?
    /// Follows the event through deliveries, attempts, logs and audit records.
    public var correlationID: String
    /// When it happened at the source, RFC 3339.
    public var occurredAt: String
    /// Events with the same key are delivered in order, one at a time (normally the customer).
    public var orderingKey: String?
    public var record: Record

    public init(
        schemaVersion: Int = Event.currentSchemaVersion,
        type: String,
        source: SourceRef,
        tenant: String? = nil,
        entity: String? = nil,
        correlationID: String,
        occurredAt: String,
        orderingKey: String? = nil,
        record: Record
    ) {
        self.schemaVersion = schemaVersion
        self.type = type
        self.source = source
        self.tenant = tenant
        self.entity = entity
        self.correlationID = correlationID
        self.occurredAt = occurredAt
        self.orderingKey = orderingKey
        self.record = record
    }

    enum CodingKeys: String, CodingKey {
        case type, source, tenant, entity, record
        case schemaVersion = "schema_version"
        case correlationID = "correlation_id"
        case occurredAt = "occurred_at"
        case orderingKey = "ordering_key"
    }

    /// Source connector + object type + object id + version: equal keys are the same change,
    /// however often it is polled or pushed.
    public func idempotencyKey(connector: String) -> String {
        source.idempotencyKey(connector: connector)
    }
}

/// The payload of an event: one canonical record. On the wire, `{"kind": "invoice", "invoice": {…}}`.
public enum Record: Sendable, Hashable {
    case customer(Customer)
    case product(Product)
    case invoice(Invoice)
    case creditNote(Invoice)
    case payment(Payment)
    case refund(Refund)
    case payout(Payout)
    case dispute(Dispute)
    case subscription(Subscription)
    case contact(Contact)
    case company(Company)
    case deal(Deal)
    case order(Order)
    case accountStatus(AccountStatus)
    /// A kind this version of the model does not know (a newer source's): kept as it came, so the host
    /// stores, routes and delivers it byte for byte to a sink that accepts it, instead of refusing it.
    case other(kind: String, value: JSONValue)

    /// Every kind, as `kind` names it.
    public static let kinds = ["customer", "product", "invoice", "credit_note", "payment", "refund", "payout", "dispute", "subscription",
                               "contact", "company", "deal", "order", "account_status"]

    public var kind: String {
        switch self {
        case .customer: "customer"
        case .product: "product"
        case .invoice: "invoice"
        case .creditNote: "credit_note"
        case .payment: "payment"
        case .refund: "refund"
        case .payout: "payout"
        case .dispute: "dispute"
        case .contact: "contact"
        case .company: "company"
        case .deal: "deal"
        case .order: "order"
        case .accountStatus: "account_status"
        case .other(let kind, _): kind
        case .subscription: "subscription"
        }
    }
}

extension Record: Codable {
    private struct OpenKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private enum CodingKeys: String, CodingKey {
        case kind, customer, product, invoice, payment, refund, payout, dispute, subscription, contact, company, deal, order
        case creditNote = "credit_note"
        case accountStatus = "account_status"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(String.self, forKey: .kind)
        switch kind {
        case "customer": self = .customer(try container.decode(Customer.self, forKey: .customer))
        case "product": self = .product(try container.decode(Product.self, forKey: .product))
        case "invoice": self = .invoice(try container.decode(Invoice.self, forKey: .invoice))
        case "credit_note": self = .creditNote(try container.decode(Invoice.self, forKey: .creditNote))
        case "payment": self = .payment(try container.decode(Payment.self, forKey: .payment))
        case "refund": self = .refund(try container.decode(Refund.self, forKey: .refund))
        case "payout": self = .payout(try container.decode(Payout.self, forKey: .payout))
        case "dispute": self = .dispute(try container.decode(Dispute.self, forKey: .dispute))
        case "subscription": self = .subscription(try container.decode(Subscription.self, forKey: .subscription))
        case "contact": self = .contact(try container.decode(Contact.self, forKey: .contact))
        case "company": self = .company(try container.decode(Company.self, forKey: .company))
        case "deal": self = .deal(try container.decode(Deal.self, forKey: .deal))
        case "order": self = .order(try container.decode(Order.self, forKey: .order))
        case "account_status": self = .accountStatus(try container.decode(AccountStatus.self, forKey: .accountStatus))
        default:
            // The record of a kind not known here is under the member named after its kind.
            let open = try decoder.container(keyedBy: OpenKey.self)
            guard !kind.isEmpty, let key = OpenKey(stringValue: kind), open.contains(key) else {
                throw DecodingError.dataCorruptedError(forKey: .kind, in: container, debugDescription: "record kind \"\(kind)\" has no \"\(kind)\" member")
            }
            self = .other(kind: kind, value: try open.decode(JSONValue.self, forKey: key))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .customer(let value): try container.encode(value, forKey: .customer)
        case .product(let value): try container.encode(value, forKey: .product)
        case .invoice(let value): try container.encode(value, forKey: .invoice)
        case .creditNote(let value): try container.encode(value, forKey: .creditNote)
        case .payment(let value): try container.encode(value, forKey: .payment)
        case .refund(let value): try container.encode(value, forKey: .refund)
        case .payout(let value): try container.encode(value, forKey: .payout)
        case .dispute(let value): try container.encode(value, forKey: .dispute)
        case .other(let kind, let value):
            var open = encoder.container(keyedBy: OpenKey.self)
            if let key = OpenKey(stringValue: kind) { try open.encode(value, forKey: key) }
        case .subscription(let value): try container.encode(value, forKey: .subscription)
        case .contact(let value): try container.encode(value, forKey: .contact)
        case .company(let value): try container.encode(value, forKey: .company)
        case .deal(let value): try container.encode(value, forKey: .deal)
        case .order(let value): try container.encode(value, forKey: .order)
        case .accountStatus(let value): try container.encode(value, forKey: .accountStatus)
        }
    }
}

public struct Address: Codable, Sendable, Hashable {
    public var line1: String?
    public var line2: String?
    public var city: String?
    public var postalCode: String?
    public var state: String?
    /// ISO 3166-1 alpha-2.
    public var country: String?

    public init(line1: String? = nil, line2: String? = nil, city: String? = nil, postalCode: String? = nil, state: String? = nil, country: String? = nil) {
        self.line1 = line1
        self.line2 = line2
        self.city = city
        self.postalCode = postalCode
        self.state = state
        self.country = country
    }

    enum CodingKeys: String, CodingKey {
        case line1, line2, city, state, country
        case postalCode = "postal_code"
    }
}

public struct Customer: Codable, Sendable, Hashable {
    public var name: String
    public var email: String?
    public var phone: String?
    public var isCompany: Bool
    /// VAT or other tax id.
    public var vat: String?
    public var address: Address?
    public var currency: CurrencyCode?

    public init(name: String, email: String? = nil, phone: String? = nil, isCompany: Bool = false, vat: String? = nil, address: Address? = nil, currency: CurrencyCode? = nil) {
        self.name = name
        self.email = email
        self.phone = phone
        self.isCompany = isCompany
        self.vat = vat
        self.address = address
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey {
        case name, email, phone, vat, address, currency
        case isCompany = "is_company"
    }

    /// `is_company` may be absent (a person), as PROTOCOL.md allows for optional members.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        email = try container.decodeIfPresent(String.self, forKey: .email)
        phone = try container.decodeIfPresent(String.self, forKey: .phone)
        isCompany = try container.decodeIfPresent(Bool.self, forKey: .isCompany) ?? false
        vat = try container.decodeIfPresent(String.self, forKey: .vat)
        address = try container.decodeIfPresent(Address.self, forKey: .address)
        currency = try container.decodeIfPresent(CurrencyCode.self, forKey: .currency)
    }
}

public struct Recurrence: Codable, Sendable, Hashable {
    /// day, week, month or year.
    public var interval: String
    public var intervalCount: Int

    public init(interval: String, intervalCount: Int) {
        self.interval = interval
        self.intervalCount = intervalCount
    }

    enum CodingKeys: String, CodingKey {
        case interval
        case intervalCount = "interval_count"
    }
}

public struct Product: Codable, Sendable, Hashable {
    public var name: String
    public var sku: String?
    public var description: String?
    public var unitPrice: Money?
    public var recurring: Recurrence?
    public var active: Bool

    public init(name: String, sku: String? = nil, description: String? = nil, unitPrice: Money? = nil, recurring: Recurrence? = nil, active: Bool = true) {
        self.name = name
        self.sku = sku
        self.description = description
        self.unitPrice = unitPrice
        self.recurring = recurring
        self.active = active
    }

    enum CodingKeys: String, CodingKey {
        case name, sku, description, recurring, active
        case unitPrice = "unit_price"
    }
}

public struct TaxLine: Codable, Sendable, Hashable {
    public var name: String?
    /// Percentage as a decimal string, e.g. `"20"` or `"5.5"`: never a float.
    public var rate: String
    public var amountMinor: Int64
    /// Whether the line amount already includes this tax.
    public var inclusive: Bool

    public init(name: String? = nil, rate: String, amountMinor: Int64, inclusive: Bool = false) {
        self.name = name
        self.rate = rate
        self.amountMinor = amountMinor
        self.inclusive = inclusive
    }

    enum CodingKeys: String, CodingKey {
        case name, rate, inclusive
        case amountMinor = "amount_minor"
    }
}

public struct InvoiceLine: Codable, Sendable, Hashable {
    public var description: String
    public var product: RecordRef?
    /// A decimal string, e.g. `"1"` or `"2.5"`.
    public var quantity: String
    /// The unit price before discounts; rounded when the line's amount is not a whole multiple of the
    /// quantity (a proration, a tier): `amountMinor` and `discountMinor` are exact.
    public var unitAmountMinor: Int64
    /// The line's amount before tax and after its discounts, in the invoice's currency: what is taxed.
    public var amountMinor: Int64
    /// The discounts taken off the line (its own and its share of the invoice's): the amount before
    /// them is `amountMinor + discountMinor`. 0: none.
    public var discountMinor: Int64
    public var taxes: [TaxLine]

    public init(description: String, product: RecordRef? = nil, quantity: String, unitAmountMinor: Int64, amountMinor: Int64, discountMinor: Int64 = 0, taxes: [TaxLine] = []) {
        self.description = description
        self.product = product
        self.quantity = quantity
        self.unitAmountMinor = unitAmountMinor
        self.amountMinor = amountMinor
        self.discountMinor = discountMinor
        self.taxes = taxes
    }

    enum CodingKeys: String, CodingKey {
        case description, product, quantity, taxes
        case unitAmountMinor = "unit_amount_minor"
        case amountMinor = "amount_minor"
        case discountMinor = "discount_minor"
    }

    /// `discount_minor` may be absent (no discount), as PROTOCOL.md allows for optional members.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        description = try container.decode(String.self, forKey: .description)
        product = try container.decodeIfPresent(RecordRef.self, forKey: .product)
        quantity = try container.decode(String.self, forKey: .quantity)
        unitAmountMinor = try container.decode(Int64.self, forKey: .unitAmountMinor)
        amountMinor = try container.decode(Int64.self, forKey: .amountMinor)
        discountMinor = try container.decodeIfPresent(Int64.self, forKey: .discountMinor) ?? 0
        taxes = try container.decode([TaxLine].self, forKey: .taxes)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(description, forKey: .description)
        try container.encodeIfPresent(product, forKey: .product)
        try container.encode(quantity, forKey: .quantity)
        try container.encode(unitAmountMinor, forKey: .unitAmountMinor)
        try container.encode(amountMinor, forKey: .amountMinor)
        if discountMinor != 0 { try container.encode(discountMinor, forKey: .discountMinor) }
        try container.encode(taxes, forKey: .taxes)
    }
}

/// An invoice, or (as ``Record/creditNote(_:)``) a credit note, whose `original` names the invoice it credits.
public struct Invoice: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        case draft, open, paid, void, uncollectible
    }

    public var number: String?
    public var customer: RecordRef
    public var status: Status
    public var currency: CurrencyCode
    /// RFC 3339 dates.
    public var issuedAt: String?
    public var dueAt: String?
    public var lines: [InvoiceLine]
    public var subtotalMinor: Int64
    public var taxMinor: Int64
    public var totalMinor: Int64
    public var amountPaidMinor: Int64
    public var amountDueMinor: Int64
    /// For a credit note: the invoice it credits.
    public var original: RecordRef?
    public var subscription: RecordRef?

    public init(number: String? = nil, customer: RecordRef, status: Status, currency: CurrencyCode, issuedAt: String? = nil, dueAt: String? = nil, lines: [InvoiceLine], subtotalMinor: Int64, taxMinor: Int64, totalMinor: Int64, amountPaidMinor: Int64 = 0, amountDueMinor: Int64, original: RecordRef? = nil, subscription: RecordRef? = nil) {
        self.number = number
        self.customer = customer
        self.status = status
        self.currency = currency
        self.issuedAt = issuedAt
        self.dueAt = dueAt
        self.lines = lines
        self.subtotalMinor = subtotalMinor
        self.taxMinor = taxMinor
        self.totalMinor = totalMinor
        self.amountPaidMinor = amountPaidMinor
        self.amountDueMinor = amountDueMinor
        self.original = original
        self.subscription = subscription
    }

    enum CodingKeys: String, CodingKey {
        case number, customer, status, currency, lines, original, subscription
        case issuedAt = "issued_at"
        case dueAt = "due_at"
        case subtotalMinor = "subtotal_minor"
        case taxMinor = "tax_minor"
        case totalMinor = "total_minor"
        case amountPaidMinor = "amount_paid_minor"
        case amountDueMinor = "amount_due_minor"
    }
}

public struct Payment: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        case pending, succeeded, failed
    }

    public var customer: RecordRef?
    public var invoice: RecordRef?
    public var amount: Money
    /// The processor's fee, when known (e.g. from Stripe's balance transaction): `settlement.fee` when
    /// there is a settlement.
    public var fee: Money?
    public var status: Status
    /// card, sepa_debit, bank_transfer, …
    public var method: String?
    public var paidAt: String?
    /// What reached the processor's balance, in the currency it holds it in (Stripe's balance transaction).
    public var settlement: Settlement?

    public init(customer: RecordRef? = nil, invoice: RecordRef? = nil, amount: Money, fee: Money? = nil, status: Status, method: String? = nil, paidAt: String? = nil, settlement: Settlement? = nil) {
        self.customer = customer
        self.invoice = invoice
        self.amount = amount
        self.fee = fee
        self.status = status
        self.method = method
        self.paidAt = paidAt
        self.settlement = settlement
    }

    enum CodingKeys: String, CodingKey {
        case customer, invoice, amount, fee, status, method, settlement
        case paidAt = "paid_at"
    }
}

/// One movement of a payment processor's balance (Stripe's balance transaction): what a payment,
/// refund, dispute or payout moved, in the currency the processor holds it in, with the processor's fee
/// and, when it converted, the rate it used.
public struct Settlement: Codable, Sendable, Hashable {
    /// The processor's id of the movement (`txn_…`).
    public var id: String?
    /// What moved before the fee: positive into the balance (a payment), negative out of it (a refund,
    /// a dispute, a payout).
    public var amount: Money
    /// The processor's fee on it, in the balance's currency (zero when none).
    public var fee: Money
    /// `amount - fee`: what the balance changed by.
    public var net: Money
    /// Units of the balance's currency one unit of the original currency bought, as the processor
    /// writes it (`"0.92"`); nil when nothing was converted.
    public var exchangeRate: String?
    /// RFC 3339: when the money became available for payout.
    public var availableAt: String?

    public init(id: String? = nil, amount: Money, fee: Money, net: Money, exchangeRate: String? = nil, availableAt: String? = nil) {
        self.id = id
        self.amount = amount
        self.fee = fee
        self.net = net
        self.exchangeRate = exchangeRate
        self.availableAt = availableAt
    }

    enum CodingKeys: String, CodingKey {
        case id, amount, fee, net
        case exchangeRate = "exchange_rate"
        case availableAt = "available_at"
    }
}

/// A person at a customer (a CRM contact).
public struct Contact: Codable, Sendable, Hashable {
    /// The whole name as shown (at least the email when nothing else is known).
    public var name: String
    public var firstName: String?
    public var lastName: String?
    public var email: String?
    public var phone: String?
    public var title: String?
    /// The company the person works for.
    public var company: RecordRef?
    public var address: Address?

    public init(name: String, firstName: String? = nil, lastName: String? = nil, email: String? = nil, phone: String? = nil, title: String? = nil,
                company: RecordRef? = nil, address: Address? = nil) {
        self.name = name
        self.firstName = firstName
        self.lastName = lastName
        self.email = email
        self.phone = phone
        self.title = title
        self.company = company
        self.address = address
    }

    enum CodingKeys: String, CodingKey {
        case name, email, phone, title, company, address
        case firstName = "first_name"
        case lastName = "last_name"
    }
}

/// An organisation (a CRM company or account): the buyer the finance side calls a customer.
public struct Company: Codable, Sendable, Hashable {
    public var name: String
    /// Its web domain (`acme.test`), the usual key between CRMs.
    public var domain: String?
    public var vat: String?
    public var phone: String?
    public var industry: String?
    public var address: Address?
    public var currency: CurrencyCode?
    /// Where to write to it (its billing or primary contact's address).
    public var email: String?

    public init(name: String, domain: String? = nil, vat: String? = nil, phone: String? = nil, industry: String? = nil, address: Address? = nil,
                currency: CurrencyCode? = nil, email: String? = nil) {
        self.name = name
        self.domain = domain
        self.vat = vat
        self.phone = phone
        self.industry = industry
        self.address = address
        self.currency = currency
        self.email = email
    }
}

/// A sales opportunity (HubSpot's deal, Salesforce's opportunity) with its line items.
public struct Deal: Codable, Sendable, Hashable {
    public enum Outcome: String, Codable, Sendable, Hashable {
        case open, won, lost
    }

    public var name: String
    /// The pipeline stage as the CRM names it (`appointmentscheduled`, `Closed Won`).
    public var stage: String
    public var outcome: Outcome
    /// The deal's amount (the lines' total when it has lines).
    public var amount: Money?
    /// RFC 3339: when it is expected to close, or closed.
    public var closeAt: String?
    public var company: RecordRef?
    public var contacts: [RecordRef]
    /// Its line items, with products, quantities, prices and discounts as an invoice's lines.
    public var lines: [InvoiceLine]

    public init(name: String, stage: String, outcome: Outcome, amount: Money? = nil, closeAt: String? = nil, company: RecordRef? = nil,
                contacts: [RecordRef] = [], lines: [InvoiceLine] = []) {
        self.name = name
        self.stage = stage
        self.outcome = outcome
        self.amount = amount
        self.closeAt = closeAt
        self.company = company
        self.contacts = contacts
        self.lines = lines
    }

    enum CodingKeys: String, CodingKey {
        case name, stage, outcome, amount, company, contacts, lines
        case closeAt = "close_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        stage = try container.decode(String.self, forKey: .stage)
        outcome = try container.decode(Outcome.self, forKey: .outcome)
        amount = try container.decodeIfPresent(Money.self, forKey: .amount)
        closeAt = try container.decodeIfPresent(String.self, forKey: .closeAt)
        company = try container.decodeIfPresent(RecordRef.self, forKey: .company)
        contacts = try container.decodeIfPresent([RecordRef].self, forKey: .contacts) ?? []
        lines = try container.decodeIfPresent([InvoiceLine].self, forKey: .lines) ?? []
    }
}

/// A sale order or quotation (what an ERP makes of a won deal before it invoices).
public struct Order: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        case quotation, confirmed, cancelled, done
    }

    public var number: String?
    public var customer: RecordRef
    public var status: Status
    public var currency: CurrencyCode
    public var lines: [InvoiceLine]
    public var subtotalMinor: Int64
    public var taxMinor: Int64
    public var totalMinor: Int64
    /// RFC 3339.
    public var orderedAt: String?
    /// The deal it came from.
    public var deal: RecordRef?

    public init(number: String? = nil, customer: RecordRef, status: Status, currency: CurrencyCode, lines: [InvoiceLine], subtotalMinor: Int64, taxMinor: Int64,
                totalMinor: Int64, orderedAt: String? = nil, deal: RecordRef? = nil) {
        self.number = number
        self.customer = customer
        self.status = status
        self.currency = currency
        self.lines = lines
        self.subtotalMinor = subtotalMinor
        self.taxMinor = taxMinor
        self.totalMinor = totalMinor
        self.orderedAt = orderedAt
        self.deal = deal
    }

    enum CodingKeys: String, CodingKey {
        case number, customer, status, currency, lines, deal
        case subtotalMinor = "subtotal_minor"
        case taxMinor = "tax_minor"
        case totalMinor = "total_minor"
        case orderedAt = "ordered_at"
    }
}

/// Where a customer stands with finance, for a CRM's sales team: what it owes, what is overdue, when
/// it last paid. A snapshot as of `asOf`, per currency.
public struct AccountStatus: Codable, Sendable, Hashable {
    public var customer: RecordRef
    public var balanceDue: Money
    public var overdue: Money
    public var overdueInvoices: Int
    public var lastPayment: Money?
    /// RFC 3339.
    public var lastPaymentAt: String?
    /// RFC 3339: when finance's books said so.
    public var asOf: String

    public init(customer: RecordRef, balanceDue: Money, overdue: Money, overdueInvoices: Int, lastPayment: Money? = nil, lastPaymentAt: String? = nil, asOf: String) {
        self.customer = customer
        self.balanceDue = balanceDue
        self.overdue = overdue
        self.overdueInvoices = overdueInvoices
        self.lastPayment = lastPayment
        self.lastPaymentAt = lastPaymentAt
        self.asOf = asOf
    }

    /// The members a CRM field can be given: `status_fields`/`status_properties` name them.
    public static let fieldMembers = ["balance_due", "overdue", "overdue_invoices", "last_payment", "last_payment_at", "as_of"]

    enum CodingKeys: String, CodingKey {
        case customer, overdue
        case balanceDue = "balance_due"
        case overdueInvoices = "overdue_invoices"
        case lastPayment = "last_payment"
        case lastPaymentAt = "last_payment_at"
        case asOf = "as_of"
    }
}

/// A customer's bank disputing a payment (a chargeback): the processor takes the amount and its
/// dispute fee from the balance, and gives them back if the dispute is won.
public struct Dispute: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        /// Being disputed (the processor has withdrawn the funds, or will unless it is a warning).
        case open, won, lost
    }

    public var payment: RecordRef
    public var invoice: RecordRef?
    /// The disputed amount, in the payment's currency.
    public var amount: Money
    public var status: Status
    public var reason: String?
    /// The balance movements so far: the withdrawal (amount and dispute fee out), and once won the
    /// reinstatement (back in). Each is booked once, whichever event brings it.
    public var settlements: [Settlement]

    public init(payment: RecordRef, invoice: RecordRef? = nil, amount: Money, status: Status, reason: String? = nil, settlements: [Settlement] = []) {
        self.payment = payment
        self.invoice = invoice
        self.amount = amount
        self.status = status
        self.reason = reason
        self.settlements = settlements
    }
}

/// Money leaving the processor's balance for the company's bank account.
public struct Payout: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        case pending, inTransit = "in_transit", paid, failed, canceled
    }

    /// What the bank receives (positive), in the balance's currency.
    public var amount: Money
    public var status: Status
    /// RFC 3339: when the bank receives it (expected until `paid`).
    public var arrivalAt: String?
    /// What the bank statement line shows (Stripe's `statement_descriptor`), to match it there.
    public var statementDescriptor: String?
    /// The payout's own balance movement (its fee, for an instant payout).
    public var settlement: Settlement?

    public init(amount: Money, status: Status, arrivalAt: String? = nil, statementDescriptor: String? = nil, settlement: Settlement? = nil) {
        self.amount = amount
        self.status = status
        self.arrivalAt = arrivalAt
        self.statementDescriptor = statementDescriptor
        self.settlement = settlement
    }

    enum CodingKeys: String, CodingKey {
        case amount, status, settlement
        case arrivalAt = "arrival_at"
        case statementDescriptor = "statement_descriptor"
    }
}

public struct Refund: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        case pending, succeeded, failed, canceled
    }

    public var payment: RecordRef
    public var invoice: RecordRef?
    public var amount: Money
    public var reason: String?
    public var status: Status
    public var refundedAt: String?
    /// What left the processor's balance, in its currency (negative amounts).
    public var settlement: Settlement?

    public init(payment: RecordRef, invoice: RecordRef? = nil, amount: Money, reason: String? = nil, status: Status, refundedAt: String? = nil, settlement: Settlement? = nil) {
        self.payment = payment
        self.invoice = invoice
        self.amount = amount
        self.reason = reason
        self.status = status
        self.refundedAt = refundedAt
        self.settlement = settlement
    }

    enum CodingKeys: String, CodingKey {
        case payment, invoice, amount, reason, status, settlement
        case refundedAt = "refunded_at"
    }
}

public struct Subscription: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        case trialing, active, pastDue = "past_due", paused, canceled, unpaid, incomplete
    }

    public struct Item: Codable, Sendable, Hashable {
        public var product: RecordRef
        public var quantity: String
        public var unitAmount: Money?

        public init(product: RecordRef, quantity: String, unitAmount: Money? = nil) {
            self.product = product
            self.quantity = quantity
            self.unitAmount = unitAmount
        }

        enum CodingKeys: String, CodingKey {
            case product, quantity
            case unitAmount = "unit_amount"
        }
    }

    public var customer: RecordRef
    public var status: Status
    public var items: [Item]
    public var currentPeriodStart: String?
    public var currentPeriodEnd: String?
    public var cancelAt: String?

    public init(customer: RecordRef, status: Status, items: [Item], currentPeriodStart: String? = nil, currentPeriodEnd: String? = nil, cancelAt: String? = nil) {
        self.customer = customer
        self.status = status
        self.items = items
        self.currentPeriodStart = currentPeriodStart
        self.currentPeriodEnd = currentPeriodEnd
        self.cancelAt = cancelAt
    }

    enum CodingKeys: String, CodingKey {
        case customer, status, items
        case currentPeriodStart = "current_period_start"
        case currentPeriodEnd = "current_period_end"
        case cancelAt = "cancel_at"
    }
}
