import ConnectorProtocol
import HostAdmin
@testable import HostCore
import Testing

/// The rules of a scheduled reconciliation, without I/O: matching a source's records with a target's
/// through the references the sink wrote, the window, the tolerance, and what the host knows.
@Suite struct DriftDetectionTests {
    let usd = CurrencyCode("USD")!
    let eur = CurrencyCode("EUR")!
    let window = DriftDetection.Window(from: "2026-03-01", to: "2026-03-31")

    func money(_ minor: Int64, _ currency: CurrencyCode? = nil) -> Money { Money(amountMinor: minor, currency: currency ?? usd) }

    func source(_ id: String, _ minor: Int64, status: String? = "paid", date: String = "2026-03-10", currency: CurrencyCode? = nil) -> ReconcileItem {
        ReconcileItem(externalID: id, reference: nil, amount: money(minor, currency), date: date, status: status)
    }

    func target(_ id: String, _ reference: String?, _ minor: Int64, status: String? = "paid", date: String = "2026-03-10", currency: CurrencyCode? = nil) -> ReconcileItem {
        ReconcileItem(externalID: id, reference: reference, amount: money(minor, currency), state: "posted", date: date, status: status)
    }

    func compare(_ source: [ReconcileItem], _ target: [ReconcileItem], type: String = "invoice", tolerance: Int64 = 0) -> DriftDetection.Comparison {
        DriftDetection.compare(source: ReconcileSnapshot(groups: [ReconcileGroup(objectType: type, count: source.count, totals: [], items: source)]),
                               target: ReconcileSnapshot(groups: [ReconcileGroup(objectType: type, count: target.count, totals: [], items: target)]),
                               sourceConnector: "stripe", objectTypes: [type], window: window, amountTolerance: tolerance)
    }

    @Test func matchingBooksHaveNoDifferenceAndEqualTotals() {
        let result = compare([source("in_1", 1000), source("in_2", 2500, status: "open")],
                             [target("m1", "ch:stripe:invoice:in_1", 1000), target("m2", "ch:stripe:invoice:in_2", 2500, status: "open")])
        #expect(result.items.isEmpty)
        #expect(result.totals == [DriftTotals(objectType: "invoice", currency: "USD", sourceCount: 2, sourceTotalMinor: 3500, targetCount: 2, targetTotalMinor: 3500)])
    }

