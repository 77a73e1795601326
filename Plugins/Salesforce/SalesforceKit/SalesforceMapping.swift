import ConnectorKit
public import ConnectorProtocol
import Foundation

/// Salesforce records as canonical events. Pure: the source fetches, this maps; tested without network.
///
/// - Account → `company.upserted` (its first contact's email as the company's);
/// - Contact → `contact.upserted`, kept in its account's order;
/// - Opportunity → `order.won` once won (`IsWon`) with its line items, else `deal.upserted` (which
///   cancels the order of an opportunity reopened after it was won); a won opportunity without an
///   account is a reject, as it has no customer;
/// - Product2 → `product.upserted`, priced from its standard price book entry;
/// - a deleted record (`IsDeleted`, read through `queryAll`) → `<kind>.deleted`.
///
/// The version of an event is the record's `SystemModstamp` and a digest of its fields
/// (``SalesforceRecord/version``), so one change read twice (by a Bulk backfill and by the query after
/// it) is one event, and two changes in one second are two.
public struct SalesforceMapping: Sendable {
    public let settings: SalesforceSettings
    public let connector: ConnectorInfo

    public init(settings: SalesforceSettings, connector: ConnectorInfo) {
        self.settings = settings
        self.connector = connector
    }

    /// The sObject a stream reads.
    public static func object(_ stream: String) -> String {
        switch stream {
        case "accounts": "Account"
        case "contacts": "Contact"
        case "opportunities": "Opportunity"
        default: "Product2"
        }
    }

    /// The fields each stream reads (`CurrencyIsoCode` only in a multi-currency org, where it exists).
    public func fields(_ stream: String) -> [String] {
        let currency = settings.multiCurrency ? ["CurrencyIsoCode"] : []
        let common = ["SystemModstamp", "IsDeleted"]
        switch stream {
        case "accounts":
            return ["Id", "Name", "Website", "Phone", "Industry", "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry"]
                + [settings.vatField].compactMap { $0 } + currency + common
        case "contacts":
            return ["Id", "AccountId", "FirstName", "LastName", "Email", "Phone", "Title", "MailingStreet", "MailingCity", "MailingState",
                    "MailingPostalCode", "MailingCountry"] + common
        case "opportunities":
            return ["Id", "AccountId", "Name", "StageName", "IsWon", "IsClosed", "Amount", "CloseDate"] + currency + common
        default:
            return ["Id", "Name", "ProductCode", "Description", "IsActive"] + common
        }
    }

    public var lineItemFields: [String] {
        ["Id", "OpportunityId", "Product2Id", "ProductCode", "Name", "Description", "Quantity", "UnitPrice", "Subtotal", "TotalPrice", "SortOrder"]
            + (settings.multiCurrency ? ["CurrencyIsoCode"] : [])
    }

    public var priceFields: [String] {
        ["Id", "Product2Id", "UnitPrice", "IsActive"] + (settings.multiCurrency ? ["CurrencyIsoCode"] : [])
    }

    /// What a record's event is mapped with: an account's contacts' emails (first first), an
    /// opportunity's line items (in their order), a product's standard prices.
    public struct Related: Sendable {
        public var emails: [String: String] = [:]
        public var lineItems: [String: [SalesforceRecord]] = [:]
        public var prices: [String: [SalesforceRecord]] = [:]
        public init() {}
    }

    public enum Mapped: Sendable {
        case event(Event)
        case reject(SourceReject)
    }

