public import ConnectorProtocol
public import HostAdmin
public import Logging
public import ServiceLifecycle
import Synchronization

/// Runs the `[[reconcile]]` tables: asks the source and the target for their records over the window,
/// compares them (``DriftDetection``), stores the report with an audit entry, and keeps the drift
/// gauges and the health problems up to date. As a service it runs each table on its schedule;
/// operators run one now, or repair what one found, through the admin socket.
public final class Reconciler: Service, Sendable {
    let store: any ReconcileStorage
    let supervisor: Supervisor
    let pipeline: Pipeline
    let metrics: HostMetrics
    let logger: Logger
    /// How often the schedules are looked at.
    let tick: Duration
    /// The latest report of each reconciliation, for health and the gauges.
    private let latest = Mutex<[String: DriftReport]>([:])
    /// Label sets of the drift gauge last set per reconciliation, so a difference that is gone reads 0.
    private let gauged = Mutex<[String: Set<[String]>]>([:])
    /// Runs under way, by name: a second run of one reconciliation waits for none, it is refused.
    private let running = Mutex<Set<String>>([])

    public init(store: any ReconcileStorage, supervisor: Supervisor, pipeline: Pipeline, metrics: HostMetrics, logger: Logger, tick: Duration = .seconds(5)) {
        self.store = store
        self.supervisor = supervisor
        self.pipeline = pipeline
        self.metrics = metrics
        self.logger = logger
        self.tick = tick
    }

    /// The plugin's answer is awaited this long, as for `hostctl reconcile CONNECTOR`.
    static let snapshotTimeout = Duration.seconds(120)

    // MARK: Service

