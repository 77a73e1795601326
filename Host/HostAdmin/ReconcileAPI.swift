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
    /// Which side the connector answers for: what it wrote as a sink, or what its source emits.
    public var side: ReconcileParams.Side

    public init(connector: String, objectTypes: [String], from: String, to: String, includeItems: Bool, side: ReconcileParams.Side = .target) {
        self.connector = connector
        self.objectTypes = objectTypes
        self.from = from
        self.to = to
        self.includeItems = includeItems
        self.side = side
    }

    public var params: ReconcileParams {
        ReconcileParams(objectTypes: objectTypes, from: from, to: to, includeItems: includeItems, side: side)
    }

    enum CodingKeys: String, CodingKey {
        case connector, from, to, side
        case objectTypes = "object_types"
        case includeItems = "include_items"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        connector = try container.decode(String.self, forKey: .connector)
        objectTypes = try container.decode([String].self, forKey: .objectTypes)
        from = try container.decode(String.self, forKey: .from)
        to = try container.decode(String.self, forKey: .to)
        includeItems = try container.decode(Bool.self, forKey: .includeItems)
        side = try container.decodeIfPresent(ReconcileParams.Side.self, forKey: .side) ?? .target
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

// MARK: Scheduled reconciliation of a source against a target

extension AdminMethod {
    /// Runs a `[[reconcile]]` now; answers its report.
    public static let reconcileRun = "reconcile.run"
    /// The latest reports, newest first.
    public static let reconcileReports = "reconcile.reports"
    /// Re-delivers the source events of records missing in the target.
    public static let reconcileRepair = "reconcile.repair"
}

/// `reconcile.run` and `reconcile.repair`: the `[[reconcile]]` to act on.
public struct ReconcileNameRequest: Codable, Sendable {
    public var name: String

    public init(name: String) {
        self.name = name
    }
}

/// `reconcile.reports`: one reconciliation's reports, or every reconciliation's latest.
public struct ReconcileReportsRequest: Codable, Sendable {
    /// Nil: the latest report of each `[[reconcile]]`.
    public var name: String?
    /// How many reports of `name`, newest first.
    public var limit: Int

    public init(name: String?, limit: Int) {
        self.name = name
        self.limit = limit
    }
}

/// What one run of a `[[reconcile]]` found: counts and totals of both sides, and every record that
/// differs, each with its ids on both sides.
public struct DriftReport: Codable, Sendable, Equatable {
    /// The store's id of the run; nil before it was stored.
    public var id: Int64?
    public var name: String
    public var source: String
    public var target: String
    /// The source connector's legal entity, when it has one.
    public var entity: String?
    /// The days compared, inclusive (`YYYY-MM-DD`, UTC).
    public var from: String
    public var to: String
    /// Unix milliseconds.
    public var startedAt: Int64
    public var finishedAt: Int64
    /// What started a run.
    public enum Trigger: String, Codable, Sendable {
        case schedule, `operator`
    }

    public enum Outcome: String, Codable, Sendable {
        /// No more differences than the tolerance allows.
        case clean
        /// More differences than the tolerance allows.
        case drift
        /// A side did not answer: `error` names it.
        case failed
    }

    public var trigger: Trigger
    public var outcome: Outcome
    /// Why it failed, naming the side.
    public var error: String?
    /// Differences allowed before the run counts as drift.
    public var tolerance: Int
    /// The differences that count: all but those still queued for delivery within the grace period.
    public var drift: Int
    public var totals: [DriftTotals]
    /// The totals per day; nil in a report stored before they were kept.
    public var days: [DriftTotals]?
    public var items: [DriftItem]

    public init(id: Int64? = nil, name: String, source: String, target: String, entity: String?, from: String, to: String, startedAt: Int64,
                finishedAt: Int64, trigger: Trigger, outcome: Outcome, error: String?, tolerance: Int, drift: Int, totals: [DriftTotals],
                days: [DriftTotals]? = nil, items: [DriftItem]) {
        self.id = id
        self.name = name
        self.source = source
        self.target = target
        self.entity = entity
        self.from = from
        self.to = to
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.trigger = trigger
        self.outcome = outcome
        self.error = error
        self.tolerance = tolerance
        self.drift = drift
        self.totals = totals
        self.days = days
        self.items = items
    }

    enum CodingKeys: String, CodingKey {
        case id, name, source, target, entity, from, to, trigger, outcome, error, tolerance, drift, totals, days, items
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}

/// Counts and totals of one record kind in one currency, on each side, over the report's days (or one
/// of them).
public struct DriftTotals: Codable, Sendable, Equatable {
    public var objectType: String
    /// ISO 4217 code; nil for records without an amount.
    public var currency: String?
    public var sourceCount: Int
    public var sourceTotalMinor: Int64
    public var targetCount: Int
    public var targetTotalMinor: Int64
    /// What the payment processor kept, in this currency, of the source's records (Stripe's fees); nil
    /// where the source says nothing of fees. Net: `sourceTotalMinor` less this, when nothing was converted.
    public var sourceFeeMinor: Int64?
    /// The day, in a report's per-day rows; nil for the whole window.
    public var date: String?

    public init(objectType: String, currency: String?, sourceCount: Int, sourceTotalMinor: Int64, targetCount: Int, targetTotalMinor: Int64,
                sourceFeeMinor: Int64? = nil, date: String? = nil) {
        self.objectType = objectType
        self.currency = currency
        self.sourceCount = sourceCount
        self.sourceTotalMinor = sourceTotalMinor
        self.targetCount = targetCount
        self.targetTotalMinor = targetTotalMinor
        self.sourceFeeMinor = sourceFeeMinor
        self.date = date
    }

    enum CodingKeys: String, CodingKey {
        case currency, date
        case sourceFeeMinor = "source_fee_minor"
        case objectType = "object_type"
        case sourceCount = "source_count"
        case sourceTotalMinor = "source_total_minor"
        case targetCount = "target_count"
        case targetTotalMinor = "target_total_minor"
    }
}

/// One record that differs between the sides.
public struct DriftItem: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// In the source, not in the target: never delivered, or deleted there.
        case missingInTarget = "missing_in_target"
        /// In the target under a reference to the source, but the source has no such record.
        case unknownToSource = "unknown_to_source"
        /// Written more than once in the target: one reference on several records.
        case duplicateInTarget = "duplicate_in_target"
        case amountMismatch = "amount_mismatch"
        case statusMismatch = "status_mismatch"
        /// In the target without any reference: written there by hand, or by something else.
        case unreferenced
    }

    public var kind: Kind
    public var objectType: String
    /// The object type the source's events carry for it, when not `objectType` (Chargebee's `transaction`).
    public var sourceObjectType: String?
    /// The record's id in the source; nil for an unreferenced target record.
    public var sourceID: String?
    /// Its ids in the target (several for a duplicate); empty when missing there.
    public var targetIDs: [String]
    public var sourceAmount: Money?
    public var targetAmount: Money?
    public var sourceStatus: String?
    public var targetStatus: String?
    /// The day it is dated by, on the side that has it.
    public var date: String?
    /// What the host knows of it, e.g. that its delivery is still queued, or why repair cannot help.
    public var note: String?
    /// False while its delivery is queued within the grace period: not drift yet.
    public var counted: Bool

    public init(kind: Kind, objectType: String, sourceID: String?, targetIDs: [String], sourceAmount: Money? = nil, targetAmount: Money? = nil,
                sourceStatus: String? = nil, targetStatus: String? = nil, date: String? = nil, note: String? = nil, counted: Bool = true,
                sourceObjectType: String? = nil) {
        self.kind = kind
        self.objectType = objectType
        self.sourceObjectType = sourceObjectType
        self.sourceID = sourceID
        self.targetIDs = targetIDs
        self.sourceAmount = sourceAmount
        self.targetAmount = targetAmount
        self.sourceStatus = sourceStatus
        self.targetStatus = targetStatus
        self.date = date
        self.note = note
        self.counted = counted
    }

    enum CodingKeys: String, CodingKey {
        case kind, date, note, counted
        case objectType = "object_type"
        case sourceObjectType = "source_object_type"
        case sourceID = "source_id"
        case targetIDs = "target_ids"
        case sourceAmount = "source_amount"
        case targetAmount = "target_amount"
        case sourceStatus = "source_status"
        case targetStatus = "target_status"
    }
}

