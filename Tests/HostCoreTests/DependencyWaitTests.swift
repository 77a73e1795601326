import ConnectorProtocol
import Foundation
import HostAdmin
@testable import HostCore
import Testing

/// A delivery that waits for another record, and an older version superseded by a later event of its
/// object: on each store of the conformance suite (``StoreUnderTest``), without I/O to any plugin.
@Suite struct DependencyWaitTests {
    let route = RouteConfig(
        id: "r", from: "src", to: "erp", events: ["*"], tenant: nil, entity: nil,
        maxAttempts: 3, maxAgeSeconds: 3600, rateLimit: nil, concurrency: 4, retryBaseMilliseconds: 10, retryMaxMilliseconds: 100
    )

    static let eur = CurrencyCode("EUR")!
    static let invoiceRef = RecordRef(objectType: "invoice", objectID: "in_1")

    /// All under one ordering key, as a source that keys by customer would send them.
    static func payment(version: String, status: Payment.Status = .succeeded) -> Event {
        Event(type: "payment.succeeded", source: SourceRef(objectType: "payment", objectID: "py_1", version: version),
              correlationID: "py_1:\(version)", occurredAt: "2026-01-01T00:00:00Z", orderingKey: "cus_1",
              record: .payment(Payment(invoice: invoiceRef, amount: Money(amountMinor: 120, currency: eur), status: status)))
    }

    static func invoice(version: String, status: Invoice.Status = .open) -> Event {
        Event(type: status == .void ? "invoice.voided" : "invoice.finalized", source: SourceRef(objectType: "invoice", objectID: "in_1", version: version),
              correlationID: "in_1:\(version)", occurredAt: "2026-01-01T00:00:00Z", orderingKey: "cus_1",
              record: .invoice(Invoice(customer: RecordRef(objectType: "customer", objectID: "cus_1"), status: status, currency: eur, lines: [],
                                       subtotalMinor: 100, taxMinor: 20, totalMinor: 120, amountDueMinor: 120)))
    }

    /// What is due, looked at only: reading claims the deliveries (on a shared store), so the claims
    /// are given back, as a route worker gives back what it will not deliver now.
    func due(_ store: any HostStore, at now: Int64 = Store.now()) async throws -> [String] {
        let jobs = try await store.dueDeliveries(route: "r", now: now, limit: 100)
        try await store.releaseClaims(jobs.map(\.deliveryID))
        return jobs.map(\.correlationID)
    }

    /// A failed attempt whose retry is due in an hour: far beyond any pause of a test's task (on a busy
    /// 2-core machine a test can wait over a minute for a thread), so that only what the test means
    /// makes a delivery due.
    func fail(_ store: any HostStore, _ job: DeliveryJob, _ error: ConnectorError, retryIn: Int64 = 3_600_000) async throws {
        try await store.record(DeliveryOutcome(job: job, startedAt: 0, finishedAt: Store.now(), result: .failed(error, .retry(at: Store.now() + retryIn))))
    }

    func deliver(_ store: any HostStore, _ job: DeliveryJob) async throws {
        let canonical = DeliveryOutcome.Canonical(id: job.canonicalID, objectType: job.objectType, objectID: job.objectID)
        try await store.record(DeliveryOutcome(job: job, startedAt: 0, finishedAt: Store.now(),
                                               result: .delivered(externalID: "x,1", duplicate: false, links: [], canonical: canonical)))
    }

    /// A payment that arrived before its invoice, in the same ordering key: the invoice passes it, and
    /// the payment is due again the moment the invoice is delivered, not when its backoff ends. A later
    /// event of the waiting payment itself stays behind it.
    @Test(arguments: StoreUnderTest.all) func aPaymentWaitingForItsInvoiceLetsTheInvoicePassAndGoesRightAfterIt(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await store.ingest(connector: "src", stream: nil, events: [Self.payment(version: "1"), Self.invoice(version: "1"), Self.payment(version: "2")],
                                   cursor: nil, routes: [route])
        let first = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        #expect(first.map(\.correlationID) == ["py_1:1"])
        try await fail(store, first[0], .dependency(on: Self.invoiceRef, "invoice in_1 is not in the target yet"))
        // Waiting: the invoice may pass; the payment's own later version may not.
        let passing = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        #expect(passing.map(\.correlationID) == ["in_1:1"])
        try await deliver(store, passing[0])
        // Woken by the invoice's delivery, an hour before its retry was due.
        #expect(try await due(store) == ["py_1:1"])
    }

