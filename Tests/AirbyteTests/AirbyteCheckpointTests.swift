import AirbyteKit
import ConnectorProtocol
import Foundation
import Testing

/// Airbyte's checkpoint rule without a source: records count as read only with a STATE after them, pages
/// carry the state after their last whole chunk, and the state round-trips through the host's cursor.
@Suite struct AirbyteCheckpointTests {
    let records = AirbyteRecords(
        connector: ConnectorInfo(id: "faker", plugin: "airbyte"),
        streams: [AirbyteStream(name: "users", primaryKey: [["id"]], cursorField: ["updated_at"], incremental: true)],
        mappings: [:])

    func user(_ id: Int) -> Event {
        records.event(stream: "users", data: ["id": .int(Int64(id)), "updated_at": "2026-12-07T10:00:00+00:00"], emittedAt: 0).event!
    }

    func state(_ stream: String, _ offset: Int) -> JSONValue {
        ["type": "STREAM", "stream": ["stream_descriptor": ["name": .string(stream)], "stream_state": ["offset": .int(Int64(offset))]],
         "sourceStats": ["recordCount": .double(2)]]
    }

    @Test func recordsAfterTheLastStateAreNotTaken() throws {
        var checkpoints = try AirbyteCheckpoints(cursor: nil)
        for id in 1...3 { checkpoints.record(user(id)) }
        #expect(checkpoints.take(limit: 100).events.isEmpty, "no STATE yet: nothing is read")
        checkpoints.checkpoint(state("users", 3))
        checkpoints.record(user(4))
        let page = checkpoints.take(limit: 100)
        #expect(page.events.map(\.source.objectID) == ["1", "2", "3"])
        #expect(try AirbyteState(cursor: page.cursor).cursor == #"[{"stream":{"stream_descriptor":{"name":"users"},"stream_state":{"offset":3}},"type":"STREAM"}]"#)
        #expect(checkpoints.uncommitted == 1)
    }

    @Test func aPageTakesWholeChunksAndCutsOnlyAChunkLargerThanItself() throws {
        var checkpoints = try AirbyteCheckpoints(cursor: "[]")
        for id in 1...2 { checkpoints.record(user(id)) }
        checkpoints.checkpoint(state("users", 2))
        for id in 3...5 { checkpoints.record(user(id)) }
        checkpoints.checkpoint(state("users", 5))
        // 4 a page: the first chunk whole; the second would not fit, so it waits.
        let first = checkpoints.take(limit: 4)
        #expect(first.events.count == 2 && first.cursor?.contains(#""offset":2"#) == true)
        // 2 a page: the chunk of 3 is cut; its first part goes out under the state before it.
        let part = checkpoints.take(limit: 2)
        #expect(part.events.map(\.source.objectID) == ["3", "4"])
        #expect(try AirbyteState(cursor: part.cursor) == AirbyteState(cursor: first.cursor), "under the state before the chunk")
        #expect(part.cursor != first.cursor, "a page of its own: the next poll tells whether the host kept it")
        let rest = checkpoints.take(limit: 2)
        #expect(rest.events.map(\.source.objectID) == ["5"] && rest.cursor?.contains(#""offset":5"#) == true)
        #expect(!checkpoints.hasReadyState && checkpoints.ready == 0)
    }

    @Test func recordsThatCannotWaitForTheirStateGoUnderTheStateBeforeThem() throws {
        var checkpoints = try AirbyteCheckpoints(cursor: "[]")
        for id in 1...3 { checkpoints.record(user(id)) }
        let early = checkpoints.take(limit: 2, uncommitted: true)
        #expect(early.events.map(\.source.objectID) == ["1", "2"])
        #expect(try AirbyteState(cursor: early.cursor).isEmpty)
        checkpoints.checkpoint(state("users", 3))
        // Checkpointed records come first, with their state; the one taken early is not taken again.
        checkpoints.record(user(4))
        let page = checkpoints.take(limit: 10, uncommitted: true)
        #expect(page.events.map(\.source.objectID) == ["3"] && page.cursor?.contains(#""offset":3"#) == true)
        // A read that ends well commits what follows its last STATE, under that state.
        checkpoints.end()
        let last = checkpoints.take(limit: 10)
        #expect(last.events.map(\.source.objectID) == ["4"] && checkpoints.uncommitted == 0)
        #expect(try AirbyteState(cursor: last.cursor) == AirbyteState(cursor: page.cursor))
        // Nothing more: the same cursor again.
        #expect(checkpoints.take(limit: 10, uncommitted: true).cursor == last.cursor)
    }

    @Test func theLastPageIsGivenAgainToAHostThatAsksFromTheCursorBeforeIt() throws {
        var checkpoints = try AirbyteCheckpoints(cursor: nil)
        for id in 1...4 { checkpoints.record(user(id)) }
        checkpoints.checkpoint(state("users", 4))
        let first = checkpoints.take(limit: 2)
        let second = checkpoints.take(limit: 2)
        #expect(checkpoints.lastPage(after: nil) == nil, "only the last page is kept")
        let again = try #require(checkpoints.lastPage(after: first.cursor))
        #expect(again.events.map(\.source.objectID) == ["3", "4"] && again.cursor == second.cursor)
        #expect(checkpoints.lastPage(after: second.cursor) == nil, "the cursor of the last page asks for the next one")
    }

    @Test func aStateWithoutRecordsStillMovesTheCursor() throws {
        var checkpoints = try AirbyteCheckpoints(cursor: nil)
        checkpoints.checkpoint(state("users", 7))
        #expect(checkpoints.hasReadyState)
        let page = checkpoints.take(limit: 10)
        #expect(page.events.isEmpty && page.cursor?.contains(#""offset":7"#) == true)
    }

    @Test func theCursorKeepsEachStreamsLastStateAndRoundTrips() throws {
        var state = AirbyteState()
        state.apply(self.state("users", 1))
        state.apply(self.state("products", 9))
        state.apply(self.state("users", 2))
        let again = try AirbyteState(cursor: state.cursor)
        #expect(again == state)
        #expect(state.messages.map { $0["stream"]?["stream_descriptor"]?["name"]?.stringValue } == ["products", "users"])
        #expect(!state.cursor.contains("sourceStats"), "the source's counts are not where it is")
        // A global state replaces the per-stream ones.
        state.apply(["type": "GLOBAL", "global": ["shared_state": ["lsn": 42]]])
        #expect(state.messages.count == 1 && state.messages[0]["type"]?.stringValue == "GLOBAL")
        #expect(throws: AirbyteLineProblem.self) { try AirbyteState(cursor: "17") }
        #expect(try AirbyteState(cursor: #"{"page":3,"run":"a1","state":\#(state.cursor)}"#) == state, "a page's cursor holds the state")
    }
}
