import ConnectorProtocol
import HostAdmin
@testable import HostCore
import Testing

@Suite struct ReconciliationTests {
    let eur = CurrencyCode("EUR")!

    func item(_ externalID: String, _ reference: String?, _ minor: Int64 = 1000) -> ReconcileItem {
        ReconcileItem(externalID: externalID, reference: reference, amount: Money(amountMinor: minor, currency: eur), state: "posted", date: "2026-03-01")
    }

    func link(_ canonicalID: String, _ externalID: String) -> Store.KnownLink {
        let parts = canonicalID.split(separator: ":").map(String.init)
        return Store.KnownLink(canonicalKey: canonicalID, link: Link(connector: "odoo", objectType: parts[1], sourceID: parts[2], externalID: externalID))
    }

    /// An Odoo-like target: two invoices the host wrote, one of them twice; one a person typed in;
    /// one written under a reference the host has no link for; payments all known.
    var snapshot: ReconcileSnapshot {
        ReconcileSnapshot(groups: [
            ReconcileGroup(objectType: "invoice", count: 5, totals: [Money(amountMinor: 5000, currency: eur)], items: [
                item("101", "ch:stripe:invoice:in_1"),
                item("102", "ch:stripe:invoice:in_2"),
                item("103", "ch:stripe:invoice:in_2"),
                item("104", nil),
                item("105", "ch:stripe:invoice:in_9"),
            ]),
            ReconcileGroup(objectType: "payment", count: 2, totals: [Money(amountMinor: 2000, currency: eur)], items: [
                item("201", "ch:stripe:payment:py_1"),
                item("202", "ch:stripe:payment:py_2"),
            ]),
        ])
    }

    var links: [Store.KnownLink] {
        [link("stripe:invoice:in_1", "101"), link("stripe:invoice:in_2", "102"), link("stripe:payment:py_1", "201"), link("stripe:payment:py_2", "202")]
    }

    @Test func findsDuplicatesUnknownAndForeignRecords() {
        let report = Reconciliation.report(snapshot: snapshot, links: links, includeItems: true)
        #expect(report.duplicates == ["ch:stripe:invoice:in_2"])
        #expect(report.unknownToHost.map(\.externalID) == ["105"])
        #expect(report.foreign == 1)
        #expect(report.snapshot == snapshot, "the plugin's counts, totals and items pass through untouched")
    }

    @Test func aCleanTargetReportsNothing() {
        let clean = ReconcileSnapshot(groups: [
            ReconcileGroup(objectType: "invoice", count: 1, totals: [], items: [item("101", "ch:stripe:invoice:in_1")]),
        ])
        let report = Reconciliation.report(snapshot: clean, links: links, includeItems: false)
        #expect(report.duplicates.isEmpty)
        #expect(report.unknownToHost.isEmpty)
        #expect(report.foreign == 0)
    }

    @Test func aDuplicateInTwoGroupsIsStillOneDuplicatedReference() {
        // A credit note written as an invoice as well: same reference, different groups.
        let snapshot = ReconcileSnapshot(groups: [
            ReconcileGroup(objectType: "invoice", count: 1, totals: [], items: [item("1", "ch:stripe:credit_note:cn_1")]),
            ReconcileGroup(objectType: "credit_note", count: 1, totals: [], items: [item("2", "ch:stripe:credit_note:cn_1")]),
        ])
        let report = Reconciliation.report(snapshot: snapshot, links: [link("stripe:credit_note:cn_1", "2")], includeItems: true)
        #expect(report.duplicates == ["ch:stripe:credit_note:cn_1"])
        #expect(report.unknownToHost.isEmpty)
    }

    @Test func itemsAreDroppedUnlessAskedForButStillChecked() {
        let report = Reconciliation.report(snapshot: snapshot, links: links, includeItems: false)
        #expect(report.snapshot.groups.map(\.items) == [[], []])
        #expect(report.snapshot.groups.map(\.count) == [5, 2])
        #expect(report.snapshot.groups.map(\.totals) == snapshot.groups.map(\.totals))
        #expect(report.duplicates == ["ch:stripe:invoice:in_2"])
        #expect(report.unknownToHost.map(\.externalID) == ["105"], "the anomalies are listed even without the items")
    }

    @Test func aReferenceThatDoesNotParseIsUnknownToTheHost() {
        let snapshot = ReconcileSnapshot(groups: [
            ReconcileGroup(objectType: "invoice", count: 1, totals: [], items: [item("7", "ch:broken")]),
        ])
        let report = Reconciliation.report(snapshot: snapshot, links: links, includeItems: true)
        #expect(report.unknownToHost.map(\.externalID) == ["7"])
        #expect(report.foreign == 0)
    }

    @Test func linksAreLookedUpByCanonicalID() {
        #expect(Reconciliation.canonicalIDs(in: snapshot) == [
            "stripe:invoice:in_1", "stripe:invoice:in_2", "stripe:invoice:in_9", "stripe:payment:py_1", "stripe:payment:py_2",
        ])
    }
}
