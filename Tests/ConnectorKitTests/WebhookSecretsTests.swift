import ConnectorKit
import Synchronization
import Testing

/// A forged flood must not become a flood of vault reads.
@Suite struct WebhookSecretsTests {
    final class Vault: Sendable {
        let reads = Mutex<[String]>([])
        let value = Mutex("one")
        func read(_ name: String) throws -> String {
            reads.withLock { $0.append(name) }
            if name == "next" { throw CancellationError() }
            return value.withLock { $0 }
        }
    }

    @Test func secretsAreReadAgainAtMostOncePerInterval() async throws {
        let vault = Vault()
        let secrets = WebhookSecrets(names: ["current", "next"], refreshInterval: .seconds(30)) { try vault.read($0) }
        #expect(try await secrets.current() == ["one"])
        #expect(try await secrets.current() == ["one"])
        vault.value.withLock { $0 = "two" }
        let start = ContinuousClock.now
        #expect(try await secrets.refreshed(now: start) == ["two"])
        for second in 1..<30 {
            #expect(try await secrets.refreshed(now: start + .seconds(second)) == nil)
        }
        #expect(try await secrets.refreshed(now: start + .seconds(30)) == ["two"])
        // An absent next secret (no roll under way) is skipped, not an error.
        #expect(vault.reads.withLock { $0 } == ["current", "next", "current", "next", "current", "next"])
    }
}
