import ConnectorKit
import ConnectorProtocol
import Logging
import OdooKit

/// `connector-odoo`: Odoo as the ERP sink of customers, products, invoices, credit notes, payments
/// and refunds, and as the source of invoices' payment states and of customer changes. The work is
/// in OdooKit; this is the plugin's shell. Settings: see ``OdooSettings`` and the README.
struct OdooConnector: Connector {
    static let plugin = PluginInfo(name: "odoo", version: "0.1.0")
    static let capabilities = Capabilities(
        streams: OdooSource.streams,
        sinkEventTypes: ["customer.*", "company.*", "contact.*", "product.*", "price.*", "order.*", "deal.*", "invoice.*", "credit_note.*", "payment.*", "refund.*",
                         "payout.*", "dispute.*"],
        reconcile: true,
        // Stripe's `price.*` events carry product records (a price is sold as a product in Odoo).
        sinkRecordKinds: ["customer", "company", "contact", "product", "price", "order", "deal", "invoice", "credit_note", "payment", "refund", "payout", "dispute"]
    )

    let client: OdooClient
    let sink: OdooSink
    let source: OdooSource
    let reconcile: OdooReconcile
    let settings: OdooSettings

    static func configProblem(_ config: JSONValue) -> String? {
        ConfigTable.problem(OdooSettings.init, config)
    }

    init(context: ConnectorContext) async throws {
        let settings: OdooSettings
        settings = try context.settings(OdooSettings.init)
        let host = context.host
        let secret = settings.apiKeySecret
        client = OdooClient(
            endpoint: OdooEndpoint(url: settings.url, database: settings.database, login: settings.login,
                                   preferred: settings.protocolChoice, timeout: .seconds(settings.timeoutSeconds)),
            http: HTTPClient(maxConcurrent: settings.maxConcurrency, userAgent: "connector-host-odoo/\(Self.plugin.version)"),
            apiKey: {
                // No key (or a key the vault cannot give) is a credentials problem: the host pauses the
                // connector instead of dead-lettering every delivery, and resumes it once the key is set.
                do {
                    return try await host.secret(secret)
                } catch let error as ConnectorError {
                    throw ConnectorError(.auth, error.message, details: error.details)
                }
            }
        )
        sink = OdooSink(client: client, settings: settings, logger: context.logger)
        source = OdooSource(client: client, settings: settings, connector: context.connector)
        reconcile = OdooReconcile(client: client, settings: settings)
        self.settings = settings
    }

    func check() async throws -> CheckResult {
        let session = try await client.connect()
        let companies = try await client.searchRead("res.company", domain: [], fields: ["name"])
        let known = Set(companies.compactMap { $0["id"]?.intValue })
        let missing = settings.companies.filter { !known.contains($0.value) }
        guard missing.isEmpty else {
            return CheckResult(ok: false, message: "companies mapped in [connector.config.companies] that this Odoo user cannot see: "
                + missing.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", "))
        }
        return CheckResult(ok: true, message: "Odoo \(session.serverVersion) over \(session.api.rawValue) at \(settings.url), database \(settings.database), user id \(session.uid), \(companies.count) companies")
    }

    func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        try await sink.deliver(params)
    }

    func poll(_ params: PollParams) async throws -> PollResult {
        try await source.poll(params)
    }

    func reconcileSnapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        try await reconcile.snapshot(params)
    }
}
