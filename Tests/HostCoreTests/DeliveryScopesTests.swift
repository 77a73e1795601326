@testable import HostCore
import Testing

/// Breakers per route and tenant, pauses per target and tenant: without I/O.
@Suite struct DeliveryScopesTests {
    let a = DeliveryScopes.Scope(route: "shop->erp", target: "erp", tenant: "a")
    let b = DeliveryScopes.Scope(route: "shop->erp", target: "erp", tenant: "b")

    @Test func oneTenantsFailuresOpenOnlyItsCircuitAndItsProbeIsOneDelivery() {
        let scopes = DeliveryScopes()
        for second in 0..<5 {
            #expect(scopes.admit(a, maxCooldownSeconds: 10, now: Double(second)) == .go)
            scopes.record(a, success: false, unwell: true, now: Double(second))
        }
        #expect(scopes.blocked(route: "shop->erp", target: "erp", now: 4.5).keys.sorted() == ["a"])
        #expect(scopes.admit(b, maxCooldownSeconds: 10, now: 4.5) == .go)
        #expect(scopes.circuitState(target: "erp") == .open)
        // After the cool-down (1 s), one probe; until it answers, a stays blocked.
        #expect(scopes.admit(a, maxCooldownSeconds: 10, now: 5.5) == .probe)
        #expect(scopes.blocked(route: "shop->erp", target: "erp", now: 5.5)["a"] != nil)
        scopes.record(a, success: true, unwell: false, now: 6.6)
        #expect(scopes.admit(a, maxCooldownSeconds: 10, now: 6.7) == .go)
        #expect(scopes.circuitState(target: "erp") == .closed)
    }

    @Test func refusedCredentialsPauseTheTenantAndTheTargetOnlyWhenAllAreRefused() {
        let scopes = DeliveryScopes()
        scopes.record(b, success: true, unwell: false, now: 0)
        #expect(scopes.refused(a, reason: "auth: no", superseded: { false }) == .tenant)
        #expect(scopes.admit(a, maxCooldownSeconds: 10, now: 1) == .wait(seconds: 1))
        #expect(scopes.admit(b, maxCooldownSeconds: 10, now: 1) == .go)
        #expect(scopes.problems().paused.map(\.tenant) == ["a"])
        #expect(scopes.refused(b, reason: "auth: no", superseded: { false }) == .target, "every tenant seen is refused: the target's own credentials")
        scopes.resume(target: "erp")
        #expect(scopes.problems().paused.isEmpty)
        // Deliveries without a tenant: the credentials are the target's.
        #expect(scopes.refused(DeliveryScopes.Scope(route: "x->erp", target: "erp", tenant: ""), reason: "auth", superseded: { false }) == .target)
    }

    /// A refusal of a delivery sent before a secret was stored pauses nothing: it is tried again with it.
    @Test func aRefusalOfAnOldSecretPausesNothing() {
        let scopes = DeliveryScopes()
        scopes.record(b, success: true, unwell: false, now: 0)
        #expect(scopes.refused(a, reason: "auth: no", superseded: { true }) == .superseded)
        #expect(scopes.admit(a, maxCooldownSeconds: 10, now: 1) == .go)
        #expect(scopes.problems().paused.isEmpty)
    }
}
