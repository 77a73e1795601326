import ArgumentParser
import Foundation
import HostCore
import Logging

@main
struct ConnectorHostd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connector-hostd",
        abstract: "The connector-host daemon: runs connector plugins, queues and delivers their events.",
        discussion: """
            Reads host.toml and the connectors.d/*.toml drop-ins beside it, starts one plugin process \
            per [[connector]], and serves hostctl on the admin socket. Stops cleanly on SIGTERM or SIGINT.
            """,
        version: "0.1.0"
    )

    @Option(name: .long, help: "Path of host.toml.")
    var config = "/etc/connector-host/host.toml"

    @Flag(name: .long, help: "Check the configuration, print any problems, and exit: 0 when valid, 1 when not.")
    var checkConfig = false

    func run() async throws {
        let config = URL(fileURLWithPath: self.config).standardizedFileURL.path
        let configuration: HostConfig
        do {
            configuration = try ConfigLoader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("connector-hostd: configuration is not valid:\n\(error.description)\n".utf8))
            throw ExitCode(1)
        }
        if checkConfig {
            print("connector-hostd: configuration \(config) is valid: \(configuration.connectors.count) connector(s)")
            for connector in configuration.connectors {
                print("  \(connector.id)\t\(connector.plugin)\t\(connector.executable)")
            }
            return
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let logger = Logger(label: "connector-hostd") { label in JSONLogHandler(label: label, level: level) }
        do {
            try await HostApplication(config: configuration, configPath: config, logger: logger).run()
        } catch let error as HostError {
            logger.critical("daemon cannot run", metadata: ["error.code": "\(error.code)", "error.message": "\(error.description)"])
            FileHandle.standardError.write(Data("connector-hostd: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}
