import ConnectorKit
public import ConnectorProtocol
import Foundation

/// `reconcile.snapshot` on the source side: the invoices, credit notes, payments and refunds the
/// connector's events carry over a range of days, each as its event carries it — made by the same
/// ``ChargebeeEvents/record(_:_:deleted:occurredAt:)`` the backfill uses, so the object id it names as
/// `source.object_id`, the amount and the canonical status cannot differ from the events' — and dated
/// as the Odoo sink dates what it writes for it (an invoice or credit note by its `date`, a payment or
/// refund by its transaction's `date`, the UTC day), so that the host can compare the two sides record
/// by record. Only what the sink books counts: no pending invoice (no event yet), nothing void, no
/// transaction that did not succeed, nothing the mapping rejects.
public struct ChargebeeReconcile: Sendable {
    let client: ChargebeeClient
    let mapping: ChargebeeEvents

    public init(client: ChargebeeClient, mapping: ChargebeeEvents) {
        self.client = client
        self.mapping = mapping
    }

    /// Where a canonical kind is listed: the resource its list carries (and its events name as
    /// `source.object_type`) and the filters narrowing that list to the kind.
    struct Listing {
        var resource: String
        var filters: [(String, String)]

        var path: String { "/\(resource)s" }
    }

    static func listing(_ objectType: String) -> Listing? {
        switch objectType {
        case "invoice", "credit_note": Listing(resource: objectType, filters: [])
        // Chargebee's transactions are payments, refunds, authorizations and reversals; only a `success`
        // is booked (the mapping's `succeeded`, checked again on each).
        case "payment", "refund": Listing(resource: "transaction", filters: [("type[is]", objectType), ("status[is]", "success")])
        default: nil
        }
    }

    public func snapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        let request = try SourceReconcileRequest(params, vendor: "Chargebee", supported: ["invoice", "credit_note", "payment", "refund"], listing: Self.listing)
        let (from, to) = (request.from, request.to)
        // Chargebee filters by the very field the sink dates by; a second more on each side in case its
        // `between` leaves its bounds out (undocumented), the days themselves checked on each item.
        let dated = ("date[between]", "[\(from - 1), \(to + 86_400)]")
        var groups: [ReconcileGroup] = []
        for (objectType, listing) in request.kinds {
            let items = try await items(objectType, listing, [dated]).filter { params.includes(day: $0.date) }
            groups.append(ReconcileGroup(objectType: objectType, tallying: items, listed: params.includeItems, sourceObjectType: listing.resource == objectType ? nil : listing.resource))
        }
        return ReconcileSnapshot(groups: groups)
    }

    /// The items of every record of a Chargebee list, page by page (100 a page, the most Chargebee
    /// gives), deleted ones included as the backfill reads them: whether one counts is the mapping's call.
    func items(_ objectType: String, _ listing: Listing, _ filters: [(String, String)]) async throws -> [ReconcileItem] {
        var items: [ReconcileItem] = []
        var offset: String?
        while true {
            let query = filters + listing.filters + [("include_deleted", "true"), ("limit", "100")] + (offset.map { [("offset", $0)] } ?? [])
            let page = try await client.get(listing.path, query)
            guard let records = page["list"]?.arrayValue else {
                throw ConnectorError(.transient, "Chargebee's answer to GET \(listing.path) has no list")
            }
            items += records.compactMap { $0[listing.resource].flatMap { Self.item(objectType, $0, mapping: mapping) } }
            guard let next = page["next_offset"]?.stringValue else { return items }
            guard next != offset, !records.isEmpty else {
                throw ConnectorError(.transient, "Chargebee's answer to GET \(listing.path) gives the same next_offset again or an empty page with one")
            }
            offset = next
        }
    }

    /// The item a Chargebee record is as a kind, with the id, amount, status and date its event
    /// carries; nil for what the sink does not book (a pending invoice has no event yet; a void invoice
    /// or credit note, a payment or refund that did not succeed, a transaction of another type) or what
    /// the mapping rejects.
    public static func item(_ objectType: String, _ json: JSONValue, mapping: ChargebeeEvents) -> ReconcileItem? {
        guard let listing = listing(objectType), let event = mapping.record(listing.resource, json).events.first,
              event.source.objectType == listing.resource else { return nil }
        let id = event.source.objectID
        let state = json["status"]?.stringValue
        switch (objectType, event.record) {
        case ("invoice", .invoice(let invoice)), ("credit_note", .creditNote(let invoice)):
            guard invoice.status != .draft, invoice.status != .void else { return nil }
            return ReconcileItem(source: id, amount: Money(amountMinor: invoice.totalMinor, currency: invoice.currency), status: invoice.status.rawValue, state: state, dated: invoice.issuedAt)
        case ("payment", .payment(let payment)):
            guard payment.status == .succeeded else { return nil }
            return ReconcileItem(source: id, amount: payment.amount, status: payment.status.rawValue, state: state, dated: payment.paidAt)
        case ("refund", .refund(let refund)):
            guard refund.status == .succeeded else { return nil }
            return ReconcileItem(source: id, amount: refund.amount, status: refund.status.rawValue, state: state, dated: refund.refundedAt)
        default:
            return nil
        }
    }
}
