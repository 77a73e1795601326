import ConnectorProtocol
import Crypto
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct SecretsTests {
    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Where a secret must never appear: every log line, the database files, every process's argv,
    /// and what hostctl printed. Returns the names of the places that hold one (never the value).
    static func leaks(of secrets: [String], daemon: DaemonHarness, outputs: [String]) -> [String] {
        var places: [(String, Data)] = [("daemon log", Data(daemon.log.utf8)), ("hostctl output", Data(outputs.joined(separator: "\n").utf8))]
        for file in ["connector-host.sqlite", "connector-host.sqlite-wal"] {
            places.append((file, FileManager.default.contents(atPath: daemon.path("state/\(file)")) ?? Data()))
        }
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter({ Int($0) != nil }) ?? [] {
            places.append(("argv of pid \(pid)", FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()))
            places.append(("environment of pid \(pid)", FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()))
        }
        return places.filter { _, bytes in secrets.contains { bytes.range(of: Data($0.utf8)) != nil } }.map(\.0)
    }

    @Test func secretsReachOnlyTheirOwnPluginAndAppearNowhereElse() throws {
        let apiKey = "sk_live_" + UUID().uuidString, otherKey = "sk_other_" + UUID().uuidString
        let rotated = "sk_rotated_" + UUID().uuidString, refreshed = "oauth_" + UUID().uuidString
        var outputs: [String] = []
        let daemon = try DaemonHarness()
        let sink = DaemonHarness.sample("b", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
        try daemon.writeConfig(connectors: sink)
        try daemon.start()

        // Secrets go in before their connector exists, from stdin.
        for (connector, name, value) in [("a", "api_key", apiKey), ("b", "api_key", otherKey)] {
            let set = try daemon.hostctl(input: value + "\n", "secret", "set", connector, name)
            outputs += [set.stdout, set.stderr]
            #expect(set.status == 0)
            #expect(set.stdout.contains("stored \(connector)/\(name), version 1"))
        }
        #expect(outputs[1].contains("no connector a is configured"))

        let source = DaemonHarness.sample("a", """
            [connector.config]
            emit = 30
            secret_probe = "api_key:\(Self.sha256(apiKey))"
            secret_probe_foreign = "b/api_key"
            secret_log = "api_key"
            secret_refresh = "oauth_token"
            secret_refresh_value = "\(refreshed)"
            """)
        try daemon.writeConfig(connectors: sink + source + DaemonHarness.route("a", "b"))
        #expect(try daemon.hostctl("reload").status == 0)
        try daemon.waitUntil("the plugin read its secret", timeout: 20) { daemon.log.contains("secret probe: api_key matches") }
        try daemon.waitUntil("the events flowed", timeout: 20) { try daemon.count("delivered") == 30 }
        #expect(daemon.log.contains("secret probe: another connector's secret was refused: auth"))
        #expect(daemon.log.contains("secret probe: oauth_token refreshed to version 1"))
        try daemon.waitUntil("a plugin's careless log lines are redacted", timeout: 10) {
            daemon.log.contains("secret probe: logging [redacted] through the protocol") && daemon.log.contains("secret probe: printing [redacted] on stderr")
        }

        let list = try daemon.hostctl("secret", "list", "--json")
        outputs.append(list.stdout)
        let infos = try JSONDecoder().decode([SecretInfo].self, from: Data(list.stdout.utf8))
        // Operator changes name the admin socket peer's user (the test runs as that user).
        let me = "operator \(String(cString: getpwuid(getuid())!.pointee.pw_name)) (uid \(getuid()))"
        #expect(infos.map { "\($0.connector)/\($0.name)@\($0.version) by \($0.updatedBy)" } == [
            "a/api_key@1 by \(me)", "a/oauth_token@1 by a", "b/api_key@1 by \(me)",
        ])

        // Rotation, then a new master key: the plugin still reads its (rotated) secret after a restart.
        let rotate = try daemon.hostctl(input: rotated, "secret", "rotate", "a", "api_key")
        outputs += [rotate.stdout, rotate.stderr]
        #expect(rotate.stdout.contains("rotated a/api_key, version 2"))
        let rekey = try daemon.hostctl("vault", "rekey")
        outputs += [rekey.stdout, rekey.stderr]
        #expect(rekey.stdout.contains("rekeyed: 3 secret(s)"))
        try daemon.writeConfig(connectors: sink + source.replacingOccurrences(of: Self.sha256(apiKey), with: Self.sha256(rotated)) + DaemonHarness.route("a", "b"))
        #expect(try daemon.hostctl("reload").status == 0)
        try daemon.waitUntil("the restarted plugin read the rotated secret", timeout: 20) {
            daemon.log.components(separatedBy: "secret probe: api_key matches").count == 3
        }

        let verify = try daemon.hostctl("audit", "verify")
        outputs.append(verify.stdout)
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("intact"))

        let leaked = Self.leaks(of: [apiKey, otherKey, rotated, refreshed], daemon: daemon, outputs: outputs)
        #expect(leaked.isEmpty, "a secret value appears in: \(leaked)")
        #expect(try daemon.stop() == 0)
        let leakedAfterStop = Self.leaks(of: [apiKey, otherKey, rotated, refreshed], daemon: daemon, outputs: [])
        #expect(leakedAfterStop.isEmpty, "a secret value appears in: \(leakedAfterStop)")
    }

    /// Someone with write access to the database edits an audit row: `hostctl audit verify` finds it.
    /// Ctrl-C at the hidden prompt aborts with 130 and stores nothing (it used to store the ^C byte, and
    /// `rotate` replaced the live secret with it). Driven through a real pseudo-terminal.
    @Test func ctrlCAtTheSecretPromptStoresNothing() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("a"))
        try daemon.start()
        #expect(try daemon.hostctl(input: "old-value", "secret", "set", "a", "k").status == 0)
        let typed = try DaemonHarness.run("/usr/bin/env", ["python3", "-c", """
            import os, pty, sys, time, select
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(sys.argv[1], [sys.argv[1], "secret", "rotate", "a", "k", "--socket", sys.argv[2]])
            seen = b""
            while b"value of" not in seen:
                seen += os.read(fd, 200)
            os.write(fd, b"new-val\\x03")
            deadline = time.time() + 5
            while time.time() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    print(os.waitstatus_to_exitcode(status)); sys.exit(0)
                time.sleep(0.05)
            os.write(fd, b"\\n")  # still waiting at the prompt: press Enter, as the user then would
            print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
            """, DaemonHarness.binDirectory.appendingPathComponent("hostctl").path, daemon.adminSocket])
        #expect(typed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "130", "\(typed.stderr)")
        let list = try daemon.hostctl("secret", "list", "--json")
        #expect(list.stdout.contains("\"version\":1") || list.stdout.contains("\"version\" : 1"), "\(list.stdout)")
        #expect(try daemon.stop() == 0)
    }

    @Test func aTamperedAuditRowIsFound() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("a"))
        try daemon.start()
        #expect(try daemon.hostctl("pause", "a").status == 0)
        #expect(try daemon.hostctl("resume", "a").status == 0)
        #expect(try daemon.hostctl("audit", "verify").status == 0)
        #expect(try daemon.stop() == 0)

        let database = daemon.path("state/connector-host.sqlite")
        let tamper = try DaemonHarness.shell("""
            python3 -c "import sqlite3; c=sqlite3.connect('\(database)'); c.execute('DROP TRIGGER audit_no_update'); \
            c.execute(\\"UPDATE audit SET detail='nothing happened' WHERE action='connector.pause'\\"); c.commit()"
            """)
        #expect(tamper == 0)
        try daemon.start()
        let verify = try daemon.hostctl("audit", "verify")
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("edited: row"))
        #expect(verify.stdout.contains("TAMPERED"))
        #expect(try daemon.stop() == 0)
    }
}
