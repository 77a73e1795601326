import ArgumentParser
import ConnectorProtocol
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
            // Each plugin describes its capabilities (`--describe`, no host needed): the routes are judged
            // against them. A plugin that cannot describe itself (one in another language) is not judged.
            var capabilities: [String: Capabilities] = [:]
            var undescribed: [String] = []
            for connector in configuration.connectors {
                if let described = Self.describe(connector.executable) {
                    capabilities[connector.id] = described.capabilities
                } else {
                    undescribed.append(connector.id)
                }
            }
            // Each plugin judges its own [connector.config] table (`--check-config`, the table on stdin).
            var problems = configuration.connectors.compactMap { connector -> String? in
                Self.configProblem(connector.executable, connector.config).map { "connector \(connector.id): [connector.config] \($0)" }
            }
            problems += RouteKinds.problems(routes: configuration.routes, capabilities: capabilities)
            guard problems.isEmpty else {
                FileHandle.standardError.write(Data("connector-hostd: configuration is not valid:\n\(problems.map { "\(config): \($0)" }.joined(separator: "\n"))\n".utf8))
                throw ExitCode(1)
            }
            print("connector-hostd: configuration \(config) is valid: \(configuration.connectors.count) connector(s)")
            for connector in configuration.connectors {
                print("  \(connector.id)\t\(connector.plugin)\t\(connector.executable)")
            }
            if !undescribed.isEmpty {
                print("  (not described, routes to or from them not checked: \(undescribed.joined(separator: ", ")))")
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

    /// Runs `<plugin> --describe` (five seconds at most, without the host's environment) and reads
    /// its one JSON line; nil when the plugin does not answer so.
    static func describe(_ executable: String) -> PluginDescription? {
        ask(executable, "--describe").flatMap { try? JSONDecoder().decode(PluginDescription.self, from: $0) }
    }

    /// Runs `<plugin> --check-config` with the connector's `[connector.config]` as JSON on stdin: the
    /// problem it names, or nil (none, or a plugin that does not judge its configuration).
    static func configProblem(_ executable: String, _ config: JSONValue) -> String? {
        guard let input = try? JSONEncoder().encode(config), let line = ask(executable, "--check-config", input: input),
              let answer = try? JSONDecoder().decode(JSONValue.self, from: line) else { return nil }
        return answer["config_problem"]?.stringValue
    }

    /// The first stdout line of `<plugin> <flag>` (five seconds at most, without the host's environment),
    /// nil when it does not exit 0 with one.
    static func ask(_ executable: String, _ flag: String, input: Data? = nil) -> Data? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [flag]
        process.environment = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"]
        let output = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        guard (try? process.run()) != nil else { return nil }
        if let input {
            try? stdin.fileHandleForWriting.write(contentsOf: input)
            try? stdin.fileHandleForWriting.close()
        }
        if done.wait(timeout: .now() + .seconds(5)) == .timedOut {
            process.terminate()
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        guard process.terminationStatus == 0, let line = data.split(separator: UInt8(ascii: "\n")).first else { return nil }
        return Data(line)
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
