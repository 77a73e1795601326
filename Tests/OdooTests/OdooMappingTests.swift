import ConnectorProtocol
import OdooKit
import Testing

@Suite struct OdooMappingTests {
    let eur = CurrencyCode("EUR")!

    @Test func moneyLeavesIntegersOnlyAtOdoosBoundaryAndComesBackExact() {
        #expect(OdooMapping.amount(1999, eur) == .double(19.99))
        #expect(OdooMapping.amount(1999, CurrencyCode("JPY")!) == .double(1999))
        #expect(OdooMapping.amount(1999, CurrencyCode("KWD")!) == .double(1.999))
        for minor: Int64 in [0, 1, 5, 99, 1999, 123_456_789_01, -4250] {
            guard case .double(let value) = OdooMapping.amount(minor, eur) else { Issue.record("not a number"); continue }
            #expect(OdooMapping.minorUnits(value, eur) == minor)
        }
    }

    @Test func aPartnerCarriesItsReference() {
        let customer = Customer(name: "ACME SAS", email: "billing@acme.test", isCompany: true, vat: "FR40303265045",
                                address: Address(line1: "1 rue de la Paix", city: "Paris", postalCode: "75002", country: "FR"), currency: eur)
        let values = OdooMapping.partnerValues(customer, reference: "ch:stripe:customer:cus_1", countryID: 75, companyID: 2)
        #expect(values["ref"] == "ch:stripe:customer:cus_1")
        #expect(values["is_company"] == true)
        #expect(values["vat"] == "FR40303265045")
        #expect(values["street"] == "1 rue de la Paix" && values["zip"] == "75002" && values["city"] == "Paris")
        #expect(values["country_id"] == 75 && values["company_id"] == 2)
    }

    @Test func productKindFieldDiffersBetweenVersions() {
        let product = Product(name: "Pro plan", sku: nil, unitPrice: Money(amountMinor: 4900, currency: eur), active: true)
        #expect(OdooMapping.productValues(product, reference: "ch:s:product:p1", major: 17)["detailed_type"] == "service")
        #expect(OdooMapping.productValues(product, reference: "ch:s:product:p1", major: 19)["type"] == "service")
        #expect(OdooMapping.productValues(product, reference: "ch:s:product:p1", major: 19)["default_code"] == "ch:s:product:p1")
    }

    func invoice(taxRate: String = "20", product: RecordRef? = RecordRef(objectType: "product", objectID: "p1")) -> Invoice {
        Invoice(
            number: "F-2026-001", customer: RecordRef(objectType: "customer", objectID: "cus_1"), status: .open, currency: eur,
            lines: [InvoiceLine(description: "Pro plan", product: product, quantity: "2", unitAmountMinor: 4900, amountMinor: 9800,
                                taxes: [TaxLine(rate: taxRate, amountMinor: 1960)])],
            subtotalMinor: 9800, taxMinor: 1960, totalMinor: 11760, amountDueMinor: 11760
        )
    }

    @Test func anInvoiceMapsLinesTaxesAndItsReference() throws {
        let values = try OdooMapping.invoiceValues(
            invoice(), creditNote: false, reference: "ch:stripe:invoice:in_1", partnerID: 9, currencyID: 1, companyID: 2, journalID: nil,
            products: ["ch:stripe:product:p1": 31], taxes: ["20": 5], sourceConnector: "stripe"
        )
        #expect(values["move_type"] == "out_invoice")
        #expect(values["ref"] == "ch:stripe:invoice:in_1")
        #expect(values["payment_reference"] == "F-2026-001")
        let line = try #require(values["invoice_line_ids"]?.arrayValue?.first?.arrayValue?.last)
        #expect(line["product_id"] == 31 && line["quantity"] == .double(2) && line["price_unit"] == .double(49))
        #expect(line["tax_ids"] == [[6, 0, [5]]])
        #expect(OdooMapping.shouldPost(invoice()))
    }

    @Test func anUnmappedTaxOrProductIsAMappingErrorNamingTheLine() {
        #expect(throws: OdooMapping.Unmapped.self) {
            try OdooMapping.invoiceValues(self.invoice(taxRate: "5.5"), creditNote: false, reference: "r", partnerID: 9, currencyID: 1, companyID: nil,
                                          journalID: nil, products: ["ch:stripe:product:p1": 31], taxes: ["20": 5], sourceConnector: "stripe")
        }
        do {
            _ = try OdooMapping.invoiceValues(invoice(), creditNote: true, reference: "r", partnerID: 9, currencyID: 1, companyID: nil,
                                              journalID: nil, products: [:], taxes: ["20": 5], sourceConnector: "stripe")
            Issue.record("an unknown product must not map")
        } catch {
            #expect(error.description.contains("line 1 (Pro plan): product product p1 is not in Odoo yet"))
        }
    }
}
