import ConnectorKit
import ConnectorProtocol
import Foundation
import HubSpotKit
import Logging

/// `connector-hubspot`: one HubSpot account as a source of companies, contacts and deals (a deal in a
/// won stage as an order) — searched incrementally and pushed by signed webhooks, one change giving one
/// event either way — as a sink of account statuses written to company properties, and as the source
/// side of a reconciliation of won deals against sale orders. The work is in HubSpotKit.
struct HubSpotConnector: Connector {
    static let plugin = PluginInfo(name: "hubspot", version: "0.1.0")
    static let capabilities = Capabilities(
        streams: HubSpotSource.streams,
        webhooks: true,
        sinkEventTypes: ["account_status.*"],
        reconcile: true,
        sinkRecordKinds: ["account_status"]
    )

    let connector: ConnectorInfo
    let settings: HubSpotSettings
    let client: HubSpotClient
    let source: HubSpotSource
    let reconcile: HubSpotReconcile
    let logger: Logger
    let webhookSecrets: WebhookSecrets

    static func configProblem(_ config: JSONValue) -> String? {
        ConfigTable.problem(HubSpotSettings.init, config)
    }

    init(context: ConnectorContext) async throws {
        settings = try context.settings(HubSpotSettings.init)
        connector = context.connector
        logger = context.logger
        let host = context.host
        let http = HTTPClient(maxConcurrent: 8, userAgent: "connector-host-hubspot/\(Self.plugin.version)", pacer: RatePacer(quota: RatePacer.hubSpotQuota))
        let tokens: HubSpotClient.Tokens
        switch settings.auth {
        case .privateApp:
            let name = settings.tokenSecret
            tokens = .privateApp(CachedSecret { try await host.secret(name) })
        case .oauth:
            tokens = .oauth(OAuthTokens(tokenURL: settings.tokenURL,
                                        grant: .refreshToken(clientID: settings.clientID ?? "", clientSecret: settings.clientSecretSecret,
                                                             refreshToken: settings.refreshTokenSecret),
                                        http: http, secrets: OAuthTokens.Secrets(host: host), ahead: .seconds(120)))
        }
        client = HubSpotClient(settings: settings, http: http, tokens: tokens)
        source = HubSpotSource(client: client, settings: settings, mapping: HubSpotMapping(settings: settings, connector: context.connector))
        reconcile = HubSpotReconcile(source: source)
        webhookSecrets = WebhookSecrets(names: settings.webhookSecrets, host: host)
    }

    func check() async throws -> CheckResult {
        let answer = try await client.get("/crm/v3/objects/companies", [("limit", "1")])
        let some = (answer["results"]?.arrayValue?.isEmpty ?? true) ? "no companies yet" : "companies readable"
        return CheckResult(ok: true, message: "HubSpot reachable at \(settings.apiBase) (\(settings.auth.rawValue)): \(some)")
    }

    func poll(_ params: PollParams) async throws -> PollResult {
        try await source.poll(params)
    }

