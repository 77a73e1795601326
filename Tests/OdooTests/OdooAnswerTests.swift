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
        // A record rule refusing one record is that delivery's problem, not the credentials'.
        #expect(jsonRPCClass("odoo.exceptions.AccessError", "You are not allowed to access 'Partner' (res.partner) records.") == .permanent)
        #expect(jsonRPCClass("odoo.exceptions.ValidationError", "Missing required value for the field 'Name'") == .permanent)
        #expect(jsonRPCClass("odoo.exceptions.UserError", "The entry INV/2026/00003 (id 6) must be in draft.") == .permanent)
        #expect(jsonRPCClass("odoo.exceptions.MissingError", "Record does not exist or has been deleted.") == .permanent)
        #expect(jsonRPCClass("builtins.ValueError", "Invalid field 'x_no_such_field' on model 'res.partner'") == .permanent)  // 17
        #expect(jsonRPCClass("builtins.KeyError", "x_no_such_field") == .permanent)  // 19
        #expect(jsonRPCClass("psycopg2.errors.SerializationFailure", "could not serialize access due to concurrent update") == .transient)
        // Two invoices posted at once in one journal took the same number (a real 17 server, concurrent deliveries).
        #expect(jsonRPCClass("odoo.exceptions.ValidationError", "The operation cannot be completed: Another entry with the same name already exists.") == .transient)
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
        #expect(jsonRPCClass(status: 200, #"{"id": 1}"#) == .transient)
        #expect(jsonRPCClass(status: 429, "") == .rateLimited)
        #expect(jsonRPCClass(status: 403, "<html>Forbidden</html>") == .auth)
        #expect(jsonRPCClass(status: 400, "Invalid JSON data") == .permanent)
    }

    // MARK: Answers of real Odoo 17 and 19 servers, as recorded (Tests/Fakes/odoo/recordings/calls)

    static let calls = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes/odoo/recordings/calls")

    /// The status and body of a recorded answer.
    static func recorded(_ folder: String, _ name: String) throws -> (status: Int, body: Data) {
        let directory = calls.appendingPathComponent(folder)
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasSuffix("_\(name).json") })
        let recording = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: directory.appendingPathComponent(file)))
        let status = try #require(recording["response"]?["status"]?.intValue)
        let body = try #require(recording["response"]?["body_raw"]?.stringValue)
        return (Int(status), Data(body.utf8))
    }

    static func recordedRequest(_ folder: String, _ name: String) throws -> JSONValue {
        let directory = calls.appendingPathComponent(folder)
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasSuffix("_\(name).json") })
        let recording = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: directory.appendingPathComponent(file)))
        return try #require(recording["request"]?["body_json"])
    }

    static func answer(_ folder: String, _ name: String) throws -> Result<JSONValue, ConnectorError> {
        let (status, body) = try recorded(folder, name)
        do {
            return .success(folder.hasSuffix("json2") ? try OdooAnswer.json2(status: status, body: body) : try OdooAnswer.jsonRPC(status: status, body: body))
        } catch {
            return .failure(error)
        }
    }

    /// `button_draft` and `button_cancel` return None: JSON-RPC leaves `result` out, JSON-2 says `null`.
    @Test(arguments: ["odoo17-jsonrpc", "odoo19-jsonrpc", "odoo19-json2"])
    func aMethodThatReturnsNothingSucceeds(folder: String) throws {
        #expect(try Self.answer(folder, "invoice_void_button_draft").get() == .null)
        #expect(try Self.answer(folder, "invoice_void_button_cancel").get() == .null)
    }

    /// Another company's tax under `allowed_company_ids` is an `AccessError` (JSON-2: 403): permanent,
    /// with Odoo's message kept, never a refusal of the credentials.
    @Test(arguments: ["odoo17-jsonrpc", "odoo19-jsonrpc", "odoo19-json2"])
    func anotherCompanysRecordIsTheDeliverysProblem(folder: String) throws {
        guard case .failure(let error) = try Self.answer(folder, "err_invoice_line_tax_of_other_company_ctx_company1") else {
            Issue.record("the recorded AccessError must fail")
            return
        }
        #expect(error.code == .permanent)
        #expect(error.details?["odoo_error"] == "odoo.exceptions.AccessError")
        #expect(error.message.contains("top-secret records"))
    }

    /// A missing tax: a foreign-key `ValidationError` on 17, a `MissingError` on 19; both permanent.
    @Test(arguments: ["odoo17-jsonrpc", "odoo19-jsonrpc", "odoo19-json2"])
    func aMissingTaxIsPermanentOnEveryVersion(folder: String) throws {
        guard case .failure(let error) = try Self.answer(folder, "err_invoice_line_tax_missing") else {
            Issue.record("the recorded error must fail")
            return
        }
        #expect(error.code == .permanent)
        #expect(error.details?["odoo_error"] == (folder.hasPrefix("odoo17") ? "odoo.exceptions.ValidationError" : "odoo.exceptions.MissingError"))
    }

    /// A password where JSON-2 wants an API key: 401, the credentials.
    @Test func aRefusedBearerIsAuth() throws {
        guard case .failure(let error) = try Self.answer("odoo19-json2", "err_json2_bearer_password") else {
            Issue.record("the recorded 401 must fail")
            return
        }
        #expect(error.code == .auth)
    }

    /// `create` over `execute_kw` takes its values positionally (keyword `vals_list` makes real Odoo
    /// roll the create back with an `IndexError`); record methods take their ids first.
    @Test func executeKwPassesCreateValuesAndIdsPositionally() throws {
        let values: JSONValue = [["name": "ACME"]]
        let create = OdooClient.executeKwArguments(method: "create", ids: nil, arguments: ["vals_list": values], context: ["allowed_company_ids": [2]])
        #expect(create.args == [values])
        #expect(create.kwargs == ["context": ["allowed_company_ids": [2]]])
        // write's argument is `vals` on most models but `values` on 17's product.product: positional.
        let write = OdooClient.executeKwArguments(method: "write", ids: [7], arguments: ["vals": ["name": "B"]], context: [:])
        #expect(write.args == [[7], ["name": "B"]])
        #expect(write.kwargs == [:])
        // The recorded form this builds is the one real Odoo answers with ids; the keyword form fails.
        for folder in ["odoo17-jsonrpc", "odoo19-jsonrpc"] {
            let request = try Self.recordedRequest(folder, "create_positional_list")
            let sent = try #require(request["params"]?["args"]?.arrayValue)
            let built = OdooClient.executeKwArguments(method: "create", ids: nil, arguments: ["vals_list": sent[5].arrayValue?.first ?? .null], context: [:])
            #expect(JSONValue.array(built.args) == sent[5])
            #expect(try Self.answer(folder, "create_positional_list").get().arrayValue?.count == 1)
            guard case .failure(let error) = try Self.answer(folder, "err_create_kw_vals_list") else {
                Issue.record("the recorded keyword create must fail")
                continue
            }
            #expect(error.code == .permanent && error.details?["odoo_error"] == "builtins.IndexError")
        }
    }
}
