public import ConnectorKit
public import ConnectorProtocol
public import Foundation

/// What a Chargebee answer means for the host. Pure: tested on the reference's shapes.
public enum ChargebeeAnswer {
    public static func classify(_ response: HTTPResponse, now: Date = Date()) throws(ConnectorError) -> JSONValue {
        let (status, body) = (response.status, response.body)
        let decoded = try? JSONDecoder().decode(JSONValue.self, from: body)
        if (200..<300).contains(status) {
            guard let decoded else {
                throw ConnectorError(.transient, "Chargebee answered HTTP \(status) with a body that is not JSON: \(TextExcerpt.of(body))")
            }
            return decoded
        }
        let code = decoded?["api_error_code"]?.stringValue ?? ""
        let message = decoded?["message"]?.stringValue ?? String(decoding: body.prefix(160), as: UTF8.self)
        var details: [String: JSONValue] = [:]
        if !code.isEmpty { details["chargebee_error_code"] = .string(code) }
        if let param = decoded?["param"]?.stringValue { details["chargebee_param"] = .string(param) }
        if let type = decoded?["type"]?.stringValue { details["chargebee_error_type"] = .string(type) }
        if response.header("chargebee-idempotency-replayed")?.lowercased() == "true" { details["idempotent_replayed"] = .bool(true) }
        // Chargebee's code over the status: a lock or a limit may clear, a refused value or state will not.
        let verdict: ConnectorError.Code? = switch code {
        case "api_request_limit_exceeded": .rateLimited
        case "lock_timeout", "internal_temporary_error", "gateway_timeout", "site_not_ready": .transient
        case "configuration_incompatible", "param_wrong_value", "resource_not_found", "duplicate_entry", "invalid_state_for_request": .permanent
        case "api_authentication_failed", "basic_authentication_failed", "api_authorization_failed": .auth
        default: nil
        }
        let hint = code == "configuration_incompatible" ? " (is the site on Product Catalog 1.0? this connector reads Product Catalog 2.0)" : ""
        throw HTTPAnswer.failure(response, message: "Chargebee: \(message)\(hint)", vendorClass: verdict, details: details,
                                 defaultRateLimitMilliseconds: 60_000, now: now)
            ?? ConnectorError(.transient, "Chargebee answered HTTP \(status)")
    }
}
