import ConnectorProtocol
import Foundation
import Testing

@Suite struct JSONSlicerTests {
    func slices(_ text: String, _ path: [String]) -> [String]? {
        let data = Data(text.utf8)
        return JSONSlicer.arrayElements(in: data, path: path)?.map { String(decoding: data[$0], as: UTF8.self) }
    }

    @Test func findsElementsAtAPath() {
        let text = #"{"jsonrpc":"2.0","id":3,"result":{"cursor":"x]","events":[{"a":[1,{"b":"}"}]}, "s\"q" ,12.5e3,true,null,[]],"more":false}}"#
        #expect(slices(text, ["result", "events"]) == [#"{"a":[1,{"b":"}"}]}"#, #""s\"q""#, "12.5e3", "true", "null", "[]"])
    }

    @Test func emptyAndMissing() {
        #expect(slices(#"{"result":{"events":[ ]}}"#, ["result", "events"]) == [])
        #expect(slices(#"{"result":{"other":[1]}}"#, ["result", "events"]) == nil)
        #expect(slices(#"{"result":{"events":{"a":1}}}"#, ["result", "events"]) == nil)
        #expect(slices(#"{"result":{"events":[1,2"#, ["result", "events"]) == nil)
    }

    @Test func slicesDecodeToWhatTheWholeDecodes() throws {
        let codec = RPCCodec()
        let events = (0..<5).map { index in
            Event(type: "customer.upserted", source: SourceRef(objectType: "customer", objectID: "c\(index)", version: "1"),
                  correlationID: "k\(index)", occurredAt: "2026-01-01T00:00:00Z", record: .customer(Customer(name: "Name \"\(index)\" ü")))
        }
        let line = try codec.response(id: .number(1), result: PollResult(events: events, cursor: "5", hasMore: false))
        let ranges = try #require(JSONSlicer.arrayElements(in: line, path: ["result", "events"]))
        #expect(try ranges.map { try codec.decodeJSON(Event.self, from: line[$0]) } == events)
    }
}
