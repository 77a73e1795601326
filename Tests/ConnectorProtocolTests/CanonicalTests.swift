import ConnectorProtocol
import Foundation
import Testing

@Suite struct CanonicalTests {
    let codec = RPCCodec()
    let eur = CurrencyCode("EUR")!

    func invoiceEvent() -> Event {
        Event(
            type: "invoice.finalized",
            source: SourceRef(objectType: "invoice", objectID: "in_1", version: "evt_9"),
            tenant: "acme", entity: "acme-fr",
            correlationID: "corr-1", occurredAt: "2026-11-22T10:00:00Z", orderingKey: "cus_1",
            record: .invoice(Invoice(
                number: "F-1", customer: RecordRef(objectType: "customer", objectID: "cus_1"), status: .open, currency: eur,
                lines: [InvoiceLine(description: "Plan", quantity: "2", unitAmountMinor: 1999, amountMinor: 3998, taxes: [TaxLine(rate: "20", amountMinor: 800)])],
                subtotalMinor: 3998, taxMinor: 800, totalMinor: 4798, amountDueMinor: 4798
            ))
        )
    }

    @Test func eventRoundTripsThroughJSON() throws {
        let event = invoiceEvent()
        let data = try codec.json(event)
        #expect(try codec.decodeJSON(Event.self, from: data) == event)
    }

    @Test func moneyIsIntegerMinorUnitsOnTheWire() throws {
        let payment = Payment(amount: Money(amountMinor: 123_456_789_012, currency: eur), fee: Money(amountMinor: 3, currency: eur), status: .succeeded)
        let text = String(decoding: try codec.json(payment), as: UTF8.self)
        #expect(text.contains(#""amount_minor":123456789012"#))
        #expect(!text.contains("."), "no decimal point anywhere: \(text)")
    }

