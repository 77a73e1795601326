public import ConnectorProtocol

/// A canonical customer as the form fields of `POST /v1/customers`.
public enum StripeCustomerFields {
    public static func fields(_ customer: Customer, reference: String) -> [(String, String)] {
        var fields: [(String, String)] = [("name", customer.name), ("metadata[connector_host_ref]", reference)]
        if let email = customer.email { fields.append(("email", email)) }
        if let phone = customer.phone { fields.append(("phone", phone)) }
        if let vat = customer.vat { fields.append(("metadata[vat]", vat)) }
        if customer.isCompany { fields.append(("metadata[is_company]", "true")) }
        if let address = customer.address {
            for (key, value) in [("line1", address.line1), ("line2", address.line2), ("city", address.city), ("postal_code", address.postalCode),
                                 ("state", address.state), ("country", address.country)] {
                if let value { fields.append(("address[\(key)]", value)) }
            }
        }
        return fields
    }
}
