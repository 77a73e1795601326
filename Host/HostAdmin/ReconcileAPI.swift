// Admin API of reconciliation: what a sink's target holds, checked against what the host wrote.
public import ConnectorProtocol

extension AdminMethod {
    public static let reconcileSnapshot = "reconcile.snapshot"
}

/// `reconcile.snapshot` on the admin socket: the plugin's params plus the connector to ask.
public struct ReconcileRequest: Codable, Sendable {
    public var connector: String
    public var objectTypes: [String]
    public var from: String
    public var to: String
    public var includeItems: Bool

    public init(connector: String, objectTypes: [String], from: String, to: String, includeItems: Bool) {
        self.connector = connector
        self.objectTypes = objectTypes
        self.from = from
        self.to = to
        self.includeItems = includeItems
    }

    public var params: ReconcileParams {
        ReconcileParams(objectTypes: objectTypes, from: from, to: to, includeItems: includeItems)
    }

    enum CodingKeys: String, CodingKey {
        case connector, from, to
        case objectTypes = "object_types"
        case includeItems = "include_items"
    }
}

/// The sink's snapshot, plus what only the host can tell from its links.
public struct ReconcileReport: Codable, Sendable, Equatable {
    /// As the plugin answered; items only when they were asked for.
    public var snapshot: ReconcileSnapshot
    /// References found on more than one record: a record written twice, the worst case for finance.
    public var duplicates: [String]
    /// Records carrying a reference whose source record the host has no link for in this connector:
    /// written by another host or a lost state, or the write's bookkeeping never committed.
    public var unknownToHost: [ReconcileItem]
    /// Records without a reference: written by someone else, in the target itself.
    public var foreign: Int

    public init(snapshot: ReconcileSnapshot, duplicates: [String], unknownToHost: [ReconcileItem], foreign: Int) {
        self.snapshot = snapshot
        self.duplicates = duplicates
        self.unknownToHost = unknownToHost
        self.foreign = foreign
    }

    enum CodingKeys: String, CodingKey {
        case snapshot, duplicates, foreign
        case unknownToHost = "unknown_to_host"
    }
}
