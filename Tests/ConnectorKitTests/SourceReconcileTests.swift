import ConnectorKit
import ConnectorProtocol
import Testing

/// What every source connector's `reconcile.snapshot` starts from (ConnectorKit), without network.
@Suite struct SourceReconcileTests {
    static let eur = CurrencyCode("EUR")!

    static func params(_ types: [String], side: ReconcileParams.Side = .source, from: String = "2026-12-01", to: String = "2026-12-02") -> ReconcileParams {
        ReconcileParams(objectTypes: types, from: from, to: to, includeItems: true, side: side)
    }

    static func listing(_ type: String) -> String? { type == "order" ? "deals" : nil }

    @Test func theRangeIsItsDaysInUnixSecondsAndEachKindItsListing() throws {
        let request = try SourceReconcileRequest(Self.params(["order"]), vendor: "HubSpot", supported: ["order"], listing: Self.listing)
        #expect(request.kinds.map { "\($0.objectType) \($0.listing)" } == ["order deals"])
        #expect(request.from == 1_796_083_200 && request.to == 1_796_169_600)  // 2026-12-01 and 2026-12-02, 00:00 UTC
    }

    @Test func theTargetSideAndAKindNotListedAreRefusedByName() {
        #expect { try SourceReconcileRequest(Self.params(["order"], side: .target), vendor: "HubSpot", supported: ["order"], listing: Self.listing) } throws: {
            ($0 as? ConnectorError)?.code == .notSupported && ($0 as? ConnectorError)?.message == "the HubSpot connector reconciles as a source only (side source)"
        }
        #expect { try SourceReconcileRequest(Self.params(["order", "invoice"]), vendor: "HubSpot", supported: ["order"], listing: Self.listing) } throws: {
            ($0 as? ConnectorError)?.message == "the HubSpot connector reconciles order, not invoice"
        }
        #expect { try SourceReconcileRequest(Self.params(["deal"]), vendor: "Stripe", supported: ["invoice", "payment", "refund"], listing: { _ in nil as String? }) } throws: {
            ($0 as? ConnectorError)?.message == "the Stripe connector reconciles invoice, payment and refund, not deal"
        }
    }

    /// A won deal's order: the deal's id, the amount before taxes, the status, the close date's UTC day.
    @Test func anOrderEventIsItsDealsItem() throws {
        let order = Order(customer: RecordRef(objectType: "companies", objectID: "9"), status: .confirmed, currency: Self.eur, lines: [],
                          subtotalMinor: 29_970, taxMinor: 6_294, totalMinor: 36_264, orderedAt: "2026-12-01T23:30:00.000Z")
        let event = Event(type: "order.won", source: SourceRef(objectType: "deals", objectID: "42", version: "1"), correlationID: "c", occurredAt: "2026-12-03T10:00:00Z",
                          record: .order(order))
        let item = try #require(ReconcileItem(order: event))
        #expect(item.externalID == "42" && item.amount == Money(amountMinor: 29_970, currency: Self.eur) && item.status == "confirmed" && item.date == "2026-12-01")
        var undated = order
        undated.orderedAt = nil
        var withoutDate = event
        withoutDate.record = .order(undated)
        #expect(ReconcileItem(order: withoutDate) == nil, "no close date: the sink dates it by the day it writes it, which no source can tell")
        var deal = event
        deal.record = .deal(Deal(name: "Open", stage: "appointmentscheduled", outcome: .open))
        #expect(ReconcileItem(order: deal) == nil)
    }
}
