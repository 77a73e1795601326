public import ConnectorProtocol
import ConnectorKit
import Crypto
public import Foundation

/// The `account_status` stream: where each customer stands with finance, per Odoo company — balance
/// due, what is overdue and how many invoices, the last payment — for a CRM's sales team. Emitted when
/// it changes: a customer's posted invoices and credit notes are read as they are written (their
/// `write_date` moves when a payment settles them), and each day the invoices that fell due the day
/// before make their customers' statuses read again. The event's version is a digest of the status, so
/// a status read again unchanged is dropped by the host.
///
/// Computed from the invoices themselves (open residuals in the company's currency): `res.partner`'s
/// `credit` counts only the first allowed company and `total_due` does not exist on 17 or 19.
public struct OdooAccountStatus: Sendable {
    public static let stream = "account_status"

    let client: OdooClient
    let settings: OdooSettings
    let connector: ConnectorInfo
    /// Today, `YYYY-MM-DD` in UTC (tests set it).
    let today: @Sendable () -> String

    public init(client: OdooClient, settings: OdooSettings, connector: ConnectorInfo,
                today: @escaping @Sendable () -> String = { String(Date().formatted(.iso8601).prefix(10)) }) {
        self.client = client
        self.settings = settings
        self.connector = connector
        self.today = today
    }

    /// The cursor: the invoices' ``OdooCursor`` and the last day whose due invoices were looked at.
    struct Cursor: Codable {
        var moves: OdooCursor
        var day: String
    }

    static let invoiceDomain: [JSONValue] = [["move_type", "in", ["out_invoice", "out_refund"]], ["state", "=", "posted"]]

    public func poll(_ params: PollParams) async throws -> PollResult {
        let today = today()
        let first = settings.sourceSince ?? OdooCursor.odooDateTime(Date(timeIntervalSinceNow: -60))
        var cursor = try params.cursor.map { text in
            guard let cursor = try? JSONDecoder().decode(Cursor.self, from: Data(text.utf8)) else {
                throw ConnectorError(.permanent, "the stored cursor \"\(text.prefix(80))\" is not an account-status cursor")
            }
            return cursor
        } ?? Cursor(moves: OdooCursor(second: first, start: first), day: today)
        let context = try await client.allCompaniesContext()
        let wanted = max(1, min(params.maxEvents, 200))
        let limit = cursor.moves.limit(wanted: wanted)
        let moves = try await client.searchRead("account.move", domain: .array(Self.invoiceDomain + [["write_date", ">=", .string(cursor.moves.second)]]),
                                                fields: Self.fields, order: "write_date asc, id asc", limit: limit,
                                                context: context)
        var customerOf: [Int64: Customer] = [:]
        let (emit, next) = cursor.moves.advance(over: Self.rows(moves, customers: &customerOf), wanted: wanted)
        cursor.moves = next
        var customers = Set(emit.compactMap { customerOf[$0.id] })
        // Caught up: the last minutes behind the cursor are read again, for invoices committed late (Odoo
        // stamps write_date with the transaction's start), as the invoices stream does.
        if moves.count < limit, settings.sourceOverlapSeconds > 0, let end = OdooCursor.parse(odooDateTime: cursor.moves.second) {
            let from = max(OdooCursor.odooDateTime(end.addingTimeInterval(-Double(settings.sourceOverlapSeconds))), cursor.moves.floor)
            let late = try await client.searchRead("account.move", domain: .array(Self.invoiceDomain + [["write_date", ">=", .string(from)],
                                                                                                       ["write_date", "<", .string(cursor.moves.second)]]),
                                                   fields: Self.fields, order: "write_date asc, id asc", limit: 500, context: context)
            let revisited = cursor.moves.revisit(Self.rows(late, customers: &customerOf), wanted: 500)
            cursor.moves = revisited.next
            customers.formUnion(revisited.emit.compactMap { customerOf[$0.id] })
        }
        // A new day: the customers of the invoices that fell due since the last one are read again.
        if today > cursor.day {
            let due = try await client.searchRead("account.move", domain: .array(Self.invoiceDomain + [
                ["payment_state", "in", ["not_paid", "partial"]], ["invoice_date_due", ">=", .string(cursor.day)], ["invoice_date_due", "<", .string(today)],
            ]), fields: ["commercial_partner_id", "company_id"], context: context)
            for move in due {
                if let partner = move["commercial_partner_id"]?.odooID, let company = move["company_id"]?.odooID {
                    customers.insert(Customer(partner: partner, company: company))
                }
            }
            cursor.day = today
        }
        var events: [Event] = []
        for customer in customers.sorted(by: { ($0.partner, $0.company) < ($1.partner, $1.company) }) {
            events.append(try await event(customer, today: today, context: context))
        }
        return PollResult(events: events, cursor: String(decoding: try JSONEncoder().encode(cursor), as: UTF8.self), hasMore: moves.count == limit)
    }

