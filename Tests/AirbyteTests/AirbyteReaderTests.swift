@testable import AirbyteKit
import ConnectorProtocol
import Foundation
import Logging
import Testing

/// The reader running a real source (the tests' counting source) as a child process.
@Suite struct AirbyteReaderTests {
    static let countingSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/airbyte/counting_source.py").path

    /// A reader of connector `id` with its workspace under `parent`; the vault holds no secret.
    static func reader(_ settings: AirbyteSettings, id: String, in parent: String) throws -> AirbyteReader {
        AirbyteReader(settings: settings, connector: ConnectorInfo(id: id, plugin: "airbyte"),
                      workspace: try AirbyteWorkspace(parent: parent, connector: id), logger: Logger(label: "test"),
                      secret: { name in throw ConnectorError(.permanent, "no secret \(name)") })
    }

    /// An operator's check while the plugin's first poll runs `discover` (a slow one): each command has a
    /// configuration file of its own, so the one that ends first does not take away the other's; both
    /// succeed, and no configuration (it holds the vault's secrets) is left behind.
    @Test func aCheckBesideADiscoverKeepsEachOnesConfiguration() async throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("airbyte-reader-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let reader = try Self.reader(AirbyteSettings(command: [Self.countingSource, "--discover-delay-ms", "1000"], streams: ["items"]),
                                     id: "items", in: parent)
        async let discovered = reader.configuredCatalog()
        try await Task.sleep(for: .milliseconds(200))
        let checked = try await reader.check()
        #expect(checked.ok, "\(checked.message)")
        #expect(try await discovered.offered == ["items"])
        let left = try FileManager.default.contentsOfDirectory(atPath: reader.workspace.directory)
        #expect(left.filter { $0.hasPrefix("config") }.isEmpty, "\(left)")
    }

    /// A source that ends well and says nothing (no CATALOG, no CONNECTION_STATUS) will say nothing the
    /// next time: a permanent error naming the message missing, not a transient one retried for ever.
    @Test func aSourceThatSaysNothingIsAPermanentError() async throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("airbyte-reader-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let reader = try Self.reader(AirbyteSettings(command: ["/bin/true"]), id: "quiet", in: parent)
        let discover = await #expect(throws: ConnectorError.self) { try await reader.configuredCatalog() }
        #expect(discover?.code == .permanent && discover?.message == "Airbyte discover ended without a CATALOG message (the source's log may say why)")
        let check = await #expect(throws: ConnectorError.self) { try await reader.check() }
        #expect(check?.code == .permanent && check?.message.contains("without a CONNECTION_STATUS message") == true)
        // A source that dies is another matter: tried again.
        let crashing = try Self.reader(AirbyteSettings(command: ["/bin/false"]), id: "crashing", in: parent)
        let crash = await #expect(throws: ConnectorError.self) { try await crashing.configuredCatalog() }
        #expect(crash?.code == .transient && crash?.message == "Airbyte discover exited with status 1")
    }
}
