import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP connection to a loopback port: what an attacker holds open, sends slowly, or abandons.
final class RawConnection {
    let descriptor: Int32

    /// A connection the daemon has not accepted yet waits in the kernel's backlog; `waiting: false`
    /// does not wait for the handshake either (beyond a full backlog it would take seconds).
    init(port: Int, waiting: Bool = true) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | (waiting ? 0 : Int32(SOCK_NONBLOCK.rawValue)), 0)
        guard descriptor >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 || (!waiting && errno == EINPROGRESS) else { close(descriptor); throw HarnessError("connect: \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    /// False once the peer has closed (or reset) the connection.
    func send(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } >= 0
    }

    /// Whether the daemon has closed the connection (end of file or reset), waiting at most `seconds`.
    func isClosed(within seconds: Double) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard poll(&entry, 1, left) > 0 else { return false }
            var byte: UInt8 = 0
            let read = recv(descriptor, &byte, 1, Int32(MSG_DONTWAIT))
            if read <= 0 { return read == 0 || errno != EAGAIN }
            // An answer (e.g. 408) before the close: keep reading.
        }
    }
}

/// The webhook listener faces the internet: idle, slow and numerous connections must not take the
/// daemon, its store or its operators down (issue 13, item 1), and /metrics is not served there (item 8).
@Suite(.serialized) struct HTTPHardeningTests {
    static let tight = DaemonHarness.httpListeners + "max_connections = 40\nheader_timeout_ms = 1000\nbody_timeout_ms = 2000\nidle_timeout_ms = 1000\n"

