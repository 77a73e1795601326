import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The Odoo the end-to-end tests write into: the fake of Tests/Fakes/odoo as a child process on a
/// loopback port, or — when `ODOO_URL` is set — a real Odoo server (see README, "Running the Odoo
/// tests against your own Odoo"). Tests read what landed through `records`, which asks the fake's
/// state control or, on a real server, `search_read` across all companies.
///
/// Environment for a real server: `ODOO_URL`, `ODOO_DB`, `ODOO_LOGIN` (default `admin`), `ODOO_KEY`
/// (an API key of that user), optional `ODOO_PROTOCOL` (`jsonrpc` or `json2`; default: by version).
/// The database needs `account` installed, a company in EUR besides the main one, a 15 % sale tax in
/// each, and (optional) a bank-fees account with code 620000.
final class OdooServer {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes/odoo/fake_odoo.py").path

    /// The real server named by the environment, if any.
    static let real: (url: String, database: String, login: String, key: String, protocolName: String?)? = {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["ODOO_URL"], !url.isEmpty else { return nil }
        return (url, environment["ODOO_DB"] ?? "odoo", environment["ODOO_LOGIN"] ?? "admin", environment["ODOO_KEY"] ?? "", environment["ODOO_PROTOCOL"])
    }()
    static var isReal: Bool { real != nil }
    /// The versions a test runs on: 17 and 19 of the fake, or the real server's.
    static var versions: [Int] { isReal ? [realVersion] : [17, 19] }
    static let realVersion: Int = {
        guard let real else { return 0 }
        let answer = try? rpc(real.url, service: "common", method: "version", args: [])
        return ((answer as? [String: Any])?["server_version_info"] as? [Any])?.first as? Int ?? 0
    }()

    let process: Process?
    let url: String
    let database: String
    let login: String
    let version: Int
    let apiKey: String
    /// The companies the tests book into: `acme-us` and `acme-eu` (in EUR).
    let usCompany: Int
    let euCompany: Int
    /// The sale tax of each company the tests map, by rate.
    let usRate: Int
    let euRate: Int
    let taxes: [Int: [Int: Int]]
    /// The bank-fees account (620000) of each company that has one.
    private(set) var feeAccounts: [Int: Int] = [:]
    var euFeeAccount: Int? { feeAccounts[euCompany] }
    let euro: Int
    /// Makes source connector ids unique on a real server, whose database outlives the test.
    let tag: String
    private let uid: Int

    /// The fake, always (the Stripe tests).
    init(version: Int, apiKey: String, log: String) throws {
        let process = Process()
        self.process = process
        self.version = version
        self.apiKey = apiKey
        database = "testdb"
        login = "admin"
        url = try launchLoopbackFake(process, "/usr/bin/env", ["python3", Self.script, "--version", String(version), "--port", "0", "--db", "testdb", "--api-key", apiKey],
                                     log: log, name: "the fake Odoo")
        usCompany = 1
        euCompany = 2
        usRate = 15
        euRate = 21
        euro = 125
        uid = 2
        taxes = [1: [15: 1], 2: [21: 101]]
        tag = ""
        feeAccounts = try findFeeAccounts()
    }

    /// The real server when the environment names one, else the fake of `version`.
    static func underTest(version: Int, apiKey: String, log: String) throws -> OdooServer {
        guard let real else { return try OdooServer(version: version, apiKey: apiKey, log: log) }
        return try OdooServer(real: real)
    }

    private init(real: (url: String, database: String, login: String, key: String, protocolName: String?)) throws {
        process = nil
        url = real.url.hasSuffix("/") ? String(real.url.dropLast()) : real.url
        database = real.database
        login = real.login
        apiKey = real.key
        version = Self.realVersion
        tag = "-" + String(UUID().uuidString.prefix(6)).lowercased()
        guard let uid = try Self.rpc(url, service: "common", method: "authenticate", args: [database, login, apiKey, [String: Any]()]) as? Int, uid > 0 else {
            throw HarnessError("Odoo at \(url) refused login \(login) on \(database)")
        }
        self.uid = uid
        let companies = try Self.rpc(url, service: "object", method: "execute_kw", args: [
            database, uid, apiKey, "res.company", "search_read", [[]], ["fields": ["id", "currency_id"], "order": "id"],
        ]) as? [[String: Any]] ?? []
        guard let eu = companies.first(where: { ($0["currency_id"] as? [Any])?.last as? String == "EUR" })?["id"] as? Int,
              let us = companies.first(where: { $0["id"] as? Int != eu })?["id"] as? Int else {
            throw HarnessError("Odoo at \(url) needs two companies, one of them in EUR")
        }
        usCompany = us
        euCompany = eu
        usRate = 15
        euRate = 15
        var taxes: [Int: [Int: Int]] = [:]
        for company in [us, eu] {
            let found = try Self.rpc(url, service: "object", method: "execute_kw", args: [
                database, uid, apiKey, "account.tax", "search_read",
                [[["type_tax_use", "=", "sale"], ["amount_type", "=", "percent"], ["amount", "=", 15], ["price_include", "=", false]]],
                ["fields": ["id", "company_id"], "context": ["allowed_company_ids": [company]]],
            ]) as? [[String: Any]] ?? []
            guard let tax = found.first(where: { ($0["company_id"] as? [Any])?.first as? Int == company })?["id"] as? Int else {
                throw HarnessError("company \(company) of the Odoo at \(url) has no 15 % sale tax")
            }
            taxes[company] = [15: tax]
        }
        self.taxes = taxes
        euro = (try Self.rpc(url, service: "object", method: "execute_kw", args: [
            database, uid, apiKey, "res.currency", "search_read", [[["name", "=", "EUR"]]], ["fields": ["id"]],
        ]) as? [[String: Any]])?.first?["id"] as? Int ?? 0
        feeAccounts = try findFeeAccounts()
    }

