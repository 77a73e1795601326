public import ConnectorProtocol

/// How a canonical invoice line becomes Odoo invoice lines, exactly to the minor unit.
///
/// Odoo keeps a unit price to the currency's decimals and computes each line's tax rounded on its own
/// (its default, "round per line"). So a line's quantity is kept by splitting an amount it does not
/// divide into two lines one minor unit apart (3 seats for 10.00: 2 × 3.33 and 1 × 3.34), and a
/// discount is a line of its own below the price; either is done only when Odoo's per-line tax
/// rounding then gives the source's tax to the minor unit. Otherwise the line keeps the exact amount
/// as one unit (its label says the quantity) with the discount taken off (its label says so).
public enum OdooLines {
    public struct Part: Sendable, Equatable {
        public var name: String
        public var quantity: Double
        public var priceMinor: Int64
        public var isDiscount: Bool

        public init(name: String, quantity: Double, priceMinor: Int64, isDiscount: Bool = false) {
            self.name = name
            self.quantity = quantity
            self.priceMinor = priceMinor
            self.isDiscount = isDiscount
        }
    }

    public static func parts(of line: InvoiceLine, currency: CurrencyCode) -> [Part] {
        let exclusive = line.taxes.allSatisfy { !$0.inclusive }
        let gross = line.amountMinor + line.discountMinor
        if line.discountMinor != 0, exclusive, let priced = priced(line.description, quantity: line.quantity, amount: gross, taxes: line.taxes),
           sameTax([priced.reduce(0) { $0 + Int64($1.quantity) * $1.priceMinor }, -line.discountMinor], line.taxes) {
            let discount = Money(amountMinor: line.discountMinor, currency: currency).decimalText
            return priced + [Part(name: "Discount on \(line.description) (\(discount) \(currency))", quantity: 1, priceMinor: -line.discountMinor, isDiscount: true)]
        }
        let note = line.discountMinor == 0 ? "" : ", discount \(Money(amountMinor: line.discountMinor, currency: currency).text()) included"
        // A price-included tax is computed back from the price: only an exact unit price keeps it.
        if let priced = priced(line.description + note, quantity: line.quantity, amount: line.amountMinor, taxes: line.taxes), exclusive || priced.count == 1 {
            return priced
        }
        return [Part(name: "\(line.description) (× \(line.quantity))\(note)", quantity: 1, priceMinor: line.amountMinor)]
    }

    /// `amount` as whole units of `quantity`: one line when the quantity divides it, two one minor unit
    /// apart when that keeps the tax; nil when neither can be exact.
    static func priced(_ name: String, quantity text: String, amount: Int64, taxes: [TaxLine]) -> [Part]? {
        if let units = Int64(text) {
            guard units > 0 else { return amount == 0 ? [Part(name: name, quantity: Double(units), priceMinor: 0)] : nil }
            let (unit, rest) = floorDivision(amount, units)
            if rest == 0 { return [Part(name: name, quantity: Double(units), priceMinor: unit)] }
            guard sameTax([(units - rest) * unit, rest * (unit + 1)], taxes) else { return nil }
            return [Part(name: name, quantity: Double(units - rest), priceMinor: unit), Part(name: name, quantity: Double(rest), priceMinor: unit + 1)]
        }
        // A fractional quantity ("2.5"): one line when its unit price is whole minor units.
        guard let units = Double(text), units > 0 else { return nil }
        let unit = Int64((Double(amount) / units).rounded())
        guard (Double(unit) * units).rounded() == Double(amount) else { return nil }
        return [Part(name: name, quantity: units, priceMinor: unit)]
    }

    static func floorDivision(_ amount: Int64, _ units: Int64) -> (Int64, Int64) {
        let (quotient, remainder) = amount.quotientAndRemainder(dividingBy: units)
        return remainder < 0 ? (quotient - 1, remainder + units) : (quotient, remainder)
    }

    /// Whether taxing the parts one by one (each rounded half away from zero, as Odoo rounds) gives
    /// the same tax as taxing their sum, for every rate.
    static func sameTax(_ parts: [Int64], _ taxes: [TaxLine]) -> Bool {
        taxes.allSatisfy { tax in
            guard let rate = Rate(tax.rate) else { return false }
            return parts.reduce(0) { $0 + rate.tax(on: $1) } == rate.tax(on: parts.reduce(0, +))
        }
    }

    /// A percentage as a decimal string ("21", "5.5"), as a fraction.
    struct Rate {
        var numerator: Int64
        var denominator: Int64

        init?(_ text: String) {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let whole = Int64(parts[0]), parts.count == 1 || parts[1].allSatisfy(\.isNumber), parts.count == 1 || parts[1].count <= 6 else { return nil }
            let fraction = parts.count == 2 ? String(parts[1]) : ""
            var denominator: Int64 = 100
            for _ in fraction { denominator *= 10 }
            numerator = whole * (denominator / 100) + (Int64(fraction) ?? 0)
            self.denominator = denominator
        }

        /// The tax on `amount` minor units, rounded half away from zero.
        func tax(on amount: Int64) -> Int64 {
            let (quotient, remainder) = (amount * numerator).quotientAndRemainder(dividingBy: denominator)
            guard 2 * abs(remainder) >= denominator else { return quotient }
            return quotient + (amount < 0 ? -1 : 1)
        }
    }
}
