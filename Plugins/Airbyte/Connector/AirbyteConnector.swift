import AirbyteKit
import ConnectorKit
import ConnectorProtocol
import Foundation
import Logging

/// `connector-airbyte`: any Airbyte source (a `source-*` command speaking the Airbyte protocol, e.g.
/// from PyPI's `airbyte-source-*` packages) as a source of the host. Its records become events (generic
/// `record`s, or canonical records where `[connector.config.map.STREAM]` says how), its STATE messages the
/// connector's cursor, stored with the records read before them. The work is in AirbyteKit.
struct AirbyteConnector: Connector {
    static let plugin = PluginInfo(name: "airbyte", version: "0.1.0")
    static let capabilities = Capabilities(streams: [
        StreamInfo(name: AirbyteReader.stream, eventTypes: ["record.upserted", "customer.upserted", "contact.upserted", "company.upserted", "product.upserted"]),
    ])

    let reader: AirbyteReader

    static func configProblem(_ config: JSONValue) -> String? {
        ConfigTable.problem(AirbyteSettings.init, config)
    }

    init(context: ConnectorContext) async throws {
        let settings = try context.settings(AirbyteSettings.init)
        let socket = ProcessInfo.processInfo.environment[PluginEnvironment.socket]
        let parent = socket.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? NSTemporaryDirectory()
        let swept = AirbyteWorkspace.sweep(parent: parent, connector: context.connector.id)
        if !swept.folders.isEmpty {
            context.logger.notice("an earlier run of this plugin was killed: its folders removed, its source's processes killed",
                                  metadata: ["airbyte.folders": "\(swept.folders.count)", "airbyte.killed": "\(swept.killed.map(String.init).joined(separator: " "))"])
        }
        let workspace = try AirbyteWorkspace(parent: parent, connector: context.connector.id)
        let host = context.host
        reader = AirbyteReader(settings: settings, connector: context.connector, workspace: workspace, logger: context.logger,
                               secret: { name in try await host.secret(name) })
    }

    func check() async throws -> CheckResult {
        try await reader.check()
    }

    func poll(_ params: PollParams) async throws -> PollResult {
        try await reader.poll(params)
    }

    func shutdown() async {
        reader.stop()
    }
}
