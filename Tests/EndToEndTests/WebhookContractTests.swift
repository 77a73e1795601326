import ConnectorProtocol
import Crypto
import Foundation
import HostAdmin
import Testing

/// The webhook contract every vendor fits (issue 15, item 2), through the daemon's ingress to a real
/// plugin: the method and the target as received reach the plugin (HubSpot's v3 signs the URL), and a
/// plugin may answer a GET handshake itself.
@Suite(.serialized) struct WebhookContractTests {
    static let secret = "hs-app-secret-" + UUID().uuidString

    /// HubSpot's v3 signature of a request, as HubSpot computes it.
    static func v3(method: String, url: String, body: String, at milliseconds: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(method)\(url)\(body)\(milliseconds)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return Data(mac).base64EncodedString()
    }

    @Test func aV3SignedWebhookIsAcceptedATamperedURIRefusedAndAHandshakeAnsweredByThePlugin() throws {
        let daemon = try DaemonHarness()
        let sink = DaemonHarness.sample("sink", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
        let crm = DaemonHarness.sample("crm", "[connector.config]\nwebhook_secret = \"webhook_secret\"\nwebhook_scheme = \"hubspot-v3\"\nwebhook_public_url = \"https://hooks.example.test\"")
        try daemon.start(storing: [("crm", "webhook_secret", Self.secret)], initial: DaemonHarness.httpListeners + sink,
                         then: DaemonHarness.httpListeners + sink + crm + DaemonHarness.route("crm", "sink"))
        try daemon.waitUntil("the crm connector runs", timeout: 20) { try daemon.connector("crm").state == "running" }
        let base = "http://\(try daemon.webhookAddress())"

        let body = #"{"emit":[1,2]}"#
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        let headers = ["X-HubSpot-Signature-v3": Self.v3(method: "POST", url: "https://hooks.example.test/hooks/crm?portal=7", body: body, at: now),
                       "X-HubSpot-Request-Timestamp": String(now), "Content-Type": "application/json"]
        let accepted = try http("POST", "\(base)/hooks/crm?portal=7", headers: headers, body: body)
        #expect(accepted.status == 200 && accepted.body.contains(#""accepted":2"#), "\(accepted.body)")
        // The same signature on another URI (query changed): refused, nothing stored.
        let tampered = try http("POST", "\(base)/hooks/crm?portal=8", headers: headers, body: body)
        #expect(tampered.status == 401)
        try daemon.waitUntil("the accepted events are delivered", timeout: 20) { try daemon.count("delivered") == 2 }

        // A vendor's GET handshake: the plugin answers it itself.
        let handshake = try http("GET", "\(base)/hooks/crm?challenge=c-4711")
        #expect(handshake.status == 200 && handshake.body == "c-4711" && handshake.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(try http("GET", "\(base)/hooks/crm").status == 400)
        #expect(try daemon.count("delivered") == 2)
        #expect(try daemon.stop() == 0)
    }
}
