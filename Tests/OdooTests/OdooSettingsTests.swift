import ConnectorKit
import ConnectorProtocol
import OdooKit
import Testing

@Suite struct OdooSettingsTests {
    let base: JSONValue = [
        "url": "https://erp.example.test", "database": "prod", "login": "integration@example.test",
        "companies": ["acme-fr": 1, "acme-us": 2],
        "taxes": ["*": ["20": 5], "2": ["20": 12, "8.875": 13]],
    ]

    @Test func aCompleteTableIsRead() throws {
        let settings = try OdooSettings(base)
        #expect(settings.protocolChoice == nil && settings.apiKeySecret == "api_key" && settings.timeoutSeconds == 30)
        #expect(settings.partnerMatch == [.vat, .email], "VAT, then email, unless configured otherwise")
        #expect(OdooMapping.compactVAT("be 0477.472-701") == "BE0477472701")
        #expect(try settings.company(forEntity: "acme-us") == 2)
        #expect(settings.taxes(forCompany: 1) == ["20": 5])
        #expect(settings.taxes(forCompany: 2) == ["20": 12, "8.875": 13])
    }

    @Test func problemsNameTheirKey() {
        func problem(_ edit: (inout [String: JSONValue]) -> Void) -> String? {
            var table = base.objectValue!
            edit(&table)
            do {
                _ = try OdooSettings(.object(table))
                return nil
            } catch {
                return error.description
            }
        }
        #expect(problem { $0["url"] = nil } == "url: is required (a string)")
        #expect(problem { $0["url"] = "erp.example.test" } == "url: \"erp.example.test\" is not an http:// or https:// address")
        #expect(problem { $0["protocol"] = "xmlrpc" } == "protocol: \"xmlrpc\" is not one of auto, jsonrpc, json2")
        #expect(problem { $0["companies"] = ["acme-fr": "one"] } == "companies.acme-fr: must be a positive Odoo id")
        #expect(problem { $0["taxes"] = ["*": ["20": 0]] } == "taxes.*.20: must be an account.tax id")
        #expect(problem { $0["bank_journal"] = ["1": 7] }?.hasPrefix("bank_journal: is not a setting of the Odoo connector (did you mean bank_journals? known: ") == true)
        // A value of the wrong type is an error, never silently the default (timeout_s = "30" was 30 s).
        #expect(problem { $0["timeout_s"] = "30" } == "timeout_s: must be an integer")
        #expect(problem { $0["fee_accounts"] = 7 } == "fee_accounts: must be a table")
        #expect(problem { $0["api_key_secret"] = 1 } == "api_key_secret: must be a string")
        #expect(problem { $0["max_concurrency"] = 0 } == "max_concurrency: must be between 1 and 64")
        #expect(problem { $0["source_since"] = "2026-01-01" } == "source_since: \"2026-01-01\" is not a date and time as YYYY-MM-DD HH:MM:SS (UTC)")
        #expect(problem { $0["partner_match"] = ["vat", "phone"] } == "partner_match[1]: \"phone\" is not one of vat, email")
    }

    @Test func perCompanySettingsFallBackToTheStar() throws {
        var table = base.objectValue!
        table["fee_accounts"] = ["*": 600, "2": 604]
        let settings = try OdooSettings(.object(table))
        #expect(OdooSettings.lookup(settings.feeAccounts, company: 2) == 604)
        #expect(OdooSettings.lookup(settings.feeAccounts, company: 1) == 600)
        #expect(OdooSettings.lookup(settings.feeAccounts, company: nil) == 600)
        #expect(settings.bankJournal(company: 1, currency: CurrencyCode("EUR")!) == nil)
        #expect(settings.entity(forCompany: 2) == "acme-us")
        #expect(settings.entity(forCompany: 9) == nil)
    }

    /// A clearing journal per currency the processor holds (issue 14), or one journal for any currency.
    @Test func bankJournalsArePerCompanyAndCurrency() throws {
        var table = base.objectValue!
        table["bank_journals"] = ["*": 7, "2": ["EUR": 12, "USD": 13]]
        let settings = try OdooSettings(.object(table))
        let eur = CurrencyCode("EUR")!, usd = CurrencyCode("USD")!, gbp = CurrencyCode("GBP")!
        #expect(settings.bankJournal(company: 2, currency: eur) == 12 && settings.bankJournal(company: 2, currency: usd) == 13)
        #expect(settings.bankJournal(company: 2, currency: gbp) == 7 && settings.bankJournal(company: 1, currency: eur) == 7)
        #expect(settings.hasBankJournal(company: 2, exactly: usd) && !settings.hasBankJournal(company: 2, exactly: gbp))
        for (bad, key) in [(JSONValue.object(["2": ["euro": 12]]), "bank_journals.2.euro"), (["2": ["EUR": 0]], "bank_journals.2.EUR"), (["2": "twelve"], "bank_journals.2")] {
            table["bank_journals"] = bad
            #expect { try OdooSettings(.object(table)) } throws: { ($0 as? OdooSettings.Problem)?.key == key }
        }
    }

    @Test func anUnmappedLegalEntityIsAMappingError() throws {
        let settings = try OdooSettings(base)
        #expect(throws: OdooSettings.Problem.self) { try settings.company(forEntity: "acme-de") }
        var single = base.objectValue!
        single["companies"] = nil
        #expect(try OdooSettings(.object(single)).company(forEntity: "anything") == nil)
    }
}
