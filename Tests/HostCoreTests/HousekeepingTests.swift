import Foundation
@testable import HostCore
import Logging
import Synchronization
import Testing

/// Log lines kept in memory, for tests that read what was logged.
final class CollectedLog: Sendable {
    let lines = Mutex<[String]>([])

    var handler: @Sendable (String) -> any LogHandler {
        { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CollectedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            log.lines.withLock { $0.append(([event.message.description] + fields).joined(separator: " ")) }
        }
    }
}

/// The store's chores run on their own schedule, not when someone scrapes /metrics.
@Suite struct HousekeepingTests {
    @Test(arguments: StoreUnderTest.all) func replayKeysArePrunedAndTheAuditHeadIsLoggedPeriodically(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let old = Store.now() - 8 * 86_400_000
        try await store.rawExecuteForTests("""
            INSERT INTO webhook_replays (connector, replay_key, seen_at) VALUES ('hook', 'old', \(old)), ('hook', 'new', \(Store.now()))
            """)
        try await store.audit(correlationID: nil, actor: "test", action: "a", subject: "s", detail: "d")
        let head = try #require(try await store.auditHead())

        let log = CollectedLog()
        var housekeeping = Housekeeping(store: store, logger: Logger(label: "test", factory: log.handler))
        housekeeping.interval = .milliseconds(20)
        housekeeping.headEvery = 2
        let running = Task { [housekeeping] in try await housekeeping.run() }
        // Generous: the end-to-end suites running beside this one can keep the cooperative pool busy.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline, !log.lines.withLock({ $0.contains { $0.hasPrefix("audit head") } }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await store.replayKeysForTests() == ["new"])
        running.cancel()
        try await running.value
        #expect(log.lines.withLock { $0 }.contains("audit head audit.head_hash=\(head.hash) audit.head_id=\(head.id)"))
    }
}