    /// Each company's Bank Fees account (code 620000), as finance would pick it.
    private func findFeeAccounts() throws -> [Int: Int] {
        var accounts: [Int: Int] = [:]
        for company in [usCompany, euCompany] {
            let found = try execute("account.account", "search_read", [[["code", "=", "620000"]]], ["fields": ["id"], "limit": 1], context: ["allowed_company_ids": [company]])
            accounts[company] = (found as? [[String: Any]])?.first?["id"] as? Int
        }
        return accounts
    }

    deinit { if let process { stopLoopbackFake(process) } }

    var isReal: Bool { process == nil }

    /// A source connector id for this server: unique per test on a real one.
    func source(_ name: String) -> String { name + tag }

    /// The connector's `[connector.config]` for this server: companies, taxes, fee account.
    func config(_ extra: String = "", taxes override: String? = nil) -> String {
        var tables: [String] = []
        for (company, rates) in self.taxes.sorted(by: { $0.key < $1.key }) {
            let entries: [String] = rates.map { rate, tax in "\"\(rate)\" = \(tax)" }
            tables.append("\"\(company)\" = { \(entries.joined(separator: ", ")) }")
        }
        let taxes = override ?? "{ \(tables.joined(separator: ", ")) }"
        var protocolLine = Self.real?.protocolName.map { "protocol = \"\($0)\"\n" } ?? ""
        // A real database keeps every earlier run's partners, whose emails the tests reuse: matching
        // would join this run's customers to them. Matching is tested on the fake (ChargebeeBooksTests).
        if isReal, !extra.contains("partner_match") { protocolLine += "partner_match = []\n" }
        return """
            url = "\(url)"
            database = "\(database)"
            login = "\(login)"
            companies = { "acme-us" = \(usCompany), "acme-eu" = \(euCompany) }
            taxes = \(taxes)
            fee_accounts = { \(feeAccounts.sorted { $0.key < $1.key }.map { "\"\($0.key)\" = \($0.value)" }.joined(separator: ", ")) }
            \(protocolLine)\(extra)

            """
    }

    // MARK: Reading what landed

    /// Fields the tests read, per model, from a real server (the fake returns every field).
    static let fields: [String: [String]] = [
        "res.partner": ["id", "name", "ref", "email", "country_id", "company_id", "write_date"],
        "account.move": ["id", "name", "ref", "move_type", "state", "payment_state", "amount_total", "amount_residual", "company_id", "partner_id",
                         "reversed_entry_id", "currency_id", "invoice_date"],
        "account.payment": ["id", "state", "amount", "company_id", "partner_id", "payment_type", "ref", "memo", "currency_id", "journal_id"],
        "product.product": ["id", "name", "default_code"],
        "account.move.line": ["id", "move_id", "product_id", "display_type", "account_id", "debit", "credit", "name"],
    ]

    /// Records whose `field` starts with `prefix` (our references), all companies, archived included.
    func records(_ model: String, _ field: String, prefix: String) throws -> [[String: Any]] {
        guard isReal else {
            return try fakeRecords(model).filter { ($0[field] as? String)?.hasPrefix(prefix) == true }
        }
        var fields = Self.fields[model] ?? ["id"]
        if model == "account.payment" { fields.removeAll { $0 == (version >= 18 ? "ref" : "memo") } }
        return try search(model, [[field, "=like", prefix + "%"]], fields: fields)
    }

    /// Records matching an Odoo domain (on the fake: of the ones whose field is filtered here).
    func search(_ model: String, _ domain: [Any], fields: [String]) throws -> [[String: Any]] {
        let companies = [usCompany, euCompany]
        return try execute(model, "search_read", [domain], ["fields": fields, "order": "id"],
                           context: ["active_test": false, "allowed_company_ids": companies]) as? [[String: Any]] ?? []
    }

