import ConnectorProtocol
import HostAdmin

/// Compares a source's records with what its target holds for them. Pure: the runner fetches both
/// snapshots (and what the host knows of the missing records); the rules are tested on their own.
///
/// The sides are matched by the reference the sink writes on every record, `ch:<source>:<type>:<id>`:
/// a target record of kind T whose reference names this source and kind T is the source record with
/// that id. Target records referring to another source belong to another pair and are left alone;
/// target records of kind T under a reference of another kind are what the sink derived (the credit
/// note it books for a refund) and are not compared either.
///
/// Both snapshots are asked for a few days more than the report's range on each side (the runner's
/// margin), so a record dated a day apart on the two sides is still found; only records dated in the
/// range are counted, or reported as missing or unknown.
enum DriftDetection {
    struct Window: Equatable {
        var from: String
        var to: String

        /// A record without a date is in every window.
        func contains(_ item: ReconcileItem) -> Bool {
            guard let date = item.date else { return true }
            return date >= from && date <= to
        }
    }

    /// - Parameter countUnreferenced: whether a target record without any reference counts as a
    ///   difference; listed either way (a target fed by several sources and by people has many).
    static func compare(source: ReconcileSnapshot, target: ReconcileSnapshot, sourceConnector: String, objectTypes: [String],
                        window: Window, amountTolerance: Int64, countUnreferenced: Bool = true) -> Comparison {
        var totals: [DriftTotals] = []
        var days: [DriftTotals] = []
        var items: [DriftItem] = []
        for objectType in objectTypes {
            let sourceGroup = source.groups.first { $0.objectType == objectType }
            let sourceItems = sourceGroup?.items ?? []
            // The type in the references the sink wrote: the source's own, when it names the kind otherwise.
            let referenceType = sourceGroup?.sourceObjectType ?? objectType
            let eventType = referenceType == objectType ? nil : referenceType
            let targetGroup = target.groups.first { $0.objectType == objectType }?.items ?? []
            var bySourceID: [String: ReconcileItem] = [:]
            for item in sourceItems where bySourceID[item.externalID] == nil { bySourceID[item.externalID] = item }

            // The target's records of this pair, by the source id their reference names, in the target's order.
            var written: [String: [ReconcileItem]] = [:]
            var writtenOrder: [String] = []
            var unreferenced: [ReconcileItem] = []
            for item in targetGroup {
                guard let reference = item.reference.flatMap(SinkReference.init(parsing:)) else {
                    if item.reference == nil { unreferenced.append(item) }
                    continue
                }
                guard reference.sourceConnector == sourceConnector, reference.objectType == referenceType else { continue }
                if written[reference.objectID] == nil { writtenOrder.append(reference.objectID) }
                written[reference.objectID, default: []].append(item)
            }

            let (sourceInWindow, targetInWindow) = (sourceItems.filter(window.contains), written.values.flatMap { $0 }.filter(window.contains))
            totals += sideTotals(objectType, source: sourceInWindow, target: targetInWindow)
            days += sideTotals(objectType, source: sourceInWindow, target: targetInWindow, byDay: true)

            for item in sourceItems where window.contains(item) {
                guard let copies = written[item.externalID] else {
                    items.append(DriftItem(kind: .missingInTarget, objectType: objectType, sourceID: item.externalID, targetIDs: [],
                                           sourceAmount: item.amount, sourceStatus: item.status, date: item.date, sourceObjectType: eventType))
                    continue
                }
                let record = copies[0]
                if let difference = amountDifference(item.amount, record.amount), difference > amountTolerance {
                    items.append(DriftItem(kind: .amountMismatch, objectType: objectType, sourceID: item.externalID, targetIDs: [record.externalID],
                                           sourceAmount: item.amount, targetAmount: record.amount, date: item.date, sourceObjectType: eventType))
                }
                if let sourceStatus = item.status, let targetStatus = record.status, comparable(sourceStatus) != comparable(targetStatus) {
                    items.append(DriftItem(kind: .statusMismatch, objectType: objectType, sourceID: item.externalID, targetIDs: [record.externalID],
                                           sourceStatus: sourceStatus, targetStatus: targetStatus, date: item.date, sourceObjectType: eventType))
                }
            }
            for sourceID in writtenOrder {
                let copies = written[sourceID] ?? []
                guard copies.contains(where: window.contains) else { continue }
                if copies.count > 1 {
                    items.append(DriftItem(kind: .duplicateInTarget, objectType: objectType, sourceID: sourceID, targetIDs: copies.map(\.externalID),
                                           sourceAmount: bySourceID[sourceID]?.amount, targetAmount: copies[0].amount, date: copies[0].date,
                                           sourceObjectType: eventType))
                }
                if bySourceID[sourceID] == nil {
                    items.append(DriftItem(kind: .unknownToSource, objectType: objectType, sourceID: sourceID, targetIDs: copies.map(\.externalID),
                                           targetAmount: copies[0].amount, targetStatus: copies[0].status, date: copies[0].date, sourceObjectType: eventType))
                }
            }
            for item in unreferenced where window.contains(item) {
                items.append(DriftItem(kind: .unreferenced, objectType: objectType, sourceID: nil, targetIDs: [item.externalID],
                                       targetAmount: item.amount, targetStatus: item.status, date: item.date,
                                       note: countUnreferenced ? nil : "no reference: written in the target by hand or by another system (count_unreferenced counts it)",
                                       counted: countUnreferenced))
            }
        }
        return Comparison(totals: totals, days: days, items: items)
    }

