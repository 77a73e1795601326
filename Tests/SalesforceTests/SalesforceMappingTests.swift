import ConnectorKit
import ConnectorProtocol
import Foundation
import SalesforceKit
import Testing

/// Salesforce records as canonical events, SOQL text, Bulk CSV, settings and answers: pure, without
/// network (issue 18).
@Suite struct SalesforceMappingTests {
    static let settings = try! SalesforceSettings(["client_id": "key", "username": "int@acme.test", "currency": "USD", "vat_field": "VAT__c",
                                                   "status_fields": ["balance_due": "Balance_Due__c", "overdue_invoices": "Overdue_Invoices__c"]])
    let mapping = SalesforceMapping(settings: Self.settings, connector: ConnectorInfo(id: "sf", plugin: "salesforce", tenant: "t1", entity: "us"))

    func record(_ fields: [String: String]) -> SalesforceRecord {
        SalesforceRecord(["SystemModstamp": "2026-11-30T10:00:05.000+0000", "IsDeleted": "false"].merging(fields) { _, new in new })
    }

    func event(_ mapped: SalesforceMapping.Mapped) throws -> Event {
        guard case .event(let event) = mapped else { throw MappingFailure(description: "\(mapped)") }
        return event
    }

    struct MappingFailure: Error, CustomStringConvertible {
        var description: String
    }

