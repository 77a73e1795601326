import ConnectorProtocol

/// Canonical values with the edges a JSON codec must get right (quotes, newlines, non-ASCII text,
/// negative and extreme amounts), for the encoder's and the decoder's tests.
enum EdgeCaseEvents {
    static let eur = CurrencyCode("EUR")!

    static func invoice(number: String = "F-\"1\"", line: String = "Plan \"Pro\" ✓\n/month", amountDueMinor: Int64 = .min) -> Event {
        Event(
            type: "invoice.finalized",
            source: SourceRef(objectType: "invoice", objectID: "in_1", version: "evt_9"),
            tenant: "acme", entity: nil,
            correlationID: "corr-1", occurredAt: "2026-11-22T10:00:00Z", orderingKey: "cus_1",
            record: .invoice(Invoice(
                number: number, customer: RecordRef(objectType: "customer", objectID: "cus_1"), status: .open, currency: eur,
                lines: [InvoiceLine(description: line, quantity: "2", unitAmountMinor: -1999, amountMinor: 3998,
                                    taxes: [TaxLine(rate: "20", amountMinor: 800)])],
                subtotalMinor: 3998, taxMinor: 800, totalMinor: 4798, amountDueMinor: amountDueMinor
            ))
        )
    }

    static let payment = Payment(amount: Money(amountMinor: 123_456_789_012, currency: eur), fee: nil, status: .succeeded)
}
