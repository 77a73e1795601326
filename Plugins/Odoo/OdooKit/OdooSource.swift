public import ConnectorProtocol
public import Foundation

/// Where a `write_date` stream stands. Odoo keeps `write_date` with microseconds but reads it back
/// in whole seconds, so "after the last value read" cannot be asked: `>` re-matches the rest of that
/// second and `=` matches nothing. The cursor therefore holds the last second read and the ids
/// already emitted in it; the next poll asks `>=` that second and skips those ids. Records changed
/// again later move to a later second and are read again, as they should be.
public struct OdooCursor: Codable, Sendable, Hashable {
    /// `YYYY-MM-DD HH:MM:SS`, UTC, as Odoo writes it.
    public var second: String
    /// Ids already emitted with `write_date` in `second`.
    public var seen: [Int64]

    public init(second: String, seen: [Int64] = []) {
        self.second = second
        self.seen = seen
    }

    /// A record as the stream reads it: its id and `write_date`.
    public struct Row: Sendable, Hashable {
        public var id: Int64
        public var writeDate: String
        public init(id: Int64, writeDate: String) {
            self.id = id
            self.writeDate = writeDate
        }
    }

    /// How many rows to ask for to get `wanted` new ones.
    public func limit(wanted: Int) -> Int { wanted + seen.count }

    /// Of the rows read (`write_date >= second`, ordered by write_date then id), the ones to emit,
    /// at most `wanted`, and the cursor after them.
    public func advance(over rows: [Row], wanted: Int) -> (emit: [Row], next: OdooCursor) {
        let skipped = Set(seen)
        let fresh = rows.lazy.filter { !($0.writeDate == second && skipped.contains($0.id)) }.prefix(wanted)
        guard let last = fresh.last else { return ([], self) }
        var next = OdooCursor(second: last.writeDate, seen: last.writeDate == second ? seen : [])
        next.seen += fresh.filter { $0.writeDate == last.writeDate }.map(\.id)
        return (Array(fresh), next)
    }

    /// Odoo's `YYYY-MM-DD HH:MM:SS` (UTC).
    public static func parse(odooDateTime text: String) -> Date? {
        guard text.count == 19 else { return nil }
        return try? Date(text.replacingOccurrences(of: " ", with: "T") + "Z", strategy: .iso8601)
    }

    public static func odooDateTime(_ date: Date) -> String {
        String(date.formatted(.iso8601).replacingOccurrences(of: "T", with: " ").prefix(19))
    }

    public func encoded() -> String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
    }

    public static func decode(_ text: String) throws(ConnectorError) -> OdooCursor {
        guard let cursor = try? JSONDecoder().decode(OdooCursor.self, from: Data(text.utf8)), parse(odooDateTime: cursor.second) != nil else {
            throw ConnectorError(.permanent, "the stored cursor \"\(text.prefix(80))\" is not an Odoo connector cursor")
        }
        return cursor
    }
}

/// Reads what finance changes in Odoo: invoices whose payment state changed, and customers.
public struct OdooSource: Sendable {
    public static let invoicesStream = "invoices"
    public static let partnersStream = "partners"
    public static let streams = [
        StreamInfo(name: invoicesStream, eventTypes: ["invoice.paid", "invoice.partially_paid", "invoice.unpaid", "invoice.reversed",
                                                      "credit_note.paid", "credit_note.partially_paid", "credit_note.unpaid", "credit_note.reversed"]),
        StreamInfo(name: partnersStream, eventTypes: ["customer.updated"]),
    ]

    let client: OdooClient
    let settings: OdooSettings
    let connector: ConnectorInfo

    public init(client: OdooClient, settings: OdooSettings, connector: ConnectorInfo) {
        self.client = client
        self.settings = settings
        self.connector = connector
    }

    static let invoiceFields = ["name", "ref", "move_type", "partner_id", "company_id", "currency_id", "payment_state", "amount_untaxed",
                                "amount_tax", "amount_total", "amount_residual", "invoice_date", "invoice_date_due", "write_date"]
    static let partnerFields = ["name", "email", "phone", "vat", "is_company", "street", "street2", "city", "zip", "country_id", "write_date"]

