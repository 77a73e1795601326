import Synchronization

/// What stops deliveries, scoped to what fails, so that one tenant cannot stop another at a target
/// they share: a circuit breaker per route and tenant (transient failures of tenant A's deliveries open
/// A's circuit on that route only; its half-open probe is one delivery), and a pause per target and
/// tenant when the target refuses the credentials of one tenant's deliveries. The whole target is
/// paused only when every tenant it has seen is refused, or its deliveries carry no tenant (then the
/// refused credentials are the target's own).
final class DeliveryScopes: Sendable {
    /// A route's deliveries of one tenant ("" for none).
    struct Scope: Hashable, Sendable, Comparable {
        var route: String
        var target: String
        var tenant: String

        static func < (a: Scope, b: Scope) -> Bool { (a.route, a.tenant) < (b.route, b.tenant) }
    }

    enum Admission: Equatable {
        /// Send every due delivery of the scope.
        case go
        /// Half-open: send one delivery, the probe; its answer closes or reopens the circuit.
        case probe
        /// Send none yet.
        case wait(seconds: Double)
    }

    private struct State {
        var breakers: [Scope: CircuitBreaker] = [:]
        /// Target → tenant → why its deliveries are paused.
        var paused: [String: [String: String]] = [:]
        /// Target → every tenant whose deliveries it has answered.
        var tenantsSeen: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())

    /// Tenants of `route` whose deliveries must not be read now, with how long until they may be.
    func blocked(route: String, target: String, now: Double) -> [String: Double] {
        state.withLock { state in
            var blocked: [String: Double] = [:]
            for (scope, breaker) in state.breakers where scope.route == route {
                if let wait = breaker.blockedFor(now: now) { blocked[scope.tenant] = wait }
            }
            for tenant in (state.paused[target] ?? [:]).keys { blocked[tenant] = 1 }
            return blocked
        }
    }

    func admit(_ scope: Scope, maxCooldownSeconds: Double, now: Double) -> Admission {
        state.withLock { state in
            if state.paused[scope.target]?[scope.tenant] != nil { return .wait(seconds: 1) }
            var breaker = state.breakers[scope] ?? CircuitBreaker(maxCooldownSeconds: maxCooldownSeconds)
            defer { state.breakers[scope] = breaker }
            if let wait = breaker.admit(now: now) { return .wait(seconds: wait) }
            return breaker.state == .halfOpen ? .probe : .go
        }
    }

    /// A delivery's answer: success, a failure that says the target is unwell, or one that says nothing of it.
    func record(_ scope: Scope, success: Bool, unwell: Bool, now: Double) {
        state.withLock { state in
            state.tenantsSeen[scope.target, default: []].insert(scope.tenant)
            guard var breaker = state.breakers[scope] else { return }
            if success {
                breaker.succeeded()
            } else if unwell {
                breaker.failed(now: now)
            } else {
                breaker.neutral()
            }
            state.breakers[scope] = breaker
        }
    }

    /// What a refusal of a delivery's credentials pauses.
    enum Refusal: Equatable {
        /// The target itself: the delivery has no tenant, or every tenant the target has seen is refused.
        case target
        /// The tenant's deliveries to the target.
        case tenant
        /// Nothing: a secret was stored after the delivery was sent (it is tried again with that one).
        case superseded
    }

    /// The target refused a delivery's credentials. `superseded` is asked under this object's lock: a
    /// secret stored meanwhile counts before it resumes the target's tenants, so a refusal either sees
    /// the count or is resumed after it.
    func refused(_ scope: Scope, reason: String, superseded: () -> Bool) -> Refusal {
        state.withLock { state in
            guard !superseded() else { return .superseded }
            state.tenantsSeen[scope.target, default: []].insert(scope.tenant)
            guard !scope.tenant.isEmpty else { return .target }
            state.paused[scope.target, default: [:]][scope.tenant] = reason
            let seen = state.tenantsSeen[scope.target] ?? []
            let paused = Set(state.paused[scope.target].map { Array($0.keys) } ?? [])
            return seen.count > 1 && seen.isSubset(of: paused) ? .target : .tenant
        }
    }

    /// An operator resumed the target, or stored a secret for it: its tenants are tried again.
    func resume(target: String) {
        state.withLock { state in _ = state.paused.removeValue(forKey: target) }
    }

    /// The worst circuit state of a target's scopes.
    func circuitState(target: String) -> CircuitBreaker.State {
        state.withLock { state in
            let states = state.breakers.filter { $0.key.target == target }.map(\.value.state)
            if states.contains(.open) { return .open }
            return states.contains(.halfOpen) ? .halfOpen : .closed
        }
    }

    /// What health reports: scopes whose circuit is not closed, and paused tenants by target.
    func problems() -> (circuits: [(Scope, CircuitBreaker.State)], paused: [(target: String, tenant: String, reason: String)]) {
        state.withLock { state in
            let circuits = state.breakers.filter { $0.value.state != .closed }.map { ($0.key, $0.value.state) }.sorted { $0.0 < $1.0 }
            let paused = state.paused.flatMap { target, tenants in tenants.map { (target: target, tenant: $0.key, reason: $0.value) } }
                .sorted { ($0.target, $0.tenant) < ($1.target, $1.tenant) }
            return (circuits, paused)
        }
    }
}
