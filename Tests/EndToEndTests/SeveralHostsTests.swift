import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two daemons on one PostgreSQL database, each with its own state directory, member name and plugins,
/// the same connectors and vault key: they share the deliveries and take each other's sources over.
/// The sinks of both write one effects file (under a lock), as two hosts reach one ERP.
@Suite(.serialized) struct SeveralHostsTests {
    /// Hosts `a` and `b` on a new database, with `connectors` and a lease of `leaseSeconds`; b has a's vault key.
    static func twoHosts(connectors: (DaemonHarness) -> String, leaseSeconds: Int) throws -> (DaemonHarness, DaemonHarness) {
        let a = try DaemonHarness(), b = try DaemonHarness()
        let store = try TestPostgres.store(for: a)
        for (host, name) in [(a, "a"), (b, "b")] {
            try host.writeConfig(connectors: store + "member = \"\(name)\"\nlease_seconds = \(leaseSeconds)\n\n" + connectors(a))
        }
        try a.start()
        try FileManager.default.createDirectory(atPath: b.path("state"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: a.path("state/vault.key"), toPath: b.path("state/vault.key"))
        try b.start()
        return (a, b)
    }

    func cluster(_ host: DaemonHarness) throws -> ClusterResult {
        try host.client().call(AdminMethod.cluster, EmptyParams(), as: ClusterResult.self)
    }

    /// The effects' order per ordering key (a source's customer): the index of each event, as the sample
    /// source numbers them (customer k is event 3k, its invoice 3k+1, its payment 3k+2).
    static func outOfOrder(_ effects: [String]) -> [String] {
        var last: [String: Int] = [:]
        var problems: [String] = []
        for key in effects {
            let parts = key.split(separator: ":")
            guard parts.count == 4, let number = Int(parts[2].split(separator: "_").last ?? "") else { continue }
            let index = parts[1] == "customer" ? number * 3 : number
            let orderingKey = "\(parts[0]):cus_\(index / 3)"
            if let previous = last[orderingKey], previous > index { problems.append("\(key) after event \(previous) of \(orderingKey)") }
            last[orderingKey] = index
        }
        return problems
    }

    /// 20,000 events from two sources, delivered by two daemons while one of them is SIGKILLed every
    /// few seconds and started again, ten times: every effect once, none lost, each customer's in order.
    @Test(.enabled(if: TestPostgres.available)) func twoHostsDeliverEverythingOnceWhileOneIsKilledAgainAndAgain() throws {
        let (a, b) = try Self.twoHosts(connectors: { a in
            DaemonHarness.sample("s1", "poll_batch = 500\n[connector.config]\nemit = 10000\nemit_rate = 300")
                + DaemonHarness.sample("s2", "poll_batch = 500\n[connector.config]\nemit = 10000\nemit_rate = 300")
                + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(a.path("effects"))\"")
                + DaemonHarness.route("s1", "erp", "concurrency = 8") + DaemonHarness.route("s2", "erp", "concurrency = 8")
        }, leaseSeconds: 3)
        var kills = 0
        var tokens: [String: Int64] = [:]
        while kills < 10 {
            Thread.sleep(forTimeInterval: 2)
            let victim = kills % 2 == 0 ? a : b
            for lease in try cluster(victim).leases { tokens[lease.connector] = lease.token }
            _ = try victim.stop(signal: SIGKILL)
            try victim.start()
            kills += 1
        }
        let delivered = try a.count("delivered")
        try a.waitUntil("all 20,000 are delivered", timeout: 240) { try a.count("delivered") == 20_000 }
        #expect(try b.count("pending") == 0 && b.count("dead") == 0)
        let effects = a.effects("effects")
        #expect(effects.count == 20_000 && Set(effects).count == 20_000, "none lost, none twice: \(effects.count) effects, \(Set(effects).count) distinct")
        let disorder = Self.outOfOrder(effects)
        #expect(disorder.isEmpty, "\(disorder.count) effects out of their customer's order: \(disorder.prefix(5))")
        // The kills came while the work was under way, and sources changed hands.
        #expect(delivered < 20_000, "the ten kills came before the end")
        #expect(tokens.values.contains { $0 > 1 }, "a source changed hands: \(tokens)")
        let members = try cluster(b).members
        #expect(members.map(\.name) == ["a", "b"] && members.allSatisfy { $0.state == "alive" }, "\(members.map { "\($0.name) \($0.state)" })")
        for host in [a, b] {
            let problems = host.log.split(separator: "\n").filter { $0.contains("heartbeat cannot reach") || $0.contains("deadlock") }
            #expect(problems.isEmpty, "\(problems.prefix(3))")
        }
        #expect(try a.stop() == 0 && b.stop() == 0)
    }

