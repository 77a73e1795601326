import ConnectorProtocol
import Crypto
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

    @Test(arguments: StoreUnderTest.all) func deliveriesInHandAreNeitherReturnedNorCounted(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        // Three ordering keys, two deliveries each: the heads are deliveries 1, 4 and 7.
        _ = try await store.ingest(connector: "src", stream: nil, events: events(0..<9), cursor: nil, routes: [route])
        let heads = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        #expect(heads.map(\.idempotencyKey) == ["src:invoice:in_1:1", "src:invoice:in_4:1", "src:invoice:in_7:1"])
        // Given back (a shared store claimed them): only the caller's own bookkeeping keeps the first.
        try await store.releaseClaims(heads.map(\.deliveryID))
        let next = try await store.dueDeliveries(route: "r", now: Store.now(), limit: 2, excludingTenants: [], inHand: [heads[0].deliveryID])
        // The one in hand is pending still, so its key's next delivery waits; the limit counts the others.
        #expect(next.map(\.idempotencyKey) == ["src:invoice:in_4:1", "src:invoice:in_7:1"])
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

extension StoreConformanceTests {
    /// A webhook delivery seen before stores nothing; its key is forgotten once pruned. A page's rejects
    /// are kept with their reason, audited, and the cursor moves past them.
    @Test(arguments: StoreUnderTest.all) func replaysAndRejects(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let page = try events(0..<3).map { event -> Store.Incoming in
            let payload = try RPCCodec().json(event)
            return Store.Incoming(header: try EventHeader(json: payload), payload: payload)
        }
        let first = try await store.ingest(connector: "src", stream: nil, incoming: page, rejects: [], cursor: nil, routes: [route], replayKey: "t=1,v1=aa")
        #expect(first.stored.count == 3)
        await #expect(throws: ReplayedDelivery.self) {
            try await store.ingest(connector: "src", stream: nil, incoming: Array(page.prefix(1)), rejects: [], cursor: nil, routes: [route], replayKey: "t=1,v1=aa")
        }
        try await store.pruneWebhookReplays(olderThan: Store.now() + 1)
        let again = try await store.ingest(connector: "src", stream: nil, incoming: Array(page.prefix(1)), rejects: [], cursor: nil, routes: [route],
                                           replayKey: "t=1,v1=aa")
        #expect(again.stored.isEmpty && again.duplicates == 1, "forgotten once pruned: read again, and a duplicate")

        let reject = Store.Reject(reason: "source.object_id is missing", payload: Data(#"{"type": "invoice.paid"}"#.utf8))
        _ = try await store.ingest(connector: "src", stream: "s", incoming: [], rejects: [reject], cursor: "c2", routes: [route])
        let rejects = try await store.intakeRejects(connector: "src", limit: 10)
        #expect(rejects.map { "\($0.stream ?? "-") \($0.reason) \($0.payload)" } == [#"s source.object_id is missing {"type": "invoice.paid"}"#])
        #expect(try await store.intakeRejects(connector: "other", limit: 10).isEmpty)
        #expect(try await store.cursor(connector: "src", stream: "s") == "c2")
    }

    /// Secrets are versioned, audited, listed without their values, deleted; a rotation needs an
    /// existing secret; a rekey replaces every sealed value or none.
    @Test(arguments: StoreUnderTest.all) func sealedSecrets(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let seal = { @Sendable (version: Int) throws -> Data in Data("sealed v\(version)".utf8) }
        #expect(try await store.putSecret(connector: "erp", name: "api_key", mustExist: false, actor: "operator", action: "secret.set", seal: seal) == 1)
        #expect(try await store.putSecret(connector: "erp", name: "api_key", mustExist: true, actor: "operator", action: "secret.rotate", seal: seal) == 2)
        await #expect(throws: HostError.self) {
            try await store.putSecret(connector: "erp", name: "nope", mustExist: true, actor: "operator", action: "secret.rotate", seal: seal)
        }
        _ = try await store.putSecret(connector: "crm", name: "token", mustExist: false, actor: "operator", action: "secret.set", seal: seal)
        let secret = try #require(try await store.sealedSecret(connector: "erp", name: "api_key"))
        #expect(secret.version == 2 && secret.sealed == Data("sealed v2".utf8))
        #expect(try await store.secretInfos(connector: nil).map { "\($0.connector)/\($0.name) v\($0.version) \($0.updatedBy)" } == ["crm/token v1 operator", "erp/api_key v2 operator"])
        #expect(try await store.secretInfos(connector: "crm").count == 1)

        try await store.setVaultMeta(["check": Data("c1".utf8)])
        var all = try await store.allSealedSecrets()
        all[0].sealed = Data("resealed".utf8)
        all[1].version = 9  // changed meanwhile: the rekey must undo everything
        await #expect(throws: HostError.self) { try await store.resealAll(secrets: all, meta: ["check": Data("c2".utf8)], actor: "operator") }
        #expect(try await store.sealedSecret(connector: "crm", name: "token")?.sealed == Data("sealed v1".utf8))
        #expect(try await store.vaultMeta("check") == Data("c1".utf8))
        all[1].version = 2
        try await store.resealAll(secrets: all, meta: ["check": Data("c2".utf8)], actor: "operator")
        #expect(try await store.sealedSecret(connector: "crm", name: "token")?.sealed == Data("resealed".utf8))
        #expect(try await store.vaultMeta("check") == Data("c2".utf8))
        #expect(try await store.vaultMeta("absent") == nil)

        #expect(try await store.deleteSecret(connector: "crm", name: "token", actor: "operator"))
        #expect(try await store.deleteSecret(connector: "crm", name: "token", actor: "operator") == false)
        #expect(try await store.allSealedSecrets().map(\.name) == ["api_key"])
    }

    /// With the vault's key every row carries an HMAC and the head is sealed: the chain verifies; an
    /// edit is refused by the store itself.
    @Test(arguments: StoreUnderTest.all) func theAuditChainVerifies(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        try await store.audit(correlationID: nil, actor: "host", action: "before.key", subject: "s", detail: "d")
        store.useAuditKey(SymmetricKey(size: .bits256))
        let start = try await store.firstAuditRowToAuthenticate()
        #expect(start == 2, "the next row: none carries an HMAC yet")
        for index in 0..<5 { try await store.audit(correlationID: "c", actor: "host", action: "act.\(index)", subject: "s", detail: "d") }
        let verified = try await store.verifyAudit(authenticatedFrom: start)
        #expect(verified.problems.isEmpty && verified.rows == 6 && verified.authenticated == 5, "\(verified.problems)")
        #expect(try await store.auditHead().map(\.id) == 6 && verified.headID == 6)
        #expect(try await store.firstAuditRowToAuthenticate() == 2)
        await #expect(throws: (any Error).self) { try await store.rawExecuteForTests("UPDATE audit SET detail = 'edited' WHERE id = 3") }
        #expect(try await store.verifyAudit(authenticatedFrom: start).problems.isEmpty)
    }

    /// Reports are kept newest first per name; the latest of each is listed; what the host holds of a
    /// record and a repair's new delivery are found and audited.
    @Test(arguments: StoreUnderTest.all) func reconcileReportsRecordsAndRepairs(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        func report(_ name: String, _ drift: Int) -> DriftReport {
            DriftReport(name: name, source: "src", target: "erp", entity: nil, from: "2026-03-01", to: "2026-03-31", startedAt: 1, finishedAt: 2,
                        trigger: .operator, outcome: drift > 0 ? .drift : .clean, error: nil, tolerance: 0, drift: drift, totals: [], items: [])
        }
        let first = try await store.save(report("books", 2), actor: "operator")
        _ = try await store.save(report("books", 0), actor: "operator")
        _ = try await store.save(report("crm", 1), actor: "scheduler")
        #expect(first.id != nil)
        #expect(try await store.driftReports(name: "books", limit: 10).map(\.drift) == [0, 2])
        #expect(try await store.driftReports(name: "books", limit: 1).map(\.drift) == [0])
        #expect(try await store.driftReports(name: nil, limit: 1).map { "\($0.name) \($0.drift)" } == ["books 0", "crm 1"])

        _ = try await store.ingest(connector: "src", stream: nil, events: events(0..<3), cursor: nil, routes: [route])
        let job = try #require(try await store.dueDeliveries(route: "r", now: Store.now(), limit: 10).first)
        try await store.record(DeliveryOutcome(job: job, startedAt: 0, finishedAt: 5, result: .delivered(externalID: "m,1", duplicate: false, links: [], canonical: nil)))
        let held = try await store.recordsInHost(source: "src", target: "erp", objectType: "invoice", objectIDs: ["in_1", "in_9"])
        #expect(held.keys.sorted() == ["in_1"])
        #expect(held["in_1"]?.pending.isEmpty == true && held["in_1"]?.lastDelivered?.id == job.deliveryID)
        let queued = try await store.requeue([(eventID: job.eventID, route: route)], report: first.id ?? 0, actor: "operator")
        #expect(queued.count == 1)
        #expect(try await store.recordsInHost(source: "src", target: "erp", objectType: "invoice", objectIDs: ["in_1"])["in_1"]?.pending.map(\.id) == queued)
        #expect(try await store.trace(correlationID: job.correlationID).audit.map(\.action) == ["reconcile.repair"])
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
