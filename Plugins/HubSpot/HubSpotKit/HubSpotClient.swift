public import ConnectorKit
public import ConnectorProtocol
public import Foundation
import Synchronization

/// Calls HubSpot's CRM API: JSON both ways, a bearer token (a private app's, from the vault, or an
/// OAuth access token refreshed ahead of its expiry and once after a 401), requests paced from the
/// `X-HubSpot-RateLimit-*` headers, searches spaced to the search API's own limit, every answer classified.
public final class HubSpotClient: Sendable {
    /// Where the bearer token comes from.
    public enum Tokens: Sendable {
        case privateApp(CachedSecret)
        case oauth(OAuthTokens)
    }

    let settings: HubSpotSettings
    let http: HTTPClient
    let tokens: Tokens
    /// The search API allows 5 requests a second per account, apart from the general quota.
    static let searchSpacing: Duration = .milliseconds(220)
    private let nextSearch = Mutex<ContinuousClock.Instant>(.now)

    public init(settings: HubSpotSettings, http: HTTPClient, tokens: Tokens) {
        self.settings = settings
        self.http = http
        self.tokens = tokens
    }

    public func get(_ path: String, _ query: [(String, String)] = []) async throws -> JSONValue {
        try await send("GET", path + (query.isEmpty ? "" : "?" + FormEncoding.encode(query)), body: nil)
    }

    public func post(_ path: String, _ body: JSONValue) async throws -> JSONValue {
        try await send("POST", path, body: try JSONEncoder().encode(body))
    }

    public func patch(_ path: String, _ body: JSONValue) async throws -> JSONValue {
        try await send("PATCH", path, body: try JSONEncoder().encode(body))
    }

    /// `POST /crm/v3/objects/{type}/search`, spaced to the search API's limit.
    public func search(_ objectType: String, _ request: JSONValue) async throws -> JSONValue {
        let wait = nextSearch.withLock { next -> Duration in
            let now = ContinuousClock.now
            let at = max(next, now)
            next = at + Self.searchSpacing
            return at - now
        }
        if wait > .zero { try await Task.sleep(for: wait) }
        return try await post("/crm/v3/objects/\(objectType)/search", request)
    }

    func send(_ method: String, _ pathAndQuery: String, body: Data?) async throws -> JSONValue {
        let headers: [(name: String, value: String)] = [("Accept", "application/json")] + (body != nil ? [("Content-Type", "application/json")] : [])
        let request = { @Sendable (token: String) in
            HTTPRequest(method: method, url: self.settings.apiBase + pathAndQuery, headers: headers + [("Authorization", "Bearer \(token)")], body: body,
                        timeout: .seconds(self.settings.timeoutSeconds))
        }
        let response: HTTPResponse
        do {
            switch tokens {
            case .oauth(let oauth):
                response = try await oauth.send(request)
            case .privateApp(let token):
                response = try await http.send(request(try await token.get()))
                if response.status == 401 { token.forget() }  // a rotated token is read again next time
            }
        } catch let error as HTTPClientError {
            throw error.connectorError
        }
        return try HubSpotAnswer.classify(response)
    }
}

/// What a HubSpot answer means for the host. Pure: tested on the reference's shapes.
public enum HubSpotAnswer {
    public static func classify(_ response: HTTPResponse, now: Date = Date()) throws(ConnectorError) -> JSONValue {
        let (status, body) = (response.status, response.body)
        let decoded = body.isEmpty ? JSONValue.null : try? JSONDecoder().decode(JSONValue.self, from: body)
        if (200..<300).contains(status) {
            guard let decoded else {
                throw ConnectorError(.transient, "HubSpot answered HTTP \(status) with a body that is not JSON: \(TextExcerpt.of(body))")
            }
            return decoded
        }
        let category = decoded?["category"]?.stringValue ?? decoded?["errorType"]?.stringValue ?? ""
        let message = decoded?["message"]?.stringValue ?? String(decoding: body.prefix(160), as: UTF8.self)
        var details: [String: JSONValue] = [:]
        if !category.isEmpty { details["hubspot_category"] = .string(category) }
        if let correlation = decoded?["correlationId"]?.stringValue { details["hubspot_correlation_id"] = .string(correlation) }
        // HubSpot's category over the status: a rate limit is one whatever the status says, a refused
        // value is the request's fault.
        let verdict: ConnectorError.Code? = switch category {
        case "RATE_LIMIT", "RATE_LIMITS": .rateLimited
        case "EXPIRED_AUTHENTICATION", "INVALID_AUTHENTICATION", "MISSING_SCOPES": .auth
        case "VALIDATION_ERROR", "OBJECT_NOT_FOUND": .permanent
        default: nil
        }
        // Without Retry-After, a rate limit waits out HubSpot's window (its interval header, else 10 s).
        let window = response.header("X-HubSpot-RateLimit-Interval-Milliseconds").flatMap { Int64($0) } ?? 10_000
        throw HTTPAnswer.failure(response, message: "HubSpot: \(message)", vendorClass: verdict, details: details,
                                 defaultRateLimitMilliseconds: window, now: now)
            ?? ConnectorError(.transient, "HubSpot answered HTTP \(status)")
    }
}

/// HubSpot's time stamps: RFC 3339 with milliseconds in records, epoch milliseconds in search filters.
public enum HubSpotTime {
    public static func milliseconds(_ text: String) -> Int64? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return Int64((date.timeIntervalSince1970 * 1_000).rounded())
        }
        if let date = try? Date(text, strategy: .iso8601) { return Int64(date.timeIntervalSince1970) * 1_000 }
        return nil
    }

    /// Exact to the millisecond (whole seconds formatted, the milliseconds written out: no rounding through a Double).
    public static func rfc3339(_ milliseconds: Int64) -> String {
        let (seconds, fraction) = (milliseconds.quotientAndRemainder(dividingBy: 1_000))
        let (whole, part) = fraction < 0 ? (seconds - 1, fraction + 1_000) : (seconds, fraction)
        let text = Date(timeIntervalSince1970: Double(whole)).formatted(.iso8601)
        return text.dropLast() + "." + String(String(part + 1_000).dropFirst()) + "Z"
    }
}
