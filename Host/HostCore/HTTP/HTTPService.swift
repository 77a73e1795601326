import ConnectorProtocol
import Foundation
public import HostAdmin
import HTTPTypes
import Hummingbird
public import Logging
import NIOCore

import Prometheus
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

/// The daemon's HTTP side (Hummingbird): `POST /hooks/{connector-id}` for SaaS webhooks on `listen`;
/// `GET /healthz`, `GET /metrics` (Prometheus text format) and the status pages (`GET /`, `GET /trace`) on
/// `metrics_listen` (loopback by default).
/// Each listener holds a bounded number of connections, each of which must keep to its deadlines.
public struct HTTPService: Service {
    enum Role: String { case webhooks, metrics }

    let settings: HTTPSettings
    let budget: DescriptorBudget
    let supervisor: Supervisor
    let pipeline: Pipeline
    let ingress: WebhookIngress
    let health: @Sendable () -> HealthResult
    let statusPage: StatusPage
    let metrics: HostMetrics
    let listeners: HTTPListeners
    let logger: Logger

    public init(settings: HTTPSettings, budget: DescriptorBudget, supervisor: Supervisor, pipeline: Pipeline, metrics: HostMetrics,
                listeners: HTTPListeners, health: @escaping @Sendable () -> HealthResult,
                connectors: @escaping @Sendable () -> [ConnectorStatus], logger: Logger) {
        self.settings = settings
        self.budget = budget
        self.supervisor = supervisor
        self.pipeline = pipeline
        self.ingress = WebhookIngress(settings: settings, supervisor: supervisor, pipeline: pipeline, metrics: metrics, logger: logger)
        self.health = health
        self.statusPage = StatusPage(store: pipeline.store, supervisor: supervisor, health: health, connectors: connectors)
        self.metrics = metrics
        self.listeners = listeners
        self.logger = logger
    }

    public func run() async throws {
        var applications: [(any Service, HTTPSettings.Address, String)] = []
        if let listen = settings.listen {
            applications.append((application(listen, role: .webhooks, maxConnections: budget.webhookConnections), listen, "listen"))
        }
        if let listen = settings.metricsListen {
            applications.append((application(listen, role: .metrics, maxConnections: budget.metricsConnections), listen, "metrics_listen"))
        }
        try await withThrowingDiscardingTaskGroup { group in
            for (application, address, key) in applications {
                group.addTask {
                    do {
                        try await application.run()
                    } catch let error as IOError {
                        // Say which listener and what to change, not which system call.
                        throw HostError(.io, "cannot listen on \(address) ([http] \(key)): \(HostError.reason(error)); "
                                        + "choose a free port\(key == "metrics_listen" ? ", or \"\" for no metrics listener" : "")")
                    }
                }
            }
            group.addTask {
                try? await cancelWhenGracefulShutdown {
                    while true {
                        try await Task.sleep(for: .seconds(60))
                        await ingress.summarizeRefusals()
                    }
                }
                await ingress.summarizeRefusals()
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
                await self.sampleGauges()
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.registry.emitToBuffer())))
            }
            statusPage.register(on: router)
        case .webhooks:
            router.post("/hooks/:connector") { request, context -> Response in
                try await self.webhook(request, connector: context.parameters.get("connector") ?? "")
            }
            // A vendor's verification handshake, for plugins that declare GET in `webhook_methods`.
            router.get("/hooks/:connector") { request, context -> Response in
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
        let target = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
        let answer = await ingress.handle(connector: connector, method: request.method.rawValue, target: target, headers: headers,
                                          body: body.map { Data($0.readableBytesView) })
        metrics.webhookAcknowledged(connector: answer.metricsLabel ?? connector, after: started.duration(to: .now))
        var responseHeaders: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = answer.retryAfterSeconds { responseHeaders[.retryAfter] = String(retryAfter) }
        if let shaped = answer.shaped {
            // The plugin's own answer: its headers (a content type among them) over ours.
            responseHeaders = [:]
            for (name, value) in shaped.headers.sorted(by: { $0.key < $1.key }) {
                if let field = HTTPField.Name(name) { responseHeaders[field] = value }
            }
            if responseHeaders[.contentType] == nil { responseHeaders[.contentType] = "text/plain; charset=utf-8" }
            return Response(status: .init(code: shaped.status), headers: responseHeaders, body: .init(byteBuffer: ByteBuffer(string: shaped.body)))
        }
        return Response(status: .init(code: answer.status), headers: responseHeaders,
                        body: .init(byteBuffer: ByteBuffer(string: answer.body + "\n")))
    }

    /// Refreshes the gauges that are sampled rather than counted, before a scrape.
    private func sampleGauges() async {
        if let rows = try? await pipeline.store.queue(now: Store.now()) {
            for row in rows {
                metrics.queue(route: row.route, state: row.state, count: row.count)
                if row.state == "pending" { metrics.oldestPending(route: row.route, seconds: row.oldestAgeSeconds ?? 0) }
            }
        }
        for status in supervisor.connectors {
            metrics.plugin(connector: status.id, up: status.state == "running", restarts: status.restarts)
            metrics.circuit(target: status.id, state: pipeline.circuitState(target: status.id).rawValue)
            for (name, value) in status.gauges ?? [:] { metrics.pluginGauge(connector: status.id, name: name, value: value) }
        }
        metrics.storeAcceptsWork(pipeline.storeError == nil)
    }
}