    static func flow(_ daemon: DaemonHarness, http: String) throws {
        let sink = DaemonHarness.sample("sink", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
        let hook = DaemonHarness.sample("hook", "[connector.config]\nemit = 5")
        try daemon.writeConfig(connectors: http + sink + hook + DaemonHarness.route("hook", "sink"))
        try daemon.start()
        try daemon.waitUntil("the first events are delivered", timeout: 20) { try daemon.count("delivered") == 5 }
    }

    static func port(_ address: String) throws -> Int {
        guard let port = address.split(separator: ":").last.flatMap({ Int($0) }) else { throw HarnessError("no port in \(address)") }
        return port
    }

    /// 300 connections that send nothing: 40 are held, the rest wait in the backlog; each is closed
    /// after the header timeout, so all are gone in a bounded time. Meanwhile health, hostctl, the
    /// store and a plugin restart work, and the limit shows in the metrics and the log.
    @Test func aFloodOfIdleConnectionsIsBoundedInCountAndTime() throws {
        let daemon = try DaemonHarness()
        try Self.flow(daemon, http: Self.tight)
        let port = try Self.port(try daemon.webhookAddress())
        let metricsBase = "http://\(try daemon.metricsAddress())"

        let flood = try (0..<300).map { _ in try RawConnection(port: port, waiting: false) }
        try daemon.waitUntil("the limit is reached", timeout: 10) {
            try http("GET", "\(metricsBase)/metrics").body.contains(#"connector_host_http_connections{listener="webhooks"} 40"#)
        }
        #expect(try http("GET", "\(metricsBase)/healthz").status == 200)
        #expect(try daemon.hostctl("status").status == 0)
        // A plugin restarted while the listener is saturated (the daemon died of this before).
        let sinkPID = try #require(try daemon.connector("sink").pid)
        kill(sinkPID, SIGKILL)
        try daemon.waitUntil("the sink is restarted", timeout: 20) {
            let sink = try daemon.connector("sink")
            return sink.state == "running" && sink.pid != sinkPID
        }

        let started = Date()
        let closed = flood.filter { $0.isClosed(within: max(0.1, 30 - Date().timeIntervalSince(started))) }.count
        #expect(closed == 300, "every idle connection is closed by the daemon within 30 s")
        let metrics = try http("GET", "\(metricsBase)/metrics").body
        #expect(metrics.contains(#"connector_host_http_connection_limit_reached_total{listener="webhooks"}"#))
        #expect(metrics.contains(#"connector_host_http_timeouts_total{listener="webhooks",phase="head"}"#))
        #expect(daemon.log.contains("http connection limit reached"))
        // And the listener serves again.
        #expect(try http("POST", "http://\(try daemon.webhookAddress())/hooks/hook", body: #"{"emit":[1]}"#).status == 401)
        #expect(DaemonHarness.isDead(try #require(daemon.daemonPID)) == false)
        #expect(try daemon.stop() == 0)
    }

    /// Slowloris: headers one byte at a time, or a body one byte at a time, are cut off at their deadline.
    @Test func slowHeadersAndSlowBodiesAreCutOff() throws {
        let daemon = try DaemonHarness()
        try Self.flow(daemon, http: Self.tight)
        let port = try Self.port(try daemon.webhookAddress())

        let headers = try RawConnection(port: port)
        #expect(headers.send("POST /hooks/hook HTTP/1.1\r\nHost: x\r\n"))
        var started = Date()
        var cutOff = false
        for _ in 0..<40 where !cutOff {
            _ = headers.send("X")
            cutOff = headers.isClosed(within: 0.25)
        }
        #expect(cutOff, "a head sent a byte at a time is closed")
        #expect(Date().timeIntervalSince(started) < 5)

        let body = try RawConnection(port: port)
        #expect(body.send("POST /hooks/hook HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n"))
        started = Date()
        cutOff = false
        for _ in 0..<200 where !cutOff {
            _ = body.send("x")
            cutOff = body.isClosed(within: 0.25)
        }
        #expect(cutOff, "a body sent a byte at a time is closed")
        #expect(Date().timeIntervalSince(started) < 6)
        #expect(!daemon.log.contains("webhook rejected"), "a cut-off request is nobody's webhook: no audit, no refusal")
        #expect(try daemon.stop() == 0)
    }

    /// Under a descriptor limit too small for max_connections, the cap is lowered (and said so) and a
    /// flood larger than the limit leaves the store, the admin socket and the pipeline working.
    @Test func theConnectionCapFitsTheDescriptorLimit() throws {
        let daemon = try DaemonHarness()
        daemon.descriptorLimit = 512
        try Self.flow(daemon, http: DaemonHarness.httpListeners + "header_timeout_ms = 60000\n")
        #expect(daemon.log.contains("the descriptor limit cannot hold max_connections"))
        let port = try Self.port(try daemon.webhookAddress())
        let flood = try (0..<600).map { _ in try RawConnection(port: port, waiting: false) }
        try daemon.waitUntil("the lowered cap is reached", timeout: 10) {
            try http("GET", "http://\(try daemon.metricsAddress())/metrics").body.contains("connector_host_http_connection_limit_reached_total")
        }
        // The vault writes to the store, the admin socket answers, a plugin restart gets its descriptors.
        #expect(try daemon.hostctl(input: "value", "secret", "set", "hook", "extra").status == 0)
        let sinkPID = try #require(try daemon.connector("sink").pid)
        kill(sinkPID, SIGKILL)
        try daemon.waitUntil("the sink is restarted", timeout: 20) {
            let sink = try daemon.connector("sink")
            return sink.state == "running" && sink.pid != sinkPID
        }
        #expect(try daemon.hostctl("health").status == 0)
        #expect(!daemon.log.contains("Too many open files"))
        withExtendedLifetime(flood) {}
        #expect(DaemonHarness.isDead(try #require(daemon.daemonPID)) == false)
        #expect(try daemon.stop() == 0)
    }

    /// /metrics and /healthz tell tenant names and volumes: only on the metrics listener.
    @Test func metricsAndHealthAreNotServedOnTheWebhookListener() throws {
        let daemon = try DaemonHarness()
        try Self.flow(daemon, http: DaemonHarness.httpListeners)
        let webhooks = "http://\(try daemon.webhookAddress())"
        #expect(try http("GET", "\(webhooks)/metrics").status == 404)
        #expect(try http("GET", "\(webhooks)/healthz").status == 404)
        let metrics = "http://\(try daemon.metricsAddress())"
        #expect(try http("GET", "\(metrics)/metrics").status == 200)
        #expect(try http("POST", "\(metrics)/hooks/hook", body: "{}").status == 404)
        #expect(try daemon.stop() == 0)
    }

    /// A listener that cannot bind names itself and what to change (it said "bind(descriptor:ptr:bytes:)").
    @Test func aTakenPortIsNamedWithItsKey() throws {
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(taken, $0, length) } }
        _ = listen(taken, 1)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(taken, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: "[http]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:\(port)\"\n")
        try daemon.start(waitForReady: false)
        try daemon.waitUntil("the daemon gives up", timeout: 15) { !daemon.isRunning }
        #expect(daemon.log.contains("cannot listen on 127.0.0.1:\(port) ([http] metrics_listen): Address already in use"))
        #expect(!daemon.log.contains("descriptor:ptr"))
    }
}