    public func poll(_ params: PollParams) async throws -> PollResult {
        let cursor = try params.cursor.map(OdooCursor.decode) ?? OdooCursor(
            second: settings.sourceSince ?? OdooCursor.odooDateTime(Date(timeIntervalSinceNow: -60))
        )
        let (model, domain, fields): (String, [JSONValue], [String]) = switch params.stream {
        case Self.invoicesStream:
            ("account.move", [["move_type", "in", ["out_invoice", "out_refund"]], ["state", "=", "posted"]], Self.invoiceFields)
        case Self.partnersStream:
            ("res.partner", [["parent_id", "=", false]], Self.partnerFields)
        default:
            throw ConnectorError(.permanent, "the Odoo connector has no stream \"\(params.stream)\" (it has \(Self.invoicesStream) and \(Self.partnersStream))")
        }
        let wanted = max(1, params.maxEvents)
        // The source reads across companies and names each record's entity.
        let context = try await client.allCompaniesContext()
        let limit = cursor.limit(wanted: wanted)
        let records = try await client.searchRead(model, domain: .array(domain + [["write_date", ">=", .string(cursor.second)]]), fields: fields,
                                                  order: "write_date asc, id asc", limit: limit, context: context)
        var byID: [Int64: JSONValue] = [:]
        var rows: [OdooCursor.Row] = []
        for record in records {
            guard let id = record["id"]?.intValue, let written = record["write_date"]?.stringValue else {
                throw ConnectorError(.transient, "Odoo's \(model) answer lacks id or write_date")
            }
            byID[id] = record
            rows.append(OdooCursor.Row(id: id, writeDate: written))
        }
        let (emit, next) = cursor.advance(over: rows, wanted: wanted)
        var events: [Event] = []
        var countries: [Int64: String] = [:]
        if params.stream == Self.partnersStream {
            countries = try await countryCodes(Set(emit.compactMap { byID[$0.id]?["country_id"]?.odooID }))
        }
        for row in emit {
            guard let record = byID[row.id] else { continue }
            if let event = params.stream == Self.invoicesStream ? invoiceEvent(record) : partnerEvent(record, countries: countries) {
                events.append(event)
            }
        }
        return PollResult(events: events, cursor: next.encoded(), hasMore: records.count == limit)
    }

    func countryCodes(_ ids: Set<Int64>) async throws -> [Int64: String] {
        guard !ids.isEmpty else { return [:] }
        let found = try await client.searchRead("res.country", domain: [["id", "in", .array(ids.sorted().map { .int($0) })]], fields: ["code"])
        return Dictionary(found.compactMap { record in record["id"]?.intValue.flatMap { id in record["code"]?.stringValue.map { (id, $0) } } }) { a, _ in a }
    }

    /// An invoice's payment state as a canonical event. Its version is the payment state and the
    /// amount left to pay, so that the host's idempotency keeps one event per change of what is owed,
    /// however often the invoice is written for other reasons.
    func invoiceEvent(_ record: JSONValue) -> Event? {
        guard let id = record["id"]?.intValue, let currency = record["currency_id"]?.odooName.flatMap(CurrencyCode.init),
              let partner = record["partner_id"]?.odooID else { return nil }
        let paymentState = record["payment_state"]?.stringValue ?? "not_paid"
        let minor = { (key: String) in OdooMapping.minorUnits(record[key]?.doubleValue ?? 0, currency) }
        let (status, what): (Invoice.Status, String) = switch paymentState {
        case "paid", "in_payment": (.paid, "paid")
        case "partial": (.open, "partially_paid")
        case "reversed": (.void, "reversed")
        default: (.open, "unpaid")
        }
        let total = minor("amount_total")
        let residual = minor("amount_residual")
        let invoice = Invoice(
            number: record["name"]?.stringValue, customer: RecordRef(objectType: "res.partner", objectID: String(partner)), status: status,
            currency: currency, issuedAt: record["invoice_date"]?.stringValue, dueAt: record["invoice_date_due"]?.stringValue, lines: [],
            subtotalMinor: minor("amount_untaxed"), taxMinor: minor("amount_tax"), totalMinor: total,
            amountPaidMinor: total - residual, amountDueMinor: residual
        )
        let creditNote = record["move_type"]?.stringValue == "out_refund"
        let version = "\(paymentState):\(residual)"
        return Event(
            type: "\(creditNote ? "credit_note" : "invoice").\(what)",
            source: SourceRef(objectType: "account.move", objectID: String(id), version: version),
            tenant: connector.tenant,
            entity: settings.entity(forCompany: record["company_id"]?.odooID) ?? connector.entity,
            correlationID: "\(connector.id):account.move:\(id):\(version)",
            occurredAt: Self.rfc3339(record["write_date"]?.stringValue),
            orderingKey: "res.partner:\(partner)",
            record: creditNote ? .creditNote(invoice) : .invoice(invoice)
        )
    }

    func partnerEvent(_ record: JSONValue, countries: [Int64: String]) -> Event? {
        guard let id = record["id"]?.intValue, let name = record["name"]?.stringValue else { return nil }
        let text = { (key: String) in record[key]?.stringValue }
        let address = Address(line1: text("street"), line2: text("street2"), city: text("city"), postalCode: text("zip"),
                              country: record["country_id"]?.odooID.flatMap { countries[$0] })
        let written = record["write_date"]?.stringValue ?? ""
        return Event(
            type: "customer.updated",
            source: SourceRef(objectType: "res.partner", objectID: String(id), version: written),
            tenant: connector.tenant,
            entity: connector.entity,
            correlationID: "\(connector.id):res.partner:\(id):\(written)",
            occurredAt: Self.rfc3339(written),
            orderingKey: "res.partner:\(id)",
            record: .customer(Customer(name: name, email: text("email"), phone: text("phone"), isCompany: record["is_company"]?.boolValue ?? false,
                                       vat: text("vat"), address: address))
        )
    }

    /// Odoo's `YYYY-MM-DD HH:MM:SS` (UTC) as RFC 3339.
    static func rfc3339(_ odoo: String?) -> String {
        guard let odoo, odoo.count == 19 else { return odoo ?? "" }
        return odoo.replacingOccurrences(of: " ", with: "T") + "Z"
    }
}
