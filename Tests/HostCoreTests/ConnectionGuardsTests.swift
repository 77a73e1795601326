@testable import HostCore
import Testing

/// The HTTP connection deadlines and the descriptor budget, without a socket.
@Suite struct ConnectionGuardsTests {
    let timeouts = RequestDeadlines.Timeouts(header: .seconds(10), body: .seconds(30), idle: .seconds(60))
    let start = ContinuousClock.now

    @Test func aConnectionMustSendItsHeadBeforeTheHeaderTimeout() {
        let deadlines = RequestDeadlines(timeouts: timeouts, openedAt: start)
        #expect(!deadlines.hasExpired(at: start + .seconds(9)))
        #expect(deadlines.hasExpired(at: start + .seconds(10)))
    }

    /// Body bytes trickling in do not move the deadline: only the end of the request does.
    @Test func theBodyMustBeCompleteBeforeTheBodyTimeout() {
        var deadlines = RequestDeadlines(timeouts: timeouts, openedAt: start)
        deadlines.readHead(at: start + .seconds(1))
        #expect(deadlines.phase == .readingRequest)
        #expect(!deadlines.hasExpired(at: start + .seconds(30)))
        #expect(deadlines.hasExpired(at: start + .seconds(31)))
    }

    /// While the daemon answers, no deadline runs; after the answer, the idle one does.
    @Test func answeringHasNoDeadlineAndKeepAliveHasTheIdleOne() {
        var deadlines = RequestDeadlines(timeouts: timeouts, openedAt: start)
        deadlines.readHead(at: start)
        deadlines.readEnd(at: start + .seconds(1))
        #expect(deadlines.phase == .responding)
        #expect(!deadlines.hasExpired(at: start + .seconds(3_600)))
        deadlines.wroteResponseEnd(at: start + .seconds(2))
        #expect(deadlines.phase == .awaitingHead)
        #expect(!deadlines.hasExpired(at: start + .seconds(61)))
        #expect(deadlines.hasExpired(at: start + .seconds(62)))
    }

    /// An early answer (413 while the body streams) leaves the body's deadline running.
    @Test func anEarlyAnswerKeepsTheBodyDeadline() {
        var deadlines = RequestDeadlines(timeouts: timeouts, openedAt: start)
        deadlines.readHead(at: start)
        deadlines.wroteResponseEnd(at: start + .seconds(1))
        #expect(deadlines.phase == .readingRequest)
        #expect(deadlines.hasExpired(at: start + .seconds(30)))
        deadlines.readEnd(at: start + .seconds(5))
        #expect(deadlines.phase == .awaitingHead)
        #expect(!deadlines.hasExpired(at: start + .seconds(64)))
    }

    @Test func theConfiguredCapStandsWhenTheLimitHoldsIt() {
        let budget = DescriptorBudget(limit: 65_536, connectors: 10, configuredConnections: 1_024)
        #expect(budget.webhookConnections == 1_024)
        #expect(budget.metricsConnections == DescriptorBudget.metricsConnectionsCap)
        #expect(!budget.lowered(from: 1_024))
    }

    /// Under a small limit the HTTP listeners get what the store, the admin socket and the plugins leave.
    @Test func aSmallLimitLowersTheCapAndKeepsTheReserve() {
        let budget = DescriptorBudget(limit: 1_024, connectors: 40, configuredConnections: 1_024)
        #expect(budget.lowered(from: 1_024))
        let reserve = DescriptorBudget.reserved + DescriptorBudget.perConnector * 40
        #expect(budget.webhookConnections + budget.metricsConnections + reserve <= 1_024)
        #expect(budget.webhookConnections > 0 && budget.metricsConnections > 0)
    }
}
