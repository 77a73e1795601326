public import ConnectorProtocol
public import ConnectorKit
import Crypto
public import Foundation

/// The Odoo streams' cursor: ConnectorKit's ``ModifiedSinceCursor`` over `write_date` (whole seconds,
/// `YYYY-MM-DD HH:MM:SS` UTC) and record ids.
public typealias OdooCursor = ModifiedSinceCursor<Int64>

extension ModifiedSinceCursor where ID == Int64 {
    /// The `write_date` second read last.
    public var second: String {
        get { stamp }
        set { stamp = newValue }
    }

    public init(second: String, seen: [Int64] = [], recent: [Emitted] = [], start: String? = nil) {
        self.init(stamp: second, seen: seen, recent: recent, start: start)
    }

    /// Odoo's `YYYY-MM-DD HH:MM:SS` (UTC).
    public static func parse(odooDateTime text: String) -> Date? {
        guard text.count == 19 else { return nil }
        return try? Date(text.replacingOccurrences(of: " ", with: "T") + "Z", strategy: .iso8601)
    }

    public static func odooDateTime(_ date: Date) -> String {
        String(date.formatted(.iso8601).replacingOccurrences(of: "T", with: " ").prefix(19))
    }

    public static func decode(_ text: String) throws(ConnectorError) -> OdooCursor {
        guard let cursor = try? JSONDecoder().decode(OdooCursor.self, from: Data(text.utf8)), parse(odooDateTime: cursor.second) != nil else {
            throw ConnectorError(.permanent, "the stored cursor \"\(text.prefix(80))\" is not an Odoo connector cursor")
        }
        return cursor
    }
}

extension ModifiedSinceCursor.Row where ID == Int64 {
    public var writeDate: String { stamp }

    public init(id: Int64, writeDate: String, fingerprint: String = "") {
        self.init(id: id, stamp: writeDate, fingerprint: fingerprint)
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
        StreamInfo(name: OdooAccountStatus.stream, eventTypes: ["account_status.changed"]),
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
        if params.stream == OdooAccountStatus.stream {
            // Every instance announces the stream; one without `account_status = true` reads nothing.
            guard settings.accountStatus else { return PollResult(events: [], cursor: params.cursor, hasMore: false) }
            return try await OdooAccountStatus(client: client, settings: settings, connector: connector).poll(params)
        }
        let first = settings.sourceSince ?? OdooCursor.odooDateTime(Date(timeIntervalSinceNow: -60))
        let cursor = try params.cursor.map(OdooCursor.decode) ?? OdooCursor(second: first, start: first)
        let (model, domain, fields): (String, [JSONValue], [String]) = switch params.stream {
        case Self.invoicesStream:
            ("account.move", [["move_type", "in", ["out_invoice", "out_refund"]], ["state", "=", "posted"]], Self.invoiceFields)
        case Self.partnersStream:
            ("res.partner", [["parent_id", "=", false]], Self.partnerFields)
        default:
            throw ConnectorError(.permanent, "the Odoo connector has no stream \"\(params.stream)\" (it has \(Self.invoicesStream), \(Self.partnersStream) and \(OdooAccountStatus.stream))")
        }
        let wanted = max(1, params.maxEvents)
        // The source reads across companies and names each record's entity.
        let context = try await client.allCompaniesContext()
        let limit = cursor.limit(wanted: wanted)
        let records = try await client.searchRead(model, domain: .array(domain + [["write_date", ">=", .string(cursor.second)]]), fields: fields,
                                                  order: "write_date asc, id asc", limit: limit, context: context)
        let (rows, events) = try await self.rows(records, stream: params.stream, model: model)
        var (emit, next) = cursor.advance(over: rows, wanted: wanted)
        var page = emit.compactMap { events[$0.id] }
        // Caught up: read the last minutes behind the cursor again, for records committed late.
        if records.count < limit, page.count < wanted, settings.sourceOverlapSeconds > 0, let end = OdooCursor.parse(odooDateTime: next.second) {
            let from = max(OdooCursor.odooDateTime(end.addingTimeInterval(-Double(settings.sourceOverlapSeconds))), next.floor)
            let late = try await client.searchRead(model, domain: .array(domain + [["write_date", ">=", .string(from)], ["write_date", "<", .string(next.second)]]),
                                                   fields: fields, order: "write_date asc, id asc", limit: 500, context: context)
            let (lateRows, lateEvents) = try await self.rows(late, stream: params.stream, model: model)
            let revisited = next.revisit(lateRows, wanted: wanted - page.count)
            next = revisited.next
            page += revisited.emit.compactMap { lateEvents[$0.id] }
        }
        return PollResult(events: page, cursor: next.encoded(), hasMore: records.count == limit)
    }

    /// The records read as cursor rows (with the fingerprint of their event) and their events by id.
    func rows(_ records: [JSONValue], stream: String, model: String) async throws -> ([OdooCursor.Row], [Int64: Event]) {
        var countries: [Int64: String] = [:]
        if stream == Self.partnersStream {
            countries = try await countryCodes(Set(records.compactMap { $0["country_id"]?.odooID }))
        }
        var events: [Int64: Event] = [:]
        var rows: [OdooCursor.Row] = []
        for record in records {
            guard let id = record["id"]?.intValue, let written = record["write_date"]?.stringValue else {
                throw ConnectorError(.transient, "Odoo's \(model) answer lacks id or write_date")
            }
            let event = stream == Self.invoicesStream ? invoiceEvent(record) : partnerEvent(record, countries: countries)
            events[id] = event
            rows.append(OdooCursor.Row(id: id, writeDate: written, fingerprint: event.map(Self.fingerprint) ?? ""))
        }
        return (rows, events)
    }

    /// What an event of a record carries, as a short digest: the record's content, not its version
    /// (a partner's version is its `write_date`, which Odoo rewrites for reasons of its own).
    static func fingerprint(_ event: Event) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let content = (try? encoder.encode(event.record)) ?? Data()
        return Hex.encode(SHA256.hash(data: Data(event.type.utf8) + content).prefix(8))
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
