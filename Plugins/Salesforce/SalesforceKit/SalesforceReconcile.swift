import ConnectorKit
public import ConnectorProtocol

/// `reconcile.snapshot` on the source side: the orders the connector's events carry over a range of
/// days — every won opportunity (`IsWon`) whose `CloseDate` falls in it, mapped with its line items by
/// the same ``SalesforceSource/map(_:_:)`` the poll uses, so that an item's id, amount and status cannot
/// differ from its `order.won` event's. Dated by its close date, the day the Odoo sink gives the sale
/// order. A won opportunity the mapping rejects (no account) is no order and is not listed.
public struct SalesforceReconcile: Sendable {
    let source: SalesforceSource

    public init(source: SalesforceSource) {
        self.source = source
    }

    public func snapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        let request = try SourceReconcileRequest(params, vendor: "Salesforce", supported: ["order"]) { $0 == "order" ? "opportunities" : nil }
        var groups: [ReconcileGroup] = []
        for (objectType, stream) in request.kinds {
            // A date field takes unquoted date literals; the params are checked dates.
            let won = try await source.queryEverything(SOQL.select(source.mapping.fields(stream), from: SalesforceMapping.object(stream),
                                                                   where: ["IsWon = true", "CloseDate >= \(params.from)", "CloseDate <= \(params.to)"],
                                                                   orderBy: ["Id ASC"]))
            let items = try await source.map(stream, won).events.compactMap(ReconcileItem.init(order:)).filter { params.includes(day: $0.date) }
            groups.append(ReconcileGroup(objectType: objectType, tallying: items, listed: params.includeItems, sourceObjectType: stream))
        }
        return ReconcileSnapshot(groups: groups)
    }
}
