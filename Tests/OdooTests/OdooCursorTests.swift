import ConnectorProtocol
import Foundation
import OdooKit
import Testing

/// The write_date cursor: Odoo reads `write_date` in whole seconds, so a poll re-reads the last
/// second and must skip what it already emitted there, without losing what it has not.
@Suite struct OdooCursorTests {
    typealias Row = OdooCursor.Row

    @Test func aPageMovesTheCursorToItsLastSecondAndRemembersItsIDsThere() {
        let cursor = OdooCursor(second: "2026-11-23 10:00:00")
        let rows = [Row(id: 4, writeDate: "2026-11-23 10:00:00"), Row(id: 9, writeDate: "2026-11-23 10:00:01"), Row(id: 2, writeDate: "2026-11-23 10:00:01")]
        let (emit, next) = cursor.advance(over: rows, wanted: 10)
        #expect(emit.map(\.id) == [4, 9, 2])
        #expect(next == OdooCursor(second: "2026-11-23 10:00:01", seen: [9, 2]))
    }

    @Test func theNextPollSkipsWhatWasEmittedInTheSameSecondButNotNewRecordsOfIt() {
        let cursor = OdooCursor(second: "2026-11-23 10:00:01", seen: [9, 2])
        #expect(cursor.limit(wanted: 10) == 12)
        // Record 5 was written later in the same second, after the previous poll.
        let rows = [Row(id: 9, writeDate: "2026-11-23 10:00:01"), Row(id: 2, writeDate: "2026-11-23 10:00:01"), Row(id: 5, writeDate: "2026-11-23 10:00:01")]
        let (emit, next) = cursor.advance(over: rows, wanted: 10)
        #expect(emit.map(\.id) == [5])
        #expect(next == OdooCursor(second: "2026-11-23 10:00:01", seen: [9, 2, 5]))
        // Nothing new: the cursor stays.
        let (none, same) = next.advance(over: rows + [Row(id: 5, writeDate: "2026-11-23 10:00:01")], wanted: 10)
        #expect(none.isEmpty && same == next)
    }

    @Test func aRecordWrittenAgainLaterIsEmittedAgain() {
        let cursor = OdooCursor(second: "2026-11-23 10:00:01", seen: [9])
        let (emit, next) = cursor.advance(over: [Row(id: 9, writeDate: "2026-11-23 10:00:07")], wanted: 10)
        #expect(emit.map(\.id) == [9])
        #expect(next == OdooCursor(second: "2026-11-23 10:00:07", seen: [9]))
    }

    @Test func moreRecordsInOneSecondThanAPageAreReadOverSeveralPolls() {
        let second = "2026-11-23 10:00:00"
        let all = (1...7).map { Row(id: Int64($0), writeDate: second) }
        var cursor = OdooCursor(second: second)
        var emitted: [Int64] = []
        for _ in 0..<4 {
            let rows = Array(all.prefix(cursor.limit(wanted: 3)))
            let (emit, next) = cursor.advance(over: rows, wanted: 3)
            emitted += emit.map(\.id)
            cursor = next
        }
        #expect(emitted == [1, 2, 3, 4, 5, 6, 7])
    }

    @Test func cursorsSurviveTheirTextFormAndBadOnesAreRefused() throws {
        let cursor = OdooCursor(second: "2026-11-23 10:00:01", seen: [3, 4])
        #expect(try OdooCursor.decode(cursor.encoded()) == cursor)
        #expect(throws: ConnectorError.self) { try OdooCursor.decode("42") }
        #expect(throws: ConnectorError.self) { try OdooCursor.decode(#"{"second":"yesterday","seen":[]}"#) }
        #expect(OdooCursor.odooDateTime(Date(timeIntervalSince1970: 1_795_400_000)) == "2026-11-23 02:13:20")
        #expect(OdooCursor.parse(odooDateTime: "2026-11-23 02:13:20") == Date(timeIntervalSince1970: 1_795_400_000))
    }
}
