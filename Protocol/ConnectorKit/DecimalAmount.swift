public import ConnectorProtocol
public import Foundation

/// Amounts that SaaS APIs write as decimal text in major units (HubSpot's `"1500.50"`, Salesforce's
/// `Amount`), read into integer minor units exactly: no floating point between the text and the integer.
public enum DecimalAmount {
    /// `text` in `currency`'s minor units, rounded half away from zero past its digits; nil when it is
    /// not a plain decimal number (`1500.50` and `-12.5` are; `1e3` and `12,5` are not) or does not fit.
    public static func minorUnits(_ text: String, _ currency: CurrencyCode) -> Int64? {
        guard let value = decimal(text) else { return nil }
        return minorUnits(value, currency)
    }

    /// A decimal value in `currency`'s minor units, rounded half away from zero.
    public static func minorUnits(_ value: Decimal, _ currency: CurrencyCode) -> Int64? {
        var scaled = value * pow(Decimal(10), currency.minorUnitExponent)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        guard rounded.magnitude <= Decimal(Int64.max) else { return nil }
        return Int64(truncating: rounded as NSDecimalNumber)
    }

    /// A plain decimal number (`12`, `-0.5`, `1500.50`), or nil.
    public static func decimal(_ text: String) -> Decimal? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.utf8.drop { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }
        guard trimmed.utf8.count - digits.count <= 1, !digits.isEmpty else { return nil }
        var dots = 0
        for byte in digits where !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            guard byte == UInt8(ascii: "."), dots == 0 else { return nil }
            dots += 1
        }
        guard digits.contains(where: { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX"))
    }
}
