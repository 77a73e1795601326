import ConnectorKit
import Foundation
import Testing

/// ConnectorKit's stream cursors (issue 15), without network.
@Suite struct CursorTests {
    typealias Cursor = ModifiedSinceCursor<String>

    /// HubSpot-style string ids at one `hs_lastmodifieddate`: a page boundary inside the stamp neither
    /// loses nor repeats a record, and an unchanged record read again is not emitted again.
    @Test func recordsSharingAStampAcrossPagesAreReadOnce() {
        let rows = (1...5).map { Cursor.Row(id: "c\($0)", stamp: "1795400000000", fingerprint: "v1") }
        var cursor = Cursor(stamp: "1795300000000")
        var emitted: [String] = []
        for _ in 0..<4 {
            // The source answers `stamp >= cursor.stamp` by stamp, id, at most `limit` rows.
            let page = Array(rows.prefix(cursor.limit(wanted: 2)))
            let (emit, next) = cursor.advance(over: page, wanted: 2)
            emitted += emit.map(\.id)
            cursor = next
        }
        #expect(emitted == ["c1", "c2", "c3", "c4", "c5"])
        #expect(cursor.stamp == "1795400000000" && cursor.seen.count == 5)
        let (again, _) = cursor.revisit(rows, wanted: 10)
        #expect(again.isEmpty)
        let (changed, _) = cursor.revisit([Cursor.Row(id: "c3", stamp: "1795400000000", fingerprint: "v2")], wanted: 10)
        #expect(changed.map(\.id) == ["c3"])
    }

    /// The stored form keeps the keys of the first Odoo cursors, so stores upgraded in place read theirs.
    @Test func theStoredFormIsTheOdooConnectorsFirstOne() throws {
        let stored = #"{"second":"2026-11-30 10:00:00","seen":[7,9]}"#
        let cursor = try JSONDecoder().decode(ModifiedSinceCursor<Int64>.self, from: Data(stored.utf8))
        #expect(cursor.stamp == "2026-11-30 10:00:00" && cursor.seen == [7, 9] && cursor.recent.isEmpty && cursor.start == nil)
        #expect(cursor.encoded().contains(#""second":"2026-11-30 10:00:00""#))
    }

    @Test func aWindowSplitsInHalvesDownToOneUnit() {
        #expect(TimeWindows.Window(from: 0, to: 10).halves()! == (TimeWindows.Window(from: 0, to: 5), TimeWindows.Window(from: 5, to: 10)))
        #expect(TimeWindows.Window(from: 4, to: 5).halves() == nil)
    }

    /// A capped search over 40 records, at most 10 results per query and 3 per page: the windows split
    /// until each holds fewer than the cap, and every record is read exactly once, oldest first.
    @Test func aCappedSearchIsWalkedWindowByWindow() throws {
        let stamps: [Int64] = (0..<40).map { $0 < 25 ? 100 + $0 : 900 + $0 }  // crowded early, sparse late
        func search(_ window: TimeWindows.Window, after: String?) -> (ids: [Int64], total: Int, next: String?) {
            let inWindow = stamps.filter { $0 >= window.from && $0 < window.to }
            let start = after.flatMap { Int($0) } ?? 0
            let page = Array(inWindow.dropFirst(start).prefix(3))
            let reachable = min(inWindow.count, 10)  // the vendor never pages past its cap
            let next = start + 3 < reachable ? String(start + 3) : nil
            return (page, min(inWindow.count, 10), next)
        }
        var windows = TimeWindows(from: 0, to: 1_000)
        var read: [Int64] = []
        var queries = 0
        while let (window, after) = windows.current {
            queries += 1
            #expect(queries < 200, "the walk must end")
            if queries >= 200 { break }
            let answer = search(window, after: after)
            if windows.reported(total: answer.total, cap: 10) { continue }
            read += answer.ids
            windows.read(next: answer.next)
        }
        #expect(read == stamps.sorted())
        let cursor = try JSONDecoder().decode(TimeWindows.self, from: JSONEncoder().encode(windows))
        #expect(cursor.current == nil)
    }
}
