import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct OperatorTests {
    /// hostctl says what it could not do, with the documented exit status: unknown dead letters and
    /// routes, a cut list, a mistyped record kind or command, no permission; `replay --wait` tells the
    /// outcome; JSON keys are snake_case; a route change on reload is named, not warned about.
    @Test func hostctlSaysWhatItCouldNotDoWithTheDocumentedStatus() throws {
        let daemon = try DaemonHarness()
        let faults = daemon.path("faults")
        try "fail-match :payment: permanent\n".write(toFile: faults, atomically: true, encoding: .utf8)
        let connectors = DaemonHarness.sample("src", "[connector.config]\nemit = 6")
            + DaemonHarness.sample("erp", "[connector.config]\nfaults_file = \"\(faults)\"\neffects_file = \"\(daemon.path("effects"))\"")
        try daemon.writeConfig(connectors: connectors + DaemonHarness.route("src", "erp"))
        try daemon.start()
        try daemon.waitUntil("the payments are dead letters", timeout: 20) { try daemon.count("dead") == 2 }

        let cut = try daemon.hostctl("dlq", "list", "--limit", "1")
        #expect(cut.status == 0 && cut.stdout.contains("the first 1 only: there are more"))
        #expect(try daemon.hostctl("dlq", "list", "--limit", "0").status == 64)
        let unknown = try daemon.hostctl("dlq", "replay", "999999")
        #expect(unknown.status == 1 && unknown.stderr.contains("no dead letter 999999"), "\(unknown)")
        #expect(try daemon.hostctl("dlq", "discard", "999999").status == 1)
        let noRoute = try daemon.hostctl("dlq", "replay", "--route", "src->erq")
        #expect(noRoute.status == 1 && noRoute.stderr.contains("no route src->erq: did you mean src->erp?"), "\(noRoute)")

        try "".write(toFile: faults, atomically: true, encoding: .utf8)
        let waited = try daemon.hostctl("dlq", "replay", "--route", "src->erp", "--wait", "--timeout", "30")
        #expect(waited.status == 0, "\(waited)")
        #expect(waited.stdout.split(separator: "\n").filter { $0.hasSuffix("delivered") }.count == 2, "\(waited.stdout)")

        let typo = try daemon.hostctl("reconcile", "erp", "--from", "2026-01-01", "--to", "2026-01-31", "--type", "invoices")
        #expect(typo.status == 64 && typo.stderr.contains("did you mean invoice?"), "\(typo)")
        let mistyped = try daemon.hostctl("stauts")
        #expect(mistyped.status == 64 && mistyped.stderr.contains("did you mean 'status'?"))
        let help = try daemon.hostctl("--help")
        // (--help wraps to the terminal's width: compare words, not lines.)
        let helpWords = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(helpWords.contains("CONNECTOR_HOST_SOCKET") && helpWords.contains("3 no permission on the admin socket"))

        #expect(try daemon.hostctl(input: "value-1", "secret", "set", "erp", "api_key").status == 0)
        #expect(try daemon.hostctl("secret", "list", "--json").stdout.contains("\"updated_by\""))
        #expect(try daemon.hostctl("audit", "verify", "--json").stdout.contains("\"head_id\""))

        try daemon.writeConfig(connectors: connectors + DaemonHarness.route("src", "erp") + DaemonHarness.route("erp", "src"))
        let reload = try daemon.hostctl("reload")
        #expect(reload.status == 0 && reload.stdout.contains("routes:    added erp->src; removed -; changed -"), "\(reload)")
        #expect(!reload.stderr.contains("warning"))

        // Another user than the daemon's (and not in its group) is told so: 3, not "daemon down" (2).
        if getuid() == 0 {
            let nobody = try DaemonHarness.run("/usr/sbin/runuser", ["-u", "nobody", "--", DaemonHarness.binDirectory.appendingPathComponent("hostctl").path,
                                                                      "--socket", daemon.adminSocket, "status"])
            #expect(nobody.status == 3 && nobody.stderr.contains("no permission"), "\(nobody)")
        }
        #expect(try daemon.stop() == 0)
    }

    @Test func healthExitCodesAreZeroOneTwo() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("a"))
        try daemon.start()
        let healthy = try daemon.hostctl("health")
        #expect(healthy.status == 0)
        #expect(healthy.stdout.hasPrefix("healthy"))

        #expect(try daemon.hostctl("pause", "a").status == 0)
        #expect(try daemon.connector("a").state == "paused")
        let degraded = try daemon.hostctl("health", "--json")
        #expect(degraded.status == 1)
        let health = try JSONDecoder().decode(HealthResult.self, from: Data(degraded.stdout.utf8))
        #expect(health.status == "degraded")
        #expect(health.problems == ["a: paused by operator"])
        #expect(try daemon.hostctl("resume", "a").status == 0)
        #expect(try daemon.hostctl("health").status == 0)

        #expect(try daemon.stop() == 0)
        let unreachable = try daemon.hostctl("health")
        #expect(unreachable.status == 2)
        #expect(unreachable.stderr.contains("cannot reach connector-hostd"))
    }

    /// A source whose polls fail (a permanent error here: a cursor Stripe no longer knows, say) does
    /// not fail quietly: health is degraded and the connector's last error says why; it clears when
    /// polling works again.
    @Test func aSourceThatCannotBePolledDegradesHealth() throws {
        let daemon = try DaemonHarness()
        let faults = daemon.path("faults")
        try "poll-fail permanent\n".write(toFile: faults, atomically: true, encoding: .utf8)
        try daemon.writeConfig(connectors: DaemonHarness.sample("src", "[connector.config]\nemit = 3\nfaults_file = \"\(faults)\""))
        try daemon.start()
        try daemon.waitUntil("health reports the failing polls", timeout: 15) {
            let health = try JSONDecoder().decode(HealthResult.self, from: Data(try daemon.hostctl("health", "--json").stdout.utf8))
            return health.problems.contains { $0.hasPrefix("src: polling fails") && $0.contains("fault: poll-fail permanent") }
        }
        #expect(try daemon.hostctl("health").status == 1)
        #expect(try daemon.connector("src").lastError?.hasPrefix("poll failed") == true)
        #expect(try daemon.hostctl("connectors").stdout.contains("poll failed"))
        try "".write(toFile: faults, atomically: true, encoding: .utf8)
        try daemon.waitUntil("polling works again", timeout: 45) { try daemon.hostctl("health").status == 0 }
        #expect(try daemon.connector("src").lastError == nil)
        #expect(try daemon.stop() == 0)
    }

    /// A failing source and a failing route removed by `hostctl reload` no longer degrade health.
    @Test func whatReloadRemovedNoLongerDegradesHealth() throws {
        let daemon = try DaemonHarness()
        let failing = DaemonHarness.sample("src", "[connector.config]\nemit = 6\nfaults = [\"poll-fail permanent\"]")
            + DaemonHarness.sample("feed", "[connector.config]\nemit = 6")
            + DaemonHarness.sample("erp", "[connector.config]\nfaults = [\"fail permanent\"]")
            + DaemonHarness.route("feed", "erp")
        try daemon.writeConfig(connectors: failing)
        try daemon.start()
        try daemon.waitUntil("health reports the source and the route", timeout: 15) {
            let health = try JSONDecoder().decode(HealthResult.self, from: Data(try daemon.hostctl("health", "--json").stdout.utf8))
            return health.problems.contains { $0.hasPrefix("src: polling fails") } && health.problems.contains { $0.hasPrefix("route feed->erp:") }
        }
        try daemon.writeConfig(connectors: DaemonHarness.sample("other"))
        #expect(try daemon.hostctl("reload").status == 0)
        // Until the new connector runs, it is "starting" (health says so, rightly): wait for it to run.
        try daemon.waitUntil("only what runs counts", timeout: 15) { try daemon.connectors().map { "\($0.id) \($0.state)" } == ["other running"] }
        let health = try daemon.hostctl("health")
        #expect(health.status == 0, "\(health.stdout)")
        #expect(try daemon.stop() == 0)
    }

    /// A plugin that refuses its `[connector.config]` exits at once; the operator reads why in the
    /// connector's last error, not only in the daemon's log.
    @Test func aPluginRefusingItsConfigSaysWhyInItsLastError() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: "[[connector]]\nid = \"stripe\"\nplugin = \"stripe\"\n[connector.config]\npage_size = 500\n")
        try daemon.start()
        try daemon.waitUntil("the connector's last error names the bad key", timeout: 15) {
            try daemon.connector("stripe").lastError?.contains("page_size: must be between 1 and 100") == true
        }
        #expect(try daemon.connector("stripe").lastError?.hasPrefix("plugin exited with status 1: ") == true)
        #expect(try daemon.hostctl("connectors").stdout.contains("page_size: must be between 1 and 100"))
        #expect(try daemon.stop() == 0)
    }

    @Test func connectorsAndStatusAsTableAndJSON() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("alpha", "tenant = \"acme\"\nentity = \"acme-fr\""))
        try daemon.start()
        let table = try daemon.hostctl("connectors")
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID") == true)
        #expect(lines.count == 2)
        #expect(lines.last?.contains("alpha") == true && lines.last?.contains("running") == true)

        let json = try daemon.hostctl("connectors", "--json")
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(objects.count == 1)
        for key in ["id", "plugin", "state", "pid", "restarts"] {
            #expect(objects[0][key] != nil, "missing \(key)")
        }
        #expect(objects[0]["tenant"] as? String == "acme")

        let status = try daemon.hostctl("status", "--json")
        let decoded = try JSONDecoder().decode(StatusResult.self, from: Data(status.stdout.utf8))
        #expect(decoded.connectors == ["running": 1])
        #expect(decoded.health == "healthy")
        #expect(decoded.pid == daemon.daemonPID)
        #expect(try daemon.hostctl("status").stdout.contains("connectors: 1 running"))
        // The global options may also come before the subcommand.
        let first = try DaemonHarness.run("hostctl", ["--socket", daemon.adminSocket, "--json", "connectors"])
        #expect(first.status == 0 && (try? JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [[String: Any]])?.count == 1)
        #expect(try DaemonHarness.run("hostctl", ["--socket=\(daemon.adminSocket)", "health"]).status == 0)
        #expect(try daemon.hostctl("restart", "nope").stderr.contains("no connector with id \"nope\""))
        #expect(try daemon.stop() == 0)
    }

    @Test func badConfigExitsOneNamingFileLineAndKey() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("a") + "[[connector]]\nid = \"b\"\nplugin = \"does-not-exist\"\n")
        let check = try DaemonHarness.run("connector-hostd", ["--config", daemon.configPath, "--check-config"])
        #expect(check.status == 1)
        let lineOfPlugin = try #require(
            try String(contentsOfFile: daemon.configPath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                .firstIndex(of: "plugin = \"does-not-exist\"")
        ) + 1
        #expect(check.stderr.contains("\(daemon.configPath):\(lineOfPlugin): connector[1].plugin: no executable connector-does-not-exist"), "\(check.stderr)")
        // Without --check-config the daemon refuses to start the same way.
        #expect(try DaemonHarness.run("connector-hostd", ["--config", daemon.configPath]).status == 1)

        try daemon.writeConfig(connectors: DaemonHarness.sample("a"))
        let good = try DaemonHarness.run("connector-hostd", ["--config", daemon.configPath, "--check-config"])
        #expect(good.status == 0)
        #expect(good.stdout.contains("1 connector(s)"))
        // A route bringing its sink a record kind the sink does not take (the Stripe sink takes customers
        // only; its source also emits invoices, credit notes, …): refused, naming the route and both kinds.
        let stripe = { (id: String) in "[[connector]]\nid = \"\(id)\"\nplugin = \"stripe\"\n[connector.config]\napi_base = \"http://127.0.0.1:9\"\n" }
        try daemon.writeConfig(connectors: stripe("eu") + stripe("us") + DaemonHarness.route("eu", "us"))
        let kinds = try DaemonHarness.run("connector-hostd", ["--config", daemon.configPath, "--check-config"])
        #expect(kinds.status == 1 && kinds.stderr.contains("route eu->us: eu emits invoice.finalized, invoice.paid, invoice.voided, invoice.uncollectible (records of kind invoice) but us takes only customer"), "\(kinds.stderr)")
        try daemon.writeConfig(connectors: stripe("eu") + stripe("us") + DaemonHarness.route("eu", "us", events: "\"customer.*\""))
        #expect(try DaemonHarness.run("connector-hostd", ["--config", daemon.configPath, "--check-config"]).status == 0)
        // Each plugin judges its own [connector.config]: a misspelt stream is named before the daemon runs.
        let salesforce = { (streams: String) in
            "[[connector]]\nid = \"sf\"\nplugin = \"salesforce\"\n[connector.config]\nclient_id = \"k\"\nusername = \"u\"\ncurrency = \"USD\"\nstreams = [\"\(streams)\"]\n"
        }
        try daemon.writeConfig(connectors: salesforce("acounts"))
        let misspelt = try DaemonHarness.run("connector-hostd", ["--config", daemon.configPath, "--check-config"])
        #expect(misspelt.status == 1 && misspelt.stderr.contains(#"connector sf: [connector.config] streams[0]: "acounts" is not one of accounts, contacts, opportunities, products (did you mean accounts?)"#),
                "\(misspelt.stderr)")
        try daemon.writeConfig(connectors: salesforce("accounts"))
        #expect(try DaemonHarness.run("connector-hostd", ["--config", daemon.configPath, "--check-config"]).status == 0)
        let missing = try DaemonHarness.run("connector-hostd", ["--config", daemon.path("nope.toml"), "--check-config"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nope.toml: cannot read the file"))
    }

    /// Two daemons on one state directory, each with its own admin socket, would both deliver every
    /// event (2,000 events made 2,692 effects): the second is refused, naming the first's pid, and
    /// the first goes on. Once it stops, the directory is free again.
    @Test func aSecondDaemonOnTheSameStateDirectoryIsRefused() throws {
        let first = try DaemonHarness()
        try first.writeConfig(connectors: DaemonHarness.sample("a"))
        try first.start()
        let second = try DaemonHarness()
        try """
            state_dir = "\(first.path("state"))"
            runtime_dir = "run"
            plugin_dirs = ["\(DaemonHarness.binDirectory.path)"]
            """.write(toFile: second.configPath, atomically: true, encoding: .utf8)
        let refused = try DaemonHarness.run("connector-hostd", ["--config", second.configPath])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("another connector-hostd (pid \(first.daemonPID ?? 0)) uses the state directory"))
        #expect(try first.hostctl("health").status == 0)
        #expect(try first.stop() == 0)
        try second.start()
        #expect(try second.hostctl("health").status == 0)
        #expect(try second.stop() == 0)
    }

    @Test func liveAdminSocketIsNeverTakenStaleOneIsReplaced() throws {
        let first = try DaemonHarness()
        try first.writeConfig(connectors: DaemonHarness.sample("a"))
        try first.start()

        // A second daemon on the same runtime directory (its own state directory) must refuse and leave the first alone.
        let other = try DaemonHarness()
        try """
            state_dir = "state"
            runtime_dir = "\(first.path("run"))"
            plugin_dirs = ["\(DaemonHarness.binDirectory.path)"]
            """.write(toFile: other.configPath, atomically: true, encoding: .utf8)
        let second = try DaemonHarness.run("connector-hostd", ["--config", other.configPath])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another connector-hostd is running"))
        #expect(try first.hostctl("health").status == 0)

        // After a crash the socket file stays; the next daemon replaces it.
        try first.stop(signal: SIGKILL)
        #expect(FileManager.default.fileExists(atPath: first.adminSocket))
        try first.start()
        #expect(try first.hostctl("health").status == 0)
        #expect(try first.stop() == 0)
    }

    @Test func systemdHearsReadyWatchdogStatusAndStopping() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("a"))
        let notify = try DatagramListener(path: daemon.path("notify.sock"))
        daemon.extraEnvironment = ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"]
        try daemon.start()
        var messages: [String] = []
        try daemon.waitUntil("READY=1 and WATCHDOG=1 arrive") {
            messages += notify.drain()
            return messages.contains { $0.contains("READY=1") } && messages.contains("WATCHDOG=1")
        }
        let ready = try #require(messages.first { $0.contains("READY=1") })
        #expect(ready.contains("STATUS=connectors: 1 running"))
        #expect(try daemon.stop() == 0)
        messages += notify.drain()
        #expect(messages.contains { $0.hasPrefix("STOPPING=1") })
    }
}

/// A Unix datagram socket standing in for systemd's NOTIFY_SOCKET.
final class DatagramListener {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw HarnessError("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return messages }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
    }
}
