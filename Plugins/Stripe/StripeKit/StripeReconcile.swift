import ConnectorKit
public import ConnectorProtocol
import Foundation

/// `reconcile.snapshot` on the source side: the invoices, payments, refunds and credit notes the
/// connector's events carry over a range of days, each as its events carry it — the object id they
/// name as `source.object_id`, the amount and canonical status ``StripeMapping`` gives it — and dated
/// as the Odoo sink dates what it writes for it, so that the host can compare the two sides record by
/// record. Only what the sink books counts: no draft or void invoice, no charge that is not captured.
/// Payments and refunds carry their fee (their balance transaction's, expanded in the same list call),
/// so that the report says what Stripe kept and what reaches the bank.
public struct StripeReconcile: Sendable {
    let client: StripeClient

    public init(client: StripeClient) {
        self.client = client
    }

    /// Where a kind is listed, and where the `created` of a record dated in the range can lie: Stripe
    /// filters lists by `created`, not by the day a record is dated by.
    struct Listing {
        var path: String
        /// Days before `from` a record dated in the range may have been created.
        var lookbackDays: Int64
        /// Whether a record dated by the end of `to` was created by then too (its date is not before its creation).
        var createdByLastDay: Bool
        /// Expanded in each object: a charge's or refund's balance transaction, which says its fee.
        var expand: [String] = []
    }

    static func listing(_ objectType: String) -> Listing? {
        switch objectType {
        // Dated by its finalization, which may come days after the draft was created: 31 days back
        // covers a draft left open for a month (one finalized later is missed).
        case "invoice": Listing(path: "/v1/invoices", lookbackDays: 31, createdByLastDay: true)
        // Dated by `created` itself: the range is the filter.
        case "payment": Listing(path: "/v1/charges", lookbackDays: 0, createdByLastDay: true, expand: ["data.balance_transaction"])
        case "refund": Listing(path: "/v1/refunds", lookbackDays: 0, createdByLastDay: true, expand: ["data.balance_transaction"])
        // Dated by `effective_at`, "same as created unless overwritten": set, it can name a day before
        // the note was created, so a note made after `to` may still be dated in the range.
        case "credit_note": Listing(path: "/v1/credit_notes", lookbackDays: 31, createdByLastDay: false)
        default: nil
        }
    }

    public func snapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        let request = try SourceReconcileRequest(params, vendor: "Stripe", supported: ["invoice", "payment", "refund", "credit_note"], listing: Self.listing)
        let (from, to) = (request.from, request.to)
        var groups: [ReconcileGroup] = []
        for (objectType, listing) in request.kinds {
            var filters = [("created[gte]", String(from - listing.lookbackDays * 86_400))]
            if listing.createdByLastDay { filters.append(("created[lte]", String(to + 86_399))) }
            filters += listing.expand.map { ("expand[]", $0) }
            let items = try await items(objectType, at: listing.path, filters).filter { params.includes(day: $0.date) }
            groups.append(ReconcileGroup(objectType: objectType, tallying: items, listed: params.includeItems))
        }
        return ReconcileSnapshot(groups: groups)
    }

    /// The items of every object of a Stripe list, page by page (100 a page, the most Stripe gives).
    func items(_ objectType: String, at path: String, _ filters: [(String, String)]) async throws -> [ReconcileItem] {
        var items: [ReconcileItem] = []
        var after: String?
        while true {
            let page = try await client.get(path, filters + [("limit", "100")] + (after.map { [("starting_after", $0)] } ?? []))
            guard let objects = page["data"]?.arrayValue else {
                throw ConnectorError(.transient, "Stripe's answer to GET \(path) has no data list")
            }
            items += objects.compactMap { Self.item(objectType, $0) }
            guard page["has_more"]?.boolValue == true else { return items }
            guard let last = objects.last?["id"]?.stringValue, last != after else {
                throw ConnectorError(.transient, "Stripe's answer to GET \(path) says it has more but names no object to continue after")
            }
            after = last
        }
    }

    /// The item a Stripe object of the kind is, with the amount, status and date its event carries; nil
    /// for an object the sink does not book (a draft or void invoice, a charge not captured or not
    /// succeeded, a refund not succeeded, a void credit note) or that maps to no record.
    public static func item(_ objectType: String, _ object: JSONValue) -> ReconcileItem? {
        guard let id = object["id"]?.stringValue else { return nil }
        let state = object["status"]?.stringValue
        switch objectType {
        case "invoice":
            guard let invoice = StripeMapping.invoice(object), invoice.status != .draft, invoice.status != .void else { return nil }
            return ReconcileItem(source: id, amount: Money(amountMinor: invoice.totalMinor, currency: invoice.currency), status: invoice.status.rawValue, state: state, dated: invoice.issuedAt)
        case "payment":
            guard let payment = StripeMapping.payment(object, transactions: [:]), payment.status == .succeeded else { return nil }
            return ReconcileItem(source: id, amount: payment.amount, status: payment.status.rawValue, state: state, dated: payment.paidAt, fee: payment.fee)
        case "refund":
            guard let refund = StripeMapping.refund(object, charge: nil), refund.status == .succeeded else { return nil }
            return ReconcileItem(source: id, amount: refund.amount, status: refund.status.rawValue, state: state, dated: refund.refundedAt,
                                 fee: refund.settlement?.fee)
        case "credit_note":
            guard let note = StripeMapping.creditNote(object), note.status != .void else { return nil }
            return ReconcileItem(source: id, amount: Money(amountMinor: note.totalMinor, currency: note.currency), status: note.status.rawValue, state: state, dated: note.issuedAt)
        default:
            return nil
        }
    }
}