    public func run() async throws {
        do {
            for report in try await store.driftReports(name: nil, limit: 1) { remember(report) }
        } catch {
            logger.warning("cannot read the latest reconcile reports", metadata: ["store.error": "\(error)"])
        }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                for config in self.supervisor.reconciles where self.isDue(config, now: Store.now()) {
                    _ = try? await self.run(config, trigger: .schedule, actor: "scheduler")
                }
                try await Task.sleep(for: self.tick)
            }
        }
    }

    /// Whether a scheduled run is due: never run, or its interval or daily time has come since the
    /// last run began. A pair whose plugins are not running yet waits for them.
    func isDue(_ config: ReconcileConfig, now: Int64) -> Bool {
        guard config.schedule != .onDemand, running.withLock({ !$0.contains(config.name) }) else { return false }
        guard (try? supervisor.instance(config.source).isAvailable) == true, (try? supervisor.instance(config.target).isAvailable) == true else { return false }
        let last = latest.withLock { $0[config.name] }
        return Self.isDue(config.schedule, lastStartedAt: last?.startedAt, lastFailed: last?.outcome == .failed, now: now)
    }

    /// A run that failed (a side did not answer) is tried again this soon, not only at the next time of its schedule.
    static let retryFailedAfter: Int64 = 15 * 60_000

    static func isDue(_ schedule: ReconcileConfig.Schedule, lastStartedAt: Int64?, lastFailed: Bool = false, now: Int64) -> Bool {
        guard let last = lastStartedAt else { return schedule != .onDemand }
        if lastFailed, schedule != .onDemand, now - last >= retryFailedAfter { return true }
        switch schedule {
        case .onDemand: return false
        case .every(let seconds): return now - last >= Int64(seconds) * 1000
        case .daily(let minute):
            // The latest occurrence of the time of day at or before now.
            let dayStart = now - now % 86_400_000
            var occurrence = dayStart + Int64(minute) * 60_000
            if occurrence > now { occurrence -= 86_400_000 }
            return last < occurrence
        }
    }

    // MARK: Running

    public func config(named name: String) throws(ConnectorError) -> ReconcileConfig {
        let configs = supervisor.reconciles
        guard let config = configs.first(where: { $0.name == name }) else {
            let suggestion = Spelling.closest(to: name, in: configs.map(\.name)).map { ": did you mean \($0)?" } ?? ""
            let known = configs.isEmpty ? " (the configuration has no [[reconcile]] table)" : suggestion
            throw ConnectorError(.permanent, "no reconcile \"\(name)\"\(known)")
        }
        return config
    }

    /// Runs one reconciliation now and stores its report; a side that does not answer makes a `failed`
    /// report (stored too: health says so), not an error.
    public func run(_ config: ReconcileConfig, trigger: DriftReport.Trigger, actor: String) async throws -> DriftReport {
        guard running.withLock({ $0.insert(config.name).inserted }) else {
            throw ConnectorError(.transient, "reconcile \(config.name) is already running; its report will be in hostctl reconcile report \(config.name)")
        }
        defer { running.withLock { _ = $0.remove(config.name) } }
        let startedAt = Store.now()
        let windows = DriftDetection.window(endingAt: startedAt, days: config.windowDays, margin: config.marginDays)
        let entity = supervisor.connectorConfigs.first { $0.id == config.source }?.entity
        var report = DriftReport(name: config.name, source: config.source, target: config.target, entity: entity,
                                 from: windows.report.from, to: windows.report.to, startedAt: startedAt, finishedAt: startedAt,
                                 trigger: trigger, outcome: .clean, error: nil, tolerance: config.tolerance, drift: 0, totals: [], items: [])
        do {
            async let source = snapshot(config.source, side: .source, config: config, window: windows.asked, entity: entity)
            async let target = snapshot(config.target, side: .target, config: config, window: windows.asked, entity: entity)
            let (sourceSnapshot, targetSnapshot) = try await (source, target)
            let compared = DriftDetection.compare(source: sourceSnapshot, target: targetSnapshot, sourceConnector: config.source,
                                                  objectTypes: config.objectTypes, window: windows.report, amountTolerance: config.amountToleranceMinor,
                                                  countUnreferenced: config.countUnreferenced)
            var inHost: [String: [String: Store.RecordInHost]] = [:]
            let missing = Dictionary(grouping: compared.items.filter { $0.kind == .missingInTarget }) { $0.sourceObjectType ?? $0.objectType }
            for (eventType, items) in missing.sorted(by: { $0.key < $1.key }) {
                inHost[eventType] = try await store.recordsInHost(source: config.source, target: config.target, objectType: eventType,
                                                                  objectIDs: items.compactMap(\.sourceID))
            }
            report.finishedAt = Store.now()
            report.totals = compared.totals
            report.days = compared.days
            report.items = DriftDetection.annotate(compared.items, inHost: inHost, now: report.finishedAt, graceMilliseconds: Int64(config.graceSeconds) * 1000)
            report.drift = report.items.count(where: \.counted)
            report.outcome = report.drift > config.tolerance ? .drift : .clean
        } catch {
            // Stopped by the daemon's shutdown: no answer was refused, nothing to report.
            if Task.isCancelled { throw CancellationError() }
            report.finishedAt = Store.now()
            report.outcome = .failed
            report.error = (error as? ConnectorError)?.message ?? "\(error)"
        }
        let stored = try await store.save(report, actor: actor)
        remember(stored)
        logger.log(level: stored.outcome == .clean ? .info : .warning, "reconcile finished", metadata: [
            "reconcile.name": "\(stored.name)", "reconcile.outcome": "\(stored.outcome.rawValue)", "reconcile.drift": "\(stored.drift)",
            "reconcile.report": "\(stored.id ?? 0)", "reconcile.error": "\(stored.error ?? "")",
        ])
        return stored
    }

    private func snapshot(_ connector: String, side: ReconcileParams.Side, config: ReconcileConfig, window: DriftDetection.Window,
                          entity: String?) async throws -> ReconcileSnapshot {
        let role = side == .source ? "source" : "target"
        do {
            let instance = try supervisor.instance(connector)
            guard let capabilities = instance.capabilities else {
                throw ConnectorError(.transient, "has not started yet (state \(instance.status.state))")
            }
            guard capabilities.reconcile else {
                throw ConnectorError(.notSupported, "its plugin (\(instance.config.plugin)) does not announce capabilities.reconcile")
            }
            let params = ReconcileParams(objectTypes: config.objectTypes, from: window.from, to: window.to, includeItems: true, side: side, entity: entity)
            return try await instance.call(Method.reconcileSnapshot, params, as: ReconcileSnapshot.self, timeout: Self.snapshotTimeout)
        } catch let error as ConnectorError {
            throw ConnectorError(error.code, "\(role) \(connector): \(error.message)")
        } catch let error as HostError {
            throw ConnectorError(.permanent, "\(role) \(connector): \(error.message)")
        }
    }

    // MARK: Repair

    /// Re-delivers, through the normal path, the latest event of every record the latest report found
    /// missing in the target, unless a delivery of it already waits. Never touches what the target holds:
    /// duplicates, mismatches and records unknown to the source are left for a person.
    public func repair(_ config: ReconcileConfig, actor: String) async throws -> RepairResult {
        // One at a time with its runs: two repairs at once would both find nothing queued.
        guard running.withLock({ $0.insert(config.name).inserted }) else {
            throw ConnectorError(.transient, "reconcile \(config.name) is running or being repaired; try again when it is done")
        }
        defer { running.withLock { _ = $0.remove(config.name) } }
        guard let report = try await store.driftReports(name: config.name, limit: 1).first, let reportID = report.id else {
            throw ConnectorError(.permanent, "reconcile \(config.name) has no report yet: run hostctl reconcile run \(config.name) first")
        }
        guard report.outcome != .failed else {
            throw ConnectorError(.permanent, "the latest report of \(config.name) (#\(reportID)) failed: \(report.error ?? "no answer"); run it again first")
        }
        let routes = supervisor.routes.filter { $0.from == config.source && $0.to == config.target }
        var entries: [RepairResult.Entry] = []
        var requests: [(eventID: Int64, route: RouteConfig)] = []
        var queuedAt: [Int] = []
        let missing = Dictionary(grouping: report.items.filter { $0.kind == .missingInTarget }) { $0.objectType }
        for objectType in config.objectTypes {
            guard let items = missing[objectType] else { continue }
            let ids = items.compactMap(\.sourceID)
            let eventType = items.first?.sourceObjectType ?? objectType
            let inHost = try await store.recordsInHost(source: config.source, target: config.target, objectType: eventType, objectIDs: ids)
            for sourceID in ids {
                guard let record = inHost[sourceID] else {
                    entries.append(.init(objectType: objectType, sourceID: sourceID, action: .noEvent, deliveryID: nil, route: nil))
                    continue
                }
                if let pending = record.pending.first {
                    entries.append(.init(objectType: objectType, sourceID: sourceID, action: .alreadyQueued, deliveryID: pending.id, route: pending.route))
                    continue
                }
                // Delivered again since the report was made (an earlier repair): run it again to see, rather than send it once more.
                if let delivered = record.lastDelivered, delivered.at > report.finishedAt {
                    entries.append(.init(objectType: objectType, sourceID: sourceID, action: .deliveredSinceReport, deliveryID: delivered.id, route: delivered.route))
                    continue
                }
                guard let route = routes.first(where: { $0.matches(type: record.eventType, tenant: record.tenant, entity: record.entity) }) else {
                    entries.append(.init(objectType: objectType, sourceID: sourceID, action: .noRoute, deliveryID: nil, route: nil))
                    continue
                }
                queuedAt.append(entries.count)
                entries.append(.init(objectType: objectType, sourceID: sourceID, action: .queued, deliveryID: nil, route: route.id))
                requests.append((record.eventID, route))
            }
        }
        let ids = try await store.requeue(requests, report: reportID, actor: actor)
        for (position, id) in zip(queuedAt, ids) { entries[position].deliveryID = id }
        for route in Set(requests.map(\.route.id)) { pipeline.doorbell(route: route).ring() }
        logger.notice("reconcile repair queued deliveries", metadata: ["reconcile.name": "\(config.name)", "reconcile.queued": "\(ids.count)"])
        return RepairResult(reportID: reportID, entries: entries, leftForAPerson: report.items.count { $0.kind != .missingInTarget && $0.counted })
    }

    // MARK: Health and metrics

    /// A reconciliation whose latest run drifted past its tolerance, or failed.
    var problems: [String] {
        let configured = Set(supervisor.reconciles.map(\.name))
        return latest.withLock { $0 }.values.filter { configured.contains($0.name) }.sorted { $0.name < $1.name }.compactMap { report in
            switch report.outcome {
            case .drift:
                return "reconcile \(report.name): \(report.drift) difference(s) between \(report.source) and \(report.target), tolerance \(report.tolerance) (hostctl reconcile report \(report.name))"
            case .failed:
                return "reconcile \(report.name) failed: \(report.error ?? "no answer") (hostctl reconcile run \(report.name) to retry)"
            default:
                return nil
            }
        }
    }

    private func remember(_ report: DriftReport) {
        latest.withLock { $0[report.name] = report }
        guard report.outcome != .failed else { return }
        // Every kind and currency of the report reads 0 unless a difference counts in it.
        var counts = Dictionary(report.totals.map { ([$0.objectType, $0.currency ?? "none"], 0) }) { first, _ in first }
        for item in report.items where item.counted {
            let currency = (item.sourceAmount ?? item.targetAmount)?.currency.code ?? "none"
            counts[[item.objectType, currency], default: 0] += 1
        }
        let previous = gauged.withLock { gauged in
            defer { gauged[report.name] = Set(counts.keys) }
            return gauged[report.name] ?? []
        }
        for gone in previous where counts[gone] == nil { counts[gone] = 0 }
        for (labels, count) in counts {
            metrics.reconcileDrift(name: report.name, source: report.source, target: report.target, objectType: labels[0], currency: labels[1], count: count)
        }
        metrics.reconcileFinished(name: report.name, at: report.finishedAt)
    }
}