    public func map(_ stream: String, _ record: SalesforceRecord, related: Related = Related()) -> Mapped {
        let source = { (version: String) in SourceRef(objectType: stream, objectID: record.id, version: version) }
        guard let stamp = record.stamp, let version = record.version else {
            return .reject(SourceReject(problem: "SystemModstamp is missing or not a time (\(record["SystemModstamp"] ?? "null"))", source: source("-"), record: record.json))
        }
        var orderingKey = "\(stream):\(record.id)"
        let kind: String
        var what = record.deleted ? "deleted" : "upserted"
        let payload: Record
        switch stream {
        case "accounts":
            kind = "company"
            payload = .company(Company(name: record["Name"] ?? "Salesforce account \(record.id)", domain: record["Website"].map(Self.domain),
                                       vat: settings.vatField.flatMap { record[$0] }, phone: record["Phone"], industry: record["Industry"],
                                       address: address(record, "Billing"), currency: currency(record), email: related.emails[record.id]))
        case "contacts":
            kind = "contact"
            let name = [record["FirstName"], record["LastName"]].compactMap { $0 }.joined(separator: " ")
            let account = record["AccountId"]
            payload = .contact(Contact(name: name.isEmpty ? record["Email"] ?? "Salesforce contact \(record.id)" : name, firstName: record["FirstName"],
                                       lastName: record["LastName"], email: record["Email"], phone: record["Phone"], title: record["Title"],
                                       company: account.map { RecordRef(objectType: "accounts", objectID: $0) }, address: address(record, "Mailing")))
            if let account { orderingKey = "accounts:\(account)" }
        case "opportunities":
            let currency = currency(record) ?? settings.currency
            let lines: [InvoiceLine]
            switch self.lines(related.lineItems[record.id] ?? [], of: record, currency: currency) {
            case .success(let mapped): lines = mapped
            case .failure(let problem): return .reject(SourceReject(problem: problem.description, source: source(version), record: record.json))
            }
            let account = record["AccountId"].map { RecordRef(objectType: "accounts", objectID: $0) }
            if let account { orderingKey = "accounts:\(account.objectID)" }
            let won = record["IsWon"] == "true"
            if won && !record.deleted {
                guard let account else {
                    return .reject(SourceReject(problem: "AccountId is empty on a won opportunity: an order needs the account it is sold to", source: source(version), record: record.json))
                }
                let subtotal = lines.reduce(0) { $0 + $1.amountMinor }
                kind = "order"
                what = "won"
                payload = .order(Order(number: record["Name"], customer: account, status: settings.orderStatus, currency: currency, lines: lines, subtotalMinor: subtotal,
                                       taxMinor: 0, totalMinor: subtotal, orderedAt: record["CloseDate"],
                                       deal: RecordRef(objectType: stream, objectID: record.id)))
            } else {
                let outcome: Deal.Outcome = won ? .won : record["IsClosed"] == "true" ? .lost : .open
                kind = won ? "order" : "deal"
                let amount = record["Amount"].flatMap { DecimalAmount.minorUnits($0, currency) }.map { Money(amountMinor: $0, currency: currency) }
                payload = .deal(Deal(name: record["Name"] ?? "Salesforce opportunity \(record.id)", stage: record["StageName"] ?? "", outcome: outcome,
                                     amount: amount, closeAt: record["CloseDate"], company: account, contacts: [], lines: lines))
            }
        default:
            kind = "product"
            let prices = related.prices[record.id] ?? []
            let price = prices.first { ($0["CurrencyIsoCode"] ?? settings.currency.code) == settings.currency.code } ?? prices.first
            let currency = price.flatMap { $0["CurrencyIsoCode"] }.flatMap { CurrencyCode($0) } ?? settings.currency
            let unitPrice = price?["UnitPrice"].flatMap { DecimalAmount.minorUnits($0, currency) }.map { Money(amountMinor: $0, currency: currency) }
            payload = .product(Product(name: record["Name"] ?? record["ProductCode"] ?? "Salesforce product \(record.id)", sku: record["ProductCode"],
                                       description: record["Description"], unitPrice: unitPrice, active: record["IsActive"] != "false"))
        }
        let occurredAt = SalesforceTime.seconds(stamp).map { Date(timeIntervalSince1970: Double($0)).formatted(.iso8601) } ?? stamp
        return .event(Event(type: "\(kind).\(what)", source: source(version), tenant: connector.tenant, entity: connector.entity,
                            correlationID: "\(connector.id):\(stream):\(record.id):\(version)", occurredAt: occurredAt, orderingKey: orderingKey,
                            record: payload))
    }

    struct LineProblem: Error, CustomStringConvertible {
        var description: String
    }

