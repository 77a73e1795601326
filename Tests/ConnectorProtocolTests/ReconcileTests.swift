import ConnectorProtocol
import Foundation
import Testing

@Suite struct ReconcileTests {
    let codec = RPCCodec()
    let eur = CurrencyCode("EUR")!

    func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func paramsRoundTripWithSnakeCaseKeys() throws {
        let params = ReconcileParams(objectTypes: ["invoice", "payment"], from: "2026-01-01", to: "2026-12-31", includeItems: true)
        let data = try codec.json(params)
        let json = try object(data)
        #expect(Set(json.keys) == ["object_types", "from", "to", "include_items", "side"])
        #expect(json["side"] as? String == "target")
        #expect(json["object_types"] as? [String] == ["invoice", "payment"])
        #expect(json["include_items"] as? Bool == true)
        #expect(try codec.decodeJSON(ReconcileParams.self, from: data) == params)
        // include_items may be left out: counts only.
        let short = try codec.decodeJSON(ReconcileParams.self, from: Data(#"{"object_types":["invoice"],"from":"2026-01-01","to":"2026-01-31"}"#.utf8))
        #expect(short.includeItems == false)
        // So may side (a host before sources reconciled): the target's records.
        #expect(short.side == .target)
        #expect(short.entity == nil)
        let source = ReconcileParams(objectTypes: ["refund"], from: "2026-01-01", to: "2026-01-31", includeItems: false, side: .source, entity: "acme-eu")
        #expect(try codec.decodeJSON(ReconcileParams.self, from: try codec.json(source)) == source)
        #expect(throws: DecodingError.self) {
            try codec.decodeJSON(ReconcileParams.self, from: Data(#"{"object_types":["invoice"],"from":"2026-01-01","to":"2026-01-31","side":"both"}"#.utf8))
        }
    }

    @Test func aGroupTalliesItsItemsAndTheRangeKnowsItsDays() throws {
        let usd = try #require(CurrencyCode("USD"))
        let items = [
            ReconcileItem(externalID: "b", reference: nil, amount: Money(amountMinor: 500, currency: usd), date: "2026-03-02"),
            ReconcileItem(externalID: "a", reference: nil, amount: Money(amountMinor: 700, currency: eur), date: "2026-03-02"),
            ReconcileItem(externalID: "c", reference: nil, amount: Money(amountMinor: 300, currency: eur), date: "2026-03-01"),
            ReconcileItem(externalID: "d", reference: nil),
        ]
        let group = ReconcileGroup(objectType: "payment", tallying: items, listed: true, sourceObjectType: "transaction")
        #expect(group.count == 4)
        #expect(group.totals == [Money(amountMinor: 1_000, currency: eur), Money(amountMinor: 500, currency: usd)])
        #expect(group.items.map(\.externalID) == ["d", "c", "a", "b"])
        #expect(ReconcileGroup(objectType: "payment", tallying: items, listed: false).items.isEmpty)
        let wire = try object(try codec.json(group))
        #expect(wire["source_object_type"] as? String == "transaction")
        #expect(try object(try codec.json(ReconcileGroup(objectType: "invoice", count: 0, totals: [])))["source_object_type"] == nil)

        let params = ReconcileParams(objectTypes: ["invoice"], from: "2024-02-28", to: "2024-03-01", includeItems: true)
        #expect(params.includes(day: "2024-02-29") && params.includes(day: "2024-03-01") && !params.includes(day: "2024-03-02") && !params.includes(day: nil))
        let days = try #require(params.unixDays)
        #expect(days.from == 1_709_078_400 && days.to == 1_709_251_200)
        #expect(ReconcileParams(objectTypes: ["invoice"], from: "1970-01-01", to: "1969-12-31", includeItems: false).unixDays.map { [$0.from, $0.to] } == [0, -86_400])
        #expect(ReconcileParams(objectTypes: ["invoice"], from: "2026-02-30", to: "2026-03-01", includeItems: false).unixDays == nil)
    }

    @Test func snapshotRoundTripsWithSnakeCaseKeys() throws {
        let snapshot = ReconcileSnapshot(groups: [
            ReconcileGroup(objectType: "invoice", count: 2, totals: [Money(amountMinor: 12_000, currency: eur)], items: [
                ReconcileItem(externalID: "42", reference: "ch:stripe-eu:invoice:in_1", amount: Money(amountMinor: 12_000, currency: eur), state: "posted", date: "2026-03-01"),
                ReconcileItem(externalID: "43", reference: nil),
            ]),
            ReconcileGroup(objectType: "payment", count: 0, totals: []),
        ])
        let data = try codec.json(snapshot)
        #expect(try codec.decodeJSON(ReconcileSnapshot.self, from: data) == snapshot)

        let groups = try #require(try object(data)["groups"] as? [[String: Any]])
        #expect(Set(groups[0].keys) == ["object_type", "count", "totals", "items"])
        let items = try #require(groups[0]["items"] as? [[String: Any]])
        #expect(items[0]["external_id"] as? String == "42")
        #expect(items[0]["source_connector"] as? String == "stripe-eu")
        #expect(items[0]["source_id"] as? String == "in_1")
        #expect((items[0]["amount"] as? [String: Any])?["amount_minor"] as? Int == 12_000)
        #expect(items[1]["reference"] == nil && items[1]["source_connector"] == nil)
    }

    @Test func groupWithoutItemsOrTotalsDecodes() throws {
        let group = try codec.decodeJSON(ReconcileGroup.self, from: Data(#"{"object_type":"invoice","count":7}"#.utf8))
        #expect(group == ReconcileGroup(objectType: "invoice", count: 7, totals: [], items: []))
    }

    @Test func itemTakesSourceFromItsReference() {
        let item = ReconcileItem(externalID: "9", reference: "ch:src:invoice:in:with:colons")
        #expect(item.sourceConnector == "src")
        #expect(item.sourceID == "in:with:colons")
        #expect(item == ReconcileItem(externalID: "9", reference: "ch:src:invoice:in:with:colons", sourceConnector: "src", sourceID: "in:with:colons",
                                      amount: nil, state: nil, date: nil))
        let foreign = ReconcileItem(externalID: "10", reference: "INV/2026/0001")
        #expect(foreign.reference == "INV/2026/0001")
        #expect(foreign.sourceConnector == nil && foreign.sourceID == nil)
    }

    @Test func sinkReferenceParsesAndPrints() {
        let reference = SinkReference(parsing: "ch:stripe-eu:invoice:in_1")
        #expect(reference == SinkReference(sourceConnector: "stripe-eu", objectType: "invoice", objectID: "in_1"))
        #expect(reference?.description == "ch:stripe-eu:invoice:in_1")
        #expect(reference?.canonicalID == "stripe-eu:invoice:in_1")
        for text in ["", "ch:", "ch:a:b", "ch::invoice:1", "ch:a::1", "ch:a:b:", "xx:a:b:c", "CH:a:b:c"] {
            #expect(SinkReference(parsing: text) == nil, "\"\(text)\" is not a reference")
        }
    }

    @Test(arguments: [
        (["invoice"], "2026-01-01", "2026-12-31", nil),
        (["invoice"], "2026-03-05", "2026-03-05", nil),
        (["invoice"], "2024-02-29", "2024-02-29", nil),
        ([], "2026-01-01", "2026-12-31", "object_types"),
        ([""], "2026-01-01", "2026-12-31", "object_types"),
        (["invoice"], "2026-1-01", "2026-12-31", "from"),
        (["invoice"], "2026-01-01", "31/12/2026", "to"),
        (["invoice"], "2026-13-01", "2026-12-31", "from"),
        (["invoice"], "2026-01-01", "2026-02-29", "to"),
        (["invoice"], "2026-00-10", "2026-12-31", "from"),
        (["invoice"], "2026-01-01T00:00:00Z", "2026-12-31", "from"),
        (["invoice"], "2026-12-31", "2026-01-01", "after"),
    ] as [([String], String, String, String?)])
    func validation(objectTypes: [String], from: String, to: String, problem: String?) {
        let params = ReconcileParams(objectTypes: objectTypes, from: from, to: to, includeItems: false)
        do throws(ConnectorError) {
            try params.validate()
            #expect(problem == nil, "\(from)…\(to) \(objectTypes) should be refused for \(problem ?? "")")
        } catch {
            #expect(error.code == .permanent)
            if let problem {
                #expect(error.message.contains(problem), "\(error.message)")
            } else {
                Issue.record("\(from)…\(to) \(objectTypes) refused: \(error.message)")
            }
        }
    }

    @Test func moneyPrintsWithTheCurrencysDigits() {
        func text(_ minor: Int64, _ code: String) -> String { Money(amountMinor: minor, currency: CurrencyCode(code)!).decimalText }
        #expect(text(123_456, "EUR") == "1234.56")
        #expect(text(5, "EUR") == "0.05")
        #expect(text(-5, "EUR") == "-0.05")
        #expect(text(0, "USD") == "0.00")
        #expect(text(1999, "JPY") == "1999")
        #expect(text(-1999, "JPY") == "-1999")
        #expect(text(1234, "KWD") == "1.234")
        #expect(text(Int64.min, "EUR") == "-92233720368547758.08")
    }

    @Test func moneyForPeopleNamesItsCurrencyAndMayGroupDigits() {
        func money(_ minor: Int64, _ code: String) -> Money { Money(amountMinor: minor, currency: CurrencyCode(code)!) }
        #expect(money(123_456, "EUR").text() == "1234.56 EUR")
        #expect(money(123_456, "EUR").text(grouped: true) == "1,234.56 EUR")
        #expect(money(-123_456_789, "USD").text(grouped: true) == "-1,234,567.89 USD")
        #expect(money(-99_999, "USD").text(grouped: true) == "-999.99 USD")
        #expect(money(1_999_000, "JPY").text(grouped: true) == "1,999,000 JPY")
        #expect(money(-5, "EUR").text(grouped: true) == "-0.05 EUR")
        #expect(money(1_234_567, "KWD").text(grouped: true) == "1,234.567 KWD")
    }
}
