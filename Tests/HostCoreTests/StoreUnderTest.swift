import Foundation
@testable import HostCore
import Testing

/// A store the conformance suites run on: every test of StoreConformanceTests and DependencyWaitTests
/// runs once per kind, each time on a new, empty store.
struct StoreUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let open: @Sendable () async throws -> any StoreTestAccess

    var testDescription: String { name }

    /// A SQLite file in a new temporary directory.
    static let sqlite = StoreUnderTest(name: "sqlite") {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try SQLiteStore(path: directory.appendingPathComponent("test.sqlite").path)
    }

    static var all: [StoreUnderTest] { [sqlite] }
}
