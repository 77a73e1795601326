@testable import HostCore
import Testing

@Suite struct PluginLifecycleTests {
    let policy = PluginLifecycle.Policy(
        initialBackoff: .milliseconds(100), maxBackoff: .seconds(2), crashLimit: 4,
        crashWindow: .seconds(60), stableAfter: .seconds(30)
    )
    let t0 = ContinuousClock.now

    @Test func crashRestartsWithExponentialBackoff() {
        var machine = PluginLifecycle(policy: policy)
        var delays: [Duration] = []
        for second in 0..<3 {
            machine.starting(now: t0 + .seconds(second))
            machine.ready()
            #expect(machine.state == .running)
            guard case .restart(let delay) = machine.ended(.exited(.signalled(9)), now: t0 + .seconds(second) + .milliseconds(10)) else {
                Issue.record("expected a restart")
                return
            }
            delays.append(delay)
            #expect(machine.state == .backoff)
        }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400)])
        #expect(machine.restarts == 3)
        #expect(machine.lastError == "plugin killed by signal 9 (SIGKILL)")
    }

    @Test func backoffIsCapped() {
        let machine = PluginLifecycle(policy: policy)
        #expect(machine.backoff(1) == .milliseconds(100))
        #expect(machine.backoff(5) == .milliseconds(1600))
        #expect(machine.backoff(6) == .seconds(2))
        #expect(machine.backoff(60) == .seconds(2))
    }

    @Test func crashLoopWithinTheWindowFails() {
        var machine = PluginLifecycle(policy: policy)
        var last: PluginLifecycle.Action?
        for attempt in 0..<4 {
            machine.starting(now: t0 + .seconds(attempt))
            last = machine.ended(.exited(.exited(3)), now: t0 + .seconds(attempt))
        }
        #expect(last == .fail(reason: "4 failures within 60.0 seconds; last: plugin exited with status 3"))
        #expect(machine.state == .failed)
    }

    @Test func failuresOutsideTheWindowDoNotCount() {
        var machine = PluginLifecycle(policy: policy)
        for attempt in 0..<10 {
            let now = t0 + .seconds(attempt * 25)
            machine.starting(now: now)
            let action = machine.ended(.hung("no pong"), now: now + .seconds(1))
            #expect(action != .fail(reason: ""), "attempt \(attempt)")
            if case .fail = action { Issue.record("failed at attempt \(attempt) although failures are 25 s apart") }
        }
    }

    @Test func aStableRunResetsTheBackoff() {
        var machine = PluginLifecycle(policy: policy)
        machine.starting(now: t0)
        _ = machine.ended(.connectionClosed, now: t0)
        machine.starting(now: t0 + .seconds(1))
        #expect(machine.ended(.connectionClosed, now: t0 + .seconds(1)) == .restart(after: .milliseconds(200)))
        machine.starting(now: t0 + .seconds(2))
        machine.ready()
        #expect(machine.ended(.connectionClosed, now: t0 + .seconds(40)) == .restart(after: .milliseconds(100)))
    }

    @Test func operatorRestartRevivesAFailedConnector() {
        var machine = PluginLifecycle(policy: policy)
        for attempt in 0..<4 {
            machine.starting(now: t0 + .seconds(attempt))
            _ = machine.ended(.handshakeTimedOut, now: t0 + .seconds(attempt))
        }
        #expect(machine.state == .failed)
        let revives = machine.requestRestart()
        #expect(revives)
        machine.starting(now: t0 + .seconds(10))
        #expect(machine.state == .starting)
        // The crash history is forgotten: one more failure is a restart, not `failed`.
        #expect(machine.ended(.handshakeTimedOut, now: t0 + .seconds(10)) == .restart(after: .milliseconds(100)))
    }

    @Test func requestedRestartIsNotAFailure() {
        var machine = PluginLifecycle(policy: policy)
        machine.starting(now: t0)
        machine.ready()
        #expect(machine.ended(.restartRequested, now: t0 + .seconds(1)) == .restart(after: .zero))
        #expect(machine.lastError == nil)
        #expect(machine.restarts == 1)
    }

    @Test func stopWinsOverEverything() {
        var machine = PluginLifecycle(policy: policy)
        machine.starting(now: t0)
        machine.ready()
        machine.requestStop()
        #expect(machine.state == .stopping)
        #expect(machine.ended(.exited(.signalled(15)), now: t0) == .stop)
        #expect(machine.state == .stopped)
    }

    @Test func pauseIsOrthogonalToState() {
        var machine = PluginLifecycle(policy: policy)
        machine.starting(now: t0)
        machine.ready()
        machine.setPaused(true)
        #expect(machine.paused)
        #expect(machine.state == .running)
        machine.setPaused(false)
        #expect(!machine.paused)
    }

    @Test func exitStatusDecodesWaitStatus() {
        #expect(ExitStatus(waitStatus: 3 << 8) == .exited(3))
        #expect(ExitStatus(waitStatus: 9) == .signalled(9))
        #expect(ExitStatus(waitStatus: 0) == .exited(0))
    }
}

@Suite struct MailboxTests {
    @Test func deliversInOrderAndWaits() async {
        let mailbox = Mailbox<Int>()
        mailbox.post(1)
        mailbox.post(2)
        #expect(await mailbox.next() == 1)
        #expect(await mailbox.next() == 2)
        async let third = mailbox.next()
        try? await Task.sleep(for: .milliseconds(20))
        mailbox.post(3)
        #expect(await third == 3)
    }

    @Test func cancelledWaitReturnsNilAndKeepsLaterMessages() async {
        let mailbox = Mailbox<Int>()
        let waiter = Task { await mailbox.next() }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        #expect(await waiter.value == nil)
        mailbox.post(7)
        #expect(await mailbox.next() == 7)
    }
}