    /// A host stopped for good (SIGKILL): the other takes its sources and deliveries over within the
    /// lease (the time taken is printed); one stopped gracefully hands them over at once.
    @Test(.enabled(if: TestPostgres.available)) func aHostThatDiesIsTakenOverWithinTheLease() throws {
        let (a, b) = try Self.twoHosts(connectors: { a in
            DaemonHarness.sample("s1", "poll_batch = 50\n[connector.config]\nemit = 3000\nemit_rate = 100")
                + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(a.path("effects"))\"")
                + DaemonHarness.route("s1", "erp")
        }, leaseSeconds: 3)
        try a.waitUntil("s1 is leased", timeout: 20) {
            let cluster = try cluster(a)
            return cluster.leases.contains { $0.connector == "s1" && $0.expiresAt > cluster.now }
        }
        let holder = try #require(try cluster(a).leases.first { $0.connector == "s1" }?.holder)
        let (dying, survivor) = holder == "a" ? (a, b) : (b, a)
        let status = try survivor.hostctl("cluster")
        #expect(status.stdout.contains("MEMBER") && status.stdout.contains(holder) && status.stdout.contains("s1"), "\(status.stdout)")
        let killed = Date()
        _ = try dying.stop(signal: SIGKILL)
        try survivor.waitUntil("the survivor holds s1", timeout: 20) {
            let cluster = try cluster(survivor)
            return cluster.leases.contains { $0.connector == "s1" && $0.holder == cluster.member && $0.expiresAt > cluster.now }
        }
        let takeover = Date().timeIntervalSince(killed)
        print("takeover after SIGKILL: \(String(format: "%.2f", takeover)) s (lease 3 s)")
        // By the store's own clock: the lease was taken within the lease of the dead host's last heartbeat,
        // plus one of the survivor's tries (a fifth of the lease) and a second's slack for a busy machine.
        let view = try cluster(survivor)
        let lost = try #require(view.members.first { $0.name == holder })
        let taken = try #require(view.leases.first { $0.connector == "s1" })
        #expect(taken.acquiredAt - lost.heartbeatAt <= 3_000 + 600 + 1_000, "taken \(taken.acquiredAt - lost.heartbeatAt) ms after the last heartbeat")
        // The dead host comes back; the survivor then stops gracefully: the source moves at once.
        try dying.start()
        let stopped = Date()
        #expect(try survivor.stop() == 0)
        try dying.waitUntil("the restarted host holds s1", timeout: 20) {
            let cluster = try cluster(dying)
            return cluster.leases.contains { $0.connector == "s1" && $0.holder == cluster.member && $0.expiresAt > cluster.now }
        }
        let handover = Date().timeIntervalSince(stopped)
        print("handover after a graceful stop: \(String(format: "%.2f", handover)) s")
        // A third host with a vault key of its own is refused: the secrets are sealed with the first one's.
        let stranger = try DaemonHarness()
        let config = try String(contentsOfFile: a.configPath, encoding: .utf8).replacingOccurrences(of: "member = \"a\"", with: "member = \"c\"")
        try config.write(toFile: stranger.configPath, atomically: true, encoding: .utf8)
        try stranger.start(waitForReady: false)
        try stranger.waitUntil("the host with another vault key gives up", timeout: 20) { !stranger.isRunning }
        #expect(stranger.log.contains("does not open this vault"), "\(stranger.log.suffix(600))")
        let back = try cluster(dying)
        #expect(back.members.first { $0.name != back.member }?.state == "left")
        try dying.waitUntil("all 3,000 are delivered", timeout: 120) { try dying.count("delivered") == 3_000 }
        let effects = a.effects("effects")
        #expect(effects.count == 3_000 && Set(effects).count == 3_000)
        #expect(try dying.stop() == 0)
    }
}