    /// When the waiting delivery's retry comes, it holds its key again: the rest of the key does not run
    /// beside it in the same batch (a payment registered while its invoice was being written found it a
    /// draft). Until then the key passes.
    @Test(arguments: StoreUnderTest.all) func aWaitingDeliveryDueAgainHoldsItsKeyForThatRound(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await store.ingest(connector: "src", stream: nil, events: [Self.invoice(version: "1"), Self.payment(version: "1")], cursor: nil, routes: [route])
        let first = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        #expect(first.map(\.correlationID) == ["in_1:1"])
        try await fail(store, first[0], ConnectorError(.dependency, "product p_1 of invoice in_1 is not in the target yet"))
        #expect(try await due(store) == ["py_1:1"], "while the invoice waits, its key passes")
        #expect(try await due(store, at: Store.now() + 3_601_000) == ["in_1:1"], "its retry due: the invoice alone")
    }

    /// A sink that does not name what it waits for: the delivery is woken by the next delivery of its
    /// ordering key instead.
    @Test(arguments: StoreUnderTest.all) func aWaitingDeliveryIsWokenByItsOrderingKey(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await store.ingest(connector: "src", stream: nil, events: [Self.payment(version: "1"), Self.invoice(version: "1")], cursor: nil, routes: [route])
        let first = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        try await fail(store, first[0], ConnectorError(.dependency, "something is missing"))
        let passing = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        #expect(passing.map(\.correlationID) == ["in_1:1"])
        try await deliver(store, passing[0])
        #expect(try await due(store) == ["py_1:1"])
    }

    /// Any other failure still holds its key: order is kept while the target is unwell.
    @Test(arguments: StoreUnderTest.all) func aTransientFailureStillHoldsBackItsKey(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await store.ingest(connector: "src", stream: nil, events: [Self.payment(version: "1"), Self.invoice(version: "1")], cursor: nil, routes: [route])
        let first = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        try await fail(store, first[0], ConnectorError(.transient, "503"))
        #expect(try await due(store).isEmpty)
    }

    /// Replaying a history: the first version of an invoice fails for good (cancelled in the target
    /// since), but a later event of the same invoice is pending behind it: superseded, audited, not a
    /// dead letter. Without a later event it is dead-lettered as before.
    @Test(arguments: StoreUnderTest.all) func aFailedOlderVersionIsSupersededByALaterEventOfItsObject(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await store.ingest(connector: "src", stream: nil, events: [Self.invoice(version: "1"), Self.invoice(version: "2", status: .void)],
                                   cursor: nil, routes: [route])
        let first = try #require(try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100).first)
        let error = ConnectorError(.permanent, "INV/1 was cancelled in Odoo; the source says it is open")
        #expect(try await store.record(DeliveryOutcome(job: first, startedAt: 0, finishedAt: 1, result: .failed(error, .dead(reason: error.message)))))
        #expect(try await store.deadLetters(route: nil, limit: 10).isEmpty)
        #expect(try await due(store) == ["in_1:2"])
        let trace = try await store.trace(correlationID: "in_1:1")
        #expect(trace.audit.map(\.action) == ["delivery.superseded"])
        #expect(trace.events.first?.deliveries.first?.state == "discarded")

        let last = try #require(try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100).first)
        #expect(try await store.record(DeliveryOutcome(job: last, startedAt: 0, finishedAt: 1, result: .failed(error, .dead(reason: error.message)))) == false)
        #expect(try await store.deadLetters(route: nil, limit: 10).map(\.correlationID) == ["in_1:2"])
    }
}
