import CoreMetrics
import Foundation
import HostAdmin
public import Prometheus
import Synchronization

/// The daemon's metrics: swift-metrics instruments backed by a Prometheus registry of our own (no
/// global bootstrap), served as text at `GET /metrics`. Labels stay low-cardinality: route, connector,
/// tenant, state and outcome class, never ids.
public final class HostMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let restartsSeen = Mutex<[String: Int]>([:])
    /// Instruments made once per label set: making one asks the registry, which checks and sorts the
    /// names each time (a tenth of the daemon's time end to end when made for every delivery).
    private let counters = Mutex<[InstrumentKey: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[InstrumentKey: CoreMetrics.Timer]>([:])

    private struct InstrumentKey: Hashable {
        var label: String
        var dimensions: [String]
    }

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let latency: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                   .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30), .seconds(300)]
        factory.durationHistogramBuckets = [
            "connector_host_delivery_latency_seconds": latency,
            "connector_host_webhook_ack_seconds": latency,
        ]
        self.factory = factory
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        Self.kept(in: counters, label, dimensions) { CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    private func timer(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Timer {
        Self.kept(in: timers, label, dimensions) { CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory) }
    }

    /// The instrument kept for this label set, made on first use.
    private static func kept<Instrument: Sendable>(
        in cache: borrowing Mutex<[InstrumentKey: Instrument]>, _ label: String, _ dimensions: [(String, String)], make: () -> Instrument
    ) -> Instrument {
        let key = InstrumentKey(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        if let known = cache.withLock({ $0[key] }) { return known }
        let made = make()
        return cache.withLock { known in
            if let raced = known[key] { return raced }
            known[key] = made
            return made
        }
    }

    // MARK: Pipeline

    func ingested(connector: String, stored: Int, duplicates: Int) {
        if stored > 0 { counter("connector_host_events_ingested_total", [("connector", connector)]).increment(by: stored) }
        if duplicates > 0 { counter("connector_host_events_duplicate_total", [("connector", connector)]).increment(by: duplicates) }
    }

    /// Elements of a page that were not canonical events (kept in `intake_rejects`).
    func rejected(connector: String, count: Int) {
        counter("connector_host_events_rejected_total", [("connector", connector)]).increment(by: count)
    }

    /// One attempt's outcome: `delivered`, `duplicate`, or the error class.
    func attempt(route: String, outcome: String) {
        counter("connector_host_delivery_attempts_total", [("route", route), ("outcome", outcome)]).increment()
    }

    /// From the event's arrival to its delivery.
    func delivered(route: String, latencyMilliseconds: Int64) {
        timer("connector_host_delivery_latency_seconds", [("route", route)])
            .recordMilliseconds(max(0, latencyMilliseconds))
    }

    func deadLettered(route: String, errorClass: String) {
        counter("connector_host_dead_letters_total", [("route", route), ("class", errorClass)]).increment()
    }

    /// A delivery that failed for good but was settled by a later event of its object (not a dead letter).
    func superseded(route: String) {
        counter("connector_host_deliveries_superseded_total", [("route", route)]).increment()
    }

    /// What finance cares about, per target connector and tenant: records written for the first time.
    func business(eventType: String, target: String, tenant: String?) {
        let name: String
        switch eventType.prefix(while: { $0 != "." }) {
        case "customer": name = "connector_host_customers_upserted_total"
        case "invoice", "credit_note": name = "connector_host_invoices_posted_total"
        case "payment", "refund": name = "connector_host_payments_applied_total"
        default: return
        }
        counter(name, [("connector", target), ("tenant", tenant ?? "")]).increment()
    }

    // MARK: Webhooks

    /// `accepted`, or why not: `forged`, `stale`, `replayed`, `malformed`, `too_large`, `rate_limited`,
    /// `unavailable`, `unknown_connector`.
    func webhook(connector: String, result: String) {
        counter("connector_host_webhooks_total", [("connector", connector), ("result", result)]).increment()
    }

    func webhookAcknowledged(connector: String, after duration: Duration) {
        timer("connector_host_webhook_ack_seconds", [("connector", connector)]).recordNanoseconds(
            Int64(duration.components.seconds) * 1_000_000_000 + Int64(duration.components.attoseconds / 1_000_000_000)
        )
    }

    // MARK: HTTP connections

    func httpConnections(listener: String, open: Int) {
        Gauge(label: "connector_host_http_connections", dimensions: [("listener", listener)], factory: factory).record(open)
    }

    func httpConnectionLimitReached(listener: String) {
        counter("connector_host_http_connection_limit_reached_total", [("listener", listener)]).increment()
    }

    /// A connection closed for being too slow: `head` (no complete request head in time, or idle), `body`.
    func httpTimedOut(listener: String, phase: RequestDeadlines.Phase) {
        let phase = phase == .readingRequest ? "body" : "head"
        counter("connector_host_http_timeouts_total", [("listener", listener), ("phase", phase)]).increment()
    }

    // MARK: Sampled at scrape time

    func queue(route: String, state: String, count: Int) {
        Gauge(label: "connector_host_queue_deliveries", dimensions: [("route", route), ("state", state)], factory: factory).record(count)
    }

    func oldestPending(route: String, seconds: Double) {
        Gauge(label: "connector_host_queue_oldest_pending_seconds", dimensions: [("route", route)], factory: factory).record(seconds)
    }

    func plugin(connector: String, up: Bool, restarts: Int) {
        Gauge(label: "connector_host_plugin_up", dimensions: [("connector", connector)], factory: factory).record(up ? 1 : 0)
        let delta = restartsSeen.withLock { seen -> Int in
            defer { seen[connector] = restarts }
            return max(0, restarts - (seen[connector] ?? 0))
        }
        let restartsCounter = counter("connector_host_plugin_restarts_total", [("connector", connector)])
        if delta > 0 { restartsCounter.increment(by: delta) }
    }

    /// 0 closed, 1 half-open, 2 open.
    func circuit(target: String, state: String) {
        let value = switch state { case "open": 2; case "half_open": 1; default: 0 }
        Gauge(label: "connector_host_circuit_state", dimensions: [("target", target)], factory: factory).record(value)
    }

    /// A gauge a plugin reported (`metrics`): a vendor's quota used, its limit.
    func pluginGauge(connector: String, name: String, value: Double) {
        Gauge(label: "connector_host_plugin_gauge", dimensions: [("connector", connector), ("name", name)], factory: factory).record(value)
    }

    /// Differences a reconciliation's latest run counted, per record kind and currency (`none` without amounts).
    func reconcileDrift(name: String, source: String, target: String, objectType: String, currency: String, count: Int) {
        Gauge(label: "connector_host_reconcile_drift", dimensions: [
            ("reconcile", name), ("source", source), ("target", target), ("object_type", objectType), ("currency", currency),
        ], factory: factory).record(count)
    }

    /// When a reconciliation last finished a run that both sides answered, Unix seconds.
    func reconcileFinished(name: String, at milliseconds: Int64) {
        Gauge(label: "connector_host_reconcile_last_run_timestamp_seconds", dimensions: [("reconcile", name)], factory: factory)
            .record(Double(milliseconds) / 1000)
    }

    func storeAcceptsWork(_ ok: Bool) {
        Gauge(label: "connector_host_store_ok", dimensions: [], factory: factory).record(ok ? 1 : 0)
    }
}

extension HostMetrics {
    /// What this host sees of the hosts sharing its store, per member: whether it is alive, the sources
    /// it polls, the deliveries it has claimed, the age of its heartbeat. Members gone since the last
    /// call are zeroed. Returns the members seen.
    func cluster(_ cluster: ClusterResult, previous: Set<String>) -> Set<String> {
        Gauge(label: "connector_host_member_info", dimensions: [("member", cluster.member)], factory: factory).record(1)
        for member in cluster.members {
            let dimensions = [("member", member.name)]
            Gauge(label: "connector_host_member_alive", dimensions: dimensions, factory: factory).record(member.state == "alive" ? 1 : 0)
            Gauge(label: "connector_host_member_sources", dimensions: dimensions, factory: factory).record(member.sources.count)
            Gauge(label: "connector_host_member_claimed_deliveries", dimensions: dimensions, factory: factory).record(member.claimed)
            Gauge(label: "connector_host_member_heartbeat_age_seconds", dimensions: dimensions, factory: factory)
                .record(Double(max(0, cluster.now - member.heartbeatAt)) / 1000)
        }
        let seen = Set(cluster.members.map(\.name))
        for gone in previous.subtracting(seen) {
            for label in ["connector_host_member_alive", "connector_host_member_sources", "connector_host_member_claimed_deliveries"] {
                Gauge(label: label, dimensions: [("member", gone)], factory: factory).record(0)
            }
        }
        return seen
    }
}
