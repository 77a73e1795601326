import ConnectorProtocol
import Crypto
public import Foundation
import _CryptoExtras

/// OAuth 2.0 access tokens for a connector (HubSpot, Salesforce): the refresh-token grant or the
/// JWT-bearer grant (an RS256 assertion signed with the connector's key). The access token lives in
/// memory only; it is fetched again ahead of its expiry and once after the API refuses it (401), and
/// concurrent requests share one fetch. A refresh token the endpoint rotates is stored in the vault
/// (`credentials.update`) before it is used. Secrets are read by name through `secrets`, never kept in
/// the configuration.
public actor OAuthTokens {
    public enum Grant: Sendable {
        /// `grant_type=refresh_token`: the client id, and the vault names of the client secret and of the
        /// refresh token.
        case refreshToken(clientID: String, clientSecret: String, refreshToken: String)
        /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`: an assertion from `issuer` (the
        /// client id) for `subject` (the user) to `audience` (the login host), signed with the PEM RSA
        /// private key held in the vault under `privateKey`.
        case jwtBearer(issuer: String, subject: String, audience: String, privateKey: String)
    }

    /// Reads and stores the connector's secrets (the host's vault, through ``HostConnection``).
    public struct Secrets: Sendable {
        public var read: @Sendable (String) async throws -> String
        public var store: @Sendable (String, String) async throws -> Void

        public init(read: @escaping @Sendable (String) async throws -> String, store: @escaping @Sendable (String, String) async throws -> Void) {
            self.read = read
            self.store = store
        }

        public init(host: HostConnection) {
            self.init(read: { try await host.secret($0) }, store: { _ = try await host.storeSecret($0, value: $1) })
        }
    }

    struct Token {
        var value: String
        var expiresAt: ContinuousClock.Instant
        var instanceURL: String?
    }

    /// An access token and the base URL its answer named for the API (Salesforce's `instance_url`; nil
    /// when the answer names none, as HubSpot's).
    public struct Session: Sendable, Equatable {
        public var accessToken: String
        public var instanceURL: String?
    }

    let tokenURL: String
    let grant: Grant
    let http: HTTPClient
    let secrets: Secrets
    /// How long before its expiry a token is fetched again.
    let ahead: Duration
    /// The life of a token whose answer gives no `expires_in` (Salesforce's JWT flow gives none).
    let defaultLifetime: Duration
    private var current: Token?
    private var fetching: Task<Token, any Error>?
    /// How many tokens were fetched (for tests and the connector's status).
    public private(set) var fetches = 0

    public init(tokenURL: String, grant: Grant, http: HTTPClient, secrets: Secrets, ahead: Duration = .seconds(60), defaultLifetime: Duration = .seconds(900)) {
        self.tokenURL = tokenURL
        self.grant = grant
        self.http = http
        self.secrets = secrets
        self.ahead = ahead
        self.defaultLifetime = defaultLifetime
    }

    /// A valid access token: the one in memory, or a new one when it expires within `ahead`.
    public func accessToken() async throws -> String {
        try await session().accessToken
    }

    /// A valid access token with the instance it is for.
    public func session() async throws -> Session {
        let token: Token
        if let current, ContinuousClock.now + ahead < current.expiresAt {
            token = current
        } else {
            token = try await fetch()
        }
        return Session(accessToken: token.value, instanceURL: token.instanceURL)
    }

    /// The API refused `token` (401): forget it, so the next request fetches another. A token already
    /// replaced by a concurrent request's fetch is left alone.
    public func refused(_ token: String) {
        if current?.value == token { current = nil }
    }

    /// Sends a request made with the bearer token; on a 401 fetches a new token once and sends again.
    public func send(_ request: @Sendable (String) -> HTTPRequest) async throws -> HTTPResponse {
        try await send(inSession: { request($0.accessToken) })
    }

    /// ``send(_:)`` for an API whose base URL comes with the token (Salesforce's `instance_url`).
    public func send(inSession request: @Sendable (Session) -> HTTPRequest) async throws -> HTTPResponse {
        let session = try await session()
        let response = try await http.send(request(session))
        guard response.status == 401 else { return response }
        refused(session.accessToken)
        return try await http.send(request(try await self.session()))
    }

    private func fetch() async throws -> Token {
        if let fetching { return try await fetching.value }
        let task = Task { try await self.requestToken() }
        fetching = task
        defer { fetching = nil }
        let token = try await task.value
        current = token
        return token
    }

    private func requestToken() async throws -> Token {
        var fields: [(String, String)]
        switch grant {
        case .refreshToken(let clientID, let clientSecret, let refreshToken):
            fields = [("grant_type", "refresh_token"), ("client_id", clientID), ("client_secret", try await secrets.read(clientSecret)),
                      ("refresh_token", try await secrets.read(refreshToken))]
        case .jwtBearer(let issuer, let subject, let audience, let privateKey):
            let assertion = try Self.assertion(issuer: issuer, subject: subject, audience: audience, privateKeyPEM: try await secrets.read(privateKey), now: Date())
            fields = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion)]
        }
        let response = try await http.send(HTTPRequest(method: "POST", url: tokenURL, headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
                                                       body: Data(FormEncoding.encode(fields).utf8)))
        fetches += 1
        let answer = try? JSONDecoder().decode(JSONValue.self, from: response.body)
        if response.status != 200 {
            // An OAuth error body names why (RFC 6749 §5.2): a refused grant or client is the credentials' fault.
            let code = answer?["error"]?.stringValue
            let verdict: ConnectorError.Code? = ["invalid_grant", "invalid_client", "unauthorized_client"].contains(code ?? "") ? .auth : nil
            let message = "the token endpoint refused the \(grantName) grant: \(code ?? "HTTP \(response.status)")" + (answer?["error_description"]?.stringValue.map { " (\($0))" } ?? "")
            throw HTTPAnswer.failure(response, message: message, vendorClass: verdict) ?? ConnectorError(.transient, message)
        }
        guard let token = answer?["access_token"]?.stringValue, !token.isEmpty else {
            throw ConnectorError(.transient, "the token endpoint answered without an access_token")
        }
        if case .refreshToken(_, _, let name) = grant, let rotated = answer?["refresh_token"]?.stringValue, !rotated.isEmpty {
            try await secrets.store(name, rotated)  // the old one may stop working at once
        }
        let lifetime = answer?["expires_in"]?.intValue.map { Duration.seconds($0) } ?? defaultLifetime
        return Token(value: token, expiresAt: ContinuousClock.now + lifetime, instanceURL: answer?["instance_url"]?.stringValue)
    }

    private var grantName: String {
        switch grant {
        case .refreshToken: "refresh-token"
        case .jwtBearer: "JWT-bearer"
        }
    }

    /// A JWT-bearer assertion (RFC 7523): RS256 over `{"alg":"RS256","typ":"JWT"}` and the claims
    /// `iss`, `sub`, `aud`, `exp` (three minutes ahead, as Salesforce allows at most).
    public static func assertion(issuer: String, subject: String, audience: String, privateKeyPEM: String, now: Date) throws -> String {
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        } catch {
            throw ConnectorError(.auth, "the JWT-bearer private key in the vault is not a PEM RSA private key")
        }
        let header = #"{"alg":"RS256","typ":"JWT"}"#
        let claims: JSONValue = ["iss": .string(issuer), "sub": .string(subject), "aud": .string(audience), "exp": .int(Int64(now.timeIntervalSince1970) + 180)]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let signingInput = base64URL(Data(header.utf8)) + "." + base64URL(try encoder.encode(claims))
        let signature = try key.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5)
        return signingInput + "." + base64URL(signature.rawRepresentation)
    }

    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
