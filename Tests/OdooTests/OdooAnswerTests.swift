import ConnectorProtocol
import Foundation
import OdooKit
import Testing

/// Error classes of Odoo's answers, on bodies taken from recordings of real Odoo 17 and 19 servers
/// (tracebacks shortened).
@Suite struct OdooAnswerTests {
    func jsonRPCError(_ name: String, _ message: String, code: Int = 200) -> Data {
        Data(#"{"jsonrpc": "2.0", "id": 41, "error": {"code": \#(code), "message": "Odoo Server Error", "data": {"name": "\#(name)", "message": "\#(message)", "arguments": ["\#(message)"], "context": {}, "debug": "Traceback (most recent call last):\n"}}}"#.utf8)
    }

    func jsonRPCClass(_ name: String, _ message: String = "m") -> ConnectorError.Code? {
        do {
            _ = try OdooAnswer.jsonRPC(status: 200, body: jsonRPCError(name, message))
            return nil
        } catch {
            return error.code
        }
    }

    @Test func resultsComeBackAsJSON() throws {
        let body = Data(#"{"jsonrpc": "2.0", "id": 2, "result": 2}"#.utf8)
        #expect(try OdooAnswer.jsonRPC(status: 200, body: body) == .int(2))
        #expect(try OdooAnswer.json2(status: 200, body: Data("[6]".utf8)) == [6])
        #expect(try OdooAnswer.json2(status: 200, body: Data("[]".utf8)) == [])
    }

    /// `/jsonrpc` reports errors with HTTP 200: the class comes from the exception's name.
    @Test func jsonRPCErrorsAreClassifiedByOdoosException() {
        #expect(jsonRPCClass("odoo.exceptions.AccessDenied", "Access Denied") == .auth)
        #expect(jsonRPCClass("odoo.exceptions.AccessError", "You are not allowed to access 'Partner' (res.partner) records.") == .auth)
        #expect(jsonRPCClass("odoo.exceptions.ValidationError", "Missing required value for the field 'Name'") == .permanent)
        #expect(jsonRPCClass("odoo.exceptions.UserError", "The entry INV/2026/00003 (id 6) must be in draft.") == .permanent)
        #expect(jsonRPCClass("odoo.exceptions.MissingError", "Record does not exist or has been deleted.") == .permanent)
        #expect(jsonRPCClass("builtins.ValueError", "Invalid field 'x_no_such_field' on model 'res.partner'") == .permanent)  // 17
        #expect(jsonRPCClass("builtins.KeyError", "x_no_such_field") == .permanent)  // 19
        #expect(jsonRPCClass("psycopg2.errors.SerializationFailure", "could not serialize access due to concurrent update") == .transient)
    }

    @Test func odoosMessageIsKeptForTheDeadLetterQueue() {
        do {
            _ = try OdooAnswer.jsonRPC(status: 200, body: jsonRPCError("odoo.exceptions.UserError", "You need to add a line before posting.", code: 0))
            Issue.record("an error answer must throw")
        } catch {
            #expect(error.message == "UserError: You need to add a line before posting.")
            #expect(error.details?["odoo_error"] == "odoo.exceptions.UserError")
            #expect(error.details?["odoo_message"] == "You need to add a line before posting.")
        }
    }

    @Test func json2ErrorsHaveRealStatuses() {
        func json2Class(_ status: Int, _ body: String) -> ConnectorError.Code? {
            do {
                _ = try OdooAnswer.json2(status: status, body: Data(body.utf8))
                return nil
            } catch {
                return error.code
            }
        }
        let unauthorized = #"{"name": "werkzeug.exceptions.Unauthorized", "message": "User not authenticated, use an API Key with a Bearer Authorization header.", "arguments": [], "context": {}, "debug": ""}"#
        #expect(json2Class(401, unauthorized) == .auth)
        #expect(json2Class(422, #"{"name": "odoo.exceptions.UserError", "message": "must be in draft", "arguments": [], "context": {}, "debug": ""}"#) == .permanent)
        #expect(json2Class(404, #"{"name": "odoo.exceptions.MissingError", "message": "Record does not exist", "arguments": [], "context": {}, "debug": ""}"#) == .permanent)
        #expect(json2Class(500, #"{"name": "builtins.KeyError", "message": "x_no_such_field", "arguments": [], "context": {}, "debug": ""}"#) == .permanent)
        // Odoo 17 has no /json/2: an HTML 404 page.
        #expect(json2Class(404, "<!DOCTYPE html><html><head><title>Odoo</title></head></html>") == .permanent)
    }

    @Test func serversProxiesAndGarbageAreTransient() {
        func jsonRPCClass(status: Int, _ body: String) -> ConnectorError.Code? {
            do {
                _ = try OdooAnswer.jsonRPC(status: status, body: Data(body.utf8))
                return nil
            } catch {
                return error.code
            }
        }
        #expect(jsonRPCClass(status: 502, "<html>Bad Gateway</html>") == .transient)
        #expect(jsonRPCClass(status: 503, "") == .transient)
        #expect(jsonRPCClass(status: 200, "not json at all") == .transient)
        #expect(jsonRPCClass(status: 200, #"{"jsonrpc": "2.0", "id": 1}"#) == .transient)
        #expect(jsonRPCClass(status: 429, "") == .rateLimited)
        #expect(jsonRPCClass(status: 403, "<html>Forbidden</html>") == .auth)
        #expect(jsonRPCClass(status: 400, "Invalid JSON data") == .permanent)
    }
}
