public import ConnectorProtocol
import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Moves events: polls sources into the store, and delivers each stored delivery to its route's
/// target through the target's plugin, by the delivery policy's rules.
public final class Pipeline: Service, Sendable {
    let store: any HostStore
    let codec = RPCCodec()
    let supervisor: Supervisor
    let metrics: HostMetrics
    let logger: Logger
    private let doorbells = Mutex<[String: Doorbell]>([:])
    /// Circuit breakers per route and tenant, and pauses per target and tenant.
    let scopes = DeliveryScopes()
    private let storeProblem = Mutex<[String: String]>([:])
    private let pollProblems = Mutex<[String: PollProblem]>([:])
    private let routeProblems = Mutex<[String: RouteProblem]>([:])

    /// A source whose polls keep failing: what the operator sees in `hostctl connectors` and `health`.
    public struct PollProblem: Sendable, Equatable {
        public var failures: Int
        public var code: ConnectorError.Code?
        public var message: String
    }

    /// A route whose deliveries keep failing: attempts that failed in a row (a `dependency` wait does
    /// not count: it says nothing of the target), reset by the next success.
    public struct RouteProblem: Sendable, Equatable {
        public var failures: Int
        public var code: ConnectorError.Code
        public var message: String
        /// How many failures in a row make `hostctl health` degraded.
        public static let threshold = 5
    }

    public init(store: any HostStore, supervisor: Supervisor, metrics: HostMetrics = HostMetrics(), logger: Logger) {
        self.store = store
        self.supervisor = supervisor
        self.metrics = metrics
        self.logger = logger
    }

    /// Why the store cannot take work right now (disk full, read-only), if so.
    public var storeError: String? {
        storeProblem.withLock { problems in
            problems.isEmpty ? nil : problems.keys.sorted().compactMap { problems[$0] }.joined(separator: "; ")
        }
    }

    /// Sources whose last poll failed, by connector id.
    public var pollFailures: [String: PollProblem] { pollProblems.withLock { $0 } }

    /// Routes whose last attempts all failed, by route id.
    public var routeFailures: [String: RouteProblem] { routeProblems.withLock { $0 } }

    func noteAttempt(route: String, failure: ConnectorError?) {
        routeProblems.withLock { problems in
            guard let failure else {
                problems.removeValue(forKey: route)
                return
            }
            guard failure.code != .dependency else { return }
            problems[route] = RouteProblem(failures: (problems[route]?.failures ?? 0) + 1, code: failure.code, message: failure.message)
        }
    }

    /// The worst circuit state among the target's routes and tenants.
    public func circuitState(target: String) -> CircuitBreaker.State {
        scopes.circuitState(target: target)
    }

    public func run() async throws {
        do {
            try await runUntilShutdown()
        } catch is CancellationError {
            // Graceful shutdown: in-flight deliveries stay pending and go out after the restart.
        }
        logger.info("pipeline stopped")
    }