    @Test func everyKindOfDifferenceIsFoundWithTheIdsOfBothSides() {
        let result = compare(
            [source("in_1", 1000), source("in_2", 2000), source("in_3", 3000), source("in_4", 4000, status: "paid"), source("in_5", 500)],
            [
                // in_1 deleted in the target; in_2 written twice; in_3 with another amount; in_4 not paid there.
                target("m2", "ch:stripe:invoice:in_2", 2000), target("m2b", "ch:stripe:invoice:in_2", 2000),
                target("m3", "ch:stripe:invoice:in_3", 3100),
                target("m4", "ch:stripe:invoice:in_4", 4000, status: "open"),
                target("m5", "ch:stripe:invoice:in_5", 500),
                // Typed in by hand, and one the source never had.
                target("m6", nil, 700),
                target("m7", "ch:stripe:invoice:in_404", 900),
            ]
        )
        let found = result.items.map { "\($0.kind.rawValue) \($0.sourceID ?? "-") \($0.targetIDs.joined(separator: ","))" }
        #expect(found == [
            "missing_in_target in_1 ",
            "amount_mismatch in_3 m3",
            "status_mismatch in_4 m4",
            "duplicate_in_target in_2 m2,m2b",
            "unknown_to_source in_404 m7",
            "unreferenced - m6",
        ])
        let mismatch = result.items[1]
        #expect(mismatch.sourceAmount == money(3000) && mismatch.targetAmount == money(3100))
        #expect(result.items[2].sourceStatus == "paid" && result.items[2].targetStatus == "open")
        #expect(result.items.allSatisfy { $0.counted })
        // The target's totals count what it holds of this source: the duplicate twice, the hand-made record not.
        #expect(result.totals == [DriftTotals(objectType: "invoice", currency: "USD", sourceCount: 5, sourceTotalMinor: 10_500,
                                              targetCount: 6, targetTotalMinor: 12_500)])
    }

    @Test func unreferencedRecordsAreListedAndCountOnlyWhenConfiguredTo() {
        let target = [target("m1", "ch:stripe:invoice:in_1", 1000), target("hand", nil, 700)]
        let listed = DriftDetection.compare(source: ReconcileSnapshot(groups: [ReconcileGroup(objectType: "invoice", count: 1, totals: [], items: [source("in_1", 1000)])]),
                                            target: ReconcileSnapshot(groups: [ReconcileGroup(objectType: "invoice", count: 2, totals: [], items: target)]),
                                            sourceConnector: "stripe", objectTypes: ["invoice"], window: window, amountTolerance: 0, countUnreferenced: false)
        #expect(listed.items.map(\.kind) == [.unreferenced])
        #expect(listed.items.first?.counted == false && listed.items.first?.note?.contains("count_unreferenced") == true)
        let counted = compare([source("in_1", 1000)], target)
        #expect(counted.items.first?.counted == true && counted.items.first?.note == nil)
    }

    @Test func recordsOfAnotherSourceOrDerivedKindsAreNotThisPairs() {
        let result = compare([source("re_1", 300)], [
            target("p1", "ch:stripe:refund:re_1", 300),
            target("p2", "ch:chargebee:refund:re_1", 999),
            target("n1", "ch:stripe:refund_credit_note:re_1", 300),
        ], type: "refund")
        #expect(result.items.isEmpty)
        #expect(result.totals.map(\.targetCount) == [1])
    }

    @Test func aSourceNamingTheKindOtherwiseIsMatchedByItsOwnType() {
        // Chargebee's payments are transactions: the sink's references say so.
        let source = ReconcileSnapshot(groups: [ReconcileGroup(objectType: "payment", tallying: [source("txn_1", 500), source("txn_2", 700)], listed: true,
                                                               sourceObjectType: "transaction")])
        let target = ReconcileSnapshot(groups: [ReconcileGroup(objectType: "payment", count: 2, totals: [], items: [
            target("p1", "ch:stripe:transaction:txn_1", 500), target("p9", "ch:stripe:transaction:txn_9", 900),
        ])])
        let result = DriftDetection.compare(source: source, target: target, sourceConnector: "stripe", objectTypes: ["payment"], window: window, amountTolerance: 0)
        #expect(result.items.map { "\($0.kind.rawValue) \($0.sourceID ?? "") \($0.sourceObjectType ?? "-")" } == [
            "missing_in_target txn_2 transaction", "unknown_to_source txn_9 transaction",
        ])
        // What the host knows is looked up under the events' type.
        let annotated = DriftDetection.annotate(result.items, inHost: ["transaction": ["txn_2": Store.RecordInHost(eventID: 1, eventType: "payment.succeeded", pending: [])]],
                                                now: 0, graceMilliseconds: 0)
        #expect(annotated.first?.note?.contains("repair re-delivers it") == true)
    }

    @Test func theAmountToleranceAndCurrencies() {
        #expect(compare([source("in_1", 1000)], [target("m1", "ch:stripe:invoice:in_1", 1001)], tolerance: 1).items.isEmpty)
        #expect(compare([source("in_1", 1000)], [target("m1", "ch:stripe:invoice:in_1", 1002)], tolerance: 1).items.map(\.kind) == [.amountMismatch])
        // The same number in another currency is not the same amount.
        #expect(compare([source("in_1", 1000)], [target("m1", "ch:stripe:invoice:in_1", 1000, currency: eur)], tolerance: 1_000_000).items.map(\.kind) == [.amountMismatch])
        #expect(DriftDetection.amountDifference(money(.min), money(.max)) == .max)
        #expect(DriftDetection.amountDifference(nil, money(5)) == nil)
        // One row per currency, in code order.
        let totals = compare([source("in_1", 1000, currency: eur), source("in_2", 2000)],
                             [target("m1", "ch:stripe:invoice:in_1", 1000, currency: eur), target("m2", "ch:stripe:invoice:in_2", 2000)]).totals
        #expect(totals.map(\.currency) == ["EUR", "USD"])
    }

    @Test func anUncollectibleInvoiceIsOpenInBooksThatCannotSaySo() {
        #expect(compare([source("in_1", 1000, status: "uncollectible")], [target("m1", "ch:stripe:invoice:in_1", 1000, status: "open")]).items.isEmpty)
        // No status on a side: nothing to compare.
        #expect(compare([source("in_1", 1000, status: nil)], [target("m1", "ch:stripe:invoice:in_1", 1000, status: "open")]).items.isEmpty)
    }

    @Test func onlyRecordsDatedInTheWindowCountButTheMarginStillMatches() {
        let result = compare(
            [source("in_1", 1000, date: "2026-02-28"), source("in_2", 2000, date: "2026-03-31"), source("in_3", 3000, date: "2026-02-27")],
            [
                // Dated a day later in the target than in the source: still the same record, no difference.
                target("m1", "ch:stripe:invoice:in_1", 1000, date: "2026-03-01"),
                target("m2", "ch:stripe:invoice:in_2", 2000, date: "2026-04-01"),
            ]
        )
        #expect(result.items.isEmpty, "\(result.items)")
        #expect(result.totals == [DriftTotals(objectType: "invoice", currency: "USD", sourceCount: 1, sourceTotalMinor: 2000, targetCount: 1, targetTotalMinor: 1000)])
    }

    @Test func whatTheHostKnowsOfAMissingRecordDecidesWhetherItCountsYet() {
        let missing = ["in_1", "in_2", "in_3", "in_4"].map { DriftItem(kind: .missingInTarget, objectType: "invoice", sourceID: $0, targetIDs: []) }
        let duplicate = DriftItem(kind: .duplicateInTarget, objectType: "invoice", sourceID: "in_9", targetIDs: ["a", "b"])
        let now: Int64 = 10_000_000
        let inHost: [String: [String: Store.RecordInHost]] = ["invoice": [
            "in_1": Store.RecordInHost(eventID: 1, eventType: "invoice.paid", pending: []),
            "in_2": Store.RecordInHost(eventID: 2, eventType: "invoice.finalized", pending: [.init(id: 20, route: "books", at: now - 60_000)]),
            "in_3": Store.RecordInHost(eventID: 3, eventType: "invoice.finalized", pending: [.init(id: 30, route: "books", at: now - 3_600_000)]),
        ]]
        let annotated = DriftDetection.annotate(missing + [duplicate], inHost: inHost, now: now, graceMilliseconds: 1_800_000)
        #expect(annotated.map(\.counted) == [true, false, true, true, true])
        #expect(annotated[0].note?.contains("repair re-delivers it") == true)
        #expect(annotated[1].note == "queued: delivery 20 on route books has waited 60 s")
        #expect(annotated[2].note == "queued: delivery 30 on route books has waited 3600 s")
        #expect(annotated[3].note?.contains("never received") == true)
        #expect(annotated[4] == duplicate)
    }

    @Test func theWindowEndsTodayInUTCAndTheMarginWidensWhatIsAsked() {
        // 2026-03-01T23:59:59Z.
        let now: Int64 = 1_772_409_599_000
        let windows = DriftDetection.window(endingAt: now, days: 35, margin: 1)
        #expect(windows.report == DriftDetection.Window(from: "2026-01-26", to: "2026-03-01"))
        #expect(windows.asked == DriftDetection.Window(from: "2026-01-25", to: "2026-03-02"))
        #expect(DriftDetection.day(0) == "1970-01-01")
        #expect(DriftDetection.day(11_016) == "2000-02-29")
        #expect(DriftDetection.day(-1) == "1969-12-31")
        #expect(DriftDetection.window(endingAt: now, days: 1, margin: 0).report == DriftDetection.Window(from: "2026-03-01", to: "2026-03-01"))
    }

    @Test func schedules() {
        let hour: Int64 = 3_600_000
        let day: Int64 = 24 * hour
        let base: Int64 = 20_000 * day
        #expect(!Reconciler.isDue(.onDemand, lastStartedAt: nil, now: base))
        #expect(Reconciler.isDue(.every(seconds: 3600), lastStartedAt: nil, now: base), "never run: run now")
        #expect(!Reconciler.isDue(.every(seconds: 3600), lastStartedAt: base, now: base + hour - 1))
        #expect(Reconciler.isDue(.every(seconds: 3600), lastStartedAt: base, now: base + hour))
        // Daily at 02:30 UTC: due once the time has come since the last run, not again the same day.
        let daily = ReconcileConfig.Schedule.daily(minuteOfDay: 150)
        #expect(!Reconciler.isDue(daily, lastStartedAt: base + 2 * hour + 30 * 60_000, now: base + 20 * hour))
        #expect(!Reconciler.isDue(daily, lastStartedAt: base - 2 * hour, now: base + 2 * hour))
        #expect(Reconciler.isDue(daily, lastStartedAt: base - 2 * hour, now: base + 2 * hour + 30 * 60_000))
        #expect(Reconciler.isDue(daily, lastStartedAt: base - 3 * day, now: base + hour), "days missed while down: one run now")
        // A run that failed is tried again after a quarter of an hour, not only the next day.
        let failedAt = base + 2 * hour + 30 * 60_000
        #expect(!Reconciler.isDue(daily, lastStartedAt: failedAt, lastFailed: true, now: failedAt + 14 * 60_000))
        #expect(Reconciler.isDue(daily, lastStartedAt: failedAt, lastFailed: true, now: failedAt + 15 * 60_000))
        #expect(!Reconciler.isDue(.onDemand, lastStartedAt: failedAt, lastFailed: true, now: failedAt + day))
    }

    /// Fees count in the row of their own currency; per-day rows split the window's totals by date.
    @Test func feesAndDaysAreTotalledPerCurrency() {
        var early = source("ch_1", 10_000, status: "succeeded", date: "2026-03-09", currency: eur)
        early.fee = Money(amountMinor: 320, currency: eur)
        var late = source("ch_2", 5_000, status: "succeeded", date: "2026-03-10", currency: eur)
        late.fee = Money(amountMinor: 175, currency: eur)
        let converted = { () -> ReconcileItem in
            var item = source("ch_3", 2_000, status: "succeeded", date: "2026-03-10")  // USD, settled in EUR
            item.fee = Money(amountMinor: 90, currency: eur)
            return item
        }()
        let result = compare([early, late, converted], [target("p1", "ch:stripe:payment:ch_1", 10_000, date: "2026-03-09", currency: eur)], type: "payment")
        #expect(result.totals.map { "\($0.currency ?? "-") \($0.sourceCount) \($0.sourceTotalMinor) \($0.sourceFeeMinor.map(String.init) ?? "-") \($0.targetCount)" }
            == ["EUR 2 15000 585 1", "USD 1 2000 - 0"])
        #expect(result.days.map { "\($0.date ?? "-") \($0.currency ?? "-") \($0.sourceCount) \($0.sourceFeeMinor.map(String.init) ?? "-") \($0.targetCount)" }
            == ["2026-03-09 EUR 1 320 1", "2026-03-10 EUR 1 265 0", "2026-03-10 USD 1 - 0"])
    }
}
