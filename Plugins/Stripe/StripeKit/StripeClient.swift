public import ConnectorKit
public import ConnectorProtocol
import Foundation

/// Calls Stripe's v1 API: form-encoded bodies with brackets, a pinned `Stripe-Version`, the secret
/// key from the host's vault (asked again after Stripe refuses it), every answer classified.
public final class StripeClient: Sendable {
    let settings: StripeSettings
    let http: HTTPClient
    private let apiKey: CachedSecret

    public init(settings: StripeSettings, http: HTTPClient, apiKey: @escaping @Sendable () async throws -> String) {
        self.settings = settings
        self.http = http
        self.apiKey = CachedSecret(apiKey)
    }

    /// `GET path?query`.
    public func get(_ path: String, _ query: [(String, String)] = []) async throws -> JSONValue {
        try await send("GET", path + (query.isEmpty ? "" : "?" + Self.formEncode(query)), body: nil, idempotencyKey: nil)
    }

    /// `POST path` with form fields. Every POST carries an `Idempotency-Key`: Stripe replays the
    /// first answer for 24 hours, so a retry after a lost answer does not create a second object.
    public func post(_ path: String, _ fields: [(String, String)], idempotencyKey: String) async throws -> JSONValue {
        try await send("POST", path, body: Data(Self.formEncode(fields).utf8), idempotencyKey: String(idempotencyKey.prefix(255)))
    }

    func send(_ method: String, _ pathAndQuery: String, body: Data?, idempotencyKey: String?) async throws -> JSONValue {
        let secret = try await apiKey.get()
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(secret)"), ("Stripe-Version", settings.stripeVersion)]
        if body != nil { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        let response = try await http.exchange(HTTPRequest(method: method, url: settings.apiBase + pathAndQuery, headers: headers, body: body,
                                                       timeout: .seconds(settings.timeoutSeconds)))
        let answer = Result { () throws(ConnectorError) -> JSONValue in try StripeAnswer.classify(response) }
        if case .failure(let error) = answer, error.code == .auth { apiKey.forget() }  // a rotated key is read again on the next call
        return try answer.get()
    }

    /// `application/x-www-form-urlencoded`, keys with brackets kept as Stripe expects them.
    public static func formEncode(_ fields: [(String, String)]) -> String {
        FormEncoding.encode(fields)
    }
}

/// What a Stripe answer means for the host. Pure: tested on recorded shapes.
public enum StripeAnswer {
    public static func classify(_ response: HTTPResponse) throws(ConnectorError) -> JSONValue {
        let (status, body) = (response.status, response.body)
        let decoded = try? JSONDecoder().decode(JSONValue.self, from: body)
        if (200..<300).contains(status) {
            guard let decoded else {
                throw ConnectorError(.transient, "Stripe answered HTTP \(status) with a body that is not JSON: \(TextExcerpt.of(body))")
            }
            return decoded
        }
        let header = response.header
        let error = decoded?["error"]
        let type = error?["type"]?.stringValue ?? ""
        let code = error?["code"]?.stringValue ?? ""
        let message = error?["message"]?.stringValue ?? String(decoding: body.prefix(160), as: UTF8.self)
        var details: [String: JSONValue] = [:]
        if !type.isEmpty { details["stripe_error_type"] = .string(type) }
        if !code.isEmpty { details["stripe_error_code"] = .string(code) }
        if let param = error?["param"]?.stringValue { details["stripe_param"] = .string(param) }
        // Stripe keeps the first answer under an Idempotency-Key, a 500 included, and replays it.
        if header("Idempotent-Replayed")?.lowercased() == "true" { details["idempotent_replayed"] = .bool(true) }
        // Stripe's own verdict on retrying overrides the status code (but not a 429 or refused credentials).
        var verdict: ConnectorError.Code?
        if ![401, 403, 429].contains(status) {
            switch header("Stripe-Should-Retry")?.lowercased() {
            case "true": verdict = .transient
            case "false": verdict = .permanent
            default: verdict = ["lock_timeout", "rate_limit"].contains(code) ? .transient : nil
            }
        }
        throw HTTPAnswer.failure(response, message: "Stripe: \(message)", vendorClass: verdict, details: details)
            ?? ConnectorError(.transient, "Stripe answered HTTP \(status)")
    }
}