    @Test func anAccountWithContactsIsACompanyWithTheFirstContactsEmail() throws {
        var related = SalesforceMapping.Related()
        related.emails["001A"] = "ap@acme.test"
        let account = record(["Id": "001A", "Name": "Acme Corp", "Website": "https://www.Acme.test/about", "VAT__c": "US123", "BillingStreet": "1 Main St\nSuite 5",
                              "BillingCity": "Boston", "BillingPostalCode": "02110", "BillingState": "MA", "BillingCountry": "United States"])
        let event = try event(mapping.map("accounts", account, related: related))
        let version = try #require(account.version)
        #expect(version.hasPrefix("2026-11-30T10:00:05Z/") && version.count == "2026-11-30T10:00:05Z/".count + 12)
        #expect(event.type == "company.upserted" && event.source == SourceRef(objectType: "accounts", objectID: "001A", version: version))
        #expect(event.orderingKey == "accounts:001A" && event.entity == "us" && event.correlationID == "sf:accounts:001A:\(version)")
        guard case .company(let company) = event.record else { Issue.record("\(event.record)"); return }
        #expect(company == Company(name: "Acme Corp", domain: "www.acme.test", vat: "US123",
                                   address: Address(line1: "1 Main St", line2: "Suite 5", city: "Boston", postalCode: "02110", state: "MA", country: "US"),
                                   email: "ap@acme.test"))
    }

    @Test func aContactKeepsItsAccountsOrder() throws {
        let event = try event(mapping.map("contacts", record(["Id": "003B", "AccountId": "001A", "FirstName": "Ann", "LastName": "Lee", "Email": "ann@acme.test",
                                                              "MailingCountry": "de"])))
        #expect(event.type == "contact.upserted" && event.orderingKey == "accounts:001A")
        guard case .contact(let contact) = event.record else { Issue.record("\(event.record)"); return }
        #expect(contact.name == "Ann Lee" && contact.company == RecordRef(objectType: "accounts", objectID: "001A") && contact.address?.country == "DE")
    }

    /// A won opportunity is an order of its account with its line items: money exact in minor units,
    /// the discount kept apart, products referred to.
    @Test func aWonOpportunityIsAnOrderWithItsLineItems() throws {
        var related = SalesforceMapping.Related()
        related.lineItems["006W"] = [
            SalesforceRecord(["Id": "00k1", "OpportunityId": "006W", "Product2Id": "01tP", "Name": "Won deal Widget", "Quantity": "3", "UnitPrice": "19.99",
                              "Subtotal": "59.97", "TotalPrice": "53.97"]),
            SalesforceRecord(["Id": "00k2", "OpportunityId": "006W", "Product2Id": "01tS", "Description": "Setup", "Quantity": "1.5", "UnitPrice": "100",
                              "TotalPrice": "150"]),
        ]
        let opportunity = record(["Id": "006W", "AccountId": "001A", "Name": "Won deal", "StageName": "Closed Won", "IsWon": "true", "IsClosed": "true",
                                  "Amount": "203.97", "CloseDate": "2026-11-30"])
        let event = try event(mapping.map("opportunities", opportunity, related: related))
        #expect(event.type == "order.won" && event.orderingKey == "accounts:001A")
        guard case .order(let order) = event.record else { Issue.record("\(event.record)"); return }
        #expect(order.customer == RecordRef(objectType: "accounts", objectID: "001A") && order.deal == RecordRef(objectType: "opportunities", objectID: "006W"))
        #expect(order.currency.code == "USD" && order.totalMinor == 20_397 && order.subtotalMinor == 20_397 && order.orderedAt == "2026-11-30")
        #expect(order.lines == [
            InvoiceLine(description: "Won deal Widget", product: RecordRef(objectType: "products", objectID: "01tP"), quantity: "3", unitAmountMinor: 1_999,
                        amountMinor: 5_397, discountMinor: 600),
            InvoiceLine(description: "Setup", product: RecordRef(objectType: "products", objectID: "01tS"), quantity: "1.5", unitAmountMinor: 10_000, amountMinor: 15_000),
        ])
    }

    @Test func anOpenOrReopenedOpportunityIsADealAndALostOneSaysSo() throws {
        let open = try event(mapping.map("opportunities", record(["Id": "006R", "AccountId": "001A", "Name": "Reopened", "StageName": "Negotiation/Review",
                                                                  "IsWon": "false", "IsClosed": "false", "Amount": "1500.5"])))
        #expect(open.type == "deal.upserted")
        guard case .deal(let deal) = open.record else { Issue.record("\(open.record)"); return }
        #expect(deal.outcome == .open && deal.amount == Money(amountMinor: 150_050, currency: CurrencyCode("USD")!) && deal.lines.count == 1)
        let lost = try event(mapping.map("opportunities", record(["Id": "006L", "Name": "Lost", "StageName": "Closed Lost", "IsWon": "false", "IsClosed": "true"])))
        guard case .deal(let lostDeal) = lost.record else { Issue.record("\(lost.record)"); return }
        #expect(lostDeal.outcome == .lost && lostDeal.lines.isEmpty)
    }

    @Test func aWonOpportunityWithoutAccountIsARejectNamingTheField() {
        guard case .reject(let reject) = mapping.map("opportunities", record(["Id": "006N", "Name": "Orphan", "StageName": "Closed Won", "IsWon": "true", "Amount": "10"])) else {
            Issue.record("a won opportunity without an account must be a reject"); return
        }
        #expect(reject.problem.contains("AccountId") && reject.source?.objectID == "006N" && reject.record?["Name"] == "Orphan")
    }

    @Test func aLineItemThatIsNotANumberIsARejectNotAGuess() {
        var related = SalesforceMapping.Related()
        related.lineItems["006W"] = [SalesforceRecord(["Id": "00k1", "OpportunityId": "006W", "Quantity": "3", "UnitPrice": "abc", "TotalPrice": "1"])]
        let mapped = mapping.map("opportunities", record(["Id": "006W", "AccountId": "001A", "Name": "W", "IsWon": "true"]), related: related)
        guard case .reject(let reject) = mapped else { Issue.record("\(mapped)"); return }
        #expect(reject.problem.contains("00k1") && reject.problem.contains("UnitPrice"))
    }

    /// A multi-currency org: the opportunity's own currency, and JPY without minor units.
    @Test func aMultiCurrencyOpportunityKeepsItsCurrency() throws {
        let settings = try SalesforceSettings(["client_id": "k", "username": "u", "currency": "USD", "multi_currency": true])
        let mapping = SalesforceMapping(settings: settings, connector: ConnectorInfo(id: "sf", plugin: "salesforce"))
        #expect(mapping.fields("opportunities").contains("CurrencyIsoCode") && mapping.lineItemFields.contains("CurrencyIsoCode"))
        #expect(!Self.settings.multiCurrency && !self.mapping.fields("opportunities").contains("CurrencyIsoCode"), "a single-currency org has no CurrencyIsoCode field")
        let event = try event(mapping.map("opportunities", record(["Id": "006J", "AccountId": "001A", "Name": "Tokyo", "IsWon": "true", "Amount": "150000",
                                                                   "CurrencyIsoCode": "JPY"])))
        guard case .order(let order) = event.record else { Issue.record("\(event.record)"); return }
        #expect(order.currency.code == "JPY" && order.totalMinor == 150_000)
        var related = SalesforceMapping.Related()
        related.lineItems["006J"] = [SalesforceRecord(["Id": "00k9", "Quantity": "1", "UnitPrice": "5", "TotalPrice": "5", "CurrencyIsoCode": "EUR"])]
        guard case .reject(let reject) = mapping.map("opportunities", record(["Id": "006J", "AccountId": "001A", "IsWon": "true", "CurrencyIsoCode": "JPY"]), related: related) else {
            Issue.record("a line item in another currency than its opportunity must be a reject"); return
        }
        #expect(reject.problem.contains("EUR"))
    }

    @Test func aDeletedRecordIsADeletionWithItsOwnVersion() throws {
        let deleted = try event(mapping.map("accounts", record(["Id": "001D", "Name": "Gone", "IsDeleted": "true", "SystemModstamp": "2026-11-30T11:00:00.000Z"])))
        #expect(deleted.type == "company.deleted" && deleted.source.version == "deleted:2026-11-30T11:00:00Z")
        let wonDeleted = try event(mapping.map("opportunities", record(["Id": "006W", "AccountId": "001A", "IsWon": "true", "IsDeleted": "true"])))
        #expect(wonDeleted.type == "order.deleted")
    }

    @Test func aProductIsPricedFromItsStandardPriceBookEntry() throws {
        var related = SalesforceMapping.Related()
        related.prices["01tP"] = [SalesforceRecord(["Id": "01uX", "Product2Id": "01tP", "UnitPrice": "19.99", "IsActive": "true"])]
        let event = try event(mapping.map("products", record(["Id": "01tP", "Name": "Widget", "ProductCode": "W-1", "IsActive": "true"]), related: related))
        guard case .product(let product) = event.record else { Issue.record("\(event.record)"); return }
        #expect(product == Product(name: "Widget", sku: "W-1", unitPrice: Money(amountMinor: 1_999, currency: CurrencyCode("USD")!), active: true))
    }

    @Test func aRecordWithoutSystemModstampIsAReject() {
        guard case .reject(let reject) = mapping.map("accounts", SalesforceRecord(["Id": "001X", "Name": "No stamp"])) else {
            Issue.record("no SystemModstamp must be a reject"); return
        }
        #expect(reject.problem.contains("SystemModstamp"))
    }

    /// One state of a record has one version, read by a query (JSON) or a Bulk job (CSV); two changes
    /// in one second have two.
    @Test func aVersionIsTheStateNotTheFormatItWasReadIn() throws {
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"attributes": {"type": "Opportunity"}, "Id": "006A", "Amount": 100.0, "IsWon": true, "Name": "Deal", "SystemModstamp": "2026-11-30T10:00:05.000+0000", "CloseDate": "2026-12-01", "Description": null}"#.utf8))
        let rest = try #require(SalesforceRecord(json: json))
        let bulk = try #require(try BulkCSV.records(Data("\"Id\",\"Amount\",\"IsWon\",\"Name\",\"SystemModstamp\",\"CloseDate\",\"Description\"\n\"006A\",\"100.00\",\"true\",\"Deal\",\"2026-11-30T10:00:05.000Z\",\"2026-12-01\",\"\"\n".utf8)).records.first)
        #expect(rest.version != nil && rest.version == bulk.version)
        var changed = bulk
        changed.fields["Name"] = "Deal, signed"
        #expect(changed.version != bulk.version && changed.version?.hasPrefix("2026-11-30T10:00:05Z/") == true)
    }

    // MARK: SOQL and time stamps

    @Test func soqlQuotesEveryCharacterSalesforceEscapes() {
        #expect(SOQL.quote("O'Brien \\ \"Co\"\n\t") == #"'O\'Brien \\ \"Co\"\n\t'"#)
        #expect(SOQL.list(["001A", "it's"]) == #"('001A', 'it\'s')"#)
        #expect(SOQL.select(["Id", "Name"], from: "Account", where: ["SystemModstamp >= 2026-11-30T10:00:05Z", "Name != null"], orderBy: ["SystemModstamp ASC", "Id ASC"], limit: 5)
            == "SELECT Id, Name FROM Account WHERE SystemModstamp >= 2026-11-30T10:00:05Z AND Name != null ORDER BY SystemModstamp ASC, Id ASC LIMIT 5")
    }

    /// Date-times are unquoted UTC literals to the second, whatever form Salesforce wrote them in.
    @Test func timeStampsReadInEveryFormSalesforceWritesAndBecomeSOQLLiterals() {
        #expect(SalesforceTime.stamp("2026-11-30T10:00:05.000+0000") == "2026-11-30T10:00:05Z")
        #expect(SalesforceTime.stamp("2026-11-30T10:00:05.000Z") == "2026-11-30T10:00:05Z")
        #expect(SalesforceTime.stamp("2026-11-30T12:00:05.999+0200") == "2026-11-30T10:00:05Z")
        #expect(SalesforceTime.stamp("2026-11-30T10:00:05Z") == "2026-11-30T10:00:05Z")
        #expect(SalesforceTime.stamp("yesterday") == nil && SalesforceTime.stamp(nil) == nil)
        #expect(SOQL.dateTime(0) == "1970-01-01T00:00:00Z")
    }

    // MARK: Bulk CSV

    @Test func bulkCSVReadsQuotedValuesEmptyAsNullAndPagesWithOrWithoutTheirHeader() throws {
        let first = try BulkCSV.records(Data("\"Id\",\"Name\",\"Website\"\n\"001A\",\"Acme, \"\"the\"\" Corp\",\"\"\n\"001B\",\"Two\nlines\",\"b.test\"\n".utf8))
        #expect(first.header == ["Id", "Name", "Website"])
        #expect(first.records == [SalesforceRecord(["Id": "001A", "Name": "Acme, \"the\" Corp"]), SalesforceRecord(["Id": "001B", "Name": "Two\nlines", "Website": "b.test"])])
        let withHeader = try BulkCSV.records(Data("Id,Name,Website\r\n001C,Three,\r\n".utf8), header: first.header)
        #expect(withHeader.records == [SalesforceRecord(["Id": "001C", "Name": "Three"])])
        let withoutHeader = try BulkCSV.records(Data("001D,Four,d.test".utf8), header: first.header)
        #expect(withoutHeader.records == [SalesforceRecord(["Id": "001D", "Name": "Four", "Website": "d.test"])])
        #expect(throws: BulkCSV.Problem.self) { try BulkCSV.records(Data("Id,Name\n001E,\"unterminated\n".utf8)) }
        #expect(throws: BulkCSV.Problem.self) { try BulkCSV.records(Data("Id,Name\n001E,a,b\n".utf8)) }
        #expect(throws: BulkCSV.Problem.self) { try BulkCSV.records(Data("Name\nx\n".utf8)) }
    }

    @Test func restRecordsReadNumbersBooleansAndNullsAsText() throws {
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"attributes": {"type": "Opportunity"}, "Id": "006A", "Amount": 1500.5, "Probability": 100, "IsWon": true, "Description": null}"#.utf8))
        let record = try #require(SalesforceRecord(json: json))
        #expect(record.fields == ["Id": "006A", "Amount": "1500.5", "Probability": "100", "IsWon": "true"])
    }

    // MARK: Answers

    @Test func salesforceErrorsAreClassedByTheirCode() {
        func error(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> ConnectorError? {
            do {
                try SalesforceAnswer.check(HTTPResponse(status: status, headers: headers, body: Data(body.utf8)))
                return nil
            } catch { return error }
        }
        let limit = error(403, #"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#, headers: [("Sforce-Limit-Info", "api-usage=15000/15000")])
        #expect(limit?.code == .rateLimited && limit?.retryAfterMilliseconds == 300_000 && limit?.message.contains("api-usage=15000/15000") == true)
        #expect(error(400, #"[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW"}]"#)?.code == .transient)
        let validation = error(400, #"[{"message":"Balance must be positive","errorCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","fields":["Balance_Due__c"]}]"#)
        #expect(validation?.code == .permanent && validation?.message.contains("Balance must be positive") == true)
        #expect(validation?.details?["salesforce_fields"] == ["Balance_Due__c"])
        #expect(error(400, #"[{"message":"duplicate value found","errorCode":"DUPLICATE_VALUE"}]"#)?.code == .permanent)
        #expect(error(401, #"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#)?.code == .auth)
        #expect(error(503, "<html>down</html>")?.code == .transient)
        #expect(error(300, #"["/services/data/v59.0/sobjects/Account/001A","/services/data/v59.0/sobjects/Account/001B"]"#)?.code == .permanent)
        #expect(error(204, "") == nil)
    }

    // MARK: Settings

    @Test func settingsNameTheKeyAtFault() {
        func problem(_ config: JSONValue) -> String? {
            do {
                _ = try SalesforceSettings(config)
                return nil
            } catch { return error.description }
        }
        #expect(problem(["client_id": "k", "currency": "USD"])?.contains("username") == true, "JWT needs the user")
        #expect(problem(["client_id": "k", "auth": "refresh_token", "currency": "USD"]) == nil)
        #expect(problem(["client_id": "k", "username": "u", "currency": "USD", "streams": ["acounts"]])?.contains("did you mean accounts") == true)
        #expect(problem(["client_id": "k", "username": "u", "currency": "USD", "page_size": 50])?.contains("page_size") == true)
        #expect(problem(["client_id": "k", "username": "u", "currency": "USD", "login_url": "http://acme.my.salesforce.com"])?.contains("login_url") == true)
        #expect(problem(["client_id": "k", "username": "u", "currency": "USD", "since": "last year"])?.contains("since") == true)
        #expect(problem(["client_id": "k", "username": "u", "currency": "USD", "status_key_field": "AccountNumber"])?.contains("__c") == true)
        #expect(problem(["client_id": "k", "username": "u", "currency": "USD", "status_fields": ["balance": "B__c"]])?.contains("balance_due") == true)
        #expect(problem(["client_id": "k", "username": "u", "currency": "USD", "api_version": "39.0"])?.contains("api_version") == true)
        let settings = try? SalesforceSettings(["client_id": "k", "username": "u", "currency": "usd", "since": "2024-01-01", "login_url": "https://test.salesforce.com/"])
        #expect(settings?.since == "2024-01-01T00:00:00Z" && settings?.audience == "https://test.salesforce.com" && settings?.tokenURL == "https://test.salesforce.com/services/oauth2/token")
    }

    @Test func anAccountStatusIsAccountFieldValues() {
        let usd = CurrencyCode("USD")!
        let status = AccountStatus(customer: RecordRef(objectType: "res.partner", objectID: "80"), balanceDue: Money(amountMinor: 123_456, currency: usd),
                                   overdue: Money(amountMinor: 0, currency: usd), overdueInvoices: 2, asOf: "2026-11-30T10:00:00Z")
        #expect(SalesforceStatus.fields(status, names: Self.settings.statusFields) == ["Balance_Due__c": .double(1_234.56), "Overdue_Invoices__c": .int(2)])
        #expect(SalesforceStatus.fields(status, names: ["last_payment": "Last__c"]) == ["Last__c": .null], "a member without a value clears its field")
    }
}

/// The stream cursor: stored and read back, refused when it is another connector's, and two changes of
/// one record in one second both read (a second alone cannot tell them apart; the version can).
@Suite struct SalesforceCursorTests {
    @Test func aCursorRoundTripsAndAForeignOneIsRefused() throws {
        let cursor = SalesforceCursor(backfill: .init(job: "750A", locator: "MjAwMA", header: ["Id", "Name"], horizon: "2026-11-30T10:00:00Z"),
                                      rest: ModifiedSinceCursor(stamp: "1970-01-01T00:00:00Z", start: "1970-01-01T00:00:00Z"),
                                      next: "/services/data/v59.0/query/01gA-2000")
        #expect(try SalesforceCursor.decode(cursor.encoded(), connector: "Salesforce") == cursor)
        #expect(throws: ConnectorError.self) { try SalesforceCursor.decode(#"{"after": "abc"}"#, connector: "Salesforce") }
    }

    @Test func twoChangesInOneSecondAreBothReadAndARereadIsNot() throws {
        let first = SalesforceRecord(["Id": "001A", "Name": "Acme", "SystemModstamp": "2026-11-30T10:00:05.000+0000"])
        var second = first
        second.fields["Name"] = "Acme Corp"
        func row(_ record: SalesforceRecord) throws -> ModifiedSinceCursor<String>.Row {
            ModifiedSinceCursor<String>.Row(id: record.id, stamp: try #require(record.stamp), fingerprint: try #require(record.version))
        }
        let start = ModifiedSinceCursor<String>(stamp: "2026-11-30T10:00:00Z")
        let (read, after) = start.advance(over: [try row(first)], wanted: 10)
        #expect(read.map(\.id) == ["001A"] && after.stamp == "2026-11-30T10:00:05Z")
        #expect(after.advance(over: [try row(first)], wanted: 10).emit.isEmpty, "the same state read again is not emitted")
        #expect(after.advance(over: [try row(second)], wanted: 10).emit.map(\.id) == ["001A"], "a second change in the same second is")
    }
}

/// `hostctl check`: the Account fields the status sink writes, judged from the org's description.
@Suite struct SalesforceStatusFieldTests {
    @Test func missingReadOnlyAndNonExternalKeyFieldsAreNamed() throws {
        let settings = try SalesforceSettings(["client_id": "k", "username": "u", "currency": "USD", "status_key_field": "Odoo_Partner__c",
                                               "status_fields": ["balance_due": "Balance_Due__c", "overdue": "Overdue__c", "as_of": "As_Of__c"]])
        let description: JSONValue = ["fields": [
            ["name": "Id", "updateable": false, "externalId": false],
            ["name": "balance_due__c", "updateable": true, "externalId": false],
            ["name": "As_Of__c", "updateable": false, "externalId": false],
            ["name": "Odoo_Partner__c", "updateable": true, "externalId": false],
        ]]
        #expect(settings.statusFieldProblems(accountDescription: description) == [
            "status_fields.as_of: Account.As_Of__c cannot be updated by the integration user",
            "status_fields.overdue: Account has no field Overdue__c (or the integration user cannot see it)",
            "status_key_field: Account.Odoo_Partner__c is not an External ID field",
        ])
        var fixed = description
        fixed = ["fields": .array((description["fields"]?.arrayValue ?? []).map { field in
            guard case .object(var object) = field else { return field }
            object["updateable"] = true
            if object["name"] == "Odoo_Partner__c" { object["externalId"] = true }
            return .object(object)
        } + [["name": "Overdue__c", "updateable": true]])]
        #expect(settings.statusFieldProblems(accountDescription: fixed).isEmpty)
    }
}
