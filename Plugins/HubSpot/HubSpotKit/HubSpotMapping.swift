import ConnectorKit
public import ConnectorProtocol
import Foundation

/// A CRM record as HubSpot's v3 API answers it (`SimplePublicObject`): every property value a string.
public struct HubSpotObject: Sendable, Hashable {
    public var id: String
    public var properties: [String: String]
    public var archived: Bool
    public var archivedAt: String?
    public var updatedAt: String?

    public init(id: String, properties: [String: String], archived: Bool = false, archivedAt: String? = nil, updatedAt: String? = nil) {
        self.id = id
        self.properties = properties
        self.archived = archived
        self.archivedAt = archivedAt
        self.updatedAt = updatedAt
    }

    /// Nil for anything that is not a record (no `id`).
    public init?(_ json: JSONValue) {
        guard let id = json["id"]?.stringValue else { return nil }
        var properties: [String: String] = [:]
        for (name, value) in json["properties"]?.objectValue ?? [:] {
            if let text = value.stringValue { properties[name] = text }
        }
        self.init(id: id, properties: properties, archived: json["archived"]?.boolValue ?? false, archivedAt: json["archivedAt"]?.stringValue,
                  updatedAt: json["updatedAt"]?.stringValue)
    }

    public subscript(_ name: String) -> String? {
        properties[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// When it last changed, epoch milliseconds: the property the search reads (`lastmodifieddate` for
    /// contacts, `hs_lastmodifieddate` for the others), else the record's `updatedAt`.
    public func modified(_ objectType: String) -> Int64? {
        let property = HubSpotMapping.modifiedProperty(objectType)
        return (self[property] ?? updatedAt).flatMap(HubSpotTime.milliseconds)
    }
}

/// What a HubSpot record's associations are, by the other object type (`companies`, `contacts`, `line_items`).
public typealias HubSpotAssociations = [String: [String]]

/// HubSpot records as canonical events. Pure: the connector fetches, this maps; tested without network.
public struct HubSpotMapping: Sendable {
    public let settings: HubSpotSettings
    public let connector: ConnectorInfo

    public init(settings: HubSpotSettings, connector: ConnectorInfo) {
        self.settings = settings
        self.connector = connector
    }

    public static func modifiedProperty(_ objectType: String) -> String {
        objectType == "contacts" ? "lastmodifieddate" : "hs_lastmodifieddate"
    }

    /// What each stream reads of its records.
    public static func properties(_ objectType: String, settings: HubSpotSettings) -> [String] {
        switch objectType {
        case "companies":
            ["name", "domain", "phone", "industry", "address", "address2", "city", "zip", "state", "country", "hs_lastmodifieddate"]
                + [settings.vatProperty].compactMap { $0 }
        case "contacts":
            ["firstname", "lastname", "email", "phone", "jobtitle", "address", "city", "zip", "state", "country", "lastmodifieddate"]
        case "deals":
            ["dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate", "hs_lastmodifieddate"]
        case "line_items":
            ["name", "quantity", "price", "amount", "hs_product_id", "hs_sku", "hs_lastmodifieddate"]
        default:
            [modifiedProperty(objectType)]
        }
    }

    /// A record's event: an upsert, or a deletion when the record is archived. `contacts` carries the
    /// emails of the contacts a company is associated with (its primary one first), `lineItems` a deal's.
    public func event(_ objectType: String, _ object: HubSpotObject, associations: HubSpotAssociations = [:],
                      contactEmails: [String: String] = [:], lineItems: [String: HubSpotObject] = [:]) -> Event? {
        guard let modified = object.modified(objectType) else { return nil }
        let version = object.archived ? "archived:\(object.archivedAt.flatMap(HubSpotTime.milliseconds) ?? modified)" : String(modified)
        let record: Record
        let type: String
        var orderingKey = "\(objectType):\(object.id)"
        switch objectType {
        case "companies":
            let email = associations["contacts", default: []].lazy.compactMap { contactEmails[$0] }.first
            record = .company(Company(name: object["name"] ?? object["domain"] ?? "HubSpot company \(object.id)", domain: object["domain"],
                                      vat: settings.vatProperty.flatMap { object[$0] }, phone: object["phone"], industry: object["industry"],
                                      address: address(object), email: email))
            type = "company"
        case "contacts":
            let company = associations["companies"]?.first
            let name = [object["firstname"], object["lastname"]].compactMap { $0 }.joined(separator: " ")
            record = .contact(Contact(name: name.isEmpty ? object["email"] ?? "HubSpot contact \(object.id)" : name, firstName: object["firstname"],
                                      lastName: object["lastname"], email: object["email"], phone: object["phone"], title: object["jobtitle"],
                                      company: company.map { RecordRef(objectType: "companies", objectID: $0) }, address: address(object)))
            // A contact goes after its company: both keep the company's order.
            if let company { orderingKey = "companies:\(company)" }
            type = "contact"
        case "deals":
            let mapped = deal(object, associations: associations, lineItems: lineItems)
            record = mapped.record
            type = mapped.type
            if let company = associations["companies"]?.first { orderingKey = "companies:\(company)" }
        default:
            return nil
        }
        let what = object.archived ? "deleted" : (type == "order" ? "won" : "upserted")
        return Event(type: "\(type).\(what)", source: SourceRef(objectType: objectType, objectID: object.id, version: version),
                     tenant: connector.tenant, entity: connector.entity, correlationID: "\(connector.id):\(objectType):\(object.id):\(version)",
                     occurredAt: HubSpotTime.rfc3339(modified), orderingKey: orderingKey, record: record)
    }

    /// A deal in a won stage is an order (its customer the deal's company, else its first contact);
    /// any other deal stays a deal, won, lost or open.
    func deal(_ object: HubSpotObject, associations: HubSpotAssociations, lineItems: [String: HubSpotObject]) -> (type: String, record: Record) {
        let stage = object["dealstage"] ?? ""
        let outcome: Deal.Outcome = settings.wonStages.contains(stage) ? .won : settings.lostStages.contains(stage) ? .lost : .open
        let currency = object["deal_currency_code"].flatMap { CurrencyCode($0.uppercased()) } ?? settings.currency
        let amount = object["amount"].flatMap { DecimalAmount.minorUnits($0, currency) }.map { Money(amountMinor: $0, currency: currency) }
        let items = associations["line_items", default: []].compactMap { lineItems[$0] }
        var lines = items.map { line($0, currency: currency) }
        if lines.isEmpty, let amount {
            lines = [InvoiceLine(description: object["dealname"] ?? "HubSpot deal \(object.id)", quantity: "1", unitAmountMinor: amount.amountMinor,
                                 amountMinor: amount.amountMinor)]
        }
        let company = associations["companies"]?.first.map { RecordRef(objectType: "companies", objectID: $0) }
        let contacts = associations["contacts", default: []].map { RecordRef(objectType: "contacts", objectID: $0) }
        if outcome == .won, let customer = company ?? contacts.first {
            let subtotal = lines.reduce(0) { $0 + $1.amountMinor }
            return ("order", .order(Order(number: object["dealname"], customer: customer, status: .confirmed, currency: currency, lines: lines,
                                          subtotalMinor: subtotal, taxMinor: 0, totalMinor: subtotal, orderedAt: object["closedate"],
                                          deal: RecordRef(objectType: "deals", objectID: object.id))))
        }
        return ("deal", .deal(Deal(name: object["dealname"] ?? "HubSpot deal \(object.id)", stage: stage, outcome: outcome, amount: amount,
                                   closeAt: object["closedate"], company: company, contacts: contacts, lines: lines)))
    }

    /// A line item: its price before discounts, its amount after them (HubSpot's own `amount`). The
    /// discount is what the amount lacks of price × quantity, less than a minor unit being HubSpot's rounding.
    func line(_ item: HubSpotObject, currency: CurrencyCode) -> InvoiceLine {
        let quantity = item["quantity"].flatMap(DecimalAmount.decimal) ?? 1
        let price = item["price"].flatMap(DecimalAmount.decimal) ?? 0
        let unit = DecimalAmount.minorUnits(price, currency) ?? 0
        let amount = item["amount"].flatMap { DecimalAmount.minorUnits($0, currency) } ?? DecimalAmount.minorUnits(price * quantity, currency) ?? 0
        let minor = pow(Decimal(10), currency.minorUnitExponent)
        let missing = price * quantity * minor - Decimal(amount)
        let discount = missing >= 1 ? DecimalAmount.minorUnits(missing / minor, currency) ?? 0 : 0
        return InvoiceLine(description: item["name"] ?? "HubSpot line item \(item.id)",
                           product: item["hs_product_id"].map { RecordRef(objectType: "products", objectID: $0) },
                           quantity: item["quantity"] ?? "1", unitAmountMinor: unit, amountMinor: amount, discountMinor: discount)
    }

    /// HubSpot's address properties; its `country` is free text (``CountryNames``).
    func address(_ object: HubSpotObject) -> Address? {
        let address = Address(line1: object["address"], line2: object["address2"], city: object["city"], postalCode: object["zip"],
                              state: object["state"], country: object["country"].flatMap(CountryNames.isoCode))
        return address == Address() ? nil : address
    }
}

/// HubSpot's webhook notices.
public enum HubSpotWebhook {
    /// The CRM object type of a `subscriptionType`'s first part (`contact.propertyChange` → `contacts`).
    public static func objectType(_ kind: String) -> String? {
        switch kind {
        case "company": "companies"
        case "contact": "contacts"
        case "deal": "deals"
        default: nil
        }
    }
}

/// An account status as company property values: money as decimal text in major units (what a HubSpot
/// number property holds), counts as integers, times as RFC 3339.
public enum HubSpotStatus {
    public static func properties(_ status: AccountStatus, names: [String: String]) -> [String: JSONValue] {
        var values: [String: JSONValue] = [:]
        func set(_ member: String, _ value: String?) {
            if let name = names[member] { values[name] = value.map { .string($0) } ?? .string("") }
        }
        set("balance_due", status.balanceDue.decimalText)
        set("overdue", status.overdue.decimalText)
        set("overdue_invoices", String(status.overdueInvoices))
        set("last_payment", status.lastPayment?.decimalText)
        set("last_payment_at", status.lastPaymentAt)
        set("as_of", status.asOf)
        return values
    }
}
