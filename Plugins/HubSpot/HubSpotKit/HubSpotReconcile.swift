import ConnectorKit
public import ConnectorProtocol

/// `reconcile.snapshot` on the source side: the orders the connector's events carry over a range of
/// days — every deal in a won stage closed in it, mapped by the same ``HubSpotSource/events(_:_:)`` the
/// poll uses (its company, contacts and line items read alike), so that an item's id, amount and status
/// cannot differ from its `order.won` event's. Dated by its `closedate` (UTC), the day the Odoo sink
/// gives the sale order. A won deal without a close date, or without a company or contact to sell to,
/// is no order (the sink has nothing of it) and is not listed.
public struct HubSpotReconcile: Sendable {
    let source: HubSpotSource

    public init(source: HubSpotSource) {
        self.source = source
    }

    public func snapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        let request = try SourceReconcileRequest(params, vendor: "HubSpot", supported: ["order"]) { $0 == "order" ? "deals" : nil }
        var groups: [ReconcileGroup] = []
        for (objectType, objectsType) in request.kinds {
            let won = try await wonDeals(closedFrom: request.from * 1_000, before: (request.to + 86_400) * 1_000)
            let items = try await source.events(objectsType, won).compactMap(ReconcileItem.init(order:)).filter { params.includes(day: $0.date) }
            groups.append(ReconcileGroup(objectType: objectType, tallying: items, listed: params.includeItems, sourceObjectType: objectsType))
        }
        return ReconcileSnapshot(groups: groups)
    }

    /// Every deal in a won stage closed from `from` to before `before` (epoch milliseconds), by searches
    /// in id order from the last id read: no query pages towards the search's cap of 10,000 results.
    func wonDeals(closedFrom from: Int64, before: Int64) async throws -> [HubSpotObject] {
        guard !source.settings.wonStages.isEmpty else { return [] }
        var deals: [HubSpotObject] = []
        var after = "0"
        while true {
            let answer = try await source.client.search("deals", [
                "filterGroups": [["filters": [
                    ["propertyName": "dealstage", "operator": "IN", "values": .array(source.settings.wonStages.map { .string($0) })],
                    ["propertyName": "closedate", "operator": "GTE", "value": .string(String(from))],
                    ["propertyName": "closedate", "operator": "LT", "value": .string(String(before))],
                    ["propertyName": "hs_object_id", "operator": "GT", "value": .string(after)],
                ]]],
                "sorts": [["propertyName": "hs_object_id", "direction": "ASCENDING"]],
                "properties": .array(HubSpotMapping.properties("deals", settings: source.settings).map { .string($0) }),
                "limit": 200,
            ])
            let page = (answer["results"]?.arrayValue ?? []).compactMap(HubSpotObject.init)
            deals += page
            guard page.count == 200, let last = page.last?.id else { return deals }
            after = last
        }
    }
}
