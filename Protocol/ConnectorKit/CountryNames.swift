import Foundation

/// A CRM's free-text country (HubSpot's `country`, Salesforce's `BillingCountry`) as an ISO 3166 code:
/// a two-letter code or an English name; anything else is nil (left out, never guessed).
public enum CountryNames {
    public static func isoCode(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.count == 2 {
            let code = trimmed.uppercased()
            return codes.contains(code) ? code : nil
        }
        return byName[trimmed.lowercased()]
    }

    /// The two-letter region codes, and their English names (lower case) → code: built once, as asking
    /// the locale library for every record costs more than the rest of a record's mapping.
    static let codes: Set<String> = Set(byName.values)
    static let byName: [String: String] = {
        let english = Locale(identifier: "en_US")
        var names: [String: String] = [:]
        for region in Locale.Region.isoRegions where region.identifier.count == 2 {
            if let name = english.localizedString(forRegionCode: region.identifier) { names[name.lowercased()] = region.identifier }
        }
        return names
    }()
}