    /// What ``compare(source:target:sourceConnector:objectTypes:window:amountTolerance:countUnreferenced:)`` found.
    struct Comparison {
        /// Per kind and currency over the window.
        var totals: [DriftTotals]
        /// The same per day.
        var days: [DriftTotals]
        var items: [DriftItem]
    }

    /// Nil when there is nothing to compare (an amount missing on a side); a currency that differs is
    /// as far apart as amounts can be.
    static func amountDifference(_ source: Money?, _ target: Money?) -> Int64? {
        guard let source, let target else { return nil }
        guard source.currency == target.currency else { return .max }
        let (difference, overflow) = source.amountMinor.subtractingReportingOverflow(target.amountMinor)
        return overflow ? .max : difference.magnitude > UInt64(Int64.max) ? .max : Int64(difference.magnitude)
    }

    /// An uncollectible invoice is still open in books that cannot say uncollectible.
    static func comparable(_ status: String) -> String {
        status == "uncollectible" ? "open" : status
    }

    /// One row per currency seen on either side (and per day, `byDay`), the source's fees in the row of
    /// their own currency; a kind without amounts has one row without a currency (by day: none).
    static func sideTotals(_ objectType: String, source: [ReconcileItem], target: [ReconcileItem], byDay: Bool = false) -> [DriftTotals] {
        struct Key: Hashable {
            var date: String?
            var currency: String?
        }
        var rows: [Key: DriftTotals] = [:]
        func update(_ key: Key, _ change: (inout DriftTotals) -> Void) {
            var row = rows[key] ?? DriftTotals(objectType: objectType, currency: key.currency, sourceCount: 0, sourceTotalMinor: 0, targetCount: 0,
                                               targetTotalMinor: 0, date: key.date)
            change(&row)
            rows[key] = row
        }
        for item in source {
            let date = byDay ? item.date : nil
            update(Key(date: date, currency: item.amount?.currency.code)) {
                $0.sourceCount += 1
                $0.sourceTotalMinor += item.amount?.amountMinor ?? 0
            }
            if let fee = item.fee {
                update(Key(date: date, currency: fee.currency.code)) { $0.sourceFeeMinor = ($0.sourceFeeMinor ?? 0) + fee.amountMinor }
            }
        }
        for item in target {
            update(Key(date: byDay ? item.date : nil, currency: item.amount?.currency.code)) {
                $0.targetCount += 1
                $0.targetTotalMinor += item.amount?.amountMinor ?? 0
            }
        }
        if rows.isEmpty, !byDay {
            return [DriftTotals(objectType: objectType, currency: nil, sourceCount: 0, sourceTotalMinor: 0, targetCount: 0, targetTotalMinor: 0)]
        }
        return rows.values.sorted { ($0.date ?? "", $0.currency ?? "") < ($1.date ?? "", $1.currency ?? "") }
    }
}

extension DriftDetection {
    /// What the host knows of each record missing in the target, said on its finding: a delivery still
    /// queued is not drift until the grace period is over; a record the host never received needs its
    /// source's stream backfilled, which repair cannot do.
    /// - Parameter inHost: by the object type the source's events carry, then by source id.
    static func annotate(_ items: [DriftItem], inHost: [String: [String: Store.RecordInHost]], now: Int64, graceMilliseconds: Int64) -> [DriftItem] {
        items.map { item in
            guard item.kind == .missingInTarget, let sourceID = item.sourceID else { return item }
            var item = item
            guard let record = inHost[item.sourceObjectType ?? item.objectType]?[sourceID] else {
                item.note = "the host never received an event for it: backfill the source's stream (repair cannot re-deliver it)"
                return item
            }
            if let oldest = record.pending.min(by: { $0.at < $1.at }) {
                let waited = now - oldest.at
                item.note = "queued: delivery \(oldest.id) on route \(oldest.route) has waited \(waited / 1000) s"
                item.counted = waited >= graceMilliseconds
            } else {
                item.note = "delivered before (\(record.eventType)) but not in the target now: repair re-delivers it"
            }
            return item
        }
    }

    /// The days of a window of `days` ending today (UTC), and the same widened by `margin` days on each side.
    static func window(endingAt now: Int64, days: Int, margin: Int) -> (report: Window, asked: Window) {
        let today = now / 86_400_000
        let first = today - Int64(days - 1)
        return (Window(from: day(first), to: day(today)), Window(from: day(first - Int64(margin)), to: day(today + Int64(margin))))
    }

    /// `YYYY-MM-DD` of a day counted from 1970-01-01 (Howard Hinnant's civil-from-days).
    static func day(_ days: Int64) -> String {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }
}
