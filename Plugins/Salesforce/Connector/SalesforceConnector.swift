import ConnectorKit
import ConnectorProtocol
import Foundation
import Logging
import SalesforceKit

/// `connector-salesforce`: one Salesforce org as a source of accounts, contacts, opportunities (a won
/// one as an order) and products — backfilled by Bulk API 2.0, then read incrementally by SOQL — and
/// as a sink of account statuses written to Account fields through sObject Collections, and as the
/// source side of a reconciliation of won opportunities against sale orders. The work is in SalesforceKit.
struct SalesforceConnector: Connector {
    static let plugin = PluginInfo(name: "salesforce", version: "0.1.0")
    static let capabilities = Capabilities(
        streams: SalesforceSource.streams,
        sinkEventTypes: ["account_status.*"],
        reconcile: true,
        sinkRecordKinds: ["account_status"]
    )
    static let deliverBatchLimit = SalesforceStatusSink.collectionLimit

    let settings: SalesforceSettings
    let client: SalesforceClient
    let source: SalesforceSource
    let reconcile: SalesforceReconcile
    let sink: SalesforceStatusSink

    static func configProblem(_ config: JSONValue) -> String? {
        ConfigTable.problem(SalesforceSettings.init, config)
    }

    init(context: ConnectorContext) async throws {
        settings = try context.settings(SalesforceSettings.init)
        let settings = settings
        // Below the reserve, the rest of the day's requests are spread out, one every 5 s at most apart:
        // REQUEST_LIMIT_EXCEEDED, not the pacer, stops the connector when none are left.
        let http = HTTPClient(maxConcurrent: 8, userAgent: "connector-host-salesforce/\(Self.plugin.version)",
                              pacer: RatePacer(RatePacer.Pacing(reserve: Double(settings.apiReservePercent) / 100, maxDelayMilliseconds: 5_000),
                                               quota: RatePacer.salesforceQuota))
        let grant: OAuthTokens.Grant = switch settings.auth {
        case .jwt:
            .jwtBearer(issuer: settings.clientID, subject: settings.username ?? "", audience: settings.audience, privateKey: settings.privateKeySecret)
        case .refreshToken:
            .refreshToken(clientID: settings.clientID, clientSecret: settings.clientSecretSecret, refreshToken: settings.refreshTokenSecret)
        }
        // Salesforce's token answers carry no expiry: a session lasts the org's timeout (2 hours by
        // default), so a token is fetched again after an hour, and at once after a 401.
        let tokens = OAuthTokens(tokenURL: settings.tokenURL, grant: grant, http: http, secrets: OAuthTokens.Secrets(host: context.host),
                                 defaultLifetime: .seconds(3_600))
        let host = context.host
        client = SalesforceClient(settings: settings, tokens: tokens, http: http) { usage in
            host.report(gauges: ["salesforce_api_requests_used": Double(usage.used), "salesforce_api_requests_max": Double(usage.max)])
        }
        source = SalesforceSource(client: client, settings: settings, mapping: SalesforceMapping(settings: settings, connector: context.connector),
                                  logger: context.logger)
        reconcile = SalesforceReconcile(source: source)
        sink = SalesforceStatusSink(client: client, settings: settings, connector: context.connector, logger: context.logger)
    }

    /// Signs in, reads the org's API usage and one account.
    func check() async throws -> CheckResult {
        let limits = try await client.json("GET", client.dataPath + "/limits/")
        let daily = limits["DailyApiRequests"]
        let usage = daily.flatMap { daily in
            daily["Max"]?.intValue.map { max in "\(max - (daily["Remaining"]?.intValue ?? 0)) of \(max) daily API requests used" }
        } ?? "API usage not reported"
        let accounts = try await client.json("GET", client.dataPath + "/query", query: [("q", SOQL.select(["Id"], from: "Account", limit: 1))])
        let some = (accounts["totalSize"]?.intValue ?? 0) > 0 ? "accounts readable" : "no accounts yet"
        let reachable = "Salesforce reachable (\(settings.auth.rawValue), API v\(settings.apiVersion)): \(some); \(usage)"
        guard !settings.statusFields.isEmpty || settings.statusKeyField != nil else { return CheckResult(ok: true, message: reachable) }
        let problems = settings.statusFieldProblems(accountDescription: try await client.json("GET", client.dataPath + "/sobjects/Account/describe"))
        return CheckResult(ok: problems.isEmpty, message: reachable + (problems.isEmpty ? "; the status fields are writable" : "; but " + problems.joined(separator: "; ")))
    }

    func poll(_ params: PollParams) async throws -> PollResult {
        try await source.poll(params)
    }

    /// Won opportunities as orders, against Odoo's sale orders (``SalesforceReconcile``).
    func reconcileSnapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        try await reconcile.snapshot(params)
    }

    func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        try await sink.deliver([params])[0].get()
    }

    /// One composite request for the batch: a single call in flight whatever `concurrency` allows.
    func deliverBatch(_ batch: [DeliverParams], concurrency: Int) async -> [Result<DeliverResult, ConnectorError>] {
        await sink.deliver(batch)
    }
}
