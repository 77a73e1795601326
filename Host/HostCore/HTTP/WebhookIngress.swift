import ConnectorProtocol
import Foundation
import Logging
import Synchronization

/// Turns a webhook into stored events, or into the right refusal. Verified events are stored before
/// the 2xx; while the plugin or the store cannot take them, 503 with Retry-After makes the sender retry.
///
/// Genuine webhooks and refused ones are charged to different rate buckets, so a forged flood cannot
/// spend the genuine sender's allowance; and refusals are summarized (a counter, one log line and one
/// audit row per connector and minute), so a flood cannot flood the journal and the audit trail.
struct WebhookIngress: Sendable {
    let settings: HTTPSettings
    let supervisor: Supervisor
    let pipeline: Pipeline
    let metrics: HostMetrics
    let logger: Logger
    private let accepted = RateLimiter()
    private let refused = RateLimiter()
    private let refusals = RefusalTally()

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
        /// The plugin's own answer, sent instead of `status` and `body` when it shapes one.
        var shaped: WebhookResponse?
    }

    func handle(connector: String, method: String = "POST", target: String? = nil, headers: [String: String], body: Data?) async -> Answer {
        guard supervisor.connectorConfigs.contains(where: { $0.id == connector }) else {
            metrics.webhook(connector: "unknown", result: "unknown_connector")
            var answer = refuse(404, "unknown_connector", "no connector \(connector)")
            answer.metricsLabel = "unknown"
            return answer
        }
        guard let body else {
            return await reject(connector, 413, "too_large", "the body exceeds \(settings.maxBodyBytes) bytes")
        }
        let wait = accepted.wait(connector, limit: settings.webhookRateLimit)
        if wait > 0 { return rateLimited(connector, wait: wait) }
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
        guard capabilities.webhookMethods.contains(method) else {
            metrics.webhook(connector: connector, result: "unsupported")
            return refuse(405, "unsupported", "connector \(connector) takes \(capabilities.webhookMethods.joined(separator: ", ")) on its hook, not \(method)")
        }
        // Bytes that are not UTF-8 travel in base64: the plugin verifies a signature over the exact bytes.
        let text = String(validating: body, as: UTF8.self)
        let codec = pipeline.codec
        let incoming: [Store.Incoming], rejects: [Store.Reject], replayKey: String?, shaped: WebhookResponse?
        do {
            let params = WebhookParams(headers: headers, body: text ?? "", receivedAtMilliseconds: Store.now(), method: method, target: target,
                                       bodyBase64: text == nil ? body.base64EncodedString() : nil)
            let message = try await instance.call(Method.webhookHandle, rawParams: try codec.json(params), timeout: .seconds(10))
            let page = try Pipeline.page(of: message, as: .webhook)
            let response = try page.page.others["response"].flatMap { json in
                do {
                    return try codec.decodeJSON(WebhookResponse?.self, from: json)
                } catch {
                    throw ConnectorError(.protocol, "invalid result: \"response\": \(RPCCodec.describe(error))")
                }
            }
            (incoming, rejects, replayKey, shaped) = (page.incoming, page.rejects, page.page.replayKey, response)
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
        let taken = accepted.take(connector, limit: settings.webhookRateLimit)
        if taken > 0 { return rateLimited(connector, wait: taken) }
        do {
            let stored = try await pipeline.ingest(connector: connector, stream: nil, incoming: incoming, rejects: rejects, cursor: nil, replayKey: replayKey)
            metrics.webhook(connector: connector, result: "accepted")
            let rejected = rejects.isEmpty ? "" : ",\"rejected\":\(rejects.count)"
            return Answer(status: 200, body: "{\"accepted\":\(stored.stored.count),\"duplicates\":\(stored.duplicates)\(rejected)}", retryAfterSeconds: nil, shaped: shaped)
        } catch is ReplayedDelivery {
            return await reject(connector, 409, "replayed", "this delivery was accepted before")
        } catch {
            metrics.webhook(connector: connector, result: "unavailable")
            return Answer(status: 503, body: Self.json(["error": "unavailable", "message": "the store cannot take work: \(error)"]), retryAfterSeconds: 30)
        }
    }

    private func rateLimited(_ connector: String, wait: Double) -> Answer {
        metrics.webhook(connector: connector, result: "rate_limited")
        return Answer(status: 429, body: Self.json(["error": "rate_limited", "message": "too many webhooks for \(connector)"]),
                      retryAfterSeconds: max(1, Int(wait.rounded(.up))))
    }

    /// A refusal worth recording: forged, stale, replayed, malformed or oversized deliveries. Counted
    /// one by one; logged when it is a connector's first in the summary's interval; audited in the
    /// summary. Beyond the refusals' own rate limit the sender is told to back off.
    private func reject(_ connector: String, _ status: Int, _ reason: String, _ message: String) async -> Answer {
        metrics.webhook(connector: connector, result: reason)
        if refusals.add(connector: connector, reason: reason, message: message) {
            logger.warning("webhook rejected (more from this connector are summarized each minute)", metadata: [
                "connector.id": "\(connector)", "webhook.reason": "\(reason)", "webhook.message": "\(message)",
            ])
        }
        let wait = refused.take(connector, limit: settings.webhookRateLimit)
        if wait > 0 {
            return Answer(status: 429, body: Self.json(["error": "rate_limited", "message": "too many refused webhooks for \(connector)"]),
                          retryAfterSeconds: max(1, Int(wait.rounded(.up))))
        }
        return refuse(status, reason, message)
    }

    /// One audit row and log line per connector with refusals since the last summary.
    func summarizeRefusals() async {
        for summary in refusals.drain() {
            let counts = summary.reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let detail = "\(summary.total) refused (\(counts)); last: \(summary.lastReason): \(summary.lastMessage)"
            logger.warning("webhooks rejected", metadata: ["connector.id": "\(summary.connector)", "webhook.refused": "\(summary.total)", "webhook.reasons": "\(counts)"])
            do {
                try await pipeline.store.audit(correlationID: nil, actor: "http", action: "webhook.rejected", subject: summary.connector, detail: detail)
            } catch {
                logger.error("cannot write an audit record", metadata: ["audit.action": "webhook.rejected", "store.error": "\(error)"])
            }
        }
    }

    private func refuse(_ status: Int, _ reason: String, _ message: String) -> Answer {
        Answer(status: status, body: Self.json(["error": reason, "message": message]), retryAfterSeconds: nil)
    }

    static func json(_ fields: [String: String]) -> String {
        (try? String(decoding: RPCCodec().json(fields), as: UTF8.self)) ?? "{}"
    }
}

/// Refused webhooks per connector since the last summary.
final class RefusalTally: Sendable {
    struct Summary: Equatable {
        var connector: String
        var reasons: [String: Int] = [:]
        var lastReason = "", lastMessage = ""
        var total: Int { reasons.values.reduce(0, +) }
    }

    private let pending = Mutex<[String: Summary]>([:])

    /// Adds a refusal; true when it is the connector's first since the last summary.
    func add(connector: String, reason: String, message: String) -> Bool {
        pending.withLock { pending in
            var summary = pending[connector] ?? Summary(connector: connector)
            let first = summary.reasons.isEmpty
            summary.reasons[reason, default: 0] += 1
            summary.lastReason = reason
            summary.lastMessage = message
            pending[connector] = summary
            return first
        }
    }

    func drain() -> [Summary] {
        pending.withLock { pending in
            defer { pending = [:] }
            return pending.values.sorted { $0.connector < $1.connector }
        }
    }
}
