import ConnectorProtocol
import HostAdmin
@testable import HostCore
import Logging
import Testing

/// A connector paused because its target refused its credentials, and a secret stored meanwhile: the
/// order of the two must not leave it paused with a good secret in the vault. Without a plugin.
@Suite struct CredentialsPauseTests {
    let instance = ConnectorInstance(
        config: ConnectorConfig(id: "erp", plugin: "odoo", tenant: nil, entity: nil, sha256: nil, config: .object([:]), executable: "/bin/false",
                                origin: "test", pollIntervalMilliseconds: 1_000, pollBatch: 100),
        settings: SupervisorSettings(), runtimeDirectory: "/nonexistent", logger: Logger(label: "test"))

    /// The refusal of a delivery sent before the secret was stored arrives after it: nothing is paused.
    @Test func aRefusalOfWorkSentBeforeASecretWasStoredPausesNothing() {
        let sent = instance.credentialsEpoch
        #expect(instance.credentialsStored() == false, "nothing was paused: nothing to resume")
        #expect(instance.pauseForCredentials("no secret api_key", epoch: sent) == false)
        #expect(!instance.status.paused)
    }

    /// The refusal arrives first: the connector is paused, once, and storing a secret resumes it.
    @Test func aRefusalThenASecretPausesAndResumes() {
        let sent = instance.credentialsEpoch
        #expect(instance.pauseForCredentials("no secret api_key", epoch: sent))
        #expect(instance.pauseForCredentials("no secret api_key", epoch: sent) == false, "already paused")
        #expect(instance.status.paused && instance.status.lastError == "auth: no secret api_key")
        #expect(instance.credentialsStored())
        #expect(!instance.status.paused && instance.status.lastError == nil)
        // The secret stored is refused as well: work sent with it pauses again.
        #expect(instance.pauseForCredentials("wrong api_key", epoch: instance.credentialsEpoch))
    }

    /// An operator's pause is the operator's to lift: a secret stored does not resume it.
    @Test func aSecretDoesNotLiftAnOperatorsPause() async throws {
        instance.send(.pause)
        let run = Task { await instance.run() }
        defer { run.cancel() }
        try await waitUntil { instance.status.paused }
        // A delivery sent before the pause is refused meanwhile: the pause stays the operator's.
        #expect(instance.pauseForCredentials("wrong api_key", epoch: instance.credentialsEpoch) == false)
        #expect(instance.credentialsStored() == false)
        #expect(instance.status.paused)
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }
}