    static let fields = ["commercial_partner_id", "company_id", "write_date", "payment_state", "amount_residual"]

    /// Invoices as cursor rows, fingerprinted with what the status depends on (an invoice rewritten in
    /// the second it was read is read again), and whose customer each is.
    static func rows(_ moves: [JSONValue], customers: inout [Int64: Customer]) -> [OdooCursor.Row] {
        moves.compactMap { move in
            guard let id = move["id"]?.intValue, let written = move["write_date"]?.stringValue,
                  let partner = move["commercial_partner_id"]?.odooID, let company = move["company_id"]?.odooID else { return nil }
            customers[id] = Customer(partner: partner, company: company)
            return OdooCursor.Row(id: id, writeDate: written, fingerprint: "\(move["payment_state"]?.stringValue ?? ""):\(move["amount_residual"]?.doubleValue ?? 0)")
        }
    }

    struct Customer: Hashable {
        var partner: Int64
        var company: Int64
    }

    /// One customer's status in one company, in the company's currency.
    func event(_ customer: Customer, today: String, context: [String: JSONValue]) async throws -> Event {
        let currency = try await companyCurrency(customer.company, context: context)
        let open = try await client.searchRead("account.move", domain: .array(Self.invoiceDomain + [
            ["commercial_partner_id", "=", .int(customer.partner)], ["company_id", "=", .int(customer.company)], ["payment_state", "in", ["not_paid", "partial"]],
        ]), fields: ["move_type", "amount_residual_signed", "invoice_date_due"], context: context)
        var balance: Int64 = 0, overdue: Int64 = 0, overdueInvoices = 0
        for move in open {
            let residual = OdooMapping.minorUnits(move["amount_residual_signed"]?.doubleValue ?? 0, currency)
            balance += residual
            if move["move_type"]?.stringValue == "out_invoice", let due = move["invoice_date_due"]?.stringValue, due < today, residual > 0 {
                overdue += residual
                overdueInvoices += 1
            }
        }
        let payment = try await client.searchRead("account.payment", domain: [
            ["partner_id", "child_of", .int(customer.partner)], ["company_id", "=", .int(customer.company)], ["payment_type", "=", "inbound"],
            ["state", "not in", ["draft", "cancel", "canceled", "rejected"]],
        ], fields: ["amount", "date", "currency_id"], order: "date desc, id desc", limit: 1, context: context).first
        let paid = payment.flatMap { payment -> (Money, String?)? in
            guard let code = payment["currency_id"]?.odooName.flatMap(CurrencyCode.init) else { return nil }
            return (Money(amountMinor: OdooMapping.minorUnits(payment["amount"]?.doubleValue ?? 0, code), currency: code), payment["date"]?.stringValue)
        }
        let status = AccountStatus(customer: RecordRef(objectType: "res.partner", objectID: String(customer.partner)),
                                   balanceDue: Money(amountMinor: balance, currency: currency), overdue: Money(amountMinor: overdue, currency: currency),
                                   overdueInvoices: overdueInvoices, lastPayment: paid?.0, lastPaymentAt: paid?.1, asOf: today)
        // The digest of the status, and the last time its customer's invoices were written: a status that
        // comes back to an earlier value (an invoice cancelled, then issued again) is a new version.
        let written = try await client.searchRead("account.move", domain: [
            ["commercial_partner_id", "=", .int(customer.partner)], ["company_id", "=", .int(customer.company)],
            ["move_type", "in", ["out_invoice", "out_refund"]], ["state", "in", ["posted", "cancel"]],
        ], fields: ["write_date"], order: "write_date desc", limit: 1, context: context).first?["write_date"]?.stringValue ?? ""
        let version = "\(customer.company):" + Self.digest(balance, overdue, overdueInvoices, paid?.0.amountMinor, paid?.1, written)
        return Event(type: "account_status.changed", source: SourceRef(objectType: "res.partner", objectID: String(customer.partner), version: version),
                     tenant: connector.tenant, entity: settings.entity(forCompany: customer.company) ?? connector.entity,
                     correlationID: "\(connector.id):account_status:\(customer.partner):\(version)", occurredAt: Date().formatted(.iso8601),
                     orderingKey: "res.partner:\(customer.partner)", record: .accountStatus(status))
    }

    static func digest(_ parts: Any?...) -> String {
        let text = parts.map { $0.map { "\($0)" } ?? "-" }.joined(separator: "|")
        return Hex.encode(SHA256.hash(data: Data(text.utf8)).prefix(8))
    }

    func companyCurrency(_ company: Int64, context: [String: JSONValue]) async throws -> CurrencyCode {
        let read = try await client.searchRead("res.company", domain: [["id", "=", .int(company)]], fields: ["currency_id"], limit: 1, context: context)
        guard let code = read.first?["currency_id"]?.odooName.flatMap(CurrencyCode.init) else {
            throw ConnectorError(.transient, "Odoo's company \(company) has no readable currency")
        }
        return code
    }
}
