import ConnectorKit
import ConnectorProtocol
import Crypto
import Foundation
import Synchronization
import Testing
import _CryptoExtras

/// ConnectorKit's OAuth 2.0 tokens (issue 15) against a loopback token endpoint (Tests/Fakes/oauth).
@Suite(.serialized) struct OAuthTokensTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fakes/oauth/fake_oauth.py").path

    /// The endpoint, and a vault of the connector's secrets as the host keeps them.
    final class Endpoint: Sendable {
        let process = Process()
        let url: String
        let vault = Mutex<[String: String]>([:])
        let stored = Mutex<[String]>([])

        init(secret: String = "cs-" + UUID().uuidString, refreshToken: String = "rt-0") throws {
            url = try launchLoopbackFake(process, "/usr/bin/env", ["python3", OAuthTokensTests.script, "--port", "0", "--client-secret", secret, "--refresh-token", refreshToken],
                                         log: "/dev/null", name: "the OAuth endpoint")
            vault.withLock { $0 = ["client_secret": secret, "refresh_token": refreshToken] }
        }

        deinit { stopLoopbackFake(process) }

        var secrets: OAuthTokens.Secrets {
            OAuthTokens.Secrets(read: { [self] name in
                guard let value = vault.withLock({ $0[name] }) else { throw ConnectorError(.permanent, "no secret \(name)") }
                return value
            }, store: { [self] name, value in
                vault.withLock { $0[name] = value }
                stored.withLock { $0.append(name) }
            })
        }

        func tokens(ahead: Duration = .seconds(60), grant: OAuthTokens.Grant? = nil) -> OAuthTokens {
            OAuthTokens(tokenURL: url + "/token", grant: grant ?? .refreshToken(clientID: "client-1", clientSecret: "client_secret", refreshToken: "refresh_token"),
                        http: HTTPClient(maxConcurrent: 8), secrets: secrets, ahead: ahead)
        }

        func configure(_ json: String) throws { _ = try http("POST", url + "/__fake__/config", headers: ["Content-Type": "application/json"], body: json) }
        func state() throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(try http("GET", url + "/__fake__/state").body.utf8)) as? [String: Any] ?? [:] }
    }

    /// A token is kept until it is about to expire: fetched again when its expiry is within `ahead`.
    @Test func aTokenIsKeptUntilItIsAboutToExpire() async throws {
        let endpoint = try Endpoint()
        let lasting = endpoint.tokens()
        let first = try await lasting.accessToken()
        #expect(try await lasting.accessToken() == first)
        #expect(await lasting.fetches == 1)
        try endpoint.configure(#"{"expires_in": 30}"#)  // shorter than the 60 s ahead: always about to expire
        let short = endpoint.tokens()
        let a = try await short.accessToken()
        let b = try await short.accessToken()
        let fetches = await short.fetches
        #expect(a != b && fetches == 2)
    }

    /// A refresh token the endpoint rotates is stored in the vault before the next use; the old one
    /// would be refused (`invalid_grant`, which is the credentials' fault: `auth`).
    @Test func aRotatedRefreshTokenIsStoredAndARefusedGrantIsAnAuthError() async throws {
        let endpoint = try Endpoint()
        try endpoint.configure(#"{"rotate": true, "expires_in": 1}"#)
        let tokens = endpoint.tokens()
        _ = try await tokens.accessToken()
        _ = try await tokens.accessToken()  // expires within `ahead`: fetched again with the rotated token
        #expect(await tokens.fetches == 2)
        #expect(endpoint.stored.withLock { $0 } == ["refresh_token", "refresh_token"])
        #expect(endpoint.vault.withLock { $0["refresh_token"] } == (try endpoint.state()["refresh_token"] as? String))
        endpoint.vault.withLock { $0["refresh_token"] = "rt-revoked" }
        await #expect { try await tokens.accessToken() } throws: { ($0 as? ConnectorError)?.code == .auth && ($0 as? ConnectorError)?.message.contains("invalid_grant") == true }
        try endpoint.configure(#"{"fail_status": 503}"#)
        await #expect { try await tokens.accessToken() } throws: { ($0 as? ConnectorError)?.code == .transient }
    }

    /// The API refuses a token (401): one new token, the request sent again, success.
    @Test func aRefusedTokenIsFetchedAgainOnceAndTheRequestSucceeds() async throws {
        let endpoint = try Endpoint()
        let tokens = endpoint.tokens()
        let api = endpoint.url + "/api"
        let request: @Sendable (String) -> HTTPRequest = { HTTPRequest(url: api, headers: [("Authorization", "Bearer \($0)")]) }
        #expect(try await tokens.send(request).status == 200)
        _ = try http("POST", endpoint.url + "/__fake__/expire")
        #expect(try await tokens.send(request).status == 200)
        #expect(await tokens.fetches == 2)
    }

    /// Eight requests at once with no token: one fetch, shared.
    @Test func concurrentRequestsShareOneFetch() async throws {
        let endpoint = try Endpoint()
        try endpoint.configure(#"{"delay_ms": 200}"#)
        let tokens = endpoint.tokens()
        let got = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await tokens.accessToken() } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        let fetches = await tokens.fetches
        #expect(got.count == 1 && fetches == 1)
        #expect(try endpoint.state()["token_requests"] as? Int == 1)
    }

    /// The JWT-bearer grant: the assertion the endpoint receives verifies with the public key and
    /// carries the issuer, subject, audience and an expiry three minutes ahead.
    @Test func aJWTBearerAssertionVerifiesWithThePublicKey() async throws {
        let endpoint = try Endpoint()
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        endpoint.vault.withLock { $0["jwt_key"] = key.pemRepresentation }
        let tokens = endpoint.tokens(grant: .jwtBearer(issuer: "3MVG9-client", subject: "integration@acme.test", audience: "https://login.salesforce.com", privateKey: "jwt_key"))
        let before = Int(Date().timeIntervalSince1970)
        _ = try await tokens.accessToken()
        let assertion = try #require((try endpoint.state()["assertions"] as? [String])?.first)
        let parts = assertion.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        func decode(_ text: String) throws -> Data {
            var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            return try #require(Data(base64Encoded: base64))
        }
        let signature = _RSA.Signing.RSASignature(rawRepresentation: try decode(parts[2]))
        #expect(key.publicKey.isValidSignature(signature, for: Data("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5))
        #expect(!key.publicKey.isValidSignature(signature, for: Data("\(parts[0]).x\(parts[1])".utf8), padding: .insecurePKCS1v1_5))
        let header = try JSONSerialization.jsonObject(with: try decode(parts[0])) as? [String: Any]
        let claims = try JSONSerialization.jsonObject(with: try decode(parts[1])) as? [String: Any]
        #expect(header?["alg"] as? String == "RS256")
        #expect(claims?["iss"] as? String == "3MVG9-client" && claims?["sub"] as? String == "integration@acme.test" && claims?["aud"] as? String == "https://login.salesforce.com")
        #expect(((claims?["exp"] as? Int) ?? 0) - before >= 179 && ((claims?["exp"] as? Int) ?? 0) - before <= 181)
        endpoint.vault.withLock { $0["jwt_key"] = "not a key" }
        await #expect { try await endpoint.tokens(grant: .jwtBearer(issuer: "i", subject: "s", audience: "a", privateKey: "jwt_key")).accessToken() } throws: {
            ($0 as? ConnectorError)?.code == .auth
        }
    }
}
