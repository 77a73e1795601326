import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the real `connector-hostd` binary on a configuration in a temporary directory and talks to
/// it the way an operator does: through the admin socket and the `hostctl` binary.
final class DaemonHarness: @unchecked Sendable {
    // @unchecked: used from one test at a time; `process` is only touched by that test.
    static let binDirectory: URL = {
        if let override = ProcessInfo.processInfo.environment["CONNECTOR_HOST_BIN"] {
            return URL(fileURLWithPath: override)
        }
        // The test bundle lives beside the products: .build/<triple>/debug/connector-hostPackageTests.xctest
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("connector-hostd").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug")
    }()

    let directory: URL
    var configPath: String { directory.appendingPathComponent("host.toml").path }
    var adminSocket: String { directory.appendingPathComponent("run/admin.sock").path }
    var logPath: String { directory.appendingPathComponent("daemon.log").path }
    private(set) var process: Process?
    var extraEnvironment: [String: String] = [:]
    /// RLIMIT_NOFILE (soft and hard) to start the daemon under, as a unit's LimitNOFILE= would.
    var descriptorLimit: Int?
    /// A command the daemon is started through (its arguments follow), as a unit's settings would
    /// (`Tests/Fixtures/memory-deny-write-execute`).
    var launcher: [String] = []

    /// Fast supervision so that tests see restarts and hangs within a second or two.
    static let fastSupervisor = """
        [supervisor]
        handshake_timeout_ms = 3000
        ping_interval_ms = 300
        ping_timeout_ms = 400
        restart_backoff_ms = 50
        restart_backoff_max_ms = 400
        crash_limit = 3
        crash_window_s = 30
        shutdown_grace_ms = 700
        """

    init() throws {
        // Short path: Unix socket paths are limited to 107 bytes.
        let template = "/tmp/chd-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw HarnessError("mkdtemp failed") }
        directory = URL(fileURLWithPath: String(cString: made))
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("connectors.d"), withIntermediateDirectories: true)
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Writes host.toml with the given connector tables (TOML text) after the host keys.
    func writeConfig(connectors: String, supervisor: String = DaemonHarness.fastSupervisor) throws {
        try """
            state_dir = "state"
            runtime_dir = "run"
            plugin_dirs = ["\(Self.binDirectory.path)"]

            \(supervisor)

            \(connectors)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Puts `directory` first in host.toml's plugin_dirs (for the test fixtures' plugins).
    func addPluginDirectory(_ directory: String) throws {
        let text = try String(contentsOfFile: configPath, encoding: .utf8)
            .replacingOccurrences(of: "plugin_dirs = [\"", with: "plugin_dirs = [\"\(directory)\", \"")
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    static func sample(_ id: String, _ extra: String = "") -> String {
        "[[connector]]\nid = \"\(id)\"\nplugin = \"sample\"\n\(extra)\n"
    }

    // MARK: Running the daemon

    func start(waitForReady: Bool = true) throws {
        let process = Process()
        let daemon = Self.binDirectory.appendingPathComponent("connector-hostd")
        var command = [daemon.path, "--config", configPath]
        if let descriptorLimit { command = ["/usr/bin/prlimit", "--nofile=\(descriptorLimit):\(descriptorLimit)", "--"] + command }
        command = launcher + command
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = nil
        for (key, value) in extraEnvironment { environment[key] = value }
        process.environment = environment
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        if waitForReady {
            try waitUntil("the admin socket answers", timeout: 15) { (try? self.client()) != nil }
            try waitUntil("every connector has settled", timeout: 15) {
                try self.connectors().allSatisfy { $0.state != "starting" }
            }
        }
    }

    var daemonPID: Int32? { process?.processIdentifier }
    var isRunning: Bool { process?.isRunning ?? false }

    /// Starts the daemon on the connectors `initial`, stores `secrets` (connector, name, value) through
    /// hostctl, then loads `connectors`: no connector runs before its secrets are in the vault.
    func start(storing secrets: [(String, String, String)], initial: String = "", then connectors: String) throws {
        try writeConfig(connectors: initial)
        try start()
        for (connector, name, value) in secrets {
            let stored = try hostctl(input: value, "secret", "set", connector, name)
            guard stored.status == 0 else { throw HarnessError("secret set: \(stored.stderr)") }
        }
        try writeConfig(connectors: connectors)
        let reload = try hostctl("reload")
        guard reload.status == 0 else { throw HarnessError("reload: \(reload.stdout) \(reload.stderr)") }
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 15) throws -> Int32 {
        guard let process else { throw HarnessError("daemon not started") }
        kill(process.processIdentifier, signal)
        try waitUntil("the daemon exits", timeout: timeout) { !process.isRunning }
        self.process = nil
        return process.terminationStatus
    }

    func client() throws -> AdminClient {
        try AdminClient(socketPath: adminSocket, timeoutSeconds: 10)
    }

    /// Webhooks and /metrics on ports of their own choosing, both on loopback.
    static let httpListeners = "[http]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n"

    /// host:port of the webhook listener, from `hostctl status`.
    func webhookAddress() throws -> String {
        guard let address = try client().call(AdminMethod.status, EmptyParams(), as: StatusResult.self).webhooks else {
            throw HarnessError("no webhook listener")
        }
        return address
    }

    /// host:port of the /metrics and /healthz listener.
    func metricsAddress() throws -> String {
        guard let address = try client().call(AdminMethod.status, EmptyParams(), as: StatusResult.self).metrics else {
            throw HarnessError("no metrics listener")
        }
        return address
    }

    func connectors() throws -> [ConnectorStatus] {
        try client().call(AdminMethod.connectors, EmptyParams(), as: [ConnectorStatus].self)
    }

    func connector(_ id: String) throws -> ConnectorStatus {
        guard let status = try connectors().first(where: { $0.id == id }) else { throw HarnessError("no connector \(id)") }
        return status
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Runs the hostctl binary against this daemon.
    func hostctl(_ arguments: String...) throws -> (status: Int32, stdout: String, stderr: String) {
        try Self.run("hostctl", arguments + ["--socket", adminSocket])
    }

    /// Runs hostctl with `input` on its standard input (secret values never go in argv).
    func hostctl(input: String, _ arguments: String...) throws -> (status: Int32, stdout: String, stderr: String) {
        try Self.run("hostctl", arguments + ["--socket", adminSocket], input: input)
    }

    static func run(_ executable: String, _ arguments: [String], input: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = executable.hasPrefix("/") ? URL(fileURLWithPath: executable) : binDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    // MARK: Waiting

    func waitUntil(_ what: String, timeout: TimeInterval = 10, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError: (any Error)?
        while Date() < deadline {
            do {
                if try condition() { return }
            } catch {
                lastError = error
            }
            usleep(50_000)
        }
        throw HarnessError("timed out after \(timeout)s waiting until \(what)" + (lastError.map { "; last error: \($0)" } ?? "") + "\n--- daemon log ---\n" + String(log.suffix(4000)))
    }

    /// True when the process is gone or a zombie (the container's init may not reap orphans).
    static func isDead(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state == "Z" || state == "X"
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
