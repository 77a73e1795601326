import ArgumentParser
import ConnectorProtocol
import Foundation
import HostAdmin

@main
struct Hostctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostctl",
        abstract: "Operate a running connector-hostd through its admin socket.",
        // One paragraph: the man page generated from it must not hold an empty line (groff warns).
        discussion: """
            Every command takes --socket PATH (default: $CONNECTOR_HOST_SOCKET, else \(AdminClient.defaultSocket)) \
            and --json (machine-readable output, snake_case keys), before or after the command's name. \
            Exit status, the same for every command: \(ExitStatus.summary)
            """,
        version: BuildInfo.version,
        subcommands: [
            Status.self, Health.self, Connectors.self, Check.self, Restart.self, Pause.self, Resume.self, Reload.self,
            Queue.self, DLQ.self, Trace.self, Reconcile.self, Secret.self, VaultCommand.self, Audit.self, Cluster.self,
        ]
    )

    /// `--socket` and `--json` belong to every subcommand; an operator may also write them first
    /// (`hostctl --socket PATH status`), so they are moved behind the subcommand before parsing.
    static func main() {
        let arguments = hoistingGlobalOptions(Array(CommandLine.arguments.dropFirst()))
        if let unknown = unknownCommand(arguments) {
            let suggestion = Spelling.closest(to: unknown, in: commandNames).map { "; did you mean '\($0)'?" } ?? ""
            warn("hostctl: unknown command '\(unknown)'\(suggestion) (hostctl --help lists them)")
            Foundation.exit(ExitStatus.usage)
        }
        main(arguments)
    }

    static var commandNames: [String] { configuration.subcommands.map { $0.configuration.commandName ?? $0._commandName } }

    /// The first word when it names no command (options and help are left to the parser).
    static func unknownCommand(_ arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-"), first != "help" else { return nil }
        return commandNames.contains(first) ? nil : first
    }

    static func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if first == "--json" || first.hasPrefix("--socket=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else if first == "--socket", rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else {
                break
            }
        }
        return Array(rest) + leading
    }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Admin socket of the daemon.", discussion: "Default: $CONNECTOR_HOST_SOCKET, else /run/connector-host/admin.sock."))
    var socket: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    var socketPath: String {
        socket ?? ProcessInfo.processInfo.environment[AdminClient.socketEnvironment] ?? AdminClient.defaultSocket
    }

    /// Connects and exchanges versions; warns on stderr when hostctl and the daemon differ.
    /// `timeoutSeconds` bounds the wait for each answer: longer for commands the daemon forwards to a plugin.
    func connect(timeoutSeconds: Int = 30) throws -> AdminClient {
        do {
            let client = try AdminClient(socketPath: socketPath, timeoutSeconds: timeoutSeconds)
            let hello = try client.call(AdminMethod.hello, HelloParams(clientVersion: BuildInfo.version), as: HelloResult.self)
            if hello.daemonVersion != BuildInfo.version {
                warn("warning: hostctl \(BuildInfo.version) talks to connector-hostd \(hello.daemonVersion); output may be incomplete")
            }
            return client
        } catch {
            warn("hostctl: \(error)")
            throw ExitCode(ExitStatus.of(error))
        }
    }

    /// The daemon's refusal exits 1; see ``ExitStatus``.
    func call<P: Encodable, R: Decodable>(_ client: AdminClient, _ method: String, _ params: P, as type: R.Type) throws -> R {
        do {
            return try client.call(method, params, as: type)
        } catch AdminClientError.daemon(let error) where error.code != .auth {
            warn("hostctl: \(error.message)")
            throw ExitCode(ExitStatus.failed)
        } catch {
            warn("hostctl: \(error)")
            throw ExitCode(ExitStatus.of(error))
        }
    }

    func printJSON<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        if let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) {
            print(text == "[\n\n]" ? "[]" : text)  // (Foundation pretty-prints an empty array over three lines)
        }
    }
}

/// hostctl's exit statuses, the same for every command (README, man page: EXIT STATUS).
enum ExitStatus {
    /// Done; healthy; intact; nothing found.
    static let ok: Int32 = 0
    /// The daemon refused or failed the request, or found what the command looks for (degraded health,
    /// a tampered audit trail, duplicates, a replayed dead letter dead again).
    static let failed: Int32 = 1
    /// The daemon cannot be reached: not running, or another socket path.
    static let unreachable: Int32 = 2
    /// The admin socket refuses this user: be root or in the daemon's group.
    static let denied: Int32 = 3
    /// A usage error: an unknown command, option or value (from the argument parser too).
    static let usage: Int32 = 64

    static let summary = "0 done (healthy, intact); 1 refused or failed, or found what it looks for (degraded, tampered, duplicates); 2 the daemon cannot be reached; 3 no permission on the admin socket; 64 usage error."