    /// An opportunity's lines: its line items (price before the discount, amount after it), or one line
    /// of its amount when it has none.
    func lines(_ items: [SalesforceRecord], of opportunity: SalesforceRecord, currency: CurrencyCode) -> Result<[InvoiceLine], LineProblem> {
        guard !items.isEmpty else {
            guard let amount = opportunity["Amount"].flatMap({ DecimalAmount.minorUnits($0, currency) }), amount != 0 else { return .success([]) }
            return .success([InvoiceLine(description: opportunity["Name"] ?? "Salesforce opportunity \(opportunity.id)", quantity: "1",
                                         unitAmountMinor: amount, amountMinor: amount)])
        }
        var lines: [InvoiceLine] = []
        for item in items {
            if let code = item["CurrencyIsoCode"], code != currency.code {
                return .failure(LineProblem(description: "line item \(item.id) is in \(code), its opportunity in \(currency)"))
            }
            guard let quantity = item["Quantity"], DecimalAmount.decimal(quantity) != nil,
                  let unit = item["UnitPrice"].flatMap({ DecimalAmount.minorUnits($0, currency) }),
                  let total = item["TotalPrice"].flatMap({ DecimalAmount.minorUnits($0, currency) }) else {
                return .failure(LineProblem(description: "line item \(item.id): Quantity, UnitPrice and TotalPrice must be numbers in \(currency) (read \(item["Quantity"] ?? "null"), \(item["UnitPrice"] ?? "null"), \(item["TotalPrice"] ?? "null"))"))
            }
            let subtotal = item["Subtotal"].flatMap { DecimalAmount.minorUnits($0, currency) }
                ?? DecimalAmount.decimal(quantity).flatMap { q in item["UnitPrice"].flatMap(DecimalAmount.decimal).flatMap { DecimalAmount.minorUnits(q * $0, currency) } }
                ?? total
            lines.append(InvoiceLine(description: item["Description"] ?? item["Name"] ?? item["ProductCode"] ?? "Salesforce line item \(item.id)",
                                     product: item["Product2Id"].map { RecordRef(objectType: "products", objectID: $0) }, quantity: quantity,
                                     unitAmountMinor: unit, amountMinor: total, discountMinor: max(0, subtotal - total)))
        }
        return .success(lines)
    }

    func currency(_ record: SalesforceRecord) -> CurrencyCode? {
        record["CurrencyIsoCode"].flatMap { CurrencyCode($0.uppercased()) }
    }

    /// A compound address's parts (`BillingStreet`, …); its street's lines split.
    func address(_ record: SalesforceRecord, _ prefix: String) -> Address? {
        let street = (record[prefix + "Street"] ?? "").split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let address = Address(line1: street.first, line2: street.count > 1 ? street.dropFirst().joined(separator: ", ") : nil, city: record[prefix + "City"],
                              postalCode: record[prefix + "PostalCode"], state: record[prefix + "State"],
                              country: record[prefix + "Country"].flatMap(CountryNames.isoCode))
        return address == Address() ? nil : address
    }

    /// `https://www.acme.com/about` → `www.acme.com`; a bare host stays as it is.
    static func domain(_ website: String) -> String {
        var text = website.trimmingCharacters(in: .whitespaces)
        if let scheme = text.range(of: "://") { text = String(text[scheme.upperBound...]) }
        return String(text.prefix { $0 != "/" && $0 != "?" && $0 != "#" }).lowercased()
    }
}

/// An account status as Account field values: money as JSON numbers in major units (what a currency
/// field holds), counts as numbers, times as RFC 3339; a member without a value clears its field.
public enum SalesforceStatus {
    public static func fields(_ status: AccountStatus, names: [String: String]) -> [String: JSONValue] {
        var values: [String: JSONValue] = [:]
        func set(_ member: String, _ value: JSONValue?) {
            if let name = names[member] { values[name] = value ?? .null }
        }
        func money(_ money: Money?) -> JSONValue? {
            money.flatMap { Double($0.decimalText) }.map { .double($0) }
        }
        set("balance_due", money(status.balanceDue))
        set("overdue", money(status.overdue))
        set("overdue_invoices", .int(Int64(status.overdueInvoices)))
        set("last_payment", money(status.lastPayment))
        set("last_payment_at", status.lastPaymentAt.map { .string($0) })
        set("as_of", .string(status.asOf))
        return values
    }
}
