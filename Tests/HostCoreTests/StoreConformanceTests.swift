import ConnectorProtocol
import Foundation
import HostAdmin
@testable import HostCore
import Testing

/// What every store must do (the SQLite store, and each other one in ``StoreUnderTest/all``), each
/// test on a new, empty store of each kind.
@Suite struct StoreConformanceTests {
    let route = RouteConfig(
        id: "r", from: "src", to: "erp", events: ["invoice.*", "payment.*"], tenant: nil, entity: nil,
        maxAttempts: 3, maxAgeSeconds: 3600, rateLimit: nil, concurrency: 4, retryBaseMilliseconds: 10, retryMaxMilliseconds: 100
    )

    func events(_ range: Range<Int>) -> [Event] {
        range.map { SyntheticFixture.event(index: $0) }
    }

    @Test(arguments: StoreUnderTest.all) func ingestStoresOnceAndRoutes(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let first = try await store.ingest(connector: "src", stream: "s", events: events(0..<9), cursor: "9", routes: [route])
        #expect(first.stored.count == 9)
        #expect(first.duplicates == 0)
        #expect(try await store.cursor(connector: "src", stream: "s") == "9")
        // Re-polled: nothing new, every duplicate counted and audited; the cursor still moves.
        let again = try await store.ingest(connector: "src", stream: "s", events: events(0..<9), cursor: "9b", routes: [route])
        #expect(again.stored.isEmpty)
        #expect(again.duplicates == 9)
        #expect(try await store.duplicates() == ["src": 9])
        #expect(try await store.cursor(connector: "src", stream: "s") == "9b")
        // Customers (index % 3 == 0) do not match the route: 6 deliveries.
        let queue = try await store.queue(now: Store.now())
        #expect(queue.map(\.count) == [6])
        #expect(queue.first?.state == "pending")
        let trace = try await store.trace(correlationID: "c-0")
        #expect(trace.audit.map(\.action) == ["event.duplicate"])
    }

    @Test(arguments: StoreUnderTest.all) func dueDeliveriesHoldOneHeadPerOrderingKey(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        // Events 1, 2 (customer 0) and 4, 5 (customer 1): two keys, two deliveries each.
        _ = try await store.ingest(connector: "src", stream: nil, events: events(0..<6), cursor: nil, routes: [route])
        let due = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        #expect(due.map(\.orderingKey) == ["cus_0", "cus_1"])
        #expect(due.map(\.idempotencyKey) == ["src:invoice:in_1:1", "src:invoice:in_4:1"])
        // The head of cus_0 fails and waits: cus_0's next delivery stays behind it.
        let head = due[0]
        try await store.record(DeliveryOutcome(job: head, startedAt: 0, finishedAt: Store.now(),
                                               result: .failed(ConnectorError(.transient, "503"), .retry(at: Store.now() + 3_600_000))))  // an hour: a loaded machine took minutes
        try await store.record(DeliveryOutcome(job: due[1], startedAt: 0, finishedAt: Store.now(),
                                               result: .delivered(externalID: "X1", duplicate: false, links: [], canonical: nil)))
        let next = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        #expect(next.map(\.idempotencyKey) == ["src:payment:py_5:1"])
    }

    @Test(arguments: StoreUnderTest.all) func deadLettersCanBeShownReplayedAndDiscarded(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await store.ingest(connector: "src", stream: nil, events: events(0..<3), cursor: nil, routes: [route])
        let jobs = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 10)
        #expect(jobs.count == 1)
        let error = ConnectorError(.permanent, "partner has no VAT", details: ["field": "vat"])
        try await store.record(DeliveryOutcome(job: jobs[0], startedAt: 1, finishedAt: 2, result: .failed(error, .dead(reason: error.message))))
        let letters = try await store.deadLetters(route: nil, limit: 10)
        #expect(letters.count == 1)
        #expect(letters[0].errorClass == "permanent")
        let detail = try #require(try await store.deadLetter(id: letters[0].id))
        #expect(detail.attempts.count == 1)
        #expect(detail.attempts[0].details == #"{"field":"vat"}"#)
        #expect(detail.event["type"] == "invoice.finalized")

