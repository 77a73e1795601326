public import ConnectorProtocol
import Crypto
public import Foundation

/// Where a `write_date` stream stands. Odoo keeps `write_date` with microseconds but reads it back
/// in whole seconds, so "after the last value read" cannot be asked: on 17, `>` re-matches the rest of
/// that second; on 19, `>` means `>= X + 1 s` and misses what was written later in that second; `=`
/// matches nothing on 17 and the whole second on 19. Only `>=` means the same on both. The cursor
/// therefore holds the last second read and the ids already read in it; the next poll asks `>=` that
/// second and skips those ids, unless what they carry changed (a record written again in the same
/// second, e.g. posted and paid at once). Records changed again later move to a later second.
///
/// It also remembers what it last emitted of the `memory` most recently emitted records (their
/// fingerprint: what an event of them carries), so that a record Odoo touches without changing
/// anything the stream reports (posting an invoice rewrites its partner's `write_date`) is not emitted
/// again. A record forgotten since is emitted again: noise, never a loss.
public struct OdooCursor: Codable, Sendable, Hashable {
    /// `YYYY-MM-DD HH:MM:SS`, UTC, as Odoo writes it.
    public var second: String
    /// Ids already read with `write_date` in `second`.
    public var seen: [Int64]
    /// The fingerprints of the records emitted last, oldest first.
    public var recent: [Emitted]
    /// Where the stream started (its first `second`).
    public var start: String?

    /// How many emitted records the cursor remembers (about 40 bytes each in the stored cursor).
    public static let memory = 1_000

    public struct Emitted: Codable, Sendable, Hashable {
        public var id: Int64
        public var fingerprint: String
        public init(id: Int64, fingerprint: String) {
            self.id = id
            self.fingerprint = fingerprint
        }
    }

    public init(second: String, seen: [Int64] = [], recent: [Emitted] = [], start: String? = nil) {
        self.second = second
        self.seen = seen
        self.recent = recent
        self.start = start
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        second = try container.decode(String.self, forKey: .second)
        seen = try container.decode([Int64].self, forKey: .seen)
        // Cursors stored before fingerprints were kept have none.
        recent = try container.decodeIfPresent([Emitted].self, forKey: .recent) ?? []
        start = try container.decodeIfPresent(String.self, forKey: .start)
    }

    /// A record as the stream reads it: its id, `write_date`, and the fingerprint of what its event carries.
    public struct Row: Sendable, Hashable {
        public var id: Int64
        public var writeDate: String
        public var fingerprint: String
        public init(id: Int64, writeDate: String, fingerprint: String = "") {
            self.id = id
            self.writeDate = writeDate
            self.fingerprint = fingerprint
        }
    }

    /// How many rows to ask for to get `wanted` new ones.
    public func limit(wanted: Int) -> Int { wanted + seen.count }

    /// Of the rows read (`write_date >= second`, ordered by write_date then id), the ones to emit,
    /// at most `wanted`, and the cursor after them. The cursor moves over every row it looked at,
    /// emitted or not, so a page of unchanged records still moves it on.
    public func advance(over rows: [Row], wanted: Int) -> (emit: [Row], next: OdooCursor) {
        let skipped = Set(seen)
        let last = lastFingerprints
        var emit: [Row] = []
        var considered: [Row] = []
        for row in rows {
            if emit.count == wanted { break }
            considered.append(row)
            let unchanged = last[row.id].map { $0 == row.fingerprint } ?? (row.writeDate == second && skipped.contains(row.id))
            if !unchanged { emit.append(row) }
        }
        guard let end = considered.last else { return ([], self) }
        var next = OdooCursor(second: end.writeDate, seen: end.writeDate == second ? seen : [], recent: recent)
        var inSecond = Set(next.seen)
        for row in considered where row.writeDate == end.writeDate && inSecond.insert(row.id).inserted {
            next.seen.append(row.id)
        }
        next.start = start
        next.remember(emit)
        return (emit, next)
    }

    /// Of records read again behind the cursor (committed late, see ``OdooSource``), the ones to emit:
    /// those whose fingerprint the cursor does not remember as emitted. A record forgotten since is
    /// emitted again (noise, never a loss: the host drops an event it already has).
    public func revisit(_ rows: [Row], wanted: Int) -> (emit: [Row], next: OdooCursor) {
        let last = lastFingerprints
        let emit = Array(rows.filter { last[$0.id] != $0.fingerprint }.prefix(max(0, wanted)))
        var next = self
        next.remember(emit)
        return (emit, next)
    }

    /// What was last emitted of each remembered record, by id.
    var lastFingerprints: [Int64: String] { Dictionary(recent.map { ($0.id, $0.fingerprint) }) { _, newer in newer } }

    mutating func remember(_ emitted: [Row]) {
        let ids = Set(emitted.map(\.id))
        recent.removeAll { ids.contains($0.id) }
        recent += emitted.map { Emitted(id: $0.id, fingerprint: $0.fingerprint) }
        if recent.count > Self.memory { recent.removeFirst(recent.count - Self.memory) }
    }

    /// The first second a stream may read: the start it was given, so a re-read never reaches before it
    /// (a cursor stored before starts were kept has none).
    public var floor: String { start ?? "" }

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
        let first = settings.sourceSince ?? OdooCursor.odooDateTime(Date(timeIntervalSinceNow: -60))
        let cursor = try params.cursor.map(OdooCursor.decode) ?? OdooCursor(second: first, start: first)
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
