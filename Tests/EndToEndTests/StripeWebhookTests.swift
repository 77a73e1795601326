import ConnectorKit
import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

/// Stripe's signed webhooks through the host's ingress into connector-stripe: the signature scheme,
/// the tolerance, a secret roll, and replays.
@Suite(.serialized) struct StripeWebhookTests {
    static let secret = "whsec_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
    static let nextSecret = "whsec_next_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")

    static func event(_ id: String, customer: String, name: String, created: Int = Int(Date().timeIntervalSince1970)) -> String {
        #"{"id": "\#(id)", "object": "event", "type": "customer.created", "created": \#(created), "api_version": "2024-06-20", "livemode": false, "data": {"object": {"id": "\#(customer)", "object": "customer", "name": "\#(name)", "email": "ap@\#(customer).test"}}}"#
    }

    static func signature(_ body: String, secrets: [String], at timestamp: Int = Int(Date().timeIntervalSince1970)) -> String {
        let parts = secrets.map { WebhookSignature.signTimestamped(body: body, secret: $0, timestamp: timestamp) }
        return "t=\(timestamp)," + parts.map { $0.split(separator: ",")[1] }.joined(separator: ",")
    }

    @Test func signedEventsAreAcceptedOnceAndForgeriesRefused() throws {
        let daemon = try DaemonHarness()
        let listener = DaemonHarness.httpListeners
        // No Stripe API is reachable: webhooks of customer events need none.
        let stripe = "[[connector]]\nid = \"stripe\"\nplugin = \"stripe\"\npoll_interval_ms = 3600000\n[connector.config]\napi_base = \"http://127.0.0.1:9\"\nwebhook_secret_next = \"webhook_secret_next\"\n"
        try daemon.writeConfig(connectors: listener)
        try daemon.start()
        #expect(try daemon.hostctl(input: Self.secret, "secret", "set", "stripe", "webhook_secret").status == 0)
        // (Without an API key the connector's first poll would pause it, and a paused connector's webhooks get 503.)
        #expect(try daemon.hostctl(input: "sk_test_unused", "secret", "set", "stripe", "api_key").status == 0)
        try daemon.writeConfig(connectors: listener + stripe)
        #expect(try daemon.hostctl("reload").status == 0)
        try daemon.waitUntil("the Stripe connector runs", timeout: 15) { try daemon.connector("stripe").state == "running" }
        let address = try daemon.webhookAddress()
        let url = "http://\(address)/hooks/stripe"

        let body = Self.event("evt_1", customer: "cus_1", name: "Globex")
        let signedAt = Int(Date().timeIntervalSince1970) - 5
        let accepted = try http("POST", url, headers: ["Stripe-Signature": Self.signature(body, secrets: [Self.secret], at: signedAt), "Content-Type": "application/json"], body: body)
        #expect(accepted.status == 200)
        #expect(try daemon.storedEvent("stripe:customer:cus_1:evt_1") == "customer.upserted None")  // (no entity configured)

        // The same delivery again is a replay; Stripe's own retry of the event (a new timestamp) is accepted and stored once.
        let sameDelivery = try http("POST", url, headers: ["Stripe-Signature": Self.signature(body, secrets: [Self.secret], at: signedAt)], body: body)
        #expect(sameDelivery.status == 409)
        let replay = try http("POST", url, headers: ["Stripe-Signature": Self.signature(body, secrets: [Self.secret], at: signedAt + 1)], body: body)
        #expect(replay.status == 200)
        #expect(try daemon.storedEvents(connector: "stripe", type: "customer.upserted").count == 1)

        let forged = try http("POST", url, headers: ["Stripe-Signature": Self.signature(body, secrets: ["whsec_not_ours"])], body: Self.event("evt_2", customer: "cus_2", name: "Forged"))
        #expect(forged.status == 401)
        let tampered = try http("POST", url, headers: ["Stripe-Signature": Self.signature(body, secrets: [Self.secret])], body: body.replacingOccurrences(of: "Globex", with: "Glob3x"))
        #expect(tampered.status == 401)
        let staleBody = Self.event("evt_3", customer: "cus_3", name: "Stale")
        let stale = try http("POST", url, headers: ["Stripe-Signature": Self.signature(staleBody, secrets: [Self.secret], at: Int(Date().timeIntervalSince1970) - 600)], body: staleBody)
        #expect(stale.status == 401 && stale.body.contains("tolerance"))
        let unsigned = try http("POST", url, body: Self.event("evt_4", customer: "cus_4", name: "Unsigned"))
        #expect(unsigned.status == 401)

        // A secret roll: Stripe signs with the old and the new secret; the new one is set while webhooks arrive.
        #expect(try daemon.hostctl(input: Self.nextSecret, "secret", "set", "stripe", "webhook_secret_next").status == 0)
        let rolled = Self.event("evt_5", customer: "cus_5", name: "Initech")
        #expect(try http("POST", url, headers: ["Stripe-Signature": Self.signature(rolled, secrets: ["whsec_old_gone", Self.nextSecret])], body: rolled).status == 200)
        let notAnEvent = #"{"object": "list"}"#
        #expect(try http("POST", url, headers: ["Stripe-Signature": Self.signature(notAnEvent, secrets: [Self.secret])], body: notAnEvent).status == 400)

        let stored = try daemon.storedEvents(connector: "stripe", type: "customer.upserted").compactMap { (($0["record"] as? [String: Any])?["customer"] as? [String: Any])?["name"] as? String }
        #expect(stored.sorted() == ["Globex", "Initech"])
        #expect(try daemon.stop() == 0)
    }

    /// Each forged webhook made the plugin read its signing secrets again (two audit rows each): now a
    /// mismatch reads them at most once per 30 s, and an operator's change is pushed (credentials.changed).
    @Test func aForgedFloodDoesNotBecomeAFloodOfVaultReads() throws {
        let daemon = try DaemonHarness()
        let listener = DaemonHarness.httpListeners + "webhook_rate_limit = \"1000/s\"\n"
        let stripe = "[[connector]]\nid = \"stripe\"\nplugin = \"stripe\"\npoll_interval_ms = 3600000\n[connector.config]\napi_base = \"http://127.0.0.1:9\"\n"
        try daemon.start(storing: [("stripe", "webhook_secret", Self.secret), ("stripe", "api_key", "sk_test_unused")], initial: listener, then: listener + stripe)
        try daemon.waitUntil("the Stripe connector runs", timeout: 15) { try daemon.connector("stripe").state == "running" }
        let url = "http://\(try daemon.webhookAddress())/hooks/stripe"
        for index in 0..<200 {
            let body = Self.event("evt_f\(index)", customer: "cus_f", name: "Forged")
            #expect(try http("POST", url, headers: ["Stripe-Signature": Self.signature(body, secrets: ["whsec_not_ours"])], body: body).status == 401)
        }
        // The API key for the first poll, the signing secret once, and once more after the first mismatch.
        let reads = try daemon.auditDetails("secret.read").count
        #expect(reads <= 3, "\(reads) vault reads for 200 forged webhooks")
        // A new secret set by the operator is used at once, without waiting for the refresh interval.
        let newSecret = "whsec_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        #expect(try daemon.hostctl(input: newSecret, "secret", "rotate", "stripe", "webhook_secret").status == 0)
        let body = Self.event("evt_new", customer: "cus_n", name: "Initech")
        try daemon.waitUntil("the rotated secret is used", timeout: 10) {
            try http("POST", url, headers: ["Stripe-Signature": Self.signature(body, secrets: [newSecret])], body: body).status == 200
        }
        #expect(try daemon.stop() == 0)
    }
}
