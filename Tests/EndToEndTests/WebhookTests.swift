import ConnectorProtocol
import Crypto
import Foundation
import HostAdmin
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A blocking HTTP call on loopback.
func http(_ method: String, _ url: String, headers: [String: String] = [:], body: String? = nil) throws -> (status: Int, headers: [String: String], body: String) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    request.httpBody = body.map { Data($0.utf8) }
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: (Int, [String: String], String)?
    nonisolated(unsafe) var failure: (any Error)?
    URLSession.shared.dataTask(with: request) { data, response, error in
        if let response = response as? HTTPURLResponse {
            var fields: [String: String] = [:]
            for (name, value) in response.allHeaderFields { fields["\(name)".lowercased()] = "\(value)" }
            result = (response.statusCode, fields, String(decoding: data ?? Data(), as: UTF8.self))
        }
        failure = error
        done.signal()
    }.resume()
    done.wait()
    if let result { return result }
    throw failure ?? HarnessError("no response from \(url)")
}

@Suite(.serialized) struct WebhookTests {
    static let secret = "whsec_" + UUID().uuidString
    static let nextSecret = "whsec_next_" + UUID().uuidString

    static func sign(_ body: String, secret: String = secret, at timestamp: Int = Int(Date().timeIntervalSince1970)) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(timestamp),v1=\(Data(mac).map { String(format: "%02x", $0) }.joined())"
    }

    /// A daemon with an HTTP listener and a sample connector "hook" that polls 10 events and takes
    /// signed webhooks, routed to a sink.
    static func daemon(rateLimit: String = "1000/s") throws -> (DaemonHarness, base: String) {
        let daemon = try DaemonHarness()
        let sink = DaemonHarness.sample("sink", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
        let http = DaemonHarness.httpListeners + "max_body_bytes = 4096\nwebhook_rate_limit = \"\(rateLimit)\"\n"
        try daemon.writeConfig(connectors: http + sink)
        try daemon.start()
        for (name, value) in [("webhook_secret", secret), ("webhook_secret_next", nextSecret)] {
            #expect(try daemon.hostctl(input: value, "secret", "set", "hook", name).status == 0)
        }
        let hook = DaemonHarness.sample("hook", "[connector.config]\nemit = 10\nwebhook_secret = \"webhook_secret\"\nwebhook_secret_next = \"webhook_secret_next\"")
        try daemon.writeConfig(connectors: http + sink + hook + DaemonHarness.route("hook", "sink"))
        #expect(try daemon.hostctl("reload").status == 0)
        try daemon.waitUntil("the hook connector runs", timeout: 20) { try daemon.connector("hook").state == "running" }
        return (daemon, "http://\(try daemon.webhookAddress())")
    }

    @Test func signedWebhooksAreStoredOnceAndForgeriesAreRefused() throws {
        let (daemon, base) = try Self.daemon()
        try daemon.waitUntil("the polled events are delivered", timeout: 20) { try daemon.count("delivered") == 10 }

        // Index 5 was polled already: the same event by webhook is a duplicate; 20 and 21 are new.
        let body = #"{"emit":[5,20,21]}"#
        let signature = Self.sign(body)
        let accepted = try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": signature, "Content-Type": "application/json"], body: body)
        #expect(accepted.status == 200, "\(accepted.body)")
        #expect(accepted.body.contains(#""accepted":2"#) && accepted.body.contains(#""duplicates":1"#))
        try daemon.waitUntil("the webhook's new events are delivered", timeout: 20) { try daemon.count("delivered") == 12 }
        #expect(Set(daemon.effects("effects")).count == 12 && daemon.effects("effects").count == 12)

        let replayed = try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": signature], body: body)
        #expect(replayed.status == 409)
        let forged = try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": Self.sign(body, secret: "not-the-secret")], body: #"{"emit":[30]}"#)
        #expect(forged.status == 401)
        let tampered = try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": Self.sign(body)], body: #"{"emit":[5,20,21,31]}"#)
        #expect(tampered.status == 401)
        let stale = try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": Self.sign(#"{"emit":[32]}"#, at: Int(Date().timeIntervalSince1970) - 3600)], body: #"{"emit":[32]}"#)
        #expect(stale.status == 401)
        #expect(stale.body.contains("stale"))
        let unsigned = try http("POST", "\(base)/hooks/hook", body: #"{"emit":[33]}"#)
        #expect(unsigned.status == 401)
        let oversized = try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": Self.sign("x")], body: String(repeating: "x", count: 5000))
        #expect(oversized.status == 413)
        #expect(try http("POST", "\(base)/hooks/nobody", body: "{}").status == 404)
        #expect(try daemon.count("delivered") == 12, "no refused webhook created an event")

        // During a secret roll the sender signs with both secrets; a delivery signed with the new one only is accepted too.
        let rolled = #"{"emit":[40]}"#
        let both = Self.sign(rolled, secret: "old-secret-no-longer-valid") + "," + Self.sign(rolled, secret: Self.nextSecret).split(separator: ",")[1]
        #expect(try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": both], body: rolled).status == 200)

        // While the plugin cannot take webhooks, the sender is told to retry.
        #expect(try daemon.hostctl("pause", "hook").status == 0)
        let paused = try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": Self.sign(#"{"emit":[41]}"#)], body: #"{"emit":[41]}"#)
        #expect(paused.status == 503)
        #expect(paused.headers["retry-after"] != nil)

        // Refusals are audited in one summary row per connector and minute, written at the latest on stop.
        #expect(try daemon.stop() == 0)
        let rejected = try daemon.auditDetails("webhook.rejected")
        #expect(rejected.count == 1)
        #expect(rejected.first?.hasPrefix("6 refused (forged 3, replayed 1, stale 1, too_large 1)") == true, "\(rejected)")
    }

    /// A flood of forged webhooks neither spends the genuine sender's rate allowance nor floods the
    /// audit trail and the journal (it made 17 of 20 genuine webhooks get 429, and two audit rows each).
    @Test func aForgedFloodNeitherStarvesGenuineWebhooksNorFloodsTheAudit() throws {
        let (daemon, base) = try Self.daemon(rateLimit: "10/s")
        try daemon.waitUntil("the polled events are delivered", timeout: 20) { try daemon.count("delivered") == 10 }
        var forgedStatuses: [Int: Int] = [:]
        for index in 0..<300 {
            let body = "{\"emit\":[\(1000 + index)]}"
            forgedStatuses[try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": Self.sign(body, secret: "not-the-secret")], body: body).status, default: 0] += 1
        }
        #expect(Set(forgedStatuses.keys).isSubset(of: [401, 429]) && forgedStatuses[429, default: 0] > 0, "\(forgedStatuses)")
        let genuine = try (0..<10).map { index in
            let body = "{\"emit\":[\(2000 + index)]}"
            return try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": Self.sign(body)], body: body).status
        }
        #expect(genuine == Array(repeating: 200, count: 10))
        #expect(try daemon.stop() == 0)
        let rejected = try daemon.auditDetails("webhook.rejected")
        #expect(rejected.count == 1 && rejected.first?.hasPrefix("300 refused (forged 300)") == true, "\(rejected)")
        #expect(daemon.log.components(separatedBy: "webhook rejected").count - 1 == 1, "one log line for the first refusal, then summaries")
    }

    /// Beyond the per-connector rate limit a sender is told when to come back.
    @Test func aFloodOfWebhooksIsRateLimited() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.httpListeners + "webhook_rate_limit = \"2/m\"\n" + DaemonHarness.sample("hook"))
        try daemon.start()
        let base = "http://" + (try daemon.webhookAddress())
        let statuses = try (0..<4).map { _ in try http("POST", "\(base)/hooks/hook", body: #"{"emit":[1]}"#) }
        // 2 a minute allow a burst of 1: the first is verified (and refused: unsigned), the rest wait ~30 s.
        #expect(statuses.map(\.status) == [401, 429, 429, 429])
        #expect(Int(statuses[3].headers["retry-after"] ?? "") ?? 0 >= 20)
        #expect(try daemon.stop() == 0)
    }

    /// Posting to made-up connector names grows no metric: every unknown connector is one label value
    /// (5,000 such requests made 70,000 series before).
    @Test func unknownConnectorsAreOneLabelValueInTheMetrics() throws {
        let daemon = try DaemonHarness()
        try daemon.writeConfig(connectors: DaemonHarness.httpListeners + DaemonHarness.sample("hook"))
        try daemon.start()
        let base = "http://" + (try daemon.webhookAddress())
        for index in 0..<40 {
            #expect(try http("POST", "\(base)/hooks/made-up-\(index)", body: "{}").status == 404)
        }
        let metrics = try http("GET", "http://\(try daemon.metricsAddress())/metrics").body
        #expect(!metrics.contains("made-up-"))
        let labels = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("connector_host_webhook") }.compactMap { line -> Substring? in
            guard let start = line.range(of: "connector=\"")?.upperBound, let end = line[start...].firstIndex(of: "\"") else { return nil }
            return line[start..<end]
        })
        #expect(labels == ["unknown"])
        #expect(try daemon.stop() == 0)
    }

    /// `/metrics` in the Prometheus text format, read by the reference Python parser.
    @Test(.enabled(if: DaemonHarness.pythonHas("prometheus_client"), "needs the prometheus-client Python package (scripts/test installs it)"))
    func metricsAreValidPrometheusText() throws {
        let (daemon, base) = try Self.daemon()
        try daemon.waitUntil("the polled events are delivered", timeout: 20) { try daemon.count("delivered") == 10 }
        let body = #"{"emit":[50]}"#
        #expect(try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": Self.sign(body)], body: body).status == 200)
        #expect(try http("POST", "\(base)/hooks/hook", headers: ["Sample-Signature": "t=1,v1=00"], body: body).status == 401)
        try daemon.waitUntil("the webhook's event is delivered", timeout: 20) { try daemon.count("delivered") == 11 }

        let metricsBase = "http://\(try daemon.metricsAddress())"
        let health = try http("GET", "\(metricsBase)/healthz")
        #expect(health.status == 200)
        #expect(health.body.contains("healthy"))
        let metrics = try http("GET", "\(metricsBase)/metrics")
        #expect(metrics.status == 200)
        try metrics.body.write(toFile: daemon.path("metrics.txt"), atomically: true, encoding: .utf8)
        let parsed = try DaemonHarness.run("/usr/bin/env", ["python3", "-c", """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    print(f"{sample.name}{{{labels}}} {sample.value}")
            """, daemon.path("metrics.txt")])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        var samples: [String: Double] = [:]
        for line in parsed.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { samples[String(parts[0])] = value }
        }
        let expected: [String: Double] = [
            "connector_host_webhooks_total{connector=hook,result=accepted}": 1,
            "connector_host_webhooks_total{connector=hook,result=forged}": 1,
            "connector_host_delivery_attempts_total{outcome=delivered,route=hook->sink}": 11,
            "connector_host_queue_deliveries{route=hook->sink,state=delivered}": 11,
            "connector_host_plugin_up{connector=sink}": 1,
            "connector_host_circuit_state{target=sink}": 0,
            "connector_host_events_ingested_total{connector=hook}": 11,
            "connector_host_customers_upserted_total{connector=sink,tenant=}": 4,
            "connector_host_invoices_posted_total{connector=sink,tenant=}": 3,
            "connector_host_payments_applied_total{connector=sink,tenant=}": 4,
            "connector_host_delivery_latency_seconds_count{route=hook->sink}": 11,
            "connector_host_store_ok{}": 1,
        ]
        for (name, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(samples[name] == value, "\(name)")
        }
        #expect(try daemon.stop() == 0)
    }
}

extension DaemonHarness {
    static func pythonHas(_ module: String) -> Bool {
        (try? run("/usr/bin/env", ["python3", "-c", "import \(module)"]).status) == 0
    }

    /// The details of every audit row of `action`, oldest first, read from the database file.
    func auditDetails(_ action: String) throws -> [String] {
        let result = try Self.run("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
            print("\\n".join(r[0] for r in c.execute("SELECT detail FROM audit WHERE action = ? ORDER BY id", (sys.argv[2],))))
            """, path("state/connector-host.sqlite"), action])
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// Every audit action, oldest first, read from the database file.
    func auditActions() throws -> [String] {
        let result = try Self.run("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
            print("\\n".join(r[0] for r in c.execute("SELECT action FROM audit ORDER BY id")))
            """, path("state/connector-host.sqlite")])
        return result.stdout.split(separator: "\n").map(String.init)
    }
}
