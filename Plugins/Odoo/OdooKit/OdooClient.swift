public import ConnectorKit
public import ConnectorProtocol
import Foundation
import Synchronization

/// Which of Odoo's external APIs to speak.
public enum OdooProtocol: String, Sendable {
    /// `/jsonrpc` + `execute_kw`, Odoo 16 to 19.
    case jsonRPC = "jsonrpc"
    /// `/json/2/<model>/<method>` with a bearer API key and named arguments, Odoo 19 and later.
    case json2 = "json2"
}

/// How to reach one Odoo database.
public struct OdooEndpoint: Sendable {
    /// e.g. `https://erp.example.com` (no trailing slash needed).
    public var url: String
    public var database: String
    /// The user the API key belongs to (`/jsonrpc` authenticates with login + key).
    public var login: String
    /// nil: detect from the server's version (JSON-2 from 19 on).
    public var preferred: OdooProtocol?
    public var timeout: Duration

    public init(url: String, database: String, login: String, preferred: OdooProtocol?, timeout: Duration = .seconds(30)) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.database = database
        self.login = login
        self.preferred = preferred
        self.timeout = timeout
    }
}

/// Calls Odoo model methods with named arguments over either API. Record methods take `ids`;
/// `create` takes `vals_list` and returns a list of ids on both.
public final class OdooClient: Sendable {
    public struct Session: Sendable {
        public var serverVersion: String
        public var major: Int
        public var api: OdooProtocol
        /// The user id (JSON-RPC needs it in every call).
        public var uid: Int64
        /// Kept in memory only, never logged.
        var apiKey: String
    }

    public let endpoint: OdooEndpoint
    let http: HTTPClient
    /// Where the key comes from (the host's vault): asked again after Odoo refuses it, so that a
    /// rotated key is picked up without restarting the plugin.
    private let apiKey: @Sendable () async throws -> String
    private let session = Mutex<Session?>(nil)
    private let nextID = Atomic<Int>(1)

    public init(endpoint: OdooEndpoint, http: HTTPClient, apiKey: @escaping @Sendable () async throws -> String) {
        self.endpoint = endpoint
        self.http = http
        self.apiKey = apiKey
    }

    /// Detects the version, picks the API and authenticates (once; again after a failure).
    @discardableResult
    public func connect() async throws -> Session {
        if let current = session.withLock({ $0 }) { return current }
        let key = try await apiKey()
        let version = try await jsonRPC(service: "common", method: "version", args: [])
        let serverVersion = version["server_version"]?.stringValue ?? "?"
        let major = Int(version["server_version_info"]?.arrayValue?.first?.intValue ?? 0)
        let api = endpoint.preferred ?? (major >= 19 ? .json2 : .jsonRPC)
        var uid: Int64 = 0
        if api == .jsonRPC {
            let answer = try await jsonRPC(service: "common", method: "authenticate",
                                           args: [.string(endpoint.database), .string(endpoint.login), .string(key), .object([:])])
            guard let id = answer.intValue, id > 0 else {
                throw ConnectorError(.auth, "Odoo refused login \(endpoint.login) on database \(endpoint.database): check the API key and the login")
            }
            uid = id
        } else {
            // JSON-2 authenticates each request with the key; this proves it works and names the user.
            uid = try await json2(model: "res.users", method: "context_get", body: [:], key: key)["uid"]?.intValue ?? 0
        }
        let made = Session(serverVersion: serverVersion, major: major, api: api, uid: uid, apiKey: key)
        session.withLock { $0 = made }
        return made
    }

    /// Calls `model.method`. `ids` for methods on records; `arguments` by name (`vals`, `vals_list`,
    /// `domain`, `fields`, `limit`, …); `context` e.g. `allowed_company_ids`.
    public func call(model: String, method: String, ids: [Int64]? = nil, arguments: [String: JSONValue] = [:], context: [String: JSONValue] = [:]) async throws -> JSONValue {
        let current = try await connect()
        do {
            switch current.api {
            case .jsonRPC:
                let (args, kwargs) = Self.executeKwArguments(method: method, ids: ids, arguments: arguments, context: context)
                return try await jsonRPC(service: "object", method: "execute_kw", args: [
                    .string(endpoint.database), .int(current.uid), .string(current.apiKey), .string(model), .string(method), .array(args), .object(kwargs),
                ])
            case .json2:
                var body = arguments
                if let ids { body["ids"] = .array(ids.map { .int($0) }) }
                if !context.isEmpty { body["context"] = .object(context) }
                return try await json2(model: model, method: method, body: body, key: current.apiKey)
            }
        } catch let error as ConnectorError where error.code == .auth {
            session.withLock { $0 = nil }  // a new key may have been set: authenticate again next time
            throw error
        }
    }

