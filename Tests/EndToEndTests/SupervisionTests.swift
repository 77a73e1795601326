import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real daemon, real plugin processes, real sockets.
@Suite(.serialized) struct SupervisionTests {
    @Test func killedPluginIsRestartedAndOthersKeepTheirPids() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("a") + DaemonHarness.sample("b"))
        try daemon.start()
        let before = try daemon.connectors()
        #expect(before.map(\.state) == ["running", "running"])
        let victim = try #require(before.first { $0.id == "a" }?.pid)
        let bystander = try #require(before.first { $0.id == "b" }?.pid)
        // A plugin's socket takes one connection and is gone once the plugin is connected; the admin socket is 0660.
        let sockets = try FileManager.default.contentsOfDirectory(atPath: daemon.path("run")).filter { $0.hasPrefix("plugin-") }
        #expect(sockets.isEmpty, "\(sockets)")
        #expect(try FileManager.default.attributesOfItem(atPath: daemon.adminSocket)[.posixPermissions] as? Int == 0o660)

        kill(victim, SIGKILL)
        try daemon.waitUntil("a runs again with a new pid") {
            let a = try daemon.connector("a")
            return a.state == "running" && a.pid != nil && a.pid != victim
        }
        let a = try daemon.connector("a")
        #expect(a.restarts == 1)
        #expect(a.lastError?.contains("SIGKILL") == true)
        let b = try daemon.connector("b")
        #expect(b.pid == bystander)
        #expect(b.restarts == 0)
        #expect(try daemon.stop() == 0)
    }

    /// A sink killed in the middle of deliveries, long after its handshake: its exit is reported, not
    /// a "handshake failed" with the read call's signature (a reset of the socket said so before).
    @Test func aSinkKilledMidDeliveryIsReportedByItsExit() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("src", "[connector.config]\nemit = 400")
                               + DaemonHarness.sample("sink", "[connector.config]\nfaults = [\"slow 50\"]\neffects_file = \"\(daemon.path("effects"))\"")
                               + DaemonHarness.route("src", "sink"))
        try daemon.start()
        try daemon.waitUntil("deliveries are under way", timeout: 20) { try daemon.count("delivered") >= 5 }
        let victim = try #require(try daemon.connector("sink").pid)
        kill(victim, SIGKILL)
        try daemon.waitUntil("the sink runs again") { let sink = try daemon.connector("sink"); return sink.state == "running" && sink.pid != victim }
        #expect(try daemon.connector("sink").lastError?.contains("killed by signal 9 (SIGKILL)") == true)
        #expect(!daemon.log.contains("handshake failed"))
        #expect(!daemon.log.contains("descriptor:pointer"))
        #expect(try daemon.stop() == 0)
    }

    /// A poll failing now is what `connectors` shows, not an older crash the plugin recovered from.
    @Test func aCurrentPollFailureIsShownOverAnOldCrash() throws {
        let daemon = try DaemonHarness()
        let faults = daemon.path("faults")
        try "".write(toFile: faults, atomically: true, encoding: .utf8)
        try daemon.writeConfig(connectors: DaemonHarness.sample("src", "[connector.config]\nemit = 1\nfaults_file = \"\(faults)\"\npoll_interval_ms = 100"))
        try daemon.start()
        let first = try #require(try daemon.connector("src").pid)
        kill(first, SIGKILL)
        try daemon.waitUntil("src runs again") { let src = try daemon.connector("src"); return src.state == "running" && src.pid != first }
        #expect(try daemon.connector("src").lastError?.contains("SIGKILL") == true)
        try "poll-fail transient\n".write(toFile: faults, atomically: true, encoding: .utf8)
        try daemon.waitUntil("the poll failure is shown", timeout: 15) {
            try daemon.connector("src").lastError?.hasPrefix("poll failed") == true
        }
        #expect(try daemon.stop() == 0)
    }

    @Test func hungPluginIsKilledAndRestarted() throws {
        let daemon = try DaemonHarness()
        let faults = daemon.path("faults")
        try daemon.writeConfig(connectors: DaemonHarness.sample("h", "[connector.config]\nfaults_file = \"\(faults)\""))
        try daemon.start()
        let first = try #require(try daemon.connector("h").pid)

        try "hang-pings\n".write(toFile: faults, atomically: true, encoding: .utf8)
        try daemon.waitUntil("the hung plugin is replaced") { try daemon.connector("h").restarts >= 1 }
        #expect(DaemonHarness.isDead(first))
        #expect(try daemon.connector("h").lastError?.contains("no answer to ping") == true)

        try FileManager.default.removeItem(atPath: faults)
        try daemon.waitUntil("h runs and answers pings again") {
            let h = try daemon.connector("h")
            return h.state == "running" && (h.uptimeSeconds ?? 0) > 1.0
        }
        #expect(try daemon.stop() == 0)
    }

    @Test func crashLoopEndsInFailedUntilRestarted() throws {
        let daemon = try DaemonHarness()
        let faultsA = daemon.path("faults-a"), faultsB = daemon.path("faults-b")
        try "crash-on-start\n".write(toFile: faultsA, atomically: true, encoding: .utf8)
        try "crash-on-start\n".write(toFile: faultsB, atomically: true, encoding: .utf8)
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("a", "[connector.config]\nfaults_file = \"\(faultsA)\"")
            + DaemonHarness.sample("b", "[connector.config]\nfaults_file = \"\(faultsB)\"")
            + DaemonHarness.sample("ok"))
        try daemon.start()
        try daemon.waitUntil("a and b are failed") {
            try daemon.connectors().filter { $0.state == "failed" }.map(\.id) == ["a", "b"]
        }
        let a = try daemon.connector("a")
        #expect(a.pid == nil)
        // Its exit status, or — on a loaded machine, where the end is seen before the exit is reaped or
        // the start outlasts the handshake deadline — how the run ended; never nothing.
        let ends = ["exited with status 3", "closed its connection", "no handshake before the deadline"]
        #expect(a.lastError.map { error in ends.contains { error.contains($0) } } == true, "\(a.lastError ?? "no last error")")
        #expect(daemon.log.contains("restart limit reached"))
        let health = try daemon.hostctl("health")
        #expect(health.status == 1)
        #expect(health.stdout.contains("a: failed"))

        // Fixed: an operator revives one by id and the rest with --failed.
        try FileManager.default.removeItem(atPath: faultsA)
        try FileManager.default.removeItem(atPath: faultsB)
        #expect(try daemon.hostctl("restart", "a").status == 0)
        try daemon.waitUntil("a runs") { try daemon.connector("a").state == "running" }
        #expect(try daemon.connector("b").state == "failed")
        let revived = try daemon.hostctl("restart", "--failed", "--json")
        #expect(revived.status == 0)
        #expect(revived.stdout.contains("\"b\""))
        try daemon.waitUntil("b runs") { try daemon.connector("b").state == "running" }
        #expect(try daemon.hostctl("health").status == 0)
        #expect(try daemon.stop() == 0)
    }

    @Test func killingTheDaemonLeavesNoPlugin() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("a") + DaemonHarness.sample("b") + DaemonHarness.sample("c"))
        try daemon.start()
        let pids = try daemon.connectors().compactMap(\.pid)
        #expect(pids.count == 3)
        try daemon.stop(signal: SIGKILL)
        try daemon.waitUntil("every plugin is gone", timeout: 5) { pids.allSatisfy(DaemonHarness.isDead) }
    }

    @Test func gracefulStopShutsPluginsDownAndRemovesSockets() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("a") + DaemonHarness.sample("b"))
        try daemon.start()
        let pids = try daemon.connectors().compactMap(\.pid)
        #expect(try daemon.stop() == 0)
        #expect(pids.allSatisfy(DaemonHarness.isDead))
        let left = try FileManager.default.contentsOfDirectory(atPath: daemon.path("run"))
        #expect(left.isEmpty, "sockets left behind: \(left)")
        #expect(daemon.log.contains("connector-hostd stopped"))
    }

    @Test func garbageFromAPluginIsLoggedAndSurvived() throws {
        let daemon = try DaemonHarness()
        let kinds = ["malformed", "oversized", "invalid-utf8", "unknown-method", "stray-response"]
        let faults = kinds.map { "\"garbage \($0)\"" }.joined(separator: ", ")
        // Writing 17 MiB takes the debug-built plugin a while: give pings room so this tests garbage, not hangs.
        let patient = DaemonHarness.fastSupervisor.replacingOccurrences(of: "ping_timeout_ms = 400", with: "ping_timeout_ms = 10000")
        try daemon.writeConfig(
            connectors: DaemonHarness.sample("g", "[connector.config]\nfaults = [\(faults)]") + DaemonHarness.sample("calm"),
            supervisor: patient
        )
        try daemon.start()
        let pid = try daemon.connector("g").pid
        try daemon.waitUntil("five protocol errors are counted") { try daemon.connector("g").protocolErrors == 5 }
        let log = daemon.log
        let protocolErrors = log.split(separator: "\n").filter { $0.contains("plugin protocol error") && $0.contains("\"connector.id\":\"g\"") }
        #expect(protocolErrors.count == 5)
        #expect(log.contains("malformed JSON-RPC line"))
        #expect(log.contains("exceeds the limit of 16777216 bytes"))
        #expect(log.contains("unknown method \\\"no.such.method\\\""))
        #expect(log.contains("response to unknown request id 987654"))
        // Nothing was restarted, and the daemon still answers.
        usleep(800_000)
        let g = try daemon.connector("g")
        #expect(g.pid == pid)
        #expect(g.state == "running")
        #expect(g.restarts == 0)
        #expect(try daemon.hostctl("health").status == 0)
        #expect(try daemon.stop() == 0)
    }

    @Test func reloadAddsAndRemovesConnectorsWithoutTouchingOthers() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("keep") + DaemonHarness.sample("drop"))
        try daemon.start()
        let keep = try #require(try daemon.connector("keep").pid)
        let drop = try #require(try daemon.connector("drop").pid)

        try daemon.writeConfig(connectors: DaemonHarness.sample("keep"))
        try "[[connector]]\nid = \"added\"\nplugin = \"sample\"\n".write(toFile: daemon.path("connectors.d/added.toml"), atomically: true, encoding: .utf8)
        let reload = try daemon.hostctl("reload", "--json")
        #expect(reload.status == 0, "\(reload.stderr)")
        let result = try JSONDecoder().decode(ReloadResult.self, from: Data(reload.stdout.utf8))
        #expect(result.started == ["added"])
        #expect(result.stopped == ["drop"])
        #expect(result.unchanged == ["keep"])

        try daemon.waitUntil("added runs") { try daemon.connector("added").state == "running" }
        try daemon.waitUntil("drop's process is gone") { DaemonHarness.isDead(drop) }
        #expect(try daemon.connectors().map(\.id) == ["added", "keep"])
        #expect(try daemon.connector("keep").pid == keep)

        // A broken configuration changes nothing.
        try "[[connector]]\nid = \"added\"\nplugin = \"nope\"\n".write(toFile: daemon.path("connectors.d/added.toml"), atomically: true, encoding: .utf8)
        let broken = try daemon.hostctl("reload")
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("added.toml:3: connector[0].plugin"))
        #expect(try daemon.connectors().map(\.id) == ["added", "keep"])
        #expect(try daemon.stop() == 0)
    }

    /// A connector is compared by what it is, not where it stands: a comment line and a new connector
    /// above it move its line, and it keeps running (every connector used to restart).
    @Test func reloadKeepsAConnectorWhoseLineMoved() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.sample("b"))
        try daemon.start()
        try daemon.waitUntil("b runs") { try daemon.connector("b").state == "running" }
        let b = try #require(try daemon.connector("b").pid)
        try daemon.writeConfig(connectors: "# tenant A's connector, added today\n" + DaemonHarness.sample("a") + DaemonHarness.sample("b"))
        let reload = try daemon.hostctl("reload", "--json")
        #expect(reload.status == 0, "\(reload.stderr)")
        let result = try JSONDecoder().decode(ReloadResult.self, from: Data(reload.stdout.utf8))
        #expect(result.started == ["a"])
        #expect(result.unchanged == ["b"] && result.restarted.isEmpty)
        #expect(try daemon.connector("b").pid == b)
        #expect(try daemon.stop() == 0)
    }
}
