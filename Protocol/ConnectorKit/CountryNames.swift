public import Foundation

/// A CRM's free-text country (HubSpot's `country`, Salesforce's `BillingCountry`) as an ISO 3166 code:
/// a two-letter code or an English name; anything else is nil (left out, never guessed).
public enum CountryNames {
    public static func isoCode(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let english = Locale(identifier: "en_US")
        if trimmed.count == 2, english.localizedString(forRegionCode: trimmed.uppercased()) != nil { return trimmed.uppercased() }
        let wanted = trimmed.lowercased()
        return Locale.Region.isoRegions.first { region in
            region.identifier.count == 2 && english.localizedString(forRegionCode: region.identifier)?.lowercased() == wanted
        }?.identifier
    }
}
