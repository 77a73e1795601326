import Foundation
@testable import HostCore
import Logging
import PostgresNIO
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

    /// A new schema of its own on the PostgreSQL server `scripts/test` starts (CONNECTOR_HOST_TEST_POSTGRES,
    /// its password in CONNECTOR_HOST_TEST_POSTGRES_PASSWORD): the store's connections start with it as
    /// their `search_path`, so it migrates and works there alone. (A database each was too slow to make:
    /// dozens of stores opened at once by parallel suites waited on copying them.) Nil without a server,
    /// unless one is required.
    static let postgres: StoreUnderTest? = {
        let environment = ProcessInfo.processInfo.environment
        guard let text = environment["CONNECTOR_HOST_TEST_POSTGRES"], let url = URLComponents(string: text), url.host != nil, url.user != nil else {
            precondition(environment["CONNECTOR_HOST_REQUIRE_POSTGRES"] != "1", "CONNECTOR_HOST_REQUIRE_POSTGRES is set but CONNECTOR_HOST_TEST_POSTGRES names no server")
            return nil
        }
        return StoreUnderTest(name: "postgres") {
            try await hosts(["test"], 10_000)[0]
        }
    }()

    /// Stores on one new schema, one per member name: hosts sharing a database. Nil without a server.
    static let postgresHosts: (@Sendable (_ members: [String], _ leaseMilliseconds: Int64) async throws -> [PostgresStore])? = {
        guard postgres != nil else { return nil }
        return hosts
    }()

    private static let hosts: @Sendable (_ members: [String], _ leaseMilliseconds: Int64) async throws -> [PostgresStore] = { members, lease in
        let environment = ProcessInfo.processInfo.environment
        guard let text = environment["CONNECTOR_HOST_TEST_POSTGRES"], let url = URLComponents(string: text), let host = url.host, let user = url.user else {
            throw CancellationError()
        }
        let password = environment["CONNECTOR_HOST_TEST_POSTGRES_PASSWORD"]
        let database = String(url.path.dropFirst())
        func configuration(schema: String?) -> PostgresClient.Configuration {
            var configuration = PostgresClient.Configuration(host: host, port: url.port ?? 5432, username: user, password: password, database: database,
                                                             tls: .disable)
            if let schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
            return configuration
        }
        let logger = Logger(label: "test.postgres")
        let schema = "store_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        let admin = PostgresClient(configuration: configuration(schema: nil), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: logger)
            group.cancelAll()
        }
        var stores: [PostgresStore] = []
        for member in members {
            stores.append(try await PostgresStore(configuration: configuration(schema: schema), member: member, leaseMilliseconds: lease, logger: logger))
        }
        return stores
    }

    static var all: [StoreUnderTest] { [sqlite] + (postgres.map { [$0] } ?? []) }
}