    private func runUntilShutdown() async throws {
        await cancelWhenGracefulShutdown {
            // Other hosts sharing the store say when a route has new work: its worker wakes at once.
            let notices = Task {
                for await route in self.store.workNotices() { self.doorbell(route: route).ring() }
            }
            defer { notices.cancel() }
            while !Task.isCancelled {
                let routes = self.supervisor.routes
                let sources = self.supervisor.connectorConfigs
                await withTaskGroup(of: Void.self) { group in
                    for route in routes {
                        group.addTask { await RouteWorker(route: route, pipeline: self).run() }
                    }
                    for connector in sources {
                        group.addTask { await self.pollForever(connector) }
                    }
                    // A reload sets pollers and route workers up anew. Only this child returns on its own.
                    group.addTask { await self.supervisor.reloaded.wait(timeout: .seconds(365 * 86_400)) }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    func doorbell(route: String) -> Doorbell {
        doorbells.withLock { bells in
            if let bell = bells[route] { return bell }
            let bell = Doorbell()
            bells[route] = bell
            return bell
        }
    }

    /// What the store refused, by kind of write (`ingest`, `outcomes`): each clears on its next success.
    func noteStoreProblem(_ kind: String, _ message: String) {
        let first = storeProblem.withLock { problems -> Bool in
            defer { problems[kind] = message }
            return problems.isEmpty
        }
        if first { logger.error("store cannot take new work; sources paused until it can", metadata: ["store.error": "\(message)"]) }
    }

    func noteStoreHealthy(_ kind: String) {
        let recovered = storeProblem.withLock { problems -> Bool in
            guard problems.removeValue(forKey: kind) != nil else { return false }
            return problems.isEmpty
        }
        if recovered { logger.notice("store accepts work again") }
    }

    // MARK: Ingest

    /// Stores events and wakes the routes they feed. Throws when the store cannot take them.
    @discardableResult
    public func ingest(connector: String, stream: String?, incoming: [Store.Incoming], rejects: [Store.Reject] = [], cursor: String?,
                       replayKey: String? = nil) async throws -> Store.IngestResult {
        let routes = supervisor.routes
        do {
            let result = try await store.ingest(connector: connector, stream: stream, incoming: incoming, rejects: rejects, cursor: cursor,
                                                routes: routes, replayKey: replayKey)
            if !rejects.isEmpty {
                metrics.rejected(connector: connector, count: rejects.count)
                logger.warning("events rejected at intake: not canonical events (hostctl dlq rejects)", metadata: [
                    "connector.id": "\(connector)", "events.rejected": "\(rejects.count)", "event.problem": "\(rejects[0].reason)",
                ])
            }
            noteStoreHealthy("ingest")
            metrics.ingested(connector: connector, stored: result.stored.count, duplicates: result.duplicates)
            if !result.stored.isEmpty {
                for route in routes where route.from == connector { doorbell(route: route.id).ring() }
            }
            if result.duplicates > 0 {
                logger.info("duplicate events dropped", metadata: ["connector.id": "\(connector)", "events.duplicates": "\(result.duplicates)"])
            }
            return result
        } catch let replay as ReplayedDelivery {
            throw replay
        } catch is CancellationError {
            throw CancellationError()  // the daemon is stopping: not the store's fault
        } catch {
            noteStoreProblem("ingest", "store cannot take new work: \(error)")
            throw error
        }
    }

    /// A page's events as the plugin sent them, read in one pass: each event's routing header and its
    /// bytes. One element that is not an event does not fail its page: it becomes a reject naming the
    /// member at fault, and the rest is stored.
    /// Records the plugin itself could not make events of (`rejects`) join them, with its reason.
    static func page(of answer: RPCMessage, as kind: EventPage.Kind) throws(ConnectorError) -> (page: EventPage, incoming: [Store.Incoming], rejects: [Store.Reject]) {
        let page = try EventPage(reading: answer, as: kind)
        var rejects = page.rejects.map { Store.Reject(reason: $0.problem, payload: $0.json) }
        if let json = page.others["rejects"] {
            guard case .array(let elements)? = try? JSONDecoder().decode(JSONValue.self, from: json) else {
                throw ConnectorError(.protocol, "invalid result: \"rejects\" must be an array")
            }
            for (index, element) in elements.enumerated() {
                // One malformed element is a reject itself: it must not fail the page (and stop the stream).
                let payload = (try? JSONEncoder().encode(element)) ?? Data()
                guard let problem = element["problem"]?.stringValue else {
                    rejects.append(Store.Reject(reason: "rejects[\(index)]: needs a \"problem\" string", payload: payload))
                    continue
                }
                rejects.append(Store.Reject(reason: "the plugin could not read it: \(problem)", payload: payload))
            }
        }
        return (page, page.events.map { Store.Incoming(header: $0.header, payload: $0.json) }, rejects)
    }

    /// Polls each stream of a source connector: a page and its cursor are stored together; the next
    /// poll comes at once while the source says it has more, else after the poll interval.
    private func pollForever(_ connector: ConnectorConfig) async {
        var logger = self.logger
        logger[metadataKey: "connector.id"] = "\(connector.id)"
        while !Task.isCancelled {
            guard let instance = supervisor.existingInstance(connector.id), instance.isAvailable,
                  let streams = instance.capabilities?.streams, !streams.isEmpty
            else {
                // Not up yet, paused, or not a polling source (sinks have no streams): look again later.
                // Never return: the first child of the pipeline's group to return restarts them all.
                let isSink = supervisor.existingInstance(connector.id)?.capabilities.map { $0.streams.isEmpty } == true
                try? await Task.sleep(for: .milliseconds(isSink ? 2_000 : 200))
                continue
            }
            // One host at a time polls a source (a lease on a shared store); the others wait to take over.
            do {
                guard try await store.holdSource(connector.id) else {
                    noteStoreHealthy("lease")
                    try? await Task.sleep(for: .milliseconds(max(200, store.leaseMilliseconds / 5)))
                    continue
                }
                noteStoreHealthy("lease")
            } catch {
                noteStoreProblem("lease", "the store cannot be read: \(error)")
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            var more = false
            let credentials = instance.credentialsEpoch
            do {
                for stream in streams {
                    // While one page is being stored, the next one is asked for: the plugin's work and
                    // the decoding overlap the write. Pages are still stored in order, each with its cursor.
                    func fetch(_ cursor: String?) async throws -> (page: EventPage, incoming: [Store.Incoming], rejects: [Store.Reject]) {
                        let answer = try await instance.call(
                            Method.sourcePoll,
                            rawParams: try codec.json(PollParams(stream: stream.name, cursor: cursor, maxEvents: connector.pollBatch)),
                            timeout: .seconds(60)
                        )
                        return try Self.page(of: answer, as: .poll)
                    }
                    let cursor: String?
                    do {
                        cursor = try await store.cursor(connector: connector.id, stream: stream.name)
                        noteStoreHealthy("cursor")
                    } catch {
                        noteStoreProblem("cursor", "the store cannot be read: \(error)")
                        throw StoreUnreadable()
                    }
                    // At most 64 pages in a row, then the other streams get their turn. The 64th asks for no
                    // 65th: a page asked for is a page stored (a source's pages need not be repeatable).
                    var current = try await fetch(cursor)
                    for round in 1...64 {
                        let page = current
                        async let stored = ingest(connector: connector.id, stream: stream.name, incoming: page.incoming, rejects: page.rejects,
                                                  cursor: page.page.cursor)
                        let next = page.page.hasMore && round < 64 ? try await fetch(page.page.cursor) : nil
                        _ = try await stored
                        guard let next else { break }
                        current = next
                    }
                    more = more || current.page.hasMore
                }
                pollProblems.withLock { _ = $0.removeValue(forKey: connector.id) }
            } catch is CancellationError {
                return
            } catch is StoreUnreadable {
                // Not the source's failure: health names the store; asked again in a second.
                try? await Task.sleep(for: .seconds(1))
                continue
            } catch let error as LeaseLost {
                // Another host polls this source now, from the cursor this one last stored.
                logger.notice("source handed over: its page was not stored", metadata: ["lease.error": "\(error)"])
                continue
            } catch {
                let connectorError = error as? ConnectorError
                // The failures in a row are counted where the operator reads them.
                let failures = pollProblems.withLock { problems in
                    let failures = (problems[connector.id]?.failures ?? 0) + 1
                    problems[connector.id] = PollProblem(failures: failures, code: connectorError?.code, message: connectorError?.message ?? "\(error)")
                    return failures
                }
                logger.warning("poll failed", metadata: ["connector.error": "\(error)", "poll.failures": "\(failures)"])
                if let connectorError, connectorError.code == .auth {
                    instance.pauseForCredentials(connectorError.message, epoch: credentials)
                }
                // A source that says when to come back (a 429's Retry-After) is asked again then, neither
                // sooner nor later (a storm of short waits doubled into minutes); others back off.
                let backoff = connectorError?.retryAfterMilliseconds.map { min(max($0, 100), 300_000) } ?? Int64(min(30_000, 250 << min(failures, 7)))
                try? await Task.sleep(for: .milliseconds(backoff))
                continue
            }
            if !more { try? await Task.sleep(for: .milliseconds(connector.pollIntervalMilliseconds)) }
        }
    }
}

/// Delivers one route's pending deliveries: a batch at a time (at most one per ordering key), up to
/// the route's concurrency, paced by its token bucket and the target's circuit breaker.
struct RouteWorker {
    let route: RouteConfig
    let pipeline: Pipeline

    var policy: DeliveryPolicy {
        var policy = DeliveryPolicy(maxAttempts: route.maxAttempts, maxAgeMilliseconds: Int64(route.maxAgeSeconds) * 1000)
        policy.baseBackoffMilliseconds = Int64(route.retryBaseMilliseconds)
        policy.maxBackoffMilliseconds = Int64(route.retryMaxMilliseconds)
        policy.dependencyFloorMilliseconds = Int64(route.dependencyRetryMilliseconds)
        return policy
    }

    /// The longest a route's target stays cut off once it answers again: its `retry_max_ms` (at most
    /// a minute). An outage of a minute used to cost another minute of waiting after it ended.
    static func maxCooldownSeconds(_ route: RouteConfig) -> Double { min(60, max(0.05, Double(route.retryMaxMilliseconds) / 1000)) }

    func scope(_ job: DeliveryJob) -> DeliveryScopes.Scope {
        DeliveryScopes.Scope(route: route.id, target: route.to, tenant: job.tenant ?? "")
    }

    /// The due deliveries that may go now: all of a tenant whose circuit is closed, one (the probe) of a
    /// tenant whose circuit is half-open, none of a tenant whose circuit is open or whose target paused it.
    func admitted(_ jobs: [DeliveryJob]) -> [DeliveryJob] {
        var decisions: [String: DeliveryScopes.Admission] = [:]
        var probed: Set<String> = []
        let now = Self.seconds()
        return jobs.filter { job in
            let tenant = job.tenant ?? ""
            let decision = decisions[tenant] ?? pipeline.scopes.admit(scope(job), maxCooldownSeconds: Self.maxCooldownSeconds(route), now: now)
            decisions[tenant] = decision
            switch decision {
            case .go: return true
            case .probe: return probed.insert(tenant).inserted
            case .wait: return false
            }
        }
    }

    func run() async {
        let bell = pipeline.doorbell(route: route.id)
        let buckets = RateLimiter()  // per tenant
        var routeLogger = pipeline.logger
        routeLogger[metadataKey: "route.id"] = "\(route.id)"
        let logger = routeLogger
        // The previous batch's outcomes, being recorded while the next batch is read and delivered:
        // its deliveries are still pending in the store until that commits, so they are left out of
        // what is read meanwhile (and their ordering keys' later deliveries wait, as the store says).
        var recording: (task: Task<Bool, Never>, ids: Set<Int64>)?
        while !Task.isCancelled {
            guard let target = pipeline.supervisor.existingInstance(route.to), target.isAvailable else {
                if await settle(&recording) { continue }
                await bell.wait(timeout: .milliseconds(200))
                continue
            }
            // Tenants whose circuit is open, or whose credentials the target refused, are not even read:
            // their backlog must not crowd out the others'.
            let blocked = pipeline.scopes.blocked(route: route.id, target: route.to, now: Self.seconds())
            let due: [DeliveryJob]
            do {
                due = try await pipeline.store.dueDeliveries(route: route.id, now: Store.now(), limit: max(512, route.concurrency * 16),
                                                             excludingTenants: Array(blocked.keys), inHand: recording?.ids ?? [])
            } catch {
                if Task.isCancelled { break }
                logger.error("cannot read the queue", metadata: ["store.error": "\(error)"])
                pipeline.noteStoreProblem("queue", "the store cannot be read: \(error)")
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            pipeline.noteStoreHealthy("queue")
            let jobs = admitted(due)
            if jobs.count < due.count {
                // Claimed by reading them (a shared store), but held back here: other hosts may take them.
                let admittedIDs = Set(jobs.map(\.deliveryID))
                try? await pipeline.store.releaseClaims(due.map(\.deliveryID).filter { !admittedIDs.contains($0) })
            }
            if jobs.isEmpty {
                // What is being recorded may be what the next batch waits for: look again once it is.
                if await settle(&recording) { continue }
                let next = due.isEmpty ? ((try? await pipeline.store.nextDue(route: route.id)) ?? nil) : nil
                // A time already past means what is pending is held back otherwise (a probe, a claim being
                // settled): a short pause, never a spin.
                var wait = next.map { max(20, min(1000, $0 - Store.now())) } ?? 1000
                if let soonest = blocked.values.min() { wait = min(wait, max(1, Int64(soonest * 1000) + 1)) }
                if !due.isEmpty { wait = min(wait, 50) }  // a probe is out: its answer decides
                await bell.wait(timeout: .milliseconds(wait))
                continue
            }
            // The links every delivery of the batch needs, in one query.
            let known = (try? await pipeline.store.links(target: route.to, canonicalIDs: Array(Set(jobs.flatMap(\.references))))) ?? []
            let links = Dictionary(grouping: known, by: \.canonicalKey)
            let items = jobs.map { job in Item(job: job, links: job.references.flatMap { links[$0]?.map(\.link) ?? [] }) }
            let plan = RequestPlan(sinkBatch: target.capabilities?.sinkBatch ?? 0, concurrency: route.concurrency)
            let outcomes = await withTaskGroup(of: [DeliveryOutcome].self) { group in
                var inFlight = 0
                var outcomes: [DeliveryOutcome] = []
                var request: [Item] = []
                var index = 0
                while index < items.count || !request.isEmpty {
                    var send = index == items.count
                    if !send {
                        let item = items[index]
                        if let limit = route.rateLimit, buckets.take(item.job.tenant ?? "", limit: limit) > 0 {
                            // Out of tokens: send what is gathered now rather than hold it while waiting.
                            if request.isEmpty {
                                await buckets.pace(item.job.tenant ?? "", limit: limit)
                            } else {
                                send = true
                            }
                        }
                        if !send {
                            request.append(item)
                            index += 1
                            send = request.count == plan.size || index == items.count
                        }
                    }
                    guard send, !request.isEmpty else { continue }
                    if inFlight >= plan.requests {
                        outcomes += await group.next() ?? []
                        inFlight -= 1
                    }
                    let batch = request
                    request = []
                    group.addTask { await deliver(batch, to: target, plan: plan, logger: logger) }
                    inFlight += 1
                }
                for await batch in group { outcomes += batch }
                return outcomes
            }
            // One batch's outcomes are recorded at a time, in order.
            _ = await settle(&recording)
            recording = (Task { await record(outcomes, logger: logger) }, Set(outcomes.map(\.job.deliveryID)))
        }
        if let recording { _ = await recording.task.value }
    }

    /// Waits for the outcomes being recorded, if any; true when there were some.
    private func settle(_ recording: inout (task: Task<Bool, Never>, ids: Set<Int64>)?) async -> Bool {
        guard let pending = recording else { return false }
        recording = nil
        if await !pending.task.value {
            // The store refuses writes (disk full, read-only): the deliveries stay pending and the
            // sink's idempotency absorbs the repeat. Slow down instead of hammering the sink.
            try? await Task.sleep(for: .seconds(1))
        }
        return true
    }

    /// The batch's outcomes in one transaction: one fsync per batch, not per delivery. A crash
    /// before it commits only means the batch is delivered again, which sinks absorb.
    private func record(_ outcomes: [DeliveryOutcome], logger: Logger) async -> Bool {
        do {
            let superseded = try await pipeline.store.record(outcomes)
            reportDeadLetters(outcomes, superseded: superseded, logger: logger)
            pipeline.noteStoreHealthy("outcomes")
            return true
        } catch {
            logger.error("cannot record delivery outcomes; they will be retried", metadata: [
                "store.error": "\(error)", "deliveries.count": "\(outcomes.count)",
            ])
            // Their claims (a shared store) are not renewed any more: they expire, and the deliveries go again.
            try? await pipeline.store.releaseClaims(outcomes.map(\.job.deliveryID))
            pipeline.noteStoreProblem("outcomes", "cannot record delivery outcomes")
            return false
        }
    }

    /// Logs and counts the dead letters of a recorded batch; a failed older version that a later
    /// event of its object superseded is not one.
    private func reportDeadLetters(_ outcomes: [DeliveryOutcome], superseded: Set<Int64>, logger: Logger) {
        for outcome in outcomes {
            guard case .failed(let failure, .dead) = outcome.result else { continue }
            let job = outcome.job
            let metadata: Logger.Metadata = [
                "delivery.id": "\(job.deliveryID)", "event.correlation_id": "\(job.correlationID)",
                "error.class": "\(failure.code)", "error.message": "\(failure.message)",
            ]
            if superseded.contains(job.deliveryID) {
                logger.info("delivery superseded by a later event of its object", metadata: metadata)
                pipeline.metrics.superseded(route: route.id)  // the attempt itself is counted by its class already
            } else {
                logger.warning("delivery dead-lettered", metadata: metadata)
                pipeline.metrics.deadLettered(route: route.id, errorClass: failure.code.name)
            }
        }
    }

    static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// How a route's deliveries go out: `size` per request (one `sink.deliver` each unless the sink
    /// takes batches), at most `requests` requests in flight, and the sink working on at most `share`
    /// deliveries of a request at once, so that no more than the route's concurrency are worked on.
    /// A batch is as large as the sink takes, up to four of its share (a sliding window, so a batch
    /// of a slow target ends within about four deliveries' time), and two requests overlap: one is
    /// answered and recorded while the sink works on the other.
    struct RequestPlan {
        var size: Int
        var requests: Int
        var share: Int

        static let sharesPerBatch = 4

        init(sinkBatch: Int, concurrency: Int) {
            guard sinkBatch > 1, concurrency > 1 else {
                (size, requests, share) = (1, max(1, concurrency), 1)
                return
            }
            requests = max(2, concurrency / sinkBatch)
            share = max(1, concurrency / requests)
            size = max(1, min(sinkBatch, share * Self.sharesPerBatch))
        }

        /// A request's timeout: a single delivery's for each share in it.
        var timeout: Duration { .seconds(30 * max(1, (size + share - 1) / share)) }
    }

    /// A delivery with the links its target already has.
    struct Item: Sendable {
        var job: DeliveryJob
        var links: [Link]
    }

    /// Appends the `sink.deliver` params of one delivery: the stored event byte for byte, and the
    /// envelope. A batch's params are written into one buffer, without a copy per delivery.
    private func appendParams(_ item: Item, to params: inout Data, codec: RPCCodec) throws {
        let job = item.job
        params.append(contentsOf: #"{"event":"#.utf8)
        params.append(job.payload)
        params.append(contentsOf: #","source_connector":"#.utf8)
        JSONText.appendString(job.sourceConnector, to: &params)
        params.append(contentsOf: #","idempotency_key":"#.utf8)
        JSONText.appendString(job.idempotencyKey, to: &params)
        params.append(contentsOf: #","attempt":\#(job.attempts + 1),"links":"#.utf8)
        if item.links.isEmpty {
            params.append(contentsOf: "[]".utf8)
        } else {
            try codec.json(item.links, appendingTo: &params)
        }
        params.append(UInt8(ascii: "}"))
    }

    /// Delivers one request's worth: `sink.deliver` for one, `sink.deliver_batch` for several. A failed
    /// request fails each of its deliveries. Empty when cancelled by shutdown (they stay pending).
    private func deliver(_ items: [Item], to target: ConnectorInstance, plan: RequestPlan, logger: Logger) async -> [DeliveryOutcome] {
        let started = Store.now()
        let credentials = target.credentialsEpoch
        let codec = pipeline.codec
        var results: [Result<DeliverResult, ConnectorError>]
        do {
            var raw = Data()
            raw.reserveCapacity(items.reduce(64) { $0 + $1.job.payload.count + 200 })
            if items.count == 1 {
                try appendParams(items[0], to: &raw, codec: codec)
                let message = try await target.call(Method.sinkDeliver, rawParams: raw, timeout: .seconds(30))
                results = [.success(try codec.result(DeliverResult.self, of: message))]
            } else {
                raw.append(contentsOf: #"{"deliveries":["#.utf8)
                for (index, item) in items.enumerated() {
                    if index > 0 { raw.append(UInt8(ascii: ",")) }
                    try appendParams(item, to: &raw, codec: codec)
                }
                raw.append(contentsOf: #"],"concurrency":\#(min(plan.share, items.count))}"#.utf8)
                let message = try await target.call(Method.sinkDeliverBatch, rawParams: raw, timeout: plan.timeout)
                let answer = try codec.result(DeliverBatchResult.self, of: message)
                guard answer.results.count == items.count else {
                    throw ConnectorError(.protocol, "sink.deliver_batch answered \(answer.results.count) results for \(items.count) deliveries")
                }
                results = answer.results.map(\.result)
            }
        } catch is CancellationError {
            return []  // Shutting down: the deliveries stay pending and go out after the restart.
        } catch {
            results = Array(repeating: .failure((error as? ConnectorError) ?? ConnectorError(.transient, "\(error)")), count: items.count)
        }
        let finished = Store.now()
        var outcomes: [DeliveryOutcome] = []
        for (item, result) in zip(items, results) {
            outcomes.append(await outcome(item.job, result, startedAt: started, finishedAt: finished, target: target, credentials: credentials,
                                          logger: logger))
        }
        return outcomes
    }

    /// What follows from one delivery's answer, by the delivery policy. `credentials`: the target's
    /// credentials epoch when the delivery was sent.
    private func outcome(
        _ job: DeliveryJob, _ answer: Result<DeliverResult, ConnectorError>, startedAt: Int64, finishedAt: Int64,
        target: ConnectorInstance, credentials: Int, logger: Logger
    ) async -> DeliveryOutcome {
        let result: DeliveryOutcome.Result
        switch answer {
        case .success(let answer):
            pipeline.scopes.record(scope(job), success: true, unwell: false, now: Self.seconds())
            pipeline.noteAttempt(route: route.id, failure: nil)
            pipeline.metrics.attempt(route: route.id, outcome: answer.duplicate ? "duplicate" : "delivered")
            pipeline.metrics.delivered(route: route.id, latencyMilliseconds: finishedAt - job.createdAt)
            if !answer.duplicate { pipeline.metrics.business(eventType: job.eventType, target: route.to, tenant: job.tenant) }
            let canonical = DeliveryOutcome.Canonical(id: job.canonicalID, objectType: job.objectType, objectID: job.objectID, writtenAs: answer.sourceRef)
            result = .delivered(externalID: answer.externalID, duplicate: answer.duplicate, links: answer.links, canonical: canonical)
        case .failure(let failure):
            let unwell = failure.code == .transient || failure.code == .rateLimited
            pipeline.scopes.record(scope(job), success: false, unwell: unwell, now: Self.seconds())
            pipeline.noteAttempt(route: route.id, failure: failure)
            pipeline.metrics.attempt(route: route.id, outcome: failure.code.name)
            switch policy.decide(failure, attempt: job.attempts + 1, createdAt: job.createdAt, now: finishedAt, jitter: Double.random(in: 0.75...1.25)) {
            case .retry(let at):
                result = .failed(failure, .retry(at: at))
            case .dead(let reason):
                result = .failed(failure, .dead(reason: reason))  // reported once the store has recorded it
            case .pauseTarget(let at):
                // One tenant's refused credentials pause that tenant's deliveries to the target; the
                // target itself only when they are its own (no tenant) or every tenant's are refused.
                let tenant = job.tenant ?? ""
                switch pipeline.scopes.refused(scope(job), reason: "auth: \(failure.message)", superseded: { target.credentialsEpoch != credentials }) {
                case .target:
                    if target.pauseForCredentials(failure.message, epoch: credentials) {
                        try? await pipeline.store.audit(correlationID: job.correlationID, actor: "host", action: "connector.paused",
                                                        subject: route.to, detail: "credentials rejected: \(failure.message)")
                    }
                case .tenant:
                    logger.warning("deliveries of a tenant paused: the target refused its credentials", metadata: [
                        "tenant": "\(tenant)", "error.message": "\(failure.message)",
                    ])
                    try? await pipeline.store.audit(correlationID: job.correlationID, actor: "host", action: "tenant.paused",
                                                    subject: "\(route.to)/\(tenant)", detail: "credentials rejected: \(failure.message)")
                case .superseded:
                    logger.info("credentials refused before a new secret was stored: tried again with it", metadata: ["error.message": "\(failure.message)"])
                }
                result = .failed(failure, .retry(at: at))
            }
        }
        return DeliveryOutcome(job: job, startedAt: startedAt, finishedAt: finishedAt, result: result)
    }
}

/// A source's cursor could not be read: the store's problem (in health), not the source's.
struct StoreUnreadable: Error {}