    /// Every record of a model on the fake, all companies, archived included.
    private func fakeRecords(_ model: String) throws -> [[String: Any]] {
        let answer = try http("GET", "\(url)/__fake__/state?model=\(model)")
        let state = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        return (state?["models"] as? [String: Any])?[model] as? [[String: Any]] ?? []
    }

    /// The lines of an invoice.
    func lines(of move: Int) throws -> [[String: Any]] {
        guard isReal else { return try fakeRecords("account.move.line").filter { Self.id($0["move_id"]) == move } }
        return try search("account.move.line", [["move_id", "=", move]], fields: Self.fields["account.move.line"] ?? [])
    }

    // MARK: Acting as finance would in Odoo

    /// A processor's clearing journal, as finance sets one up: a bank journal in `currency` whose
    /// payment methods book straight onto its own account (no outstanding receipts in between), so the
    /// account's balance is what the processor holds. Returns the journal and its account.
    func clearingJournal(company: Int, currency: String) throws -> (journal: Int, account: Int) {
        let context: [String: Any] = ["allowed_company_ids": [company]]
        let currencyID = (try execute("res.currency", "search_read", [[["name", "=", currency]]], ["fields": ["id"]]) as? [[String: Any]])?.first?["id"] as? Int ?? 0
        let code = "S" + String(UUID().uuidString.filter(\.isLetter).prefix(4))
        let journal = try execute("account.journal", "create", [["name": "Stripe \(currency) \(code)", "type": "bank", "code": code, "currency_id": currencyID, "company_id": company]], context: context) as? Int ?? 0
        let read = (try execute("account.journal", "read", [[journal]], ["fields": ["default_account_id", "inbound_payment_method_line_ids", "outbound_payment_method_line_ids"]], context: context) as? [[String: Any]])?.first ?? [:]
        let account = Self.id(read["default_account_id"]) ?? 0
        let methods = (read["inbound_payment_method_line_ids"] as? [Int] ?? []) + (read["outbound_payment_method_line_ids"] as? [Int] ?? [])
        _ = try execute("account.payment.method.line", "write", [methods, ["payment_account_id": account]], context: context)
        return (journal, account)
    }

    /// Finance's bank reconciliation of a payout's arrival: a statement line of `amount` on the
    /// company's bank journal, its counterpart (Odoo's suspense line) matched against `line` (the
    /// payout's line on the liquidity transfer account), as the reconciliation widget does. Bank
    /// statements need "Show Full Accounting Features", given to the user first as finance has it.
    /// Returns whether Odoo then calls the statement line reconciled.
    func reconcileStatementLine(company: Int, amount: Double, date: String, label: String, with line: Int) throws -> Bool {
        let context: [String: Any] = ["allowed_company_ids": [company]]
        let group = (try execute("ir.model.data", "search_read", [[["module", "=", "account"], ["name", "=", "group_account_user"]]], ["fields": ["res_id"]]) as? [[String: Any]])?.first?["res_id"] as? Int ?? 0
        _ = try execute("res.users", "write", [[uid], [version >= 18 ? "group_ids" : "groups_id": [[4, group]]]])
        let bank = (try execute("account.journal", "search_read", [[["type", "=", "bank"], ["company_id", "=", company], ["code", "=", "BNK1"]]],
                                ["fields": ["id", "suspense_account_id"]], context: context) as? [[String: Any]])?.first ?? [:]
        let statementLine = try execute("account.bank.statement.line", "create", [["journal_id": bank["id"] ?? 0, "date": date, "payment_ref": label, "amount": amount]], context: context) as? Int ?? 0
        let move = Self.id((try execute("account.bank.statement.line", "read", [[statementLine]], ["fields": ["move_id"]], context: context) as? [[String: Any]])?.first?["move_id"]) ?? 0
        let suspense = (try execute("account.move.line", "search_read", [[["move_id", "=", move], ["account_id", "=", Self.id(bank["suspense_account_id"]) ?? 0]]], ["fields": ["id"]],
                                    context: context) as? [[String: Any]])?.first?["id"] as? Int ?? 0
        let counterpart = Self.id((try execute("account.move.line", "read", [[line]], ["fields": ["account_id"]], context: context) as? [[String: Any]])?.first?["account_id"]) ?? 0
        _ = try execute("account.move", "button_draft", [[move]], context: context)
        _ = try execute("account.move.line", "write", [[suspense], ["account_id": counterpart]], context: context)
        _ = try execute("account.move", "action_post", [[move]], context: context)
        _ = try execute("account.move.line", "reconcile", [[suspense, line]], context: context)
        return (try execute("account.bank.statement.line", "read", [[statementLine]], ["fields": ["is_reconciled"]], context: context) as? [[String: Any]])?.first?["is_reconciled"] as? Bool == true
    }

