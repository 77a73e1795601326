import ConnectorKit
import ConnectorProtocol
import Foundation
import Logging
import StripeKit

/// `connector-stripe`: one Stripe account as a source of canonical events — polled from
/// `/v1/events` and pushed by signed webhooks, the same Stripe event giving one canonical event
/// either way — and as a sink of customers created elsewhere. The work is in StripeKit.
struct StripeConnector: Connector {
    static let plugin = PluginInfo(name: "stripe", version: "0.1.0")
    static let capabilities = Capabilities(
        streams: [StreamInfo(name: "events", eventTypes: [
            "customer.upserted", "product.upserted", "price.upserted", "invoice.finalized", "invoice.paid", "invoice.voided",
            "invoice.uncollectible", "credit_note.issued", "credit_note.voided", "payment.succeeded", "refund.succeeded", "refund.pending", "refund.failed",
            "payout.paid", "payout.failed", "payout.canceled", "dispute.open", "dispute.won", "dispute.lost", "subscription.*",
        ])],
        webhooks: true,
        sinkEventTypes: ["customer.*"],
        reconcile: true,
        sinkRecordKinds: ["customer"]
    )

    let connector: ConnectorInfo
    let settings: StripeSettings
    let client: StripeClient
    let feed: StripeEventFeed
    let reconcile: StripeReconcile
    let host: HostConnection
    let logger: Logger
    let webhookSecrets: WebhookSecrets

    static func configProblem(_ config: JSONValue) -> String? {
        ConfigTable.problem(StripeSettings.init, config)
    }

    init(context: ConnectorContext) async throws {
        settings = try context.settings(StripeSettings.init)
        connector = context.connector
        host = context.host
        logger = context.logger
        let host = context.host
        let secret = settings.apiKeySecret
        client = StripeClient(settings: settings, http: HTTPClient(maxConcurrent: 8, userAgent: "connector-host-stripe/\(Self.plugin.version)"),
                              apiKey: { try await host.secret(secret) })
        feed = StripeEventFeed(client: client, settings: settings)
        reconcile = StripeReconcile(client: client)
        webhookSecrets = WebhookSecrets(names: settings.webhookSecrets, host: host)
    }

    func check() async throws -> CheckResult {
        let balance = try await client.get("/v1/balance")
        let live = balance["livemode"]?.boolValue == true ? "live" : "test"
        return CheckResult(ok: true, message: "Stripe \(live) account reachable at \(settings.apiBase), API version \(settings.stripeVersion)")
    }

    func poll(_ params: PollParams) async throws -> PollResult {
        guard params.stream == "events" else {
            throw ConnectorError(.permanent, "the Stripe connector has one stream, \"events\", not \"\(params.stream)\"")
        }
        let page = try await feed.next(after: params.cursor)
        // The charges and balance transactions a page needs are fetched side by side (the HTTP client
        // bounds how many at once): a page of 100 payments must not take 200 round trips in a row.
        let events = try await withThrowingTaskGroup(of: (Int, [Event]).self) { group in
            for (index, stripeEvent) in page.events.enumerated() {
                group.addTask { (index, try await self.canonical(stripeEvent)) }
            }
            var mapped = [[Event]](repeating: [], count: page.events.count)
            for try await (index, events) in group { mapped[index] = events }
            return mapped.flatMap { $0 }
        }
        return PollResult(events: events, cursor: page.cursor.encoded(), hasMore: page.hasMore)
    }

    func handleWebhook(_ params: WebhookParams) async throws -> WebhookResult {
        let now = Date(timeIntervalSince1970: Double(params.receivedAtMilliseconds) / 1000)
        let header = params.headers["stripe-signature"]
        let replayKey: String
        do {
            replayKey = try WebhookSignature.verifyTimestamped(header: header, body: params.body, secrets: try await webhookSecrets.current(),
                                                               tolerance: settings.webhookToleranceSeconds, now: now)
        } catch let error as ConnectorError where error.details?["reason"]?.stringValue == "signature" && header != nil {
            guard let secrets = try await webhookSecrets.refreshed() else { throw error }
            replayKey = try WebhookSignature.verifyTimestamped(header: header, body: params.body, secrets: secrets,
                                                               tolerance: settings.webhookToleranceSeconds, now: now)
        }
        guard let stripeEvent = try? JSONDecoder().decode(JSONValue.self, from: Data(params.body.utf8)), stripeEvent["object"]?.stringValue == "event" else {
            throw ConnectorError(.permanent, "the webhook body is not a Stripe event", details: ["reason": "malformed"])
        }
        return WebhookResult(events: try await canonical(stripeEvent), replayKey: replayKey)
    }

