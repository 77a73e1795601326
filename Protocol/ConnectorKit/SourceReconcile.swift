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