    /// An account's balance in its company's currency, over posted entries: what the books say it holds.
    func balance(account: Int, company: Int) throws -> Double {
        let lines = try execute("account.move.line", "search_read", [[["account_id", "=", account], ["parent_state", "=", "posted"]]], ["fields": ["balance"]],
                                context: ["allowed_company_ids": [company]]) as? [[String: Any]] ?? []
        return (lines.reduce(0) { $0 + ($1["balance"] as? Double ?? 0) } * 100).rounded() / 100
    }

    /// A company's default accounts (exchange loss, liquidity transfer) as Odoo has them.
    func companyAccount(_ field: String, company: Int) throws -> Int? {
        Self.id((try execute("res.company", "read", [[company]], ["fields": [field]]) as? [[String: Any]])?.first?[field])
    }

    /// Registers a payment of the whole amount due, as finance does in Odoo's UI.
    func pay(invoice: Int, company: Int) throws {
        guard isReal else {
            let answer = try control("pay", #"{"invoice_id": \#(invoice)}"#)
            guard answer.status == 200 else { throw HarnessError("pay: \(answer.body)") }
            return
        }
        let context: [String: Any] = ["active_model": "account.move", "active_ids": [invoice], "allowed_company_ids": [company]]
        let wizard = try execute("account.payment.register", "create", [[[String: Any]()]], context: context)
        let id = (wizard as? [Int])?.first ?? wizard as? Int ?? 0
        _ = try execute("account.payment.register", "action_create_payments", [[id]], context: context)
    }

    /// A test control of the fake (faults, state); a real server has none.
    @discardableResult
    func control(_ name: String, _ body: String) throws -> (status: Int, body: String) {
        guard !isReal else { throw HarnessError("a real Odoo server has no test controls (\(name)); this test runs on the fake only") }
        let answer = try http("POST", "\(url)/__fake__/\(name)", headers: ["Content-Type": "application/json"], body: body)
        return (answer.status, answer.body)
    }

    /// How many calls of `model.method` the fake has run (answered or not).
    func calls(_ model: String, _ method: String) throws -> Int {
        let answer = try http("GET", "\(url)/__fake__/calls")
        let calls = (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
        return calls.filter { $0["model"] as? String == model && $0["model_method"] as? String == method && $0["outcome"] as? String == "ok" }.count
    }

    /// Finance invoices `partner` in the EU company (one line of `price`, no taxes of its own), posted and
    /// already past due (15 November 2026): its id and total.
    @discardableResult
    func postPastDueInvoice(partner: Int, price: Double, name: String = "Services") throws -> (id: Int, total: Double) {
        let context: [String: Any] = ["allowed_company_ids": [euCompany]]
        guard let invoice = try execute("account.move", "create", [[
            "move_type": "out_invoice", "partner_id": partner, "company_id": euCompany, "invoice_date": "2026-11-01", "invoice_date_due": "2026-11-15",
            "invoice_line_ids": [[0, 0, ["name": name, "quantity": 1, "price_unit": price]]],
        ]], context: context) as? Int else { throw HarnessError("Odoo made no invoice for partner \(partner)") }
        _ = try execute("account.move", "action_post", [[invoice]], context: context)
        guard let total = try search("account.move", [["id", "=", invoice]], fields: ["amount_total"]).first?["amount_total"] as? Double else {
            throw HarnessError("invoice \(invoice) has no total")
        }
        return (invoice, total)
    }

    /// Calls a model method over JSON-RPC as the test's user (as finance would in Odoo's UI): `args`
    /// positional (ids first for record methods), `kwargs` by name.
    func execute(_ model: String, _ method: String, _ args: [Any], _ kwargs: [String: Any] = [:], context: [String: Any] = [:]) throws -> Any? {
        var kwargs = kwargs
        if !context.isEmpty { kwargs["context"] = context }
        return try Self.rpc(url, service: "object", method: "execute_kw", args: [database, uid, apiKey, model, method, args, kwargs])
    }

    static func rpc(_ url: String, service: String, method: String, args: [Any]) throws -> Any? {
        let call: [String: Any] = ["jsonrpc": "2.0", "method": "call", "id": 1, "params": ["service": service, "method": method, "args": args]]
        let answer = try http("POST", "\(url)/jsonrpc", headers: ["Content-Type": "application/json"],
                              body: String(decoding: try JSONSerialization.data(withJSONObject: call), as: UTF8.self))
        let envelope = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        if let error = envelope?["error"] { throw HarnessError("\(service).\(method): \(error)") }
        return envelope?["result"]
    }

    /// The payment's memo field: `ref` on 17, `memo` on 19.
    var memo: String { version >= 18 ? "memo" : "ref" }

    /// The id of a many2one value (read as `[id, name]`).
    static func id(_ value: Any?) -> Int? { (value as? [Any])?.first as? Int }
}
