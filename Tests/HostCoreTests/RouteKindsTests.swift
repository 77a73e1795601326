import ConnectorProtocol
import HostCore
import Testing

/// Routes judged against what their sink takes (issue 15, item 3), without plugins.
@Suite struct RouteKindsTests {
    func route(_ events: [String], from: String = "billing", to: String = "crm") -> RouteConfig {
        RouteConfig(id: "\(from)->\(to)", from: from, to: to, events: events, tenant: nil, entity: nil, maxAttempts: 3, maxAgeSeconds: 60,
                    rateLimit: nil, concurrency: 1, retryBaseMilliseconds: 50, retryMaxMilliseconds: 100)
    }

    let capabilities: [String: Capabilities] = [
        "billing": Capabilities(streams: [StreamInfo(name: "events", eventTypes: ["customer.upserted", "invoice.paid", "credit_note.issued", "subscription.*"])]),
        "crm": Capabilities(sinkEventTypes: ["*"], sinkRecordKinds: ["customer", "invoice"]),
        "any": Capabilities(sinkEventTypes: ["*"]),
    ]

    @Test func aRouteBringingAKindTheSinkDoesNotTakeIsAProblemNamingBoth() {
        #expect(RouteKinds.problems(routes: [route(["*"])], capabilities: capabilities) == [
            "route billing->crm: billing emits credit_note.issued (records of kind credit_note) but crm takes only customer, invoice; narrow the route's events or route them elsewhere",
            "route billing->crm: billing emits subscription.* (records of kind subscription) but crm takes only customer, invoice; narrow the route's events or route them elsewhere",
        ])
    }

    @Test func narrowedRoutesSinksTakingAnythingAndUndescribedPluginsPass() {
        #expect(RouteKinds.problems(routes: [route(["customer.*", "invoice.*"])], capabilities: capabilities).isEmpty)
        #expect(RouteKinds.problems(routes: [route(["*"], to: "any")], capabilities: capabilities).isEmpty)
        #expect(RouteKinds.problems(routes: [route(["*"], from: "python")], capabilities: capabilities).isEmpty)
        #expect(Capabilities.recordKind(ofEventType: "credit_note.issued") == "credit_note" && Capabilities.recordKind(ofEventType: "x") == "x")
    }
}
