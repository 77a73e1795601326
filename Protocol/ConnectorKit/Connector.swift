public import ConnectorProtocol
public import Logging

/// What a plugin author implements. Conform a type, then write a one-line `main`:
///
/// ```swift
/// @main enum Main { static func main() async { await ConnectorRunner.serve(MyConnector.self) } }
/// ```
///
/// The SDK connects to the host, performs the handshake, decodes each request into the method's
/// params, calls the matching method here and encodes the answer. Throw a ``ConnectorError`` to
/// tell the host what kind of failure happened; any other error is reported as `transient`.
public protocol Connector: Sendable {
    /// Name and version, sent in `initialize`.
    static var plugin: PluginInfo { get }
    /// What the plugin can do, sent in `initialize` before the host hands over the configuration.
    static var capabilities: Capabilities { get }

    /// Judges a `[connector.config]` table without the host: the problem, naming its key, or nil.
    /// `connector-hostd --check-config` asks (`<plugin> --check-config`, the table as JSON on stdin), so
    /// an operator learns of a misspelt key before the daemon runs. The default judges nothing.
    static func configProblem(_ config: JSONValue) -> String?

    /// Called once after the handshake with the connector's identity and `[connector.config]` table.
    /// Throwing here makes the plugin exit; the host's supervisor logs the error and restarts it.
    init(context: ConnectorContext) async throws

    /// Liveness probe. The default answers at once.
    func ping() async throws
    /// Whether the configuration and credentials work (`hostctl` and start-up diagnostics).
    func check() async throws -> CheckResult
    /// One page of events from a stream, after `cursor`.
    func poll(_ params: PollParams) async throws -> PollResult
    /// Applies one event to the target system, idempotently by `params.idempotencyKey`.
    func deliver(_ params: DeliverParams) async throws -> DeliverResult
    /// Applies several events, each with its own answer in the same order, working on at most
    /// `concurrency` of them at once (the host's share of the route's concurrency for this batch).
    /// The default runs ``deliver(_:)`` for them, `concurrency` at a time: the host never puts two
    /// events with the same ordering key in one batch.
    func deliverBatch(_ batch: [DeliverParams], concurrency: Int) async -> [Result<DeliverResult, ConnectorError>]
    /// Most deliveries taken in one `sink.deliver_batch`, announced in `initialize` as
    /// `capabilities.sink_batch` unless ``capabilities`` sets it. 1 turns batches off.
    static var deliverBatchLimit: Int { get }
    /// Verifies a webhook the host received for this connector and maps it to events. Throw
    /// `auth` for a forged or stale signature, `permanent` for a request that can never be accepted.
    func handleWebhook(_ params: WebhookParams) async throws -> WebhookResult
    /// Counts and totals of what the target holds for some record kinds and days, for the operator
    /// to compare with the source. Announce `capabilities.reconcile`; `params` arrive validated.
    func reconcileSnapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot
    /// Called when the host asks the plugin to stop; finish or abandon work, then return.
    func shutdown() async
}

extension Connector {
    public static func configProblem(_ config: JSONValue) -> String? { nil }

    public func ping() async throws {}

    public func check() async throws -> CheckResult {
        CheckResult(ok: true, message: "no check implemented")
    }

    public func poll(_ params: PollParams) async throws -> PollResult {
        throw ConnectorError(.notSupported, "\(Self.plugin.name) is not a polling source")
    }

    public func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        throw ConnectorError(.notSupported, "\(Self.plugin.name) is not a sink")
    }

    public func deliverBatch(_ batch: [DeliverParams], concurrency: Int) async -> [Result<DeliverResult, ConnectorError>] {
        await withTaskGroup(of: (Int, Result<DeliverResult, ConnectorError>).self) { group in
            func start(_ index: Int) {
                let params = batch[index]
                group.addTask {
                    do {
                        return (index, .success(try await deliver(params)))
                    } catch let error as ConnectorError {
                        return (index, .failure(error))
                    } catch is CancellationError {
                        return (index, .failure(ConnectorError(.cancelled, "delivery cancelled")))
                    } catch {
                        return (index, .failure(ConnectorError(.transient, "\(error)")))
                    }
                }
            }
            var results = [Result<DeliverResult, ConnectorError>](repeating: .failure(ConnectorError(.transient, "no answer")), count: batch.count)
            var next = min(batch.count, max(1, concurrency))
            for index in 0..<next { start(index) }
            for await (index, result) in group {
                results[index] = result
                if next < batch.count {
                    start(next)
                    next += 1
                }
            }
            return results
        }
    }

    public static var deliverBatchLimit: Int { 64 }

    public func handleWebhook(_ params: WebhookParams) async throws -> WebhookResult {
        throw ConnectorError(.notSupported, "\(Self.plugin.name) does not take webhooks")
    }

    public func reconcileSnapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        throw ConnectorError(.notSupported, "\(Self.plugin.name) does not answer reconcile.snapshot")
    }

    public func shutdown() async {}
}

/// What a connector gets from the host at start.
public struct ConnectorContext: Sendable {
    /// This instance's id, plugin name, tenant and legal entity.
    public let connector: ConnectorInfo
    /// The `[connector.config]` table, as JSON.
    public let config: JSONValue
    /// The protocol version the host picked.
    public let protocolVersion: Int
    /// Logs sent to the host, which writes them under this connector's id.
    public let logger: Logger
    /// The connection to the host, for plugin → host requests.
    public let host: HostConnection

    /// The connector's settings read from `config` (`MySettings.init`); a problem is a `permanent`
    /// error naming the connector and the key, which ends the handshake.
    public func settings<Settings>(_ read: (JSONValue) throws(ConfigTable.Problem) -> Settings) throws(ConnectorError) -> Settings {
        do {
            return try read(config)
        } catch {
            throw ConnectorError(.permanent, "[connector.config] of \(connector.id): \(error.description)")
        }
    }
}
