import ArgumentParser
import Foundation
import HostAdmin
import HostCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct ConnectorHostd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connector-hostd",
        abstract: "The connector-host daemon: runs connector plugins, queues and delivers their events.",
        discussion: """
            Reads host.toml and the connectors.d/*.toml drop-ins beside it, starts one plugin process \
            per [[connector]], and serves hostctl on the admin socket. Stops cleanly on SIGTERM or SIGINT.
            """,
        version: BuildInfo.version
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
        // One redactor for the whole daemon, handed to the application (`HostApplication.redactor`)
        // so that every secret value the daemon learns is registered in it and masked in every log line.
        let redactor = Redactor()
        let target = Self.logTarget(configuration.logTarget)
        let logger = Logger(label: "connector-hostd") { label -> any LogHandler in
            switch target {
            case .journal: JournalLogHandler(label: label, level: level, redactor: redactor)
            case .stderr: JSONLogHandler(label: label, level: level, redactor: redactor)
            }
        }
        if configuration.logTarget == "journal", target == .stderr {
            logger.warning("log_target is journal but there is no journal socket; logging to stderr", metadata: [
                "journal.socket": "\(Self.journalSocket)",
            ])
        }
        do {
            try await HostApplication(config: configuration, configPath: config, logger: logger, redactor: redactor).run()
        } catch let error as HostError {
            logger.critical("daemon cannot run", metadata: ["error.code": "\(error.code)", "error.message": "\(error.description)"])
            FileHandle.standardError.write(Data("connector-hostd: \(redactor.redact(error.description))\n".utf8))
            throw ExitCode(1)
        }
    }

    enum LogTarget { case journal, stderr }

    static let journalSocket = "/run/systemd/journal/socket"

    /// `log_target` resolved: "auto" is the journal when systemd connected stderr to it
    /// (`JOURNAL_STREAM` names stderr's device and inode). "journal" needs the journal socket:
    /// libsystemd drops records silently without one, so stderr is used instead.
    static func logTarget(_ setting: String) -> LogTarget {
        switch setting {
        case "stderr":
            return .stderr
        case "journal":
            return access(journalSocket, F_OK) == 0 ? .journal : .stderr
        default:
            return JournalLogHandler.stderrIsJournalStream(environment: ProcessInfo.processInfo.environment) ? .journal : .stderr
        }
    }
}
