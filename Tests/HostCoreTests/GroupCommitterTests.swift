import Foundation
import GRDB
@testable import HostCore
import Testing

/// The batched writer commits on a task of its own: cancelling the caller that happened to start a
/// group (every reload cancels some) must not fail the other callers' writes.
@Suite struct GroupCommitterTests {
    @Test func aCancelledFirstCallerDoesNotFailTheOthers() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("committer-\(UUID().uuidString).sqlite").path
        let committer = GroupCommitter(pool: try DatabasePool(path: path))
        let first = Task {
            try await committer.submit { db -> Int in
                try db.execute(sql: "CREATE TABLE t (v INTEGER)")
                usleep(300_000)  // holds the writer while the second caller queues up
                return 1
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let second = Task { try await committer.submit { db -> Int in try db.execute(sql: "INSERT INTO t VALUES (2)"); return 2 } }
        try await Task.sleep(for: .milliseconds(50))
        first.cancel()
        #expect(try await second.value == 2)
        #expect(try await first.value == 1)
    }
}