    @Test func recordKindIsTheDiscriminator() throws {
        let text = String(decoding: try codec.json(invoiceEvent()), as: UTF8.self)
        #expect(text.contains(#""kind":"invoice""#))
        #expect(text.contains(#""schema_version":1"#))
        // A kind this model does not know is kept as it came (a newer source's), not refused…
        let novel = Data(#"{"kind":"spaceship","spaceship":{"crew":[1,2],"name":"Caf\u00e9"}}"#.utf8)
        let record = try codec.decodeJSON(Record.self, from: novel)
        #expect(record == .other(kind: "spaceship", value: ["crew": [1, 2], "name": "Café"]) && record.kind == "spaceship")
        #expect(try codec.decodeJSON(Record.self, from: codec.json(record)) == record)
        // …but a record must carry the member its kind names.
        #expect(throws: DecodingError.self) { try codec.decodeJSON(Record.self, from: Data(#"{"kind":"spaceship"}"#.utf8)) }
        #expect(throws: DecodingError.self) { try codec.decodeJSON(Record.self, from: Data(#"{"kind":"","":{}}"#.utf8)) }
    }

    /// The kinds and members issue 14 added: payouts, disputes, settlements, a line's discount (absent
    /// when none, so an older peer's lines still decode).
    @Test func payoutsDisputesSettlementsAndDiscountsRoundTrip() throws {
        let usd = CurrencyCode("USD")!
        let withdrawn = Settlement(id: "txn_1", amount: Money(amountMinor: -920, currency: eur), fee: Money(amountMinor: 1_500, currency: eur),
                                   net: Money(amountMinor: -2_420, currency: eur), exchangeRate: "0.92", availableAt: "2026-11-30T00:00:00Z")
        let records: [Record] = [
            .payout(Payout(amount: Money(amountMinor: 7_582, currency: eur), status: .inTransit, arrivalAt: "2026-12-01T00:00:00Z", statementDescriptor: "STRIPE PAYOUT", settlement: withdrawn)),
            .dispute(Dispute(payment: RecordRef(objectType: "payment", objectID: "ch_1"), amount: Money(amountMinor: 1_000, currency: usd), status: .open, reason: "fraudulent", settlements: [withdrawn])),
            .payment(Payment(amount: Money(amountMinor: 1_000, currency: usd), status: .succeeded, settlement: withdrawn)),
        ]
        for record in records {
            #expect(try codec.decodeJSON(Record.self, from: codec.json(record)) == record)
        }
        let text = String(decoding: try codec.json(records[0]), as: UTF8.self)
        #expect(text.contains(#""kind":"payout""#) && text.contains(#""status":"in_transit""#) && text.contains(#""exchange_rate":"0.92""#))
        let discounted = InvoiceLine(description: "Plan", quantity: "2", unitAmountMinor: 500, amountMinor: 800, discountMinor: 200)
        #expect(try codec.decodeJSON(InvoiceLine.self, from: codec.json(discounted)) == discounted)
        let plain = Data(#"{"description":"Plan","quantity":"1","unit_amount_minor":100,"amount_minor":100,"taxes":[]}"#.utf8)
        #expect(try codec.decodeJSON(InvoiceLine.self, from: plain).discountMinor == 0)
        #expect(!String(decoding: try codec.json(try codec.decodeJSON(InvoiceLine.self, from: plain)), as: UTF8.self).contains("discount"))
    }

    /// The CRM kinds the next connectors need (issue 15): contacts, companies, deals with line items,
    /// orders and a customer's account status, each round-tripping with its wire names.
    @Test func theCRMKindsRoundTrip() throws {
        let acme = RecordRef(objectType: "company", objectID: "9001")
        let line = InvoiceLine(description: "Seats", product: RecordRef(objectType: "product", objectID: "p1"), quantity: "3", unitAmountMinor: 500, amountMinor: 1_300, discountMinor: 200)
        let records: [Record] = [
            .contact(Contact(name: "Ada Lovelace", firstName: "Ada", lastName: "Lovelace", email: "ada@acme.test", title: "CFO", company: acme)),
            .company(Company(name: "ACME SAS", domain: "acme.test", vat: "FR40303265045", address: Address(city: "Paris", country: "FR"), currency: eur)),
            .deal(Deal(name: "ACME renewal", stage: "contractsent", outcome: .open, amount: Money(amountMinor: 1_300, currency: eur), closeAt: "2026-12-31T00:00:00Z",
                       company: acme, contacts: [RecordRef(objectType: "contact", objectID: "51")], lines: [line])),
            .order(Order(number: "S00042", customer: acme, status: .confirmed, currency: eur, lines: [line], subtotalMinor: 1_300, taxMinor: 260, totalMinor: 1_560,
                         deal: RecordRef(objectType: "deal", objectID: "77"))),
            .accountStatus(AccountStatus(customer: acme, balanceDue: Money(amountMinor: 12_100, currency: eur), overdue: Money(amountMinor: 2_420, currency: eur),
                                         overdueInvoices: 1, lastPayment: Money(amountMinor: 5_000, currency: eur), lastPaymentAt: "2026-11-30T10:00:00Z", asOf: "2026-12-06T07:00:00Z")),
        ]
        for record in records {
            #expect(try codec.decodeJSON(Record.self, from: codec.json(record)) == record, "\(record.kind)")
        }
        #expect(records.map(\.kind) == ["contact", "company", "deal", "order", "account_status"])
        let status = String(decoding: try codec.json(records[4]), as: UTF8.self)
        #expect(status.contains(#""kind":"account_status""#) && status.contains(#""balance_due":{"#) && status.contains(#""overdue_invoices":1"#))
        // A deal without contacts or lines says so by leaving them out.
        let bare = try codec.decodeJSON(Record.self, from: Data(#"{"kind":"deal","deal":{"name":"x","stage":"new","outcome":"open"}}"#.utf8))
        #expect(bare == .deal(Deal(name: "x", stage: "new", outcome: .open)))
    }

    @Test func currencyCodesAreValidated() throws {
        #expect(CurrencyCode("EUR") != nil)
        #expect(CurrencyCode("eur") == nil)
        #expect(CurrencyCode("EURO") == nil)
        #expect(try codec.decodeJSON(Money.self, from: Data(#"{"amount_minor":1,"currency":"usd"}"#.utf8)).currency.code == "USD")
        #expect(throws: DecodingError.self) { try codec.decodeJSON(Money.self, from: Data(#"{"amount_minor":1,"currency":"dollars"}"#.utf8)) }
        #expect(throws: DecodingError.self) { try codec.decodeJSON(Money.self, from: Data(#"{"amount_minor":1.5,"currency":"USD"}"#.utf8)) }
    }

    @Test func idempotencyKeyNamesConnectorObjectAndVersion() {
        let event = invoiceEvent()
        #expect(event.idempotencyKey(connector: "stripe-eu") == "stripe-eu:invoice:in_1:evt_9")
        var unversioned = event
        unversioned.source.version = nil
        #expect(unversioned.idempotencyKey(connector: "c") == "c:invoice:in_1:-")
    }

    @Test func jsonValueKeepsIntegersApartFromDoubles() throws {
        let value = try codec.decodeJSON(JSONValue.self, from: Data(#"{"a":9007199254740993,"b":1.5,"c":[true,null,"x"]}"#.utf8))
        #expect(value["a"] == .int(9_007_199_254_740_993))
        #expect(value["b"] == .double(1.5))
        #expect(value["c"] == [true, nil, "x"])
    }
}