        #expect(try await store.replay(ids: [letters[0].id, 999], route: nil, actor: "test") == [letters[0].id])
        #expect(try await store.deadLetters(route: nil, limit: 10).isEmpty)
        let retried = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 10)
        #expect(retried.map(\.deliveryID) == [letters[0].id])
        #expect(retried[0].attempts == 1, "attempt numbers continue")
        #expect(retried[0].idempotencyKey == jobs[0].idempotencyKey)

        try await store.record(DeliveryOutcome(job: retried[0], startedAt: 3, finishedAt: 4, result: .failed(error, .dead(reason: "again"))))
        #expect(try await store.discard(ids: [letters[0].id], actor: "test") == [letters[0].id])
        #expect(try await store.deadLetters(route: nil, limit: 10).isEmpty)
        let actions = try await store.trace(correlationID: jobs[0].correlationID).audit.map(\.action)
        #expect(actions == ["delivery.dead", "dlq.replay", "delivery.dead", "dlq.discard"])
    }

    @Test(arguments: StoreUnderTest.all) func deliveredRecordsLinks(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await store.ingest(connector: "src", stream: nil, events: events(0..<3), cursor: nil, routes: [route])
        let job = try #require(try await store.dueDeliveries(route: "r", now: Store.now(), limit: 10).first)
        let canonical = DeliveryOutcome.Canonical(id: "src:invoice:in_1", objectType: "invoice", objectID: "in_1")
        let partner = Link(connector: "erp", objectType: "customer", sourceID: "cus_0", externalID: "res.partner,7")
        try await store.record(DeliveryOutcome(job: job, startedAt: 0, finishedAt: 1,
                                               result: .delivered(externalID: "account.move,42", duplicate: false, links: [partner], canonical: canonical)))
        let links = try await store.links(target: "erp", canonicalIDs: ["src:invoice:in_1", "src:customer:cus_0", "src:customer:nope"])
        #expect(Set(links.map(\.link.externalID)) == ["account.move,42", "res.partner,7"])
        let trace = try await store.trace(correlationID: job.correlationID)
        #expect(trace.events.first?.deliveries.first?.state == "delivered")
        #expect(trace.events.first?.links.map(\.externalID) == ["account.move,42"])
    }

    @Test(arguments: StoreUnderTest.all) func auditIsAppendOnlyAndChained(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        try await store.audit(correlationID: "x", actor: "a", action: "one", subject: "s", detail: "d")
        try await store.audit(correlationID: "x", actor: "a", action: "two", subject: "s", detail: "d")
        #expect(try await store.trace(correlationID: "x").audit.map(\.action) == ["one", "two"])
        await #expect(throws: (any Error).self) { try await store.rawExecuteForTests("UPDATE audit SET detail = 'edited'") }
        await #expect(throws: (any Error).self) { try await store.rawExecuteForTests("DELETE FROM audit") }
    }
}

/// Events like the sample connector's: event i is a customer, an invoice or a payment for customer i / 3.
enum SyntheticFixture {
    static let eur = CurrencyCode("EUR")!

    static func event(index: Int) -> Event {
        let customer = RecordRef(objectType: "customer", objectID: "cus_\(index / 3)")
        let (type, objectType, objectID, record): (String, String, String, Record)
        switch index % 3 {
        case 0:
            (type, objectType, objectID, record) = ("customer.upserted", "customer", "cus_\(index / 3)", .customer(Customer(name: "C\(index)")))
        case 1:
            (type, objectType, objectID, record) = ("invoice.finalized", "invoice", "in_\(index)", .invoice(Invoice(
                customer: customer, status: .open, currency: eur, lines: [], subtotalMinor: 100, taxMinor: 20, totalMinor: 120, amountDueMinor: 120)))
        default:
            (type, objectType, objectID, record) = ("payment.succeeded", "payment", "py_\(index)", .payment(Payment(
                customer: customer, amount: Money(amountMinor: 120, currency: eur), status: .succeeded)))
        }
        return Event(type: type, source: SourceRef(objectType: objectType, objectID: objectID, version: "1"),
                     correlationID: "c-\(index)", occurredAt: "2026-01-01T00:00:00Z", orderingKey: customer.objectID, record: record)
    }
}
