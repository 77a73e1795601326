import ConnectorKit
import Foundation
import Testing

/// Proactive pacing from a vendor's quota headers (issue 15), without a clock or network.
@Suite struct RatePacerTests {
    typealias Quota = RatePacer.Quota

    @Test func noWaitWhileMoreThanTheReserveRemains() {
        var pacing = RatePacer.Pacing(reserve: 0.1)
        #expect(pacing.next(at: 0) == 0)  // nothing known yet
        pacing.observe(Quota(remaining: 90, limit: 100, windowMilliseconds: 10_000), at: 1_000)
        for now in stride(from: Int64(1_000), to: 1_080, by: 1) { #expect(pacing.next(at: now) == 0) }
    }

    /// Below the reserve, what remains is spread over what is left of the window; none left waits for the
    /// window's end; a new window starts unpaced.
    @Test func belowTheReserveTheRemainingRequestsAreSpreadOverTheWindow() {
        var pacing = RatePacer.Pacing(reserve: 0.1)
        pacing.observe(Quota(remaining: 10, limit: 100, windowMilliseconds: 10_000), at: 0)
        #expect(pacing.next(at: 2_000) == 800)  // 8 s left, 10 requests
        #expect(pacing.next(at: 2_000) == 888)  // counted as sent: 9 left
        pacing.observe(Quota(remaining: 0, limit: 100, windowMilliseconds: 10_000), at: 5_000)
        #expect(pacing.next(at: 6_000) == 9_000)
        #expect(pacing.next(at: 15_000) == 0)  // the window is over
        #expect(pacing.next(at: 15_001) == 0)
    }

    @Test func theWaitIsCapped() {
        var pacing = RatePacer.Pacing(reserve: 0.1, maxDelayMilliseconds: 60_000)
        pacing.observe(Quota(remaining: 3, limit: 5_000, windowMilliseconds: 86_400_000), at: 0)
        #expect(pacing.next(at: 1) == 60_000)
    }

    @Test func quotasAreReadFromHubSpotAndSalesforceHeaders() {
        let hubSpot = HTTPResponse(status: 200, headers: [("X-HubSpot-RateLimit-Max", "100"), ("X-HubSpot-RateLimit-Remaining", "97"),
                                                          ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")], body: Data())
        #expect(RatePacer.hubSpotQuota(hubSpot) == Quota(remaining: 97, limit: 100, windowMilliseconds: 10_000))
        #expect(RatePacer.hubSpotQuota(HTTPResponse(status: 200, headers: [("X-HubSpot-RateLimit-Remaining", "x")], body: Data())) == nil)
        let salesforce = HTTPResponse(status: 200, headers: [("Sforce-Limit-Info", "api-usage=18/5000;per-app-api-usage=17/250(appName=sync)")], body: Data())
        #expect(RatePacer.salesforceQuota(salesforce) == Quota(remaining: 4_982, limit: 5_000, windowMilliseconds: 86_400_000))
        #expect(RatePacer.salesforceQuota(HTTPResponse(status: 200, headers: [("Sforce-Limit-Info", "api-usage=1/0")], body: Data())) == nil)
    }

    /// An HTTP client given a pacer reads the quota from each answer and waits before the next request
    /// once it runs low (one request left of ten in a 400 ms window: the next one waits for the window).
    @Test func theHTTPClientPacesFromTheAnswersItGets() async throws {
        let server = try TestServer()
        let client = HTTPClient(maxConcurrent: 1, pacer: RatePacer(RatePacer.Pacing(reserve: 0.2), quota: RatePacer.hubSpotQuota))
        let plenty = try await client.send(HTTPRequest(url: "\(server.base)/quota?remaining=9&max=10&window_ms=400"))
        #expect(plenty.status == 200)
        _ = try await client.send(HTTPRequest(url: "\(server.base)/quota?remaining=1&max=10&window_ms=400"))  // 9 of 10 left before it
        let started = ContinuousClock.now
        _ = try await client.send(HTTPRequest(url: "\(server.base)/hello"))
        #expect(ContinuousClock.now - started >= .milliseconds(300))  // 1 left: it waited for the window's end
    }

    /// The pacer slows real calls down once the quota it observed runs low.
    @Test func thePacerWaitsWhatThePacingSays() async throws {
        let pacer = RatePacer(RatePacer.Pacing(reserve: 0.5), quota: RatePacer.hubSpotQuota, clock: { 1_000 })  // time stands still
        pacer.observe(HTTPResponse(status: 200, headers: [("X-HubSpot-RateLimit-Max", "10"), ("X-HubSpot-RateLimit-Remaining", "2"),
                                                          ("X-HubSpot-RateLimit-Interval-Milliseconds", "100")], body: Data()))
        let started = ContinuousClock.now
        try await pacer.pace()  // 100 ms left, 2 requests: 50 ms
        #expect(ContinuousClock.now - started >= .milliseconds(45))
    }

    /// A fixed budget (Chargebee reports no quota): the first `limit` requests of a window go at once,
    /// the next waits until the oldest of them is a window old, so no clock minute sees more than the limit.
    @Test func aBudgetLetsAtMostItsLimitStartInAnyWindow() {
        var pacing = RatePacer.Pacing(budget: RatePacer.Budget(limit: 3, windowMilliseconds: 60_000))
        #expect([pacing.next(at: 0), pacing.next(at: 10), pacing.next(at: 20)] == [0, 0, 0])
        #expect(pacing.next(at: 30) == 59_970, "the fourth waits until the first is a minute old")
        #expect(pacing.next(at: 40) == 59_970, "and the fifth until the second is")
        #expect(pacing.next(at: 130_000) == 0, "a quiet window later, no wait")
        var unlimited = RatePacer.Pacing(budget: RatePacer.Budget(limit: 0, windowMilliseconds: 60_000))
        #expect((0..<1_000).allSatisfy { unlimited.next(at: Int64($0)) == 0 })
    }
}
