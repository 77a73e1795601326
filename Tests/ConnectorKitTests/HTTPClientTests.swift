import ConnectorKit
import ConnectorProtocol
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The loopback server in Tests/Fixtures/http-test-server, one per test.
final class TestServer: @unchecked Sendable {
    // @unchecked: set up in init, then read only.
    let process = Process()
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    init() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/http-test-server").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        guard let text = String(data: line, encoding: .utf8), let port = Int(text.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") else {
            throw CancellationError()
        }
        self.port = port
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite(.serialized) struct HTTPClientTests {
    @Test func getsPostsAndReadsHeaders() async throws {
        let server = try TestServer()
        let client = HTTPClient()
        defer { client.shutdown() }
        let hello = try await client.send(HTTPRequest(url: "\(server.base)/hello"))
        #expect(hello.status == 200)
        #expect(String(decoding: hello.body, as: UTF8.self) == "hello")
        #expect(hello.header("x-test") == "yes")
        let echo = try await client.send(HTTPRequest(method: "PATCH", url: "\(server.base)/echo", headers: [("Content-Type", "application/json")],
                                                     body: Data(#"{"a":1}"#.utf8)))
        #expect(String(decoding: echo.body, as: UTF8.self) == #"{"a":1}"#)
        #expect(echo.header("X-Method") == "PATCH")
        #expect(echo.header("X-Content-Type") == "application/json")
    }

    @Test func anErrorStatusIsAnAnswerNotAThrow() async throws {
        let server = try TestServer()
        let client = HTTPClient()
        defer { client.shutdown() }
        let answer = try await client.send(HTTPRequest(url: "\(server.base)/garbage"))
        #expect(answer.status == 500)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("Internal Server Error"))
    }

    @Test func connectionsAreKeptAliveAndReused() async throws {
        let server = try TestServer()
        let client = HTTPClient()
        defer { client.shutdown() }
        for _ in 0..<20 { _ = try await client.send(HTTPRequest(url: "\(server.base)/hello")) }
        let stats = try JSONSerialization.jsonObject(with: try await client.send(HTTPRequest(url: "\(server.base)/stats")).body) as? [String: Int]
        #expect(stats?["connections"] == 1)
    }

    @Test func concurrencyIsBounded() async throws {
        let server = try TestServer()
        let client = HTTPClient(maxConcurrent: 2)
        defer { client.shutdown() }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<6 { group.addTask { try await client.send(HTTPRequest(url: "\(server.base)/slow?ms=150")).status } }
            for try await status in group { #expect(status == 200) }
        }
        let stats = try JSONSerialization.jsonObject(with: try await client.send(HTTPRequest(url: "\(server.base)/stats")).body) as? [String: Int]
        #expect(stats?["max_in_progress"] == 2)
    }

    @Test func aHangingServerTimesOut() async throws {
        let server = try TestServer()
        let client = HTTPClient()
        defer { client.shutdown() }
        await #expect { try await client.send(HTTPRequest(url: "\(server.base)/hang", timeout: .milliseconds(300))) } throws: { error in
            (error as? HTTPClientError)?.code == .timeout && (error as? HTTPClientError)?.connectorError.code == .transient
        }
    }

    @Test func aRefusedConnectionIsAConnectError() async throws {
        let client = HTTPClient()
        defer { client.shutdown() }
        // A port nobody listens on: bind one, then close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        close(fd)
        let port = Int(UInt16(bigEndian: address.sin_port))
        await #expect { try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/", timeout: .seconds(2))) } throws: { error in
            (error as? HTTPClientError)?.code == .connect
        }
    }

    @Test func anOversizedResponseIsRefused() async throws {
        let server = try TestServer()
        let client = HTTPClient(maxBodyBytes: 1000)
        defer { client.shutdown() }
        await #expect { try await client.send(HTTPRequest(url: "\(server.base)/big?bytes=5000")) } throws: { error in
            (error as? HTTPClientError)?.code == .tooLarge
        }
        #expect(try await client.send(HTTPRequest(url: "\(server.base)/big?bytes=900")).body.count == 900)
    }

    @Test func cancellationStopsTheRequest() async throws {
        let server = try TestServer()
        let client = HTTPClient()
        defer { client.shutdown() }
        let started = ContinuousClock.now
        let task = Task { try await client.send(HTTPRequest(url: "\(server.base)/hang", timeout: .seconds(30))) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(started.duration(to: .now) < .seconds(5))
    }

    /// Plugins get the proxy variables from the host; libcurl uses them.
    @Test func theProxyEnvironmentIsHonoured() async throws {
        let proxy = try TestServer()
        // The environment is the whole test process's: loopback stays direct, so the in-process Odoo
        // and Stripe clients of tests running meanwhile do not reach this proxy (they did, and failed).
        setenv("no_proxy", "127.0.0.1,localhost", 1)
        setenv("http_proxy", proxy.base, 1)
        defer {
            unsetenv("http_proxy")
            unsetenv("no_proxy")
        }
        let client = HTTPClient()
        defer { client.shutdown() }
        let answer = try await client.send(HTTPRequest(url: "http://erp.example.invalid/web/version"))
        #expect(String(decoding: answer.body, as: UTF8.self) == "via proxy http://erp.example.invalid/web/version")
    }
}
