public import ConnectorProtocol

/// Where a source connector's `reconcile.snapshot` begins: it answers for the source side only, each
/// kind asked for is one it lists (refused before any call to its API), and the range's days as the
/// Unix seconds its list filters take.
public struct SourceReconcileRequest<Listing> {
    /// The kinds asked for, in order, each with how the connector lists it.
    public var kinds: [(objectType: String, listing: Listing)]
    /// 00:00 UTC of the first day and of the last day, Unix seconds.
    public var from: Int64
    public var to: Int64

    /// - Parameters:
    ///   - vendor: the connector's name in messages ("Stripe").
    ///   - supported: the kinds it lists, named in the refusal of another.
    ///   - listing: how it lists a kind; nil for one it does not.
    public init(_ params: ReconcileParams, vendor: String, supported: [String], listing: (String) -> Listing?) throws(ConnectorError) {
        guard params.side == .source else {
            throw ConnectorError(.notSupported, "the \(vendor) connector reconciles as a source only (side source)")
        }
        var kinds: [(objectType: String, listing: Listing)] = []
        for objectType in params.objectTypes {
            guard let found = listing(objectType) else {
                throw ConnectorError(.notSupported, "the \(vendor) connector reconciles \(Self.sentence(supported)), not \(objectType)")
            }
            kinds.append((objectType, found))
        }
        guard let days = params.unixDays else {
            throw ConnectorError(.permanent, "from and to must be dates YYYY-MM-DD, not \"\(params.from)\" and \"\(params.to)\"")
        }
        self.kinds = kinds
        (from, to) = days
    }

    /// `a, b and c`.
    static func sentence(_ words: [String]) -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " and " + words[words.count - 1]
    }
}

extension ReconcileItem {
    /// A source's record as its events carry it: the object id, the amount, the canonical status and the
    /// source's own state, dated by the UTC day of the mapped time (the first 10 characters, what the
    /// Odoo sink takes of it). Nil without such a time: the sink could not date it either.
    public init?(source id: String, amount: Money, status: String, state: String? = nil, dated time: String?, fee: Money? = nil) {
        guard let day = time?.prefix(10), day.count == 10 else { return nil }
        self.init(externalID: id, reference: nil, sourceConnector: nil, sourceID: nil, amount: amount, state: state, date: String(day), status: status,
                  fee: fee)
    }

    /// A CRM's won deal or opportunity as the order its event carries: the deal's id, the order's amount
    /// before taxes (what the Odoo sink checks the sale order against) and status, dated by its
    /// `ordered_at` (the close date the sink gives the sale order). Nil for any other event.
    public init?(order event: Event) {
        guard case .order(let order) = event.record else { return nil }
        self.init(source: event.source.objectID, amount: Money(amountMinor: order.subtotalMinor, currency: order.currency), status: order.status.rawValue,
                  dated: order.orderedAt)
    }
}
