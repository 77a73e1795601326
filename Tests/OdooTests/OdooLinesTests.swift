import ConnectorProtocol
import OdooKit
import Testing

/// Canonical lines into Odoo lines: quantities and discounts kept, every amount exact to the minor unit.
@Suite struct OdooLinesTests {
    let eur = CurrencyCode("EUR")!
    typealias Part = OdooLines.Part

    func line(_ quantity: String, amount: Int64, discount: Int64 = 0, rate: String = "21", inclusive: Bool = false) -> InvoiceLine {
        InvoiceLine(description: "Seats", quantity: quantity, unitAmountMinor: 0, amountMinor: amount, discountMinor: discount,
                    taxes: [TaxLine(rate: rate, amountMinor: 0, inclusive: inclusive)])
    }

    @Test func aQuantityThatDividesTheAmountIsOneLine() {
        #expect(OdooLines.parts(of: line("4", amount: 2_000), currency: eur) == [Part(name: "Seats", quantity: 4, priceMinor: 500)])
        #expect(OdooLines.parts(of: line("1", amount: -1_234), currency: eur) == [Part(name: "Seats", quantity: 1, priceMinor: -1_234)])
        #expect(OdooLines.parts(of: line("2.5", amount: 1_000), currency: eur) == [Part(name: "Seats", quantity: 2.5, priceMinor: 400)])
    }

    /// 3 seats for 10.00 was one line of 1 × 10.00 ("Seats (× 3)"): now 2 × 3.33 + 1 × 3.34, the same tax.
    @Test func aQuantityThatDoesNotDivideTheAmountIsSplitOneMinorUnitApart() {
        #expect(OdooLines.parts(of: line("3", amount: 1_000), currency: eur) == [Part(name: "Seats", quantity: 2, priceMinor: 333), Part(name: "Seats", quantity: 1, priceMinor: 334)])
        #expect(OdooLines.parts(of: line("3", amount: -1_000), currency: eur) == [Part(name: "Seats", quantity: 1, priceMinor: -334), Part(name: "Seats", quantity: 2, priceMinor: -333)])
    }

    @Test func aDiscountIsALineOfItsOwnBelowThePrice() {
        #expect(OdooLines.parts(of: line("2", amount: 800, discount: 200), currency: eur) == [
            Part(name: "Seats", quantity: 2, priceMinor: 500),
            Part(name: "Discount on Seats (2.00 EUR)", quantity: 1, priceMinor: -200, isDiscount: true),
        ])
    }

    /// Where Odoo's per-line rounding would change the tax, the exact amount wins over the layout.
    @Test func whenSeparateLinesWouldChangeTheTaxTheAmountIsKeptWhole() {
        // 10 % of 10.03 is 1.00 and of -0.05 is -0.01 (half away from zero), but of 9.98 it is 1.00.
        #expect(OdooLines.parts(of: line("1", amount: 998, discount: 5, rate: "10"), currency: eur) == [
            Part(name: "Seats, discount 0.05 EUR included", quantity: 1, priceMinor: 998),
        ])
        // 10 % of 0.10 + 0.11 is 0.01 + 0.01, of 0.21 is 0.02: split; of 0.05 + 0.06 is 0.01 + 0.01, of 0.11 is 0.01: kept whole.
        #expect(OdooLines.parts(of: line("2", amount: 21, rate: "10"), currency: eur).count == 2)
        #expect(OdooLines.parts(of: line("2", amount: 11, rate: "10"), currency: eur) == [Part(name: "Seats (× 2)", quantity: 1, priceMinor: 11)])
        // A price-included tax: no split, the quantity in the label.
        #expect(OdooLines.parts(of: line("3", amount: 1_000, inclusive: true), currency: eur) == [Part(name: "Seats (× 3)", quantity: 1, priceMinor: 1_000)])
        #expect(OdooLines.parts(of: line("3", amount: 900, inclusive: true), currency: eur) == [Part(name: "Seats", quantity: 3, priceMinor: 300)])
    }

    @Test func taxRatesAreReadAsDecimalFractions() {
        let half = line("2", amount: 1_001, rate: "5.5")  // 2 × 5.00 / 5.01: 0.275 → 0.28 and 0.27555 → 0.28 vs 0.550550 → 0.55
        #expect(OdooLines.parts(of: half, currency: eur) == [Part(name: "Seats (× 2)", quantity: 1, priceMinor: 1_001)])
        #expect(OdooLines.parts(of: line("2", amount: 1_001, rate: "bad"), currency: eur) == [Part(name: "Seats (× 2)", quantity: 1, priceMinor: 1_001)])
    }
}
