public import ConnectorKit
public import ConnectorProtocol
public import Foundation
import Synchronization

/// Calls an org's REST API: every path under the token's `instance_url` and `/services/data/vXX.X/`,
/// a bearer token from OAuth (JWT-bearer or refresh token) fetched again once after a 401
/// `INVALID_SESSION_ID`, requests paced on the org's daily API usage (`Sforce-Limit-Info`), every answer
/// classified by Salesforce's error array.
public final class SalesforceClient: Sendable {
    let settings: SalesforceSettings
    let tokens: OAuthTokens
    let http: HTTPClient
    /// The last `api-usage=USED/MAX` the org reported.
    private let usage = Mutex<APIUsage?>(nil)
    /// Told each new usage (the connector reports it to the host as gauges).
    let reportUsage: @Sendable (APIUsage) -> Void

    public struct APIUsage: Sendable, Equatable {
        public var used: Int
        public var max: Int
    }

    public init(settings: SalesforceSettings, tokens: OAuthTokens, http: HTTPClient, reportUsage: @escaping @Sendable (APIUsage) -> Void = { _ in }) {
        self.settings = settings
        self.tokens = tokens
        self.http = http
        self.reportUsage = reportUsage
    }

    /// The org's daily API requests as last reported.
    public var apiUsage: APIUsage? { usage.withLock { $0 } }

    /// `/services/data/v59.0`
    public var dataPath: String { "/services/data/v\(settings.apiVersion)" }

    /// A JSON call; `path` starts with `/services/…` (a `nextRecordsUrl` is one).
    public func json(_ method: String, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil,
                     headers: [(name: String, value: String)] = []) async throws -> JSONValue {
        let data = try body.map { try JSONEncoder().encode($0) }
        let response = try await send(method, path, query: query, body: data, contentType: "application/json", accept: "application/json", headers: headers)
        return try SalesforceAnswer.json(response, limitBackoffMilliseconds: Int64(settings.limitBackoffSeconds) * 1_000)
    }

    /// A call answered with text (Bulk results, CSV), with its headers.
    public func text(_ path: String, query: [(String, String)] = []) async throws -> HTTPResponse {
        let response = try await send("GET", path, query: query, body: nil, contentType: nil, accept: "text/csv")
        try SalesforceAnswer.check(response, limitBackoffMilliseconds: Int64(settings.limitBackoffSeconds) * 1_000)
        return response
    }

    func send(_ method: String, _ path: String, query: [(String, String)], body: Data?, contentType: String?, accept: String,
              headers extra: [(name: String, value: String)] = []) async throws -> HTTPResponse {
        let pathAndQuery = path + (query.isEmpty ? "" : "?" + FormEncoding.encode(query))
        let headers: [(name: String, value: String)] = [("Accept", accept)] + extra + (body != nil ? contentType.map { [("Content-Type", $0)] } ?? [] : [])
        let timeout = Duration.seconds(settings.timeoutSeconds)
        let response: HTTPResponse
        do {
            response = try await tokens.send(inSession: { session in
                let base = session.instanceURL ?? self.settings.loginURL
                return HTTPRequest(method: method, url: base + pathAndQuery, headers: headers + [("Authorization", "Bearer \(session.accessToken)")],
                                   body: body, timeout: timeout)
            })
        } catch let error as HTTPClientError {
            throw error.connectorError
        }
        if let quota = RatePacer.salesforceQuota(response) {
            let now = APIUsage(used: quota.limit - quota.remaining, max: quota.limit)
            let changed = usage.withLock { last in
                defer { last = now }
                return last != now
            }
            if changed { reportUsage(now) }
        }
        return response
    }
}

/// What a Salesforce answer means for the host. Pure: tested on the reference's shapes.
public enum SalesforceAnswer {
    /// How long work waits after the org's daily API requests ran out, unless configured: they free up
    /// as the rolling 24 hours move on, so it looks again every few minutes.
    public static let limitBackoffMilliseconds: Int64 = 300_000

    public static func json(_ response: HTTPResponse, limitBackoffMilliseconds: Int64 = limitBackoffMilliseconds) throws(ConnectorError) -> JSONValue {
        try check(response, limitBackoffMilliseconds: limitBackoffMilliseconds)
        if response.body.isEmpty { return .null }  // 204
        guard let decoded = try? JSONDecoder().decode(JSONValue.self, from: response.body) else {
            throw ConnectorError(.transient, "Salesforce answered HTTP \(response.status) with a body that is not JSON: \(TextExcerpt.of(response.body))")
        }
        return decoded
    }

    /// Throws the error of a failed answer: Salesforce's `errorCode` decides over the status.
    public static func check(_ response: HTTPResponse, limitBackoffMilliseconds: Int64 = limitBackoffMilliseconds, now: Date = Date()) throws(ConnectorError) {
        guard !(200..<300).contains(response.status) else { return }
        let decoded = try? JSONDecoder().decode(JSONValue.self, from: response.body)
        // The error array (`[{"message", "errorCode", "fields"}]`); an older single object too.
        let first = decoded?.arrayValue?.first ?? decoded
        let code = first?["errorCode"]?.stringValue ?? first?["error"]?.stringValue ?? ""
        var message = first?["message"]?.stringValue ?? first?["error_description"]?.stringValue
            ?? TextExcerpt.of(response.body, limit: 200)
        var details: [String: JSONValue] = [:]
        if !code.isEmpty { details["salesforce_error"] = .string(code) }
        if let fields = first?["fields"], fields != .array([]) { details["salesforce_fields"] = fields }
        let verdict = errorClass(code, status: response.status)
        if code == "REQUEST_LIMIT_EXCEEDED" {
            let usage = response.header("Sforce-Limit-Info").map { " (\($0))" } ?? ""
            message = "the org's daily API request limit is used up\(usage): reads and writes pause and are tried again every \(limitBackoffMilliseconds / 1_000) s until the rolling 24-hour usage falls (\(message))"
        }
        if response.status == 300 {
            message = "several records match the external id: \(message)"
        }
        throw HTTPAnswer.failure(response, message: "Salesforce: \(code.isEmpty ? "" : code + ": ")\(message)", vendorClass: verdict, details: details,
                                 defaultRateLimitMilliseconds: limitBackoffMilliseconds, now: now)
            ?? ConnectorError(.permanent, "Salesforce answered HTTP \(response.status): \(message)", details: .object(details))
    }

    /// The class of one of Salesforce's error codes (REST answers and a Collections record's
    /// `statusCode`); nil leaves it to the HTTP status.
    public static func errorClass(_ code: String, status: Int = 400) -> ConnectorError.Code? {
        switch code {
        case "REQUEST_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS": .rateLimited
        case "UNABLE_TO_LOCK_ROW", "QUERY_TIMEOUT", "SERVER_UNAVAILABLE", "INVALID_QUERY_LOCATOR": .transient
        case "INVALID_SESSION_ID", "INVALID_AUTH_HEADER", "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED": .auth
        case "INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": .permanent
        case "": nil
        // Any other code names what is wrong with the request (`DUPLICATE_VALUE`, `INVALID_FIELD`,
        // `FIELD_CUSTOM_VALIDATION_EXCEPTION`, …): sending it again changes nothing.
        default: status == 300 || (400..<500).contains(status) && ![401, 408, 409, 423, 425, 429].contains(status) ? .permanent : nil
        }
    }
}