    /// A Stripe event's canonical events, with the fees of its charges fetched from their balance transactions.
    func canonical(_ event: JSONValue) async throws -> [Event] {
        var stripeEvent = event
        if let chargeID = StripeMapping.unexpandedCharge(in: event) {
            stripeEvent = StripeMapping.expanding(event, "latest_charge", with: try await client.get("/v1/charges/\(chargeID)"))
        } else if let chargeID = StripeMapping.unexpandedRefundCharge(in: event) {
            stripeEvent = StripeMapping.expanding(event, "charge", with: try await client.get("/v1/charges/\(chargeID)"))
        } else if let priceID = StripeMapping.unexpandedDefaultPrice(in: event) {
            stripeEvent = StripeMapping.expanding(event, "default_price", with: try await client.get("/v1/prices/\(priceID)"))
        }
        var transactions: [String: JSONValue] = [:]
        for transaction in StripeMapping.balanceTransactions(in: stripeEvent) {
            transactions[transaction] = try await client.get("/v1/balance_transactions/\(transaction)")
        }
        return StripeMapping.events(from: stripeEvent, connector: connector, transactions: transactions)
    }

    /// What its events carry over a range of days (side source only), to compare with what a sink wrote.
    func reconcileSnapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        try await reconcile.snapshot(params)
    }

    /// Customers from other systems (a CRM, Odoo) become Stripe customers, found again by the
    /// reference kept in their metadata, created with the delivery's idempotency key.
    func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        guard case .customer(let customer) = params.event.record else {
            throw ConnectorError(.permanent, "the Stripe connector takes customers only, not \(params.event.record.kind)")
        }
        let reference = SinkReference(sourceConnector: params.sourceConnector ?? "unknown", objectType: params.event.source.objectType,
                                      objectID: params.event.source.objectID).description
        let fields = StripeCustomerFields.fields(customer, reference: reference)
        let source = params.event.source
        var existing = params.links.first { $0.objectType == source.objectType && $0.sourceID == source.objectID && $0.externalID.hasPrefix("cus_") }?.externalID
        if existing == nil, let email = customer.email {
            let found = try await client.get("/v1/customers", [("email", email), ("limit", "100")])["data"]?.arrayValue ?? []
            existing = found.first { $0["metadata"]?["connector_host_ref"]?.stringValue == reference }?["id"]?.stringValue
        }
        if let existing {
            // Writing the same fields twice is harmless: a key per attempt, so that a failure Stripe
            // stored under the key of an earlier attempt is not replayed to this one.
            _ = try await client.post("/v1/customers/\(existing)", fields, idempotencyKey: "\(params.idempotencyKey):update:\(params.attempt)")
            return DeliverResult(externalID: existing)
        }
        let created: JSONValue
        do {
            created = try await client.post("/v1/customers", fields, idempotencyKey: params.idempotencyKey)
        } catch let error as ConnectorError where error.code == .transient && error.details?["idempotent_replayed"]?.boolValue == true {
            // Stripe stored a 500 under this key and replays it for 24 hours. Whether that call
            // created the customer is decided by the lookup above, which needs an email.
            guard customer.email != nil else {
                throw ConnectorError(.permanent, "Stripe replays a server error stored under this delivery's Idempotency-Key, and a customer without an email cannot be looked up to tell whether that call created it: check Stripe for \(reference), then replay the dead letter", details: error.details)
            }
            created = try await client.post("/v1/customers", fields, idempotencyKey: "\(params.idempotencyKey):after-replayed-error:\(params.attempt)")
        }
        guard let id = created["id"]?.stringValue else { throw ConnectorError(.transient, "Stripe created a customer without an id") }
        return DeliverResult(externalID: id)
    }
}
