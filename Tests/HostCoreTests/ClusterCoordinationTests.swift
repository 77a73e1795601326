import ConnectorProtocol
import Foundation
import HostAdmin
@testable import HostCore
import Testing

/// Several hosts on one PostgreSQL store (each test: new stores on one new schema, one per member):
/// deliveries claimed by one host at a time, per-key order across hosts, claims and source leases that
/// outlive a dead host by one lease, the fencing token, work notices. The SQLite store has one member.
@Suite struct ClusterCoordinationTests {
    let route = RouteConfig(
        id: "r", from: "src", to: "erp", events: ["invoice.*", "payment.*"], tenant: nil, entity: nil,
        maxAttempts: 3, maxAgeSeconds: 3600, rateLimit: nil, concurrency: 4, retryBaseMilliseconds: 10, retryMaxMilliseconds: 100
    )

    static var enabled: Bool { StoreUnderTest.postgresHosts != nil }

    func hosts(_ members: [String] = ["a", "b"], lease: Int64 = 10_000) async throws -> [PostgresStore] {
        let open = try #require(StoreUnderTest.postgresHosts)
        return try await open(members, lease)
    }

    /// `count` customers, an invoice and a payment each: 2 deliveries per customer on route r, the
    /// invoice's first in the customer's ordering key.
    func ingest(customers: Int, into store: some HostStore, from first: Int = 0, route: RouteConfig? = nil) async throws {
        let events = (first * 3..<(first + customers) * 3).map(SyntheticFixture.event(index:))
        _ = try await store.ingest(connector: "src", stream: nil, events: events, cursor: nil, routes: [route ?? self.route])
    }

    func delivered(_ jobs: [DeliveryJob]) -> [DeliveryOutcome] {
        jobs.map { DeliveryOutcome(job: $0, startedAt: 0, finishedAt: Store.now(), result: .delivered(externalID: "x-\($0.deliveryID)", duplicate: false, links: [], canonical: nil)) }
    }

    @Test(.enabled(if: enabled)) func eachDueDeliveryIsClaimedByOneHost() async throws {
        let stores = try await hosts()
        let (a, b) = (stores[0], stores[1])
        try await ingest(customers: 10, into: a)
        // One per ordering key is due: the 10 invoices. A takes 4, B the other 6, none twice.
        let byA = try await a.dueDeliveries(route: "r", now: Store.now(), limit: 4)
        let byB = try await b.dueDeliveries(route: "r", now: Store.now(), limit: 100)
        #expect(byA.count == 4 && byB.count == 6)
        #expect(Set(byA.map(\.deliveryID)).isDisjoint(with: byB.map(\.deliveryID)))
        #expect(try await a.dueDeliveries(route: "r", now: Store.now(), limit: 100).isEmpty, "all claimed, and the payments wait for their invoices")
        // Claims given back are anyone's again.
        try await b.releaseClaims(Array(byB.prefix(2).map(\.deliveryID)))
        #expect(try await a.dueDeliveries(route: "r", now: Store.now(), limit: 100).map(\.deliveryID) == byB.prefix(2).map(\.deliveryID))
        let cluster = try await a.cluster()
        #expect(cluster.leases.isEmpty)
        try await a.heartbeat()
        try await b.heartbeat()
        let members = try await a.cluster().members
        #expect(members.map(\.name) == ["a", "b"] && members.allSatisfy { $0.state == "alive" })
        #expect(members.map(\.claimed) == [6, 4])
        // A member gone for over a week is no longer listed.
        try await a.rawExecuteForTests("UPDATE members SET alive_until = alive_until - \(PostgresStore.membersKept + 60_000) WHERE name = 'b'")
        try await a.heartbeat()
        #expect(try await a.cluster().members.map(\.name) == ["a"])
    }

    @Test(.enabled(if: enabled)) func perKeyOrderHoldsAcrossHosts() async throws {
        let stores = try await hosts()
        let (a, b) = (stores[0], stores[1])
        try await ingest(customers: 1, into: a)
        let invoice = try #require(try await a.dueDeliveries(route: "r", now: Store.now(), limit: 10).first)
        #expect(invoice.eventType == "invoice.finalized")
        // While A has the invoice, its payment is due nowhere: not on B either.
        #expect(try await b.dueDeliveries(route: "r", now: Store.now(), limit: 10).isEmpty)
        // A failure to retry keeps it first in its key, and frees its claim.
        try await a.record(DeliveryOutcome(job: invoice, startedAt: 0, finishedAt: Store.now(),
                                           result: .failed(ConnectorError(.transient, "busy"), .retry(at: Store.now()))))
        let again = try await b.dueDeliveries(route: "r", now: Store.now() + 1, limit: 10)
        #expect(again.map(\.deliveryID) == [invoice.deliveryID], "the invoice again, on B, and not the payment")
        _ = try await b.record(delivered(again))
        let payment = try await a.dueDeliveries(route: "r", now: Store.now(), limit: 10)
        #expect(payment.map(\.eventType) == ["payment.succeeded"])
    }

