import ChargebeeKit
import ConnectorKit
import ConnectorProtocol
import Foundation
import Logging

/// `connector-chargebee`: one Chargebee site as a source of canonical events — its events feed polled,
/// and the same events pushed by webhooks with HTTP Basic credentials (Chargebee signs nothing), one
/// change giving one event either way; as the source of a reconciliation, what those events carry over
/// a range of days. The work is in ChargebeeKit.
struct ChargebeeConnector: Connector {
    static let plugin = PluginInfo(name: "chargebee", version: "0.1.0")
    static let capabilities = Capabilities(
        streams: [StreamInfo(name: ChargebeeStream.name, eventTypes: [
            "customer.upserted", "customer.deleted", "product.upserted", "invoice.finalized", "invoice.paid", "invoice.voided", "credit_note.issued",
            "credit_note.voided", "payment.succeeded", "payment.failed", "payment.pending", "refund.succeeded", "refund.failed", "refund.pending",
            "subscription.updated",
        ])],
        webhooks: true,
        reconcile: true,
        sinkRecordKinds: ["customer"]
    )

    let settings: ChargebeeSettings
    let client: ChargebeeClient
    let stream: ChargebeeStream
    let customers: ChargebeeCustomerSink
    let reconcile: ChargebeeReconcile
    let host: HostConnection
    let events: ChargebeeEvents

    static func configProblem(_ config: JSONValue) -> String? {
        ConfigTable.problem(ChargebeeSettings.init, config)
    }

    init(context: ConnectorContext) async throws {
        settings = try context.settings(ChargebeeSettings.init)
        host = context.host
        let host = context.host
        let secret = settings.apiKeySecret
        client = ChargebeeClient(settings: settings, http: HTTPClient(maxConcurrent: 4, userAgent: "connector-host-chargebee/\(Self.plugin.version)",
                                                                         pacer: settings.requestsPerMinute > 0 ? RatePacer(budget: settings.requestsPerMinute) : nil),
                                 apiKey: { try await host.secret(secret) })
        events = ChargebeeEvents(connector: context.connector)
        stream = ChargebeeStream(client: client, settings: settings, mapping: events)
        customers = ChargebeeCustomerSink(client: client)
        reconcile = ChargebeeReconcile(client: client, mapping: events)
    }

    func check() async throws -> CheckResult {
        try await client.requireProductCatalog2(again: true)
        return CheckResult(ok: true, message: "Chargebee site reachable at \(settings.apiBase) (Product Catalog 2.0)")
    }

    func poll(_ params: PollParams) async throws -> PollResult {
        try await client.requireProductCatalog2()
        return try await stream.poll(params)
    }

    /// A webhook: the event itself, behind HTTP Basic credentials checked in constant time.
    func handleWebhook(_ params: WebhookParams) async throws -> WebhookResult {
        var passwords: [String] = []
        for name in settings.webhookPasswords {
            if let password = try? await host.secret(name) { passwords.append(password) }
        }
        try WebhookSignature.verifyBasic(header: params.headers["authorization"], user: settings.webhookUser, passwords: passwords)
        guard let event = try? JSONDecoder().decode(JSONValue.self, from: params.bodyBytes), event["object"]?.stringValue == "event" || event["event_type"] != nil,
              event["id"]?.stringValue != nil else {
            throw ConnectorError(.permanent, "the webhook body is not a Chargebee event", details: ["reason": "malformed"])
        }
        // No replay key: Chargebee sends the same event again (same id) when it did not get our 2xx, and
        // that copy must be answered 200; the host drops it as a duplicate by its idempotency key.
        let mapped = events.events(event)
        return WebhookResult(events: mapped.events, replayKey: nil, rejects: mapped.rejects)
    }

    /// What its events carry over a range of days (side source only), to compare with what a sink wrote.
    func reconcileSnapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        try await reconcile.snapshot(params)
    }

    /// Customers from another system (a CRM, Odoo) → Chargebee customers (see ``ChargebeeCustomerSink``).
    func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        try await customers.deliver(params)
    }
}
