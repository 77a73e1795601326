public import ConnectorProtocol
public import Foundation
import ConnectorKit

/// What an Odoo answer means for the host: a result, or a `ConnectorError` of the right class, so
/// that the host retries, dead-letters or pauses as it should. Pure: tested on recorded answers.
public enum OdooAnswer {
    /// An answer of `/jsonrpc`. Odoo reports its errors there with HTTP 200 and an `error` member.
    public static func jsonRPC(status: Int, body: Data) throws(ConnectorError) -> JSONValue {
        if let failure = transportFailure(status: status, body: body, endpoint: "/jsonrpc") { throw failure }
        guard let envelope = try? JSONDecoder().decode(JSONValue.self, from: body), envelope.objectValue != nil else {
            throw ConnectorError(.transient, "Odoo answered /jsonrpc with HTTP \(status) and a body that is not JSON-RPC: \(TextExcerpt.of(body))")
        }
        if let error = envelope["error"] {
            throw classify(error["data"] ?? error, status: status, fallbackMessage: error["message"]?.stringValue)
        }
        if let result = envelope["result"] { return result }
        // A method that returns None (`button_draft`, `button_cancel`): Odoo leaves `result` out.
        guard envelope["jsonrpc"] != nil else {
            throw ConnectorError(.transient, "Odoo's /jsonrpc answer has neither result nor error: \(TextExcerpt.of(body))")
        }
        return .null
    }

    /// An answer of `/json/2/<model>/<method>` (Odoo 19+): a bare result, or a bare error object with a real status.
    public static func json2(status: Int, body: Data) throws(ConnectorError) -> JSONValue {
        let decoded = try? JSONDecoder().decode(JSONValue.self, from: body)
        if (200..<300).contains(status) {
            guard let decoded else {
                throw ConnectorError(.transient, "Odoo answered /json/2 with HTTP \(status) and a body that is not JSON: \(TextExcerpt.of(body))")
            }
            return decoded
        }
        if let decoded, decoded["name"] != nil {
            return try { () throws(ConnectorError) -> JSONValue in throw classify(decoded, status: status, fallbackMessage: nil) }()
        }
        if status == 404 {
            throw ConnectorError(.permanent, "this Odoo server has no /json/2 API (it arrived in Odoo 19): set protocol = \"jsonrpc\"",
                                 details: ["http_status": .int(404)])
        }
        throw transportFailure(status: status, body: body, endpoint: "/json/2") ?? ConnectorError(.transient, "Odoo answered HTTP \(status): \(TextExcerpt.of(body))")
    }

    /// Statuses that say nothing about the request itself: the server, a proxy, or credentials.
    static func transportFailure(status: Int, body: Data, endpoint: String, headers: [(name: String, value: String)] = []) -> ConnectorError? {
        let message = switch HTTPAnswer.errorClass(status: status) {
        case .auth?: "Odoo refused the credentials (HTTP \(status) on \(endpoint))"
        case .rateLimited?: "Odoo is rate limiting (HTTP 429)"
        default: "Odoo answered HTTP \(status) on \(endpoint): \(TextExcerpt.of(body))"
        }
        return HTTPAnswer.failure(HTTPResponse(status: status, headers: headers, body: body), message: message)
    }

    /// Odoo's error object (`name`, `message`, `arguments`, `debug`) by exception class. The message
    /// is kept for the dead-letter queue; the traceback is not (it is long and says nothing to finance).
    public static func classify(_ error: JSONValue, status: Int, fallbackMessage: String?) -> ConnectorError {
        let name = error["name"]?.stringValue ?? ""
        let message = error["message"]?.stringValue ?? error["arguments"]?.arrayValue?.first?.stringValue ?? fallbackMessage ?? "Odoo error"
        let debug = error["debug"]?.stringValue ?? ""
        let details: JSONValue = ["odoo_error": .string(name), "odoo_message": .string(message), "http_status": .int(Int64(status))]
        let text = "\(name.split(separator: ".").last.map(String.init) ?? "Odoo error"): \(message)"
        if isConcurrencyFailure(name: name, message: message, debug: debug) {
            return ConnectorError(.transient, "Odoo hit a concurrent update; retry: \(message)", details: details)
        }
        switch name {
        // Only these say the credentials are refused. An `AccessError` is a record rule or an access
        // right refusing one record (another company's tax, a private method): that delivery's problem,
        // not a reason to pause every company's deliveries.
        case "odoo.exceptions.AccessDenied", "werkzeug.exceptions.Unauthorized", "odoo.http.SessionExpiredException":
            return ConnectorError(.auth, text, details: details)
        case "odoo.exceptions.ValidationError", "odoo.exceptions.UserError", "odoo.exceptions.MissingError", "odoo.exceptions.RedirectWarning",
             "odoo.exceptions.AccessError", "werkzeug.exceptions.Forbidden",
             "builtins.ValueError", "builtins.KeyError", "builtins.TypeError", "builtins.AttributeError", "builtins.IndexError",
             "werkzeug.exceptions.NotFound", "werkzeug.exceptions.UnprocessableEntity", "werkzeug.exceptions.BadRequest":
            return ConnectorError(.permanent, text, details: details)
        default:
            // Unknown exception classes: a 4xx is the request's fault, anything else may pass.
            return ConnectorError((400..<500).contains(status) ? .permanent : .transient, text, details: details)
        }
    }

    /// PostgreSQL serialization failures and lock timeouts: another transaction won; the same call may
    /// succeed now. Also two invoices posted at once in one journal taking the same number: Odoo's
    /// unique index on the name refuses the second ("Another entry with the same name already
    /// exists", seen on a real 17 server under concurrent deliveries); posted again, it takes the next.
    static func isConcurrencyFailure(name: String, message: String, debug: String) -> Bool {
        let signals = ["SerializationFailure", "could not serialize access", "LockNotAvailable", "concurrent update", "deadlock detected",
                       "Another entry with the same name already exists"]
        return signals.contains { name.contains($0) || message.contains($0) || debug.contains($0) }
    }
}