    /// The positional and keyword arguments of an `execute_kw` call. Odoo's `call_kw` takes a record
    /// method's ids from `args[0]`, and reads `create`'s values from `args[0]` after creating (one dict
    /// answers an id, a list answers ids): passed by keyword, real Odoo 16–19 creates the record, fails
    /// with `IndexError` and rolls the create back. `write`'s values go positionally too: the name of
    /// that argument is the model's (Odoo 17's `product.product.write(values)` refuses `vals`).
    /// Everything else binds by name, as on JSON-2.
    public static func executeKwArguments(method: String, ids: [Int64]?, arguments: [String: JSONValue],
                                          context: [String: JSONValue]) -> (args: [JSONValue], kwargs: [String: JSONValue]) {
        var kwargs = arguments
        if !context.isEmpty { kwargs["context"] = .object(context) }
        var args: [JSONValue] = ids.map { [.array($0.map { .int($0) })] } ?? []
        if method == "create", let values = kwargs.removeValue(forKey: "vals_list") { args = [values] }
        if method == "write", let values = kwargs.removeValue(forKey: "vals") { args.append(values) }
        return (args, kwargs)
    }

    // MARK: Transports

    func jsonRPC(service: String, method: String, args: [JSONValue]) async throws -> JSONValue {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let payload: JSONValue = [
            "jsonrpc": "2.0", "method": "call", "id": .int(Int64(id)),
            "params": ["service": .string(service), "method": .string(method), "args": .array(args)],
        ]
        let response = try await send(path: "/jsonrpc", body: payload, headers: [])
        return try OdooAnswer.jsonRPC(status: response.status, body: response.body)
    }

    func json2(model: String, method: String, body: [String: JSONValue], key: String) async throws -> JSONValue {
        let response = try await send(path: "/json/2/\(model)/\(method)", body: .object(body), headers: [
            ("Authorization", "bearer \(key)"), ("X-Odoo-Database", endpoint.database),
        ])
        return try OdooAnswer.json2(status: response.status, body: response.body)
    }

    private func send(path: String, body: JSONValue, headers: [(name: String, value: String)]) async throws -> HTTPResponse {
        let request = HTTPRequest(method: "POST", url: endpoint.url + path, headers: [("Content-Type", "application/json")] + headers,
                                  body: try JSONEncoder().encode(body), timeout: endpoint.timeout)
        return try await http.exchange(request)
    }
}

// MARK: The ORM methods the connector uses

extension OdooClient {
    /// `search_read`, records as objects (many2one fields read as `[id, display name]`, empty as `false`).
    public func searchRead(_ model: String, domain: JSONValue, fields: [String], order: String? = nil, limit: Int? = nil,
                           context: [String: JSONValue] = [:]) async throws -> [JSONValue] {
        var arguments: [String: JSONValue] = ["domain": domain, "fields": .array(fields.map { .string($0) })]
        if let order { arguments["order"] = .string(order) }
        if let limit { arguments["limit"] = .int(Int64(limit)) }
        let answer = try await call(model: model, method: "search_read", arguments: arguments, context: context)
        guard let records = answer.arrayValue else {
            throw ConnectorError(.transient, "Odoo's \(model).search_read answered something that is not a list")
        }
        return records
    }

    /// Creates one record and returns its id.
    public func create(_ model: String, values: [String: JSONValue], context: [String: JSONValue] = [:]) async throws -> Int64 {
        let answer = try await call(model: model, method: "create", arguments: ["vals_list": [.object(values)]], context: context)
        guard let id = answer.arrayValue?.first?.intValue ?? answer.intValue else {
            throw ConnectorError(.transient, "Odoo's \(model).create answered no id")
        }
        return id
    }

    /// A context naming every company the user may see (`allowed_company_ids`), for reads across companies.
    public func allCompaniesContext() async throws -> [String: JSONValue] {
        let user = try await connect().uid
        let companies = try await call(model: "res.users", method: "read", ids: [user], arguments: ["fields": ["company_ids"]])
            .arrayValue?.first?["company_ids"]?.arrayValue ?? []
        return companies.isEmpty ? [:] : ["allowed_company_ids": .array(companies)]
    }

    public func write(_ model: String, ids: [Int64], values: [String: JSONValue], context: [String: JSONValue] = [:]) async throws {
        _ = try await call(model: model, method: "write", ids: ids, arguments: ["vals": .object(values)], context: context)
    }
}

extension JSONValue {
    /// The id of a many2one value as Odoo reads it (`[id, "name"]`), or of a bare id.
    public var odooID: Int64? { arrayValue?.first?.intValue ?? intValue }
    /// The display name of a many2one value (`[id, "name"]`).
    public var odooName: String? { arrayValue.flatMap { $0.count > 1 ? $0[1].stringValue : nil } }
}
