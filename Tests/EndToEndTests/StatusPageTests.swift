import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// The status pages of a running daemon, loaded in a real headless browser (Debian's chromium): what
/// they show must be what `hostctl --json` says at the same moment, and never a vault value. Screenshots
/// are kept under .build/test-artifacts/status-page/.
@Suite(.serialized) struct StatusPageTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }
    /// With CONNECTOR_HOST_REQUIRE_CHROMIUM=1 (scripts/test) a missing browser fails the tests instead of skipping them.
    static var enabled: Bool { chromium != nil || ProcessInfo.processInfo.environment["CONNECTOR_HOST_REQUIRE_CHROMIUM"] == "1" }
    static let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/test-artifacts/status-page")

    /// The page as the browser has it once loaded (its DOM, serialised), and a screenshot of it.
    static func browse(_ url: String, screenshot name: String, in daemon: DaemonHarness) throws -> String {
        guard let chromium else { throw HarnessError("no chromium: apt-get install chromium") }
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        // Its own profile folder each time; no sandbox (tests may run as root); nothing from the network.
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                     "--user-data-dir=\(daemon.path("chromium-\(name)"))", "--window-size=1280,1400"]
        let dom = try DaemonHarness.run(chromium, flags + ["--dump-dom", url])
        guard dom.status == 0, dom.stdout.contains("</html>") else { throw HarnessError("chromium --dump-dom \(url): \(dom.status) \(dom.stderr.suffix(600))") }
        let png = artifacts.appendingPathComponent("\(name).png").path
        try? FileManager.default.removeItem(atPath: png)
        let shot = try DaemonHarness.run(chromium, flags + ["--screenshot=\(png)", url])
        let size = (try? FileManager.default.attributesOfItem(atPath: png)[.size] as? Int) ?? 0
        guard shot.status == 0, size > 10_000 else { throw HarnessError("chromium --screenshot \(url): \(shot.status), \(size) bytes: \(shot.stderr.suffix(600))") }
        return dom.stdout
    }

    /// What `hostctl --json SUBCOMMAND…` prints, decoded.
    static func hostctl<T: Decodable>(_ daemon: DaemonHarness, _ type: T.Type, _ arguments: String...) throws -> T {
        let result = try DaemonHarness.run("hostctl", arguments + ["--json", "--socket", daemon.adminSocket])
        guard result.status == 0 else { throw HarnessError("hostctl \(arguments): \(result.stderr)") }
        return try JSONDecoder().decode(T.self, from: Data(result.stdout.utf8))
    }

    @Test(.enabled(if: enabled)) func thePagesShowWhatHostctlSaysAndNoSecret() throws {
        let daemon = try DaemonHarness()
        let faults = daemon.path("faults")
        try "fail-match :payment: permanent\n".write(toFile: faults, atomically: true, encoding: .utf8)
        let secret = "sk_live_" + UUID().uuidString
        try daemon.writeConfig(connectors: DaemonHarness.httpListeners
            + DaemonHarness.sample("src", "[connector.config]\nemit = 6\nsecret_log = \"api_key\"")
            + DaemonHarness.sample("erp", "[connector.config]\nfaults_file = \"\(faults)\"\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp"))
        try daemon.start()
        #expect(try daemon.hostctl(input: secret + "\n", "secret", "set", "src", "api_key").status == 0)
        try daemon.waitUntil("the payments are dead letters and the rest delivered", timeout: 30) {
            try daemon.count("dead") == 2 && daemon.count("delivered") == 4
        }
        let base = "http://\(try daemon.metricsAddress())"

        // The overview and hostctl, read one after the other: nothing moves any more.
        let overview = try Self.browse(base + "/", screenshot: "overview", in: daemon)
        let connectors = try Self.hostctl(daemon, [ConnectorStatus].self, "connectors")
        let queue = try Self.hostctl(daemon, QueueResult.self, "queue")
        let dead = try Self.hostctl(daemon, [DeadLetterSummary].self, "dlq", "list")
        #expect(overview.contains("<title>connector-host</title>") && overview.contains(#"id="health">healthy</p>"#), "\(overview.prefix(2000))")
        for connector in connectors {
            let pid = try #require(connector.pid)
            #expect(overview.contains(#"<tr data-connector="\#(connector.id)"><td><b>\#(connector.id)</b>"#))
            #expect(overview.contains(#"<td class="state good">\#(connector.state)</td><td class="number">\#(pid)</td>"#), "\(connector.id)")
        }
        for state in ["pending", "delivered", "dead", "discarded"] {
            let count = queue.rows.filter { $0.route == "src->erp" && $0.state == state }.map(\.count).reduce(0, +)
            #expect(overview.contains(#"data-state="\#(state)">\#(count)</td>"#), "\(state): \(count)")
        }
        #expect(dead.count == 2)
        for letter in dead {
            #expect(overview.contains(#"<tr data-dead-letter="\#(letter.id)">"#))
            #expect(overview.contains("<b>\(letter.errorClass)</b>: \(letter.reason)"), "\(letter.reason)")
        }

        // A dead letter's trace: its event, its delivery, each attempt and why it failed, as hostctl has it.
        let letter = try #require(dead.first)
        let query = letter.correlationID.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let page = try Self.browse(base + "/trace?id=" + query, screenshot: "trace", in: daemon)
        let trace = try Self.hostctl(daemon, TraceResult.self, "trace", letter.correlationID)
        let event = try #require(trace.events.first)
        #expect(page.contains("<h1>Trace \(letter.correlationID)</h1>"))
        #expect(page.contains("<h2>Event \(event.id): \(event.type)</h2><p>From <b>\(event.connector)</b>"))
        for delivery in event.deliveries {
            #expect(page.contains(#"<tr data-delivery="\#(delivery.id)">"#) && page.contains(#">\#(delivery.state)</td>"#))
            for attempt in delivery.attempts {
                #expect(page.contains(#"<b class="bad">\#(attempt.outcome)</b>: \#(attempt.error ?? "")</li>"#), "attempt \(attempt.number)")
            }
        }
        let unknown = try Self.browse(base + "/trace?id=nothing-here", screenshot: "trace-unknown", in: daemon)
        #expect(unknown.contains("No event has this correlation id."))

        // The page only reads: anything but GET is refused, and the metrics listener serves nothing else new.
        #expect(try http("POST", base + "/").status == 405 || http("POST", base + "/").status == 404)
        #expect(try http("GET", base + "/trace").body.contains(#"<section id="connectors">"#), "no id: to the overview")
        let headers = try http("GET", base + "/").headers
        #expect(headers["content-security-policy"]?.contains("default-src 'none'") == true, "\(headers)")

        // The secret the source logged (redacted) and read is in neither page.
        #expect(!overview.contains(secret) && !page.contains(secret))
        #expect(SecretsTests.leaks(of: [secret], daemon: daemon, outputs: [overview, page, unknown]).isEmpty)
        #expect(try daemon.stop() == 0)
    }
}