    /// Won deals as orders, against Odoo's sale orders (``HubSpotReconcile``).
    func reconcileSnapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        try await reconcile.snapshot(params)
    }

    /// A signed batch of HubSpot's webhook events: each changed record is read as it is now and mapped
    /// as a poll maps it (its version is its modified time, so the poll of the same change is dropped
    /// as a duplicate).
    func handleWebhook(_ params: WebhookParams) async throws -> WebhookResult {
        guard let base = settings.webhookPublicURL else {
            throw ConnectorError(.permanent, "webhook_public_url is not set in [connector.config]: v3 signatures cover the URL HubSpot calls",
                                 details: ["reason": "not_configured"])
        }
        let now = Date(timeIntervalSince1970: Double(params.receivedAtMilliseconds) / 1000)
        let verify = { (secrets: [String]) throws(ConnectorError) -> String in
            try WebhookSignature.verifyHubSpot(header: { params.headers[$0.lowercased()] }, method: params.method, uri: base + (params.target ?? ""),
                                               body: params.bodyBytes, secrets: secrets, tolerance: settings.webhookToleranceSeconds, now: now)
        }
        let replayKey: String
        do {
            replayKey = try verify(try await webhookSecrets.current())
        } catch let error as ConnectorError where error.details?["reason"]?.stringValue == "signature" {
            guard let secrets = try await webhookSecrets.refreshed() else { throw error }
            replayKey = try verify(secrets)
        }
        guard let notices = try? JSONDecoder().decode([JSONValue].self, from: params.bodyBytes) else {
            throw ConnectorError(.permanent, "the webhook body is not a JSON array of HubSpot events", details: ["reason": "malformed"])
        }
        var changed: [String: [String]] = [:]  // object type → ids, in order, once each
        for notice in notices {
            guard let kind = notice["subscriptionType"]?.stringValue?.split(separator: ".").first,
                  let objectType = HubSpotWebhook.objectType(String(kind)),
                  let id = notice["objectId"]?.intValue.map(String.init) ?? notice["objectId"]?.stringValue else { continue }
            if !(changed[objectType]?.contains(id) ?? false) { changed[objectType, default: []].append(id) }
        }
        var events: [Event] = []
        for (objectType, ids) in changed.sorted(by: { $0.key < $1.key }) where settings.streams.contains(objectType) {
            let properties = HubSpotMapping.properties(objectType, settings: settings)
            var objects = try await source.read(objectType, ids, properties: properties)
            // Deleted since: read from the archive.
            let missing = Set(ids).subtracting(objects.map(\.id))
            if !missing.isEmpty { objects += try await source.readArchived(objectType, Array(missing), properties: properties) }
            events += try await source.events(objectType, objects.filter { !$0.archived })
            events += objects.filter(\.archived).compactMap { source.mapping.event(objectType, $0) }
        }
        return WebhookResult(events: events, replayKey: replayKey)
    }

    /// An account status (from the books) written to its HubSpot company's properties. The company is
    /// the status's customer when it is one of this account's companies, else the one the host's link
    /// names (the way back from the partner it became); a customer with neither is skipped.
    func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        guard case .accountStatus(let status) = params.event.record else {
            throw ConnectorError(.notSupported, "the HubSpot connector takes account statuses only, not \(params.event.record.kind)")
        }
        guard !settings.statusProperties.isEmpty else {
            throw ConnectorError(.permanent, "status_properties is empty in [connector.config]: name the company properties an account status is written to")
        }
        // One company, one set of properties: a status from another legal entity than this account's
        // (the same customer in a second Odoo company) would overwrite it in another currency.
        if let entity = connector.entity, let other = params.event.entity, other != entity {
            return DeliverResult(externalID: nil, duplicate: true)
        }
        let customer = status.customer
        // The host's way back reads "companies:<id>" (the source's type and id); a customer of this
        // account itself is its own reference.
        let linked = params.links.first { $0.objectType == customer.objectType && $0.sourceID == customer.objectID }?.externalID
        let own = customer.objectType == "companies" && params.sourceConnector == connector.id ? "companies:\(customer.objectID)" : nil
        guard let reference = linked ?? own, reference.hasPrefix("companies:") else {
            // A customer that did not come from this account as a company (a Stripe customer's partner, a
            // contact without company): its status has no company here to go to. Nothing to do, no dead letter.
            logger.debug("account status skipped: not a company of this HubSpot account", metadata: [
                "status.customer": "\(params.sourceConnector ?? "?"):\(customer.objectType):\(customer.objectID)",
            ])
            return DeliverResult(externalID: nil, duplicate: true)
        }
        let company = String(reference.dropFirst("companies:".count))
        let properties = HubSpotStatus.properties(status, names: settings.statusProperties)
        _ = try await client.patch("/crm/v3/objects/companies/\(company)", ["properties": .object(properties)])
        return DeliverResult(externalID: company)
    }
}