/// What `reconcile.repair` did for each record missing in the target.
public struct RepairResult: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public enum Action: String, Codable, Sendable {
            /// A new delivery of the record's latest event was queued.
            case queued
            /// A delivery of it is already waiting: nothing added.
            case alreadyQueued = "already_queued"
            /// The host never received an event for it: the source's stream must be backfilled.
            case noEvent = "no_event"
            /// No route from the source to the target takes its latest event (a route changed since).
            case noRoute = "no_route"
            /// Delivered to the target since the report was made (by an earlier repair): run it again to see.
            case deliveredSinceReport = "delivered_since_report"
        }
        public var objectType: String
        public var sourceID: String
        public var action: Action
        public var deliveryID: Int64?
        public var route: String?

        public init(objectType: String, sourceID: String, action: Action, deliveryID: Int64?, route: String?) {
            self.objectType = objectType
            self.sourceID = sourceID
            self.action = action
            self.deliveryID = deliveryID
            self.route = route
        }

        enum CodingKeys: String, CodingKey {
            case action, route
            case objectType = "object_type"
            case sourceID = "source_id"
            case deliveryID = "delivery_id"
        }
    }

    /// The report whose missing records were repaired.
    public var reportID: Int64
    public var entries: [Entry]
    /// Findings left for a person: duplicates, mismatches, records unknown to the source.
    public var leftForAPerson: Int

    public init(reportID: Int64, entries: [Entry], leftForAPerson: Int) {
        self.reportID = reportID
        self.entries = entries
        self.leftForAPerson = leftForAPerson
    }

    enum CodingKeys: String, CodingKey {
        case entries
        case reportID = "report_id"
        case leftForAPerson = "left_for_a_person"
    }
}
