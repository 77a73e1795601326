import ConnectorKit
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
        #expect(next.second == "2026-11-23 10:00:01" && next.seen == [9, 2])
    }

    @Test func theNextPollSkipsWhatWasEmittedInTheSameSecondButNotNewRecordsOfIt() {
        let cursor = OdooCursor(second: "2026-11-23 10:00:01", seen: [9, 2])
        #expect(cursor.limit(wanted: 10) == 12)
        // Record 5 was written later in the same second, after the previous poll.
        let rows = [Row(id: 9, writeDate: "2026-11-23 10:00:01"), Row(id: 2, writeDate: "2026-11-23 10:00:01"), Row(id: 5, writeDate: "2026-11-23 10:00:01")]
        let (emit, next) = cursor.advance(over: rows, wanted: 10)
        #expect(emit.map(\.id) == [5])
        #expect(next.second == "2026-11-23 10:00:01" && next.seen == [9, 2, 5])
        // Nothing new: the cursor stays.
        let (none, same) = next.advance(over: rows + [Row(id: 5, writeDate: "2026-11-23 10:00:01")], wanted: 10)
        #expect(none.isEmpty && same == next)
    }

    @Test func aRecordWrittenAgainLaterIsEmittedAgain() {
        let cursor = OdooCursor(second: "2026-11-23 10:00:01", seen: [9])
        let (emit, next) = cursor.advance(over: [Row(id: 9, writeDate: "2026-11-23 10:00:07")], wanted: 10)
        #expect(emit.map(\.id) == [9])
        #expect(next.second == "2026-11-23 10:00:07" && next.seen == [9])
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
        let cursor = OdooCursor(second: "2026-11-23 10:00:01", seen: [3, 4], recent: [.init(id: 3, fingerprint: "ab12")])
        #expect(try OdooCursor.decode(cursor.encoded()) == cursor)
        // A cursor stored by an earlier version, without fingerprints, still reads.
        #expect(try OdooCursor.decode(#"{"second":"2026-11-23 10:00:01","seen":[3,4]}"#) == OdooCursor(second: "2026-11-23 10:00:01", seen: [3, 4]))
        #expect(throws: ConnectorError.self) { try OdooCursor.decode("42") }
        #expect(throws: ConnectorError.self) { try OdooCursor.decode(#"{"second":"yesterday","seen":[]}"#) }
        #expect(OdooCursor.odooDateTime(Date(timeIntervalSince1970: 1_795_400_000)) == "2026-11-23 02:13:20")
        #expect(OdooCursor.parse(odooDateTime: "2026-11-23 02:13:20") == Date(timeIntervalSince1970: 1_795_400_000))
    }

    /// An invoice posted and paid within one second: the poll between the two read it posted; the
    /// next one reads the same second again and must emit it paid (issue 12, 7: it was skipped).
    @Test func aRecordWrittenAgainInTheSameSecondIsEmittedWithWhatChanged() {
        let second = "2026-12-05 23:49:18"
        let cursor = OdooCursor(second: second)
        let (first, afterFirst) = cursor.advance(over: [Row(id: 90, writeDate: second, fingerprint: "not_paid:11497")], wanted: 10)
        #expect(first.map(\.id) == [90])
        // Written again later in the same second (Odoo reads the same whole second back), and a new record of it.
        let rows = [Row(id: 90, writeDate: second, fingerprint: "paid:0"), Row(id: 91, writeDate: second, fingerprint: "x")]
        let (second2, afterSecond) = afterFirst.advance(over: rows, wanted: 10)
        #expect(second2.map { "\($0.id) \($0.fingerprint)" } == ["90 paid:0", "91 x"])
        // Read again unchanged: nothing.
        #expect(afterSecond.advance(over: rows, wanted: 10).emit.isEmpty)
    }

    /// Odoo rewrites a partner's write_date when it posts one of its invoices: the partner is read
    /// again with nothing changed and is not emitted; a real change later is.
    @Test func aRecordTouchedWithoutChangeIsNotEmittedAgain() {
        let cursor = OdooCursor(second: "2026-12-05 10:00:00")
        let (first, next) = cursor.advance(over: [Row(id: 7, writeDate: "2026-12-05 10:00:00", fingerprint: "acme")], wanted: 10)
        #expect(first.count == 1)
        let touched = [Row(id: 7, writeDate: "2026-12-05 10:05:00", fingerprint: "acme")]
        let (none, moved) = next.advance(over: touched, wanted: 10)
        #expect(none.isEmpty)
        #expect(moved.second == "2026-12-05 10:05:00")  // moved on over what it skipped
        let (changed, _) = moved.advance(over: [Row(id: 7, writeDate: "2026-12-05 11:00:00", fingerprint: "acme-renamed")], wanted: 10)
        #expect(changed.map(\.fingerprint) == ["acme-renamed"])
        // And back: A → B → A is three changes, each emitted.
        let (back, _) = moved.advance(over: [Row(id: 7, writeDate: "2026-12-05 11:00:00", fingerprint: "acme-renamed")], wanted: 10).next
            .advance(over: [Row(id: 7, writeDate: "2026-12-05 12:00:00", fingerprint: "acme")], wanted: 10)
        #expect(back.count == 1)
    }

    /// A page made only of unchanged records still moves the cursor on: no poll loops on it.
    @Test func aFullPageOfUnchangedRecordsMovesTheCursor() {
        var cursor = OdooCursor(second: "2026-12-05 10:00:00")
        let original = (1...5).map { Row(id: Int64($0), writeDate: "2026-12-05 10:00:0\($0)", fingerprint: "v") }
        cursor = cursor.advance(over: original, wanted: 10).next
        let touched = (1...5).map { Row(id: Int64($0), writeDate: "2026-12-05 11:00:0\($0)", fingerprint: "v") }
        let (emit, next) = cursor.advance(over: Array(touched.prefix(3)), wanted: 3)
        #expect(emit.isEmpty)
        #expect(next.second == "2026-12-05 11:00:03")
        #expect(OdooCursor.memory >= 1_000 && next.recent.count == 5)
    }

    /// Odoo stamps write_date with the start of a transaction: a slow payment committed after faster
    /// writes stamped later is behind the cursor when it becomes visible. Read again, it is emitted
    /// once; what was emitted already is not.
    @Test func aRecordCommittedLateBehindTheCursorIsFoundByTheReread() {
        let cursor = OdooCursor(second: "2026-12-05 10:00:00", start: "2026-12-05 10:00:00")
        let (_, next) = cursor.advance(over: [Row(id: 1, writeDate: "2026-12-05 10:00:05", fingerprint: "a"),
                                              Row(id: 2, writeDate: "2026-12-05 10:00:07", fingerprint: "b")], wanted: 10)
        // Invoice 3, paid in a transaction that began at 10:00:04 and committed after 10:00:07.
        let reread = [Row(id: 1, writeDate: "2026-12-05 10:00:05", fingerprint: "a"), Row(id: 3, writeDate: "2026-12-05 10:00:04", fingerprint: "paid")]
        let (late, after) = next.revisit(reread, wanted: 10)
        #expect(late.map(\.id) == [3])
        #expect(after.revisit(reread, wanted: 10).emit.isEmpty)
        #expect(after.second == "2026-12-05 10:00:07" && after.floor == "2026-12-05 10:00:00")
    }
}
