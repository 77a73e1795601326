public import ConnectorProtocol
import Foundation
public import HostAdmin
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore

public import Prometheus
public import ServiceLifecycle
import Synchronization

/// Where the HTTP listeners actually listen (a configured port 0 becomes a real one), for `hostctl status`.
public final class HTTPListeners: Sendable {
    private let addresses = Mutex<(webhooks: String?, metrics: String?)>((nil, nil))
    public init() {}
    public var webhooks: String? { addresses.withLock { $0.webhooks } }
    public var metrics: String? { addresses.withLock { $0.metrics } }
    func add(_ address: String, role: HTTPService.Role) {
        addresses.withLock { if role == .webhooks { $0.webhooks = address } else { $0.metrics = address } }
    }
}

/// The daemon's HTTP side (Hummingbird): `POST /hooks/{connector-id}` for SaaS webhooks on `listen`,
/// `GET /healthz` and `GET /metrics` (Prometheus text format) on `metrics_listen` (loopback by default).
/// Each listener holds a bounded number of connections, each of which must keep to its deadlines.
public struct HTTPService: Service {
    enum Role: String { case webhooks, metrics }

    let settings: HTTPSettings
    let budget: DescriptorBudget
    let ingress: WebhookIngress
    let health: @Sendable () -> HealthResult
    let metrics: HostMetrics
    let listeners: HTTPListeners
    let logger: Logger

    public init(settings: HTTPSettings, budget: DescriptorBudget, supervisor: Supervisor, pipeline: Pipeline, metrics: HostMetrics,
                listeners: HTTPListeners, health: @escaping @Sendable () -> HealthResult, logger: Logger) {
        self.settings = settings
        self.budget = budget
        self.ingress = WebhookIngress(settings: settings, supervisor: supervisor, pipeline: pipeline, metrics: metrics, logger: logger)
        self.health = health
        self.metrics = metrics
        self.listeners = listeners
        self.logger = logger
    }

    public func run() async throws {
        var applications: [any Service] = []
        if let listen = settings.listen {
            applications.append(application(listen, role: .webhooks, maxConnections: budget.webhookConnections))
        }
        if let listen = settings.metricsListen {
            applications.append(application(listen, role: .metrics, maxConnections: budget.metricsConnections))
        }
        try await withThrowingDiscardingTaskGroup { group in
            for application in applications {
                group.addTask { try await application.run() }
            }
        }
    }

    private func application(_ address: HTTPSettings.Address, role: Role, maxConnections: Int) -> some Service {
        let router = Router()
        switch role {
        case .metrics:
            router.get("/healthz") { _, _ -> Response in
                let health = self.health()
                let body = try RPCCodec().json(health)
                return Response(status: health.problems.isEmpty ? .ok : .serviceUnavailable,
                                headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
            router.get("/metrics") { _, _ -> Response in
                await self.ingress.sample()
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.registry.emitToBuffer())))
            }
        case .webhooks:
            router.post("/hooks/:connector") { request, context -> Response in
                try await self.webhook(request, connector: context.parameters.get("connector") ?? "")
            }
        }
        let listeners = self.listeners, logger = self.logger, metrics = self.metrics
        let timeouts = RequestDeadlines.Timeouts(header: .milliseconds(settings.headerTimeoutMilliseconds),
                                                 body: .milliseconds(settings.bodyTimeoutMilliseconds),
                                                 idle: .milliseconds(settings.idleTimeoutMilliseconds))
        let listener = role.rawValue
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [
                RequestDeadlineHandler(timeouts: timeouts) { phase in metrics.httpTimedOut(listener: listener, phase: phase) },
            ])),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "connector-hostd",
                                 availableConnectionsDelegate: ConnectionCap(limit: maxConnections, listener: listener, metrics: metrics, logger: logger)),
            onServerRunning: { channel in
                let bound = channel.localAddress.map { "\(address.host):\($0.port ?? address.port)" } ?? address.description
                listeners.add(bound, role: role)
                logger.info("http listening", metadata: ["http.address": "\(bound)", "http.serves": "\(listener)",
                                                         "http.max_connections": "\(maxConnections)"])
            },
            logger: logger
        )
    }

    private func webhook(_ request: Request, connector: String) async throws -> Response {
        let started = ContinuousClock.now
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
        }
        var request = request
        let body: ByteBuffer?
        do {
            body = try await request.collectBody(upTo: settings.maxBodyBytes)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            body = nil
        } catch {
            // The connection's failure (closed, or cut off by its deadline): nobody is left to answer.
            return Response(status: .requestTimeout)
        }
        let answer = await ingress.handle(connector: connector, headers: headers, body: body.map { Data($0.readableBytesView) })
        metrics.webhookAcknowledged(connector: answer.metricsLabel ?? connector, after: started.duration(to: .now))
        var responseHeaders: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = answer.retryAfterSeconds { responseHeaders[.retryAfter] = String(retryAfter) }
        return Response(status: .init(code: answer.status), headers: responseHeaders,
                        body: .init(byteBuffer: ByteBuffer(string: answer.body + "\n")))
    }
}

/// Turns a webhook into stored events, or into the right refusal. Verified events are stored before
/// the 2xx; while the plugin or the store cannot take them, 503 with Retry-After makes the sender retry.
struct WebhookIngress: Sendable {
    let settings: HTTPSettings
    let supervisor: Supervisor
    let pipeline: Pipeline
    let metrics: HostMetrics
    let logger: Logger
    private let buckets = RateLimiter()

    init(settings: HTTPSettings, supervisor: Supervisor, pipeline: Pipeline, metrics: HostMetrics, logger: Logger) {
        self.settings = settings
        self.supervisor = supervisor
        self.pipeline = pipeline
        self.metrics = metrics
        self.logger = logger
    }