    static func of(_ error: any Error) -> Int32 {
        switch error {
        case AdminClientError.denied: denied
        case AdminClientError.daemon(let error) where error.code == .auth: denied
        case AdminClientError.unreachable, AdminClientError.badAnswer: unreachable
        default: failed
        }
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Columns padded to their widest cell.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let widths = header.indices.map { column in
        ([header] + rows).map { $0[column].count }.max() ?? 0
    }
    return ([header] + rows).map { row in
        row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Daemon version, uptime, health and connectors by state.")
    @OptionGroup var options: GlobalOptions

    func run() throws {
        let client = try options.connect()
        let status = try options.call(client, AdminMethod.status, EmptyParams(), as: StatusResult.self)
        if options.json { return options.printJSON(status) }
        print("connector-hostd \(status.daemonVersion), pid \(status.pid), up \(duration(status.uptimeSeconds))")
        print("config:     \(status.configPath)")
        if let store = status.store { print("store:      \(store)") }
        if let member = status.member, status.store?.hasPrefix("postgres") == true { print("member:     \(member)") }
        print("health:     \(status.health)")
        if let webhooks = status.webhooks { print("webhooks:   http://\(webhooks)/hooks/{connector}") }
        if let metrics = status.metrics { print("metrics:    http://\(metrics)/metrics, /healthz") }
        let states = status.connectors.keys.sorted().map { "\(status.connectors[$0]!) \($0)" }
        print("connectors: \(states.isEmpty ? "none" : states.joined(separator: ", "))")
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when healthy, 1 when degraded, 2 when the daemon cannot be reached.",
        discussion: "Degraded means a connector is not running: failed, restarting, or paused by an operator."
    )
    @OptionGroup var options: GlobalOptions

    func run() throws {
        let client = try options.connect()
        let health = try options.call(client, AdminMethod.health, EmptyParams(), as: HealthResult.self)
        if options.json {
            options.printJSON(health)
        } else {
            print(health.status)
            for problem in health.problems { print("  \(problem)") }
        }
        if health.status != "healthy" { throw ExitCode(1) }
    }
}

struct Connectors: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every connector: plugin, state, pid, uptime, restarts, last error.")
    @OptionGroup var options: GlobalOptions

    func run() throws {
        let client = try options.connect()
        let connectors = try options.call(client, AdminMethod.connectors, EmptyParams(), as: [ConnectorStatus].self)
        if options.json { return options.printJSON(connectors) }
        if connectors.isEmpty { return print("no connectors configured") }
        print(table(
            ["ID", "PLUGIN", "STATE", "PID", "UPTIME", "RESTARTS", "CIRCUIT", "LAST ERROR"],
            connectors.map {
                [$0.id, $0.plugin, $0.state, $0.pid.map(String.init) ?? "-", duration($0.uptimeSeconds), String($0.restarts),
                 $0.circuit ?? "-", $0.lastError ?? "-"]
            }
        ))
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a connector's plugin whether its configuration and credentials work (exit 0 yes, 1 no).",
        discussion: "The plugin may call its SaaS API to find out (Stripe: the balance; Odoo: a login)."
    )
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Connector id.") var id: String

    func run() throws {
        let client = try options.connect(timeoutSeconds: 45)
        let result = try options.call(client, AdminMethod.check, ConnectorTarget(id: id), as: CheckResult.self)
        if options.json {
            options.printJSON(result)
        } else {
            print("\(id): \(result.ok ? "ok" : "NOT OK"): \(result.message)")
        }
        if !result.ok { throw ExitCode(ExitStatus.failed) }
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restart a connector's plugin (also revives a failed one), or every failed connector."
    )
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Connector id.") var id: String?
    @Flag(name: .long, help: "Restart every connector in state failed.") var failed = false

    func validate() throws {
        if (id == nil) == !failed { throw ValidationError("give a connector id or --failed") }
    }

    func run() throws {
        let client = try options.connect()
        let result = try options.call(client, AdminMethod.restart, RestartParams(id: id, failed: failed), as: AffectedConnectors.self)
        if options.json { return options.printJSON(result) }
        print(result.ids.isEmpty ? "no failed connectors" : "restarting: \(result.ids.joined(separator: ", "))")
    }
}

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop giving a connector work; its plugin keeps running.")
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Connector id.") var id: String

    func run() throws {
        let client = try options.connect()
        let result = try options.call(client, AdminMethod.pause, ConnectorTarget(id: id), as: AffectedConnectors.self)
        if options.json { return options.printJSON(result) }
        print("paused: \(id)")
    }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Give a paused connector work again.")
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Connector id.") var id: String

    func run() throws {
        let client = try options.connect()
        let result = try options.call(client, AdminMethod.resume, ConnectorTarget(id: id), as: AffectedConnectors.self)
        if options.json { return options.printJSON(result) }
        print("resumed: \(id)")
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the configuration: start added connectors, stop removed ones, restart changed ones.",
        discussion: "An invalid configuration changes nothing; its problems are printed and hostctl exits 1."
    )
    @OptionGroup var options: GlobalOptions

    func run() throws {
        let client = try options.connect()
        let result = try options.call(client, AdminMethod.reload, EmptyParams(), as: ReloadResult.self)
        if options.json { return options.printJSON(result) }
        func list(_ ids: [String]) -> String { ids.isEmpty ? "-" : ids.joined(separator: ", ") }
        print("started:   \(list(result.started))")
        print("stopped:   \(list(result.stopped))")
        print("restarted: \(list(result.restarted))")
        print("unchanged: \(list(result.unchanged))")
        if !result.routesAdded.isEmpty || !result.routesRemoved.isEmpty || !result.routesChanged.isEmpty {
            print("routes:    added \(list(result.routesAdded)); removed \(list(result.routesRemoved)); changed \(list(result.routesChanged))")
        }
        for warning in result.warnings { warn("warning: \(warning)") }
    }
}
