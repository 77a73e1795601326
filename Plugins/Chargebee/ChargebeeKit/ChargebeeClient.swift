public import ConnectorKit
public import ConnectorProtocol
import Foundation
import Crypto
import Synchronization

/// Calls Chargebee's API v2: HTTP Basic with the site's API key (from the vault, read again after
/// Chargebee refuses it), form-encoded bodies with brackets, `chargebee-idempotency-key` on writes,
/// every answer classified.
public final class ChargebeeClient: Sendable {
    let settings: ChargebeeSettings
    let http: HTTPClient
    private let apiKey: CachedSecret
    private let catalogChecked = Mutex(false)

    public init(settings: ChargebeeSettings, http: HTTPClient, apiKey: @escaping @Sendable () async throws -> String) {
        self.settings = settings
        self.http = http
        self.apiKey = CachedSecret(apiKey)
    }

    public func get(_ path: String, _ query: [(String, String)] = []) async throws -> JSONValue {
        try await send("GET", path + (query.isEmpty ? "" : "?" + FormEncoding.encode(query)), body: nil, idempotencyKey: nil)
    }

    /// A write: Chargebee replays the first answer to a repeated idempotency key (for 30 minutes).
    public func post(_ path: String, _ fields: [(String, String)], idempotencyKey: String) async throws -> JSONValue {
        // Chargebee takes keys of at most 100 characters: a longer one is its SHA-256 (cut, two keys that
        // differ only at the end, `…:update:1` and `…:billing:1`, would be one).
        let key = idempotencyKey.count <= 100 ? idempotencyKey : SHA256.hash(data: Data(idempotencyKey.utf8)).map { String(format: "%02x", $0) }.joined()
        return try await send("POST", path, body: Data(FormEncoding.encode(fields).utf8), idempotencyKey: key)
    }

    /// This connector reads Product Catalog 2.0 (items and item prices): a site still on 1.0 answers
    /// `configuration_incompatible` to item prices, which is said once, clearly, before any stream is read
    /// (rather than streams that stay empty). Asked until it succeeds once, and at every `again` (an
    /// operator's check).
    public func requireProductCatalog2(again: Bool = false) async throws {
        guard again || !catalogChecked.withLock({ $0 }) else { return }
        _ = try await get("/item_prices", [("limit", "1")])
        catalogChecked.withLock { $0 = true }
    }

    func send(_ method: String, _ pathAndQuery: String, body: Data?, idempotencyKey: String?) async throws -> JSONValue {
        let secret = try await apiKey.get()
        var headers: [(name: String, value: String)] = [("Authorization", "Basic " + Data("\(secret):".utf8).base64EncodedString()), ("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        if let idempotencyKey { headers.append(("chargebee-idempotency-key", idempotencyKey)) }
        let response = try await http.exchange(HTTPRequest(method: method, url: settings.apiBase + pathAndQuery, headers: headers, body: body,
                                                       timeout: .seconds(settings.timeoutSeconds)))
        let answer = Result { () throws(ConnectorError) -> JSONValue in try ChargebeeAnswer.classify(response) }
        if case .failure(let error) = answer, error.code == .auth { apiKey.forget() }
        return try answer.get()
    }
}