    struct Answer: Sendable {
        var status: Int
        var body: String
        var retryAfterSeconds: Int?
        /// The connector's metrics label: its id when configured, else `unknown` (the path is anyone's to choose).
        var metricsLabel: String?
    }

    func handle(connector: String, headers: [String: String], body: Data?) async -> Answer {
        guard supervisor.connectorConfigs.contains(where: { $0.id == connector }) else {
            metrics.webhook(connector: "unknown", result: "unknown_connector")
            var answer = refuse(404, "unknown_connector", "no connector \(connector)")
            answer.metricsLabel = "unknown"
            return answer
        }
        guard let body else {
            return await reject(connector, 413, "too_large", "the body exceeds \(settings.maxBodyBytes) bytes")
        }
        let wait = buckets.take(connector, limit: settings.webhookRateLimit)
        if wait > 0 {
            metrics.webhook(connector: connector, result: "rate_limited")
            return Answer(status: 429, body: Self.json(["error": "rate_limited", "message": "too many webhooks for \(connector)"]),
                          retryAfterSeconds: max(1, Int(wait.rounded(.up))))
        }
        if let problem = pipeline.storeError {
            metrics.webhook(connector: connector, result: "unavailable")
            return Answer(status: 503, body: Self.json(["error": "unavailable", "message": problem]), retryAfterSeconds: 30)
        }
        guard let instance = supervisor.existingInstance(connector), instance.isAvailable, let capabilities = instance.capabilities else {
            metrics.webhook(connector: connector, result: "unavailable")
            return Answer(status: 503, body: Self.json(["error": "unavailable", "message": "connector \(connector) is not running"]), retryAfterSeconds: 5)
        }
        guard capabilities.webhooks else {
            metrics.webhook(connector: connector, result: "unsupported")
            return refuse(404, "unsupported", "connector \(connector) does not take webhooks")
        }
        guard let text = String(validating: body, as: UTF8.self) else {
            return await reject(connector, 400, "malformed", "the body is not UTF-8")
        }
        let codec = pipeline.store.codec
        let incoming: [Store.Incoming], replayKey: String?
        do {
            let params = WebhookParams(headers: headers, body: text, receivedAtMilliseconds: Store.now())
            let message = try await instance.call(Method.webhookHandle, rawParams: try codec.json(params), timeout: .seconds(10))
            let result = try codec.result(WebhookResult.self, of: message)
            incoming = try Pipeline.verbatim(result.events, in: message.line)
            replayKey = result.replayKey
        } catch let error as ConnectorError {
            let reason = error.details?["reason"]?.stringValue
            switch error.code {
            case .auth: return await reject(connector, 401, reason == "stale" ? "stale" : "forged", error.message)
            case .permanent, .protocol: return await reject(connector, 400, reason ?? "malformed", error.message)
            case .notSupported: return refuse(404, "unsupported", error.message)
            default:
                metrics.webhook(connector: connector, result: "unavailable")
                return Answer(status: 503, body: Self.json(["error": "unavailable", "message": error.message]), retryAfterSeconds: 10)
            }
        } catch {
            metrics.webhook(connector: connector, result: "unavailable")
            return Answer(status: 503, body: Self.json(["error": "unavailable", "message": "\(error)"]), retryAfterSeconds: 10)
        }
        do {
            let stored = try await pipeline.ingest(connector: connector, stream: nil, incoming: incoming, cursor: nil, replayKey: replayKey)
            metrics.webhook(connector: connector, result: "accepted")
            return Answer(status: 200, body: "{\"accepted\":\(stored.stored.count),\"duplicates\":\(stored.duplicates)}", retryAfterSeconds: nil)
        } catch is ReplayedDelivery {
            return await reject(connector, 409, "replayed", "this delivery was accepted before")
        } catch {
            metrics.webhook(connector: connector, result: "unavailable")
            return Answer(status: 503, body: Self.json(["error": "unavailable", "message": "the store cannot take work: \(error)"]), retryAfterSeconds: 30)
        }
    }

    /// A refusal worth an audit record: forged, stale, replayed, malformed or oversized deliveries.
    private func reject(_ connector: String, _ status: Int, _ reason: String, _ message: String) async -> Answer {
        metrics.webhook(connector: connector, result: reason)
        logger.warning("webhook rejected", metadata: ["connector.id": "\(connector)", "webhook.reason": "\(reason)", "webhook.message": "\(message)"])
        try? await pipeline.store.audit(correlationID: nil, actor: "http", action: "webhook.rejected", subject: connector, detail: "\(reason): \(message)")
        return refuse(status, reason, message)
    }

    private func refuse(_ status: Int, _ reason: String, _ message: String) -> Answer {
        Answer(status: status, body: Self.json(["error": reason, "message": message]), retryAfterSeconds: nil)
    }

    static func json(_ fields: [String: String]) -> String {
        (try? String(decoding: RPCCodec().json(fields), as: UTF8.self)) ?? "{}"
    }

    /// Refreshes the gauges that are sampled rather than counted, before a scrape.
    func sample() async {
        if let rows = try? await pipeline.store.queue(now: Store.now()) {
            for row in rows {
                metrics.queue(route: row.route, state: row.state, count: row.count)
                if row.state == "pending" { metrics.oldestPending(route: row.route, seconds: row.oldestAgeSeconds ?? 0) }
            }
        }
        for status in supervisor.connectors {
            metrics.plugin(connector: status.id, up: status.state == "running", restarts: status.restarts)
            metrics.circuit(target: status.id, state: pipeline.circuitState(target: status.id).rawValue)
        }
        metrics.storeAcceptsWork(pipeline.storeError == nil)
    }
}
