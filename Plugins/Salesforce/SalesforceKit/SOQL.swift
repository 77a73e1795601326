import Foundation

/// SOQL text built from parts, every value written as a literal Salesforce parses back to it: strings
/// quoted with their escapes, date-times unquoted in UTC to the second (a quoted date-time is a string,
/// which Salesforce refuses against a date-time field). Pure, tested without network.
public enum SOQL {
    /// A string literal: single quotes, with `\` `'` `"` and the control characters SOQL knows escaped.
    public static func quote(_ text: String) -> String {
        var quoted = "'"
        for character in text {
            switch character {
            case "\\": quoted += "\\\\"
            case "'": quoted += "\\'"
            case "\"": quoted += "\\\""
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            case "\u{8}": quoted += "\\b"
            case "\u{c}": quoted += "\\f"
            default: quoted.append(character)
            }
        }
        return quoted + "'"
    }

    /// `('a', 'b')`: the values of an `IN` list.
    public static func list(_ values: [String]) -> String {
        "(" + values.map(quote).joined(separator: ", ") + ")"
    }

    /// A date-time literal, `2024-01-02T17:38:59Z`, from epoch seconds.
    public static func dateTime(_ seconds: Int64) -> String {
        SalesforceTime.soql(seconds)
    }

    /// `SELECT … FROM … [WHERE a AND b] [ORDER BY …] [LIMIT n]`.
    public static func select(_ fields: [String], from object: String, where conditions: [String] = [], orderBy: [String] = [], limit: Int? = nil) -> String {
        var text = "SELECT " + fields.joined(separator: ", ") + " FROM " + object
        if !conditions.isEmpty { text += " WHERE " + conditions.joined(separator: " AND ") }
        if !orderBy.isEmpty { text += " ORDER BY " + orderBy.joined(separator: ", ") }
        if let limit { text += " LIMIT \(limit)" }
        return text
    }
}

/// Salesforce's time stamps: `2024-01-02T17:38:59.000+0000` in REST answers, `…000Z` in Bulk results,
/// to the second. Cursors keep them as SOQL literals (`2024-01-02T17:38:59Z`): fixed width, so their text
/// order is their time order.
public enum SalesforceTime {
    /// Epoch seconds of an RFC 3339 or Salesforce time (`+0000` offsets too), fractions dropped.
    public static func seconds(_ text: String) -> Int64? {
        var text = text.trimmingCharacters(in: .whitespaces)
        // `+0000` → `+00:00`, which ISO 8601 parsing takes.
        if text.count > 5, let sign = text.dropLast(4).last, sign == "+" || sign == "-", text.suffix(4).allSatisfy(\.isNumber) {
            text = String(text.dropLast(2)) + ":" + String(text.suffix(2))
        }
        if let point = text.firstIndex(of: "."), let zone = text[point...].firstIndex(where: { $0 == "Z" || $0 == "+" || $0 == "-" }) {
            text.removeSubrange(point..<zone)
        }
        guard let date = try? Date(text, strategy: .iso8601) else { return nil }
        return Int64(date.timeIntervalSince1970.rounded(.down))
    }

    /// The SOQL literal of epoch seconds.
    public static func soql(_ seconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601)
    }

    /// A record's time stamp as a cursor stamp (its SOQL literal), nil when it is not a time.
    public static func stamp(_ text: String?) -> String? {
        text.flatMap(seconds).map(soql)
    }
}
