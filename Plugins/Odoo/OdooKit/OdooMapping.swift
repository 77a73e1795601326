public import ConnectorProtocol

/// Canonical records as Odoo field values: pure functions, no I/O. Ids Odoo must resolve first
/// (country, currency, taxes, products) come in as arguments.
///
/// Idempotency: every record the connector writes carries a reference `ch:<source connector>:<object
/// type>:<object id>` in a searchable field of the record itself (`ref` on partners and invoices,
/// `default_code` on products when the source has no SKU). Before creating, the connector searches
/// for it; the reference is written by the same `create` call as the record, in Odoo's one
/// transaction, so a crash between Odoo's commit and the host's bookkeeping leaves a record the next
/// attempt finds — never a second one. External ids in `ir.model.data` would need a second call
/// (`create`, then the xmlid) with a window in between where a crash makes a duplicate; they also
/// cannot be seen or searched by accountants, while `ref` shows up on the invoice.
public enum OdooMapping {
    /// The reference written into Odoo for a canonical record.
    public static func reference(sourceConnector: String, objectType: String, objectID: String) -> String {
        SinkReference(sourceConnector: sourceConnector, objectType: objectType, objectID: objectID).description
    }

    public static func partnerValues(_ customer: Customer, reference: String, countryID: Int64?, companyID: Int64?) -> [String: JSONValue] {
        var values: [String: JSONValue] = [
            "name": .string(customer.name),
            "is_company": .bool(customer.isCompany),
            "ref": .string(reference),
        ]
        if let email = customer.email { values["email"] = .string(email) }
        if let phone = customer.phone { values["phone"] = .string(phone) }
        // Compact (`BE 0477.472.701` → `BE0477472701`), as Odoo's VAT check writes it: one form to match two sources by.
        if let vat = customer.vat.map(compactVAT), !vat.isEmpty { values["vat"] = .string(vat) }
        if let address = customer.address {
            if let line1 = address.line1 { values["street"] = .string(line1) }
            if let line2 = address.line2 { values["street2"] = .string(line2) }
            if let city = address.city { values["city"] = .string(city) }
            if let postalCode = address.postalCode { values["zip"] = .string(postalCode) }
        }
        if let countryID { values["country_id"] = .int(countryID) }
        if let companyID { values["company_id"] = .int(companyID) }
        return values
    }

    /// A VAT number without spaces, dots or dashes, upper case.
    public static func compactVAT(_ vat: String) -> String {
        vat.uppercased().filter { $0.isLetter || $0.isNumber }
    }

    public static func productValues(_ product: Product, reference: String, major: Int) -> [String: JSONValue] {
        var values: [String: JSONValue] = [
            "name": .string(product.name),
            "default_code": .string(product.sku ?? reference),
            "active": .bool(product.active),
            "sale_ok": true,
        ]
        // Odoo 17 calls the product kind detailed_type; 18 and 19 call it type, with "service" in both.
        values[major >= 18 ? "type" : "detailed_type"] = "service"
        if let price = product.unitPrice { values["list_price"] = amount(price.amountMinor, price.currency) }
        if let description = product.description { values["description_sale"] = .string(description) }
        return values
    }

    /// Why an invoice cannot be mapped: the connector answers `permanent` with this (a mapping to fix).
    public struct Unmapped: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// `account.move` values of an `out_invoice` (or `out_refund` for a credit note). `products` maps
    /// each line's canonical product reference to a `product.product` id; `taxes` maps a tax rate
    /// (as the source writes it, e.g. "20") to an `account.tax` id of the invoice's company.
    public static func invoiceValues(
        _ invoice: Invoice, creditNote: Bool, reference: String, partnerID: Int64, currencyID: Int64, companyID: Int64?,
        journalID: Int64?, products: [String: Int64], taxes: [String: Int64], sourceConnector: String
    ) throws(Unmapped) -> [String: JSONValue] {
        var lines: [JSONValue] = []
        for (index, line) in invoice.lines.enumerated() {
            var productID: Int64?
            if let product = line.product {
                let key = Self.reference(sourceConnector: sourceConnector, objectType: product.objectType, objectID: product.objectID)
                guard let id = products[key] else {
                    throw Unmapped(description: "line \(index + 1) (\(line.description)): product \(product.objectType) \(product.objectID) is not in Odoo yet")
                }
                productID = id
            }
            var taxIDs: [JSONValue] = []
            for tax in line.taxes {
                guard let taxID = taxes[tax.rate] else {
                    throw Unmapped(description: "line \(index + 1) (\(line.description)): no Odoo tax is mapped for rate \(tax.rate) %; add it to [connector.config.taxes]")
                }
                taxIDs.append(.int(taxID))
            }
            for part in OdooLines.parts(of: line, currency: invoice.currency) {
                var values: [String: JSONValue] = [
                    "name": .string(part.name), "quantity": .double(part.quantity), "price_unit": amount(part.priceMinor, invoice.currency),
                    "tax_ids": [[6, 0, .array(taxIDs)]],  // replace the product's default taxes with exactly these
                ]
                if !part.isDiscount, let productID { values["product_id"] = .int(productID) }
                lines.append([0, 0, .object(values)])
            }
        }
        var values: [String: JSONValue] = [
            "move_type": .string(creditNote ? "out_refund" : "out_invoice"),
            "partner_id": .int(partnerID),
            "currency_id": .int(currencyID),
            "ref": .string(reference),
            "invoice_line_ids": .array(lines),
        ]
        if let number = invoice.number { values["payment_reference"] = .string(number) }
        if let issued = invoice.issuedAt { values["invoice_date"] = .string(String(issued.prefix(10))) }
        if let due = invoice.dueAt { values["invoice_date_due"] = .string(String(due.prefix(10))) }
        if let companyID { values["company_id"] = .int(companyID) }
        if let journalID { values["journal_id"] = .int(journalID) }
        return values
    }

    /// Whether the source's invoice is final, so that the Odoo invoice is posted.
    public static func shouldPost(_ invoice: Invoice) -> Bool {
        switch invoice.status {
        case .open, .paid, .uncollectible: true
        case .draft, .void: false
        }
    }

    /// Minor units as the decimal amount Odoo's float fields take (the only place money leaves
    /// integers: Odoo's API has no other representation).
    public static func amount(_ minor: Int64, _ currency: CurrencyCode) -> JSONValue {
        let exponent = currency.minorUnitExponent
        var divisor: Int64 = 1
        for _ in 0..<exponent { divisor *= 10 }
        return .double(Double(minor) / Double(divisor))
    }

    /// The amount back in minor units, rounded to the currency's precision.
    public static func minorUnits(_ value: Double, _ currency: CurrencyCode) -> Int64 {
        var factor = 1.0
        for _ in 0..<currency.minorUnitExponent { factor *= 10 }
        return Int64((value * factor).rounded())
    }
}