    @Test(.enabled(if: enabled)) func aClaimOutlivesItsHostByOneLease() async throws {
        let stores = try await hosts(lease: 600)
        let (a, b) = (stores[0], stores[1])
        try await ingest(customers: 3, into: a)
        let claimed = try await a.dueDeliveries(route: "r", now: Store.now(), limit: 10)
        #expect(claimed.count == 3)
        // A beats its heart: its claims in flight are renewed past their first lease.
        for _ in 0..<6 {
            try await Task.sleep(for: .milliseconds(200))
            try await a.heartbeat()
        }
        #expect(try await b.dueDeliveries(route: "r", now: Store.now(), limit: 10).isEmpty)
        // A dies (no more heartbeats): within one lease B takes them over.
        try await Task.sleep(for: .milliseconds(700))
        let taken = try await b.dueDeliveries(route: "r", now: Store.now(), limit: 10)
        #expect(Set(taken.map(\.deliveryID)) == Set(claimed.map(\.deliveryID)))
        // A's late outcome: a failure decides nothing now that B has them; a delivery counts.
        _ = try await a.record([DeliveryOutcome(job: claimed[0], startedAt: 0, finishedAt: Store.now(),
                                                result: .failed(ConnectorError(.permanent, "late"), .dead(reason: "late")))])
        #expect(try await a.deadLetters(route: nil, limit: 10).isEmpty)
        _ = try await b.record(delivered(taken))
        #expect(try await a.queue(now: Store.now()).first { $0.state == "delivered" }?.count == 3)
        a.close()
        b.close()
    }

    @Test(.enabled(if: enabled)) func oneHostPollsASourceAndALostLeaseCannotMoveItsCursor() async throws {
        let stores = try await hosts(lease: 500)
        let (a, b) = (stores[0], stores[1])
        #expect(try await a.holdSource("src"))
        #expect(try await !b.holdSource("src"))
        #expect(try await a.holdSource("src"), "kept by its holder")
        _ = try await a.ingest(connector: "src", stream: "s", events: [SyntheticFixture.event(index: 1)], cursor: "1", routes: [route])
        // A stops beating; once its lease expired B takes the source, with a new token.
        try await Task.sleep(for: .milliseconds(600))
        #expect(try await b.holdSource("src"))
        let lease = try #require(try await b.cluster().leases.first)
        #expect(lease.holder == "b" && lease.token == 2)
        _ = try await b.ingest(connector: "src", stream: "s", events: [SyntheticFixture.event(index: 4)], cursor: "4", routes: [route])
        // A's late page (it read cursor 1 under token 1) is refused whole: the cursor stays B's, its events unstored.
        await #expect(throws: LeaseLost.self) {
            _ = try await a.ingest(connector: "src", stream: "s", events: [SyntheticFixture.event(index: 2)], cursor: "2", routes: [route])
        }
        #expect(try await a.cursor(connector: "src", stream: "s") == "4")
        #expect(try await a.trace(correlationID: "c-2").events.isEmpty)
        // A asks again: B holds it (renewed by its heartbeat).
        try await b.heartbeat()
        #expect(try await !a.holdSource("src"))
        // B leaves: A takes the source at once, not after a lease.
        try await b.leave()
        #expect(try await a.holdSource("src"))
        let members = try await a.cluster().members
        #expect(members.first { $0.name == "b" }?.state == "left")
        #expect(try await a.cluster().leases.first?.token == 3)
        a.close()
        b.close()
    }

    @Test(.enabled(if: enabled)) func sourcesSpreadOverTheLiveHosts() async throws {
        let stores = try await hosts()
        let (a, b) = (stores[0], stores[1])
        try await a.heartbeat()
        try await b.heartbeat()
        // A source no one has leased yet goes to whoever asks first: A takes both.
        #expect(try await a.holdSource("s1"))
        #expect(try await a.holdSource("s2"))
        // A's heartbeat: two sources, two live hosts, A holds one more than its share and gives the newest back.
        try await a.heartbeat()
        #expect(try await !a.holdSource("s2"), "not taken back beyond its share")
        #expect(try await b.holdSource("s2"))
        #expect(try await a.holdSource("s1"))
        let leases = try await a.cluster().leases
        #expect(leases.map { "\($0.connector) \($0.holder) \($0.token)" } == ["s1 a 1", "s2 b 2"])
        // B leaves: A may hold both again.
        try await b.leave()
        #expect(try await a.holdSource("s2"))
        a.close()
        b.close()
    }

    @Test(.enabled(if: enabled)) func otherHostsHearOfNewWork() async throws {
        // The channel is the database's: names of their own keep other tests' hosts and routes out.
        let unique = UUID().uuidString.prefix(8)
        let stores = try await hosts(["a-\(unique)", "b-\(unique)"])
        let (a, b) = (stores[0], stores[1])
        let settings = PostgresSettings(host: "test", user: "test", database: "test")
        try await a.holdMember(settings)
        try await b.holdMember(settings)
        let notices = b.workNotices().filter { $0.hasSuffix(unique) }
        let own = a.workNotices().filter { $0.hasSuffix(unique) }
        var first = route, second = route
        first.id = "r1-\(unique)"
        second.id = "r2-\(unique)"
        try await ingest(customers: 1, into: a, route: first)
        var heard = notices.makeAsyncIterator()
        #expect(await heard.next() == first.id)
        // A hears no notice of its own work (its route r1); it hears B's (r2).
        try await ingest(customers: 1, into: b, from: 1, route: second)
        var ownHeard = own.makeAsyncIterator()
        let heardByA = await ownHeard.next()
        #expect(heardByA == second.id)
        // A second host under a member name already running is refused.
        let twin = try await hosts(["a-\(unique)"])[0]
        await #expect(throws: HostError.self) { try await twin.holdMember(settings) }
        a.close()
        b.close()
    }

    @Test(arguments: StoreUnderTest.all) func aStoreOfOneHostHoldsEverything(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        try await store.heartbeat()
        #expect(try await store.holdSource("src"))
        let cluster = try await store.cluster()
        #expect(cluster.member == store.member && cluster.members.map(\.name).contains(store.member))
    }
}
