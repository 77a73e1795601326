import ConnectorKit
import ConnectorProtocol
import Crypto
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The sample connector: a synthetic source, an idempotent sink that records effects in a file, and
/// fault knobs. Tests, benchmarks and the demo run it as a real plugin process.
///
/// `[connector.config]` keys:
/// - `emit`: how many synthetic events the `synthetic` stream produces in all (stable ids: re-polling
///   from an old cursor yields the same events).
/// - `emit_rate`: events per second: event `i` becomes available `i / emit_rate` seconds after start
///   (for latency measurements at a fixed rate). Unset: all at once.
/// - `tax_rate`: the whole-number VAT rate of the synthetic invoices (default 20), so that a sink
///   computing taxes itself (Odoo) can be mapped to a tax of the same rate.
/// - `payments_first`: each customer's payment comes before the invoice it pays, in the same ordering
///   key (as webhooks often arrive: a charge before its invoice).
/// - `replay_from_start`: ignore the cursor and serve the stream from the beginning on every poll, as a
///   source that re-sends what it already sent (the host must drop the duplicates).
/// - `effects_file`: as a sink, one line per *new* idempotency key; a key already applied writes nothing.
///   `reconcile.snapshot` reads it back (see ``reconcileSnapshot(_:)``).
/// - `effects_fsync`: fsync each effect before answering (default true: an answered effect is durable).
/// - `faults`: a list of fault directives (below), active from start.
/// - `faults_file`: a file of directives, one per line, re-read whenever it changes; lets a test change
///   behaviour while the plugin runs.
///
/// Directives: `crash-on-start`, `crash-after-ms N`, `hang` (no request is answered), `hang-pings`,
/// `slow MS` (every answer waits), `garbage KIND` once after start (KIND: malformed, oversized,
/// invalid-utf8, unknown-method, stray-response), `fail CLASS [N]` (sink.deliver fails with CLASS for
/// attempts 1…N, or always), `fail-match TEXT CLASS` (deliveries whose idempotency key contains TEXT
/// fail with CLASS), `poll-fail CLASS`.
struct SampleConnector: Connector {
    static let plugin = PluginInfo(name: "sample", version: "0.1.0")
    static let capabilities = Capabilities(
        streams: [StreamInfo(name: "synthetic", eventTypes: ["customer.upserted", "invoice.finalized", "payment.succeeded"])],
        webhooks: true,
        sinkEventTypes: ["*"],
        reconcile: true,
        webhookMethods: ["POST", "GET"]
    )

    let connector: ConnectorInfo
    let emit: Int
    let replayFromStart: Bool
    let emitRate: Double?
    let taxRate: Int
    let paymentsFirst: Bool
    /// Where `emit_rate` counts from: the first poll's cursor and time, so a restarted plugin goes on at the same pace.
    let paceOrigin = PaceOrigin()
    let logger: Logger
    let faults: Faults
    let effects: EffectsFile?
    /// Signing secrets for webhooks (from the vault, named by `webhook_secret`; `webhook_secret_next`
    /// for a secret roll), and the timestamp tolerance in seconds.
    let webhookSecrets: [String]
    let webhookTolerance: Int
    /// `sample` (`sample-signature`, Stripe's scheme) or `hubspot-v3` (HubSpot's v3 signature over the
    /// public URL `webhook_public_url` + the request target, the raw body and the timestamp).
    let webhookScheme: String
    let webhookPublicURL: String

    init(context: ConnectorContext) async throws {
        connector = context.connector
        logger = context.logger
        let config = context.config
        emit = Int(config["emit"]?.intValue ?? 0)
        replayFromStart = config["replay_from_start"]?.boolValue ?? false
        emitRate = config["emit_rate"]?.doubleValue
        taxRate = Int(config["tax_rate"]?.intValue ?? 20)
        paymentsFirst = config["payments_first"]?.boolValue ?? false
        faults = Faults(
            fixed: (config["faults"]?.arrayValue ?? []).compactMap(\.stringValue),
            file: config["faults_file"]?.stringValue
        )
        if let path = config["effects_file"]?.stringValue {
            effects = try EffectsFile(path: path, fsync: config["effects_fsync"]?.boolValue ?? true)
        } else {
            effects = nil
        }
        var secrets: [String] = []
        for key in ["webhook_secret", "webhook_secret_next"] {
            if let name = config[key]?.stringValue { secrets.append(try await context.host.secret(name)) }
        }
        webhookSecrets = secrets
        webhookTolerance = Int(config["webhook_tolerance_s"]?.intValue ?? 300)
        webhookScheme = config["webhook_scheme"]?.stringValue ?? "sample"
        webhookPublicURL = config["webhook_public_url"]?.stringValue ?? ""
        let active = faults.current()
        if active.crashOnStart {
            logger.error("fault: crash-on-start")
            exit(3)
        }
        if let delay = active.crashAfterMilliseconds {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: Double(delay) / 1000)
                exit(4)
            }
        }
        for kind in active.garbage {
            try Garbage.write(kind, to: context.host)
        }
        try await SecretProbe.run(config: config, host: context.host, logger: logger)
        logger.info("sample connector ready", metadata: ["sample.emit": "\(emit)"])
    }

    func ping() async throws {
        let active = faults.current()
        if active.hang || active.hangPings { try await hangForever() }
        try await slow(active)
    }

    func check() async throws -> CheckResult {
        try await before()
        return CheckResult(ok: true, message: "sample connector: emit=\(emit)")
    }

    func poll(_ params: PollParams) async throws -> PollResult {
        let active = try await before()
        if let errorClass = active.pollFailure {
            throw ConnectorError(errorClass, "fault: poll-fail \(errorClass)")
        }
        guard params.stream == "synthetic" else {
            throw ConnectorError(.permanent, "unknown stream \"\(params.stream)\"")
        }
        let start = replayFromStart ? 0 : params.cursor.flatMap(Int.init) ?? 0
        var end = min(emit, start + max(params.maxEvents, 1))
        if let emitRate {
            let origin = paceOrigin.value.withLock { origin in
                if origin == nil { origin = (start, .now) }
                return origin!
            }
            let elapsed = origin.at.duration(to: .now)
            let due = origin.cursor + Int((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * emitRate)
            end = min(end, max(start, due))
        }
        let events = (start..<max(start, end)).map { position in
            // payments_first: positions 3k+1 and 3k+2 swap (the payment, then its invoice).
            let index = !paymentsFirst || position % 3 == 0 ? position : (position % 3 == 1 ? position + 1 : position - 1)
            return SyntheticEvents.event(index: index, connector: connector, taxRate: taxRate)
        }
        let more = !replayFromStart && end < emit && (emitRate == nil || end - start == params.maxEvents)
        return PollResult(events: events, cursor: String(max(start, end)), hasMore: more)
    }

    func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        let active = try await before()
        if let failure = active.deliverFailure, failure.attempts.map({ params.attempt <= $0 }) ?? true {
            throw ConnectorError(
                failure.errorClass,
                "fault: fail \(failure.errorClass) on attempt \(params.attempt)",
                retryAfterMilliseconds: failure.errorClass == .rateLimited ? 50 : nil,
                details: ["idempotency_key": .string(params.idempotencyKey)]
            )
        }
        if let match = active.matchFailures.first(where: { params.idempotencyKey.contains($0.text) }) {
            throw ConnectorError(match.errorClass, "fault: fail-match \(match.text) \(match.errorClass)")
        }
        let isNew = try effects?.apply(params.idempotencyKey) ?? true
        return DeliverResult(externalID: "sample-\(params.idempotencyKey)", duplicate: !isNew)
    }

    /// What this sink applied, read back from the effects file: a line `<source connector>:<object
    /// type>:<object id>:<version>` is a record with reference `ch:<source connector>:<object type>:<object
    /// id>` (the synthetic object types are the canonical kinds). Versions of one object update one
    /// record, as a real sink's upsert by reference does; the same key on two lines is an effect applied
    /// twice, a second record: the duplicate reconciliation must find. So an object has as many records
    /// as its most-repeated key has lines. The file holds no amounts and no dates: totals are empty and
    /// `from`/`to` are ignored, every effect counts.
    ///
    /// On the source side: the synthetic records of the `synthetic` stream (`emit` of them), with their
    /// amounts and canonical statuses; undated, so every range holds them all.
    func reconcileSnapshot(_ params: ReconcileParams) async throws -> ReconcileSnapshot {
        try await before()
        if params.side == .source { return SyntheticEvents.snapshot(count: emit, params: params, connector: connector, taxRate: taxRate) }
        guard let effects else {
            throw ConnectorError(.notSupported, "no effects_file is configured: this sample connector keeps no record to reconcile")
        }
        struct Record {
            var lines: [String: Int] = [:]
            /// The external id `deliver` answered for the last key applied, as the host's link has it.
            var externalID = ""
        }
        var order: [SinkReference] = []
        var records: [SinkReference: Record] = [:]
        for key in try effects.keys() {
            let parts = key.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 4 else { continue }
            let reference = SinkReference(
                sourceConnector: String(parts[0]), objectType: String(parts[1]),
                objectID: parts[2..<(parts.count - 1)].joined(separator: ":")
            )
            if records[reference] == nil { order.append(reference) }
            records[reference, default: Record()].lines[key, default: 0] += 1
            records[reference]?.externalID = "sample-\(key)"
        }
        var groups: [ReconcileGroup] = []
        for objectType in params.objectTypes where !groups.contains(where: { $0.objectType == objectType }) {
            let items = order.filter { $0.objectType == objectType }.flatMap { reference -> [ReconcileItem] in
                let record = records[reference] ?? Record()
                let item = ReconcileItem(externalID: record.externalID, reference: reference.description)
                return Array(repeating: item, count: record.lines.values.max() ?? 0)
            }
            groups.append(ReconcileGroup(objectType: objectType, count: items.count, totals: [], items: params.includeItems ? items : []))
        }
        return ReconcileSnapshot(groups: groups)
    }

    /// A webhook signed like Stripe's (`sample-signature: t=…,v1=…`) whose body is `{"emit": [i, …]}`:
    /// the synthetic events with those indices, the same events (and idempotency keys) polling gives.
    /// A `GET` is a verification handshake: the `challenge` query parameter is answered back as text.
    func handleWebhook(_ params: WebhookParams) async throws -> WebhookResult {
        try await before()
        let now = Date(timeIntervalSince1970: Double(params.receivedAtMilliseconds) / 1000)
        if params.method == "GET" {
            let query = params.target?.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            let challenge = query.split(separator: "&").first { $0.hasPrefix("challenge=") }.map { String($0.dropFirst("challenge=".count)) }
            guard let challenge else { throw ConnectorError(.permanent, "a GET on the hook needs ?challenge=", details: ["reason": "malformed"]) }
            return WebhookResult(events: [], replayKey: nil, response: WebhookResponse(status: 200, headers: ["Content-Type": "text/plain; charset=utf-8"], body: challenge))
        }
        let replayKey: String
        if webhookScheme == "hubspot-v3" {
            replayKey = try WebhookSignature.verifyHubSpot(header: { params.headers[$0.lowercased()] }, method: params.method, uri: webhookPublicURL + (params.target ?? ""),
                                                           body: params.bodyBytes, secrets: webhookSecrets, tolerance: webhookTolerance, now: now)
        } else {
            replayKey = try WebhookSignature.verifyTimestamped(header: params.headers["sample-signature"], body: params.body, secrets: webhookSecrets,
                                                               tolerance: webhookTolerance, now: now)
        }
        struct Body: Decodable { var emit: [Int] }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(params.body.utf8)) else {
            throw ConnectorError(.permanent, "the webhook body is not {\"emit\": [indices]}", details: ["reason": "malformed"])
        }
        return WebhookResult(events: body.emit.map { SyntheticEvents.event(index: $0, connector: connector, taxRate: taxRate) }, replayKey: replayKey)
    }

    /// Common fault handling before any answer.
    @discardableResult
    private func before() async throws -> Faults.Active {
        let active = faults.current()
        if active.hang { try await hangForever() }
        try await slow(active)
        return active
    }

    private func slow(_ active: Faults.Active) async throws {
        if let delay = active.slowMilliseconds { try await Task.sleep(for: .milliseconds(delay)) }
    }

    private func hangForever() async throws -> Never {
        logger.warning("fault: hanging")
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}

/// The synthetic stream: event `i` is a customer, an invoice or a payment in turn, for customer `i / 3`.
enum SyntheticEvents {
    static let eur = CurrencyCode("EUR")!

    static func event(index: Int, connector: ConnectorInfo, taxRate: Int = 20) -> Event {
        let customerID = "cus_\(index / 3)"
        let customer = RecordRef(objectType: "customer", objectID: customerID)
        let record: Record
        let type: String
        let objectType: String
        switch index % 3 {
        case 0:
            type = "customer.upserted"
            objectType = "customer"
            record = .customer(Customer(name: "Customer \(index / 3)", email: "c\(index / 3)@example.com", isCompany: true, address: Address(city: "Lyon", country: "FR"), currency: eur))
        case 1:
            type = "invoice.finalized"
            objectType = "invoice"
            let amount: Int64 = 10_000 + Int64(index % 97) * 100
            let tax = amount * Int64(taxRate) / 100
            record = .invoice(Invoice(
                number: "INV-\(index)", customer: customer, status: .open, currency: eur,
                lines: [InvoiceLine(description: "Subscription", quantity: "1", unitAmountMinor: amount, amountMinor: amount, taxes: [TaxLine(rate: String(taxRate), amountMinor: tax)])],
                subtotalMinor: amount, taxMinor: tax, totalMinor: amount + tax, amountDueMinor: amount + tax
            ))
        default:
            type = "payment.succeeded"
            objectType = "payment"
            let amount: Int64 = 10_000 + Int64((index - 1) % 97) * 100
            record = .payment(Payment(
                customer: customer, invoice: RecordRef(objectType: "invoice", objectID: "in_\(index - 1)"),
                amount: Money(amountMinor: amount + amount * Int64(taxRate) / 100, currency: eur), fee: Money(amountMinor: 30 + amount / 50, currency: eur),
                status: .succeeded, method: "card"
            ))
        }
        let objectID = objectType == "customer" ? customerID : (objectType == "invoice" ? "in_\(index)" : "py_\(index)")
        return Event(
            type: type,
            source: SourceRef(objectType: objectType, objectID: objectID, version: "1"),
            tenant: connector.tenant,
            entity: connector.entity,
            correlationID: "sample-\(connector.id)-\(index)",
            occurredAt: "2026-01-01T00:00:00Z",
            orderingKey: customerID,
            record: record
        )
    }
}

extension SyntheticEvents {
    /// The records the first `count` synthetic events are about, as a source's `reconcile.snapshot` lists them.
    static func snapshot(count: Int, params: ReconcileParams, connector: ConnectorInfo, taxRate: Int) -> ReconcileSnapshot {
        var groups: [ReconcileGroup] = []
        for objectType in params.objectTypes where !groups.contains(where: { $0.objectType == objectType }) {
            var items: [ReconcileItem] = []
            for index in 0..<count {
                let event = event(index: index, connector: connector, taxRate: taxRate)
                guard event.source.objectType == objectType else { continue }
                let (amount, status): (Money?, String?) = switch event.record {
                case .invoice(let invoice): (Money(amountMinor: invoice.totalMinor, currency: invoice.currency), invoice.status.rawValue)
                case .payment(let payment): (payment.amount, payment.status.rawValue)
                default: (nil, nil)
                }
                items.append(ReconcileItem(externalID: event.source.objectID, reference: nil, amount: amount, status: status))
            }
            groups.append(ReconcileGroup(objectType: objectType, tallying: items, listed: params.includeItems))
        }
        return ReconcileSnapshot(groups: groups)
    }
}

/// The sink's effects: a set of applied keys, mirrored in an append-only file. Several sink processes
/// may share one file (the sinks of several hosts, like one external system): a key is checked and
/// written under an exclusive `flock`, after reading what the others appended since.
final class EffectsFile: Sendable {
    private struct State {
        var applied: Set<String>
        /// How far the file has been read into `applied` (whole lines only).
        var readOffset: Int
        let fd: Int32
    }
    private let state: Mutex<State>
    private let fsync: Bool
    private let path: String

    init(path: String, fsync: Bool) throws {
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ConnectorError(.permanent, "cannot open effects_file \(path): \(String(cString: strerror(errno)))")
        }
        var state = State(applied: [], readOffset: 0, fd: fd)
        Self.catchUp(&state)
        self.state = Mutex(state)
        self.fsync = fsync
        self.path = path
    }

    /// Reads the whole lines appended since the last read (by this process or another) into `applied`.
    private static func catchUp(_ state: inout State) {
        var status = stat()
        guard fstat(state.fd, &status) == 0, Int(status.st_size) > state.readOffset else { return }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size) - state.readOffset)
        let count = bytes.withUnsafeMutableBytes { pread(state.fd, $0.baseAddress, $0.count, off_t(state.readOffset)) }
        guard count > 0, let last = bytes[..<count].lastIndex(of: UInt8(ascii: "\n")) else { return }
        for line in bytes[...last].split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            state.applied.insert(String(decoding: line, as: UTF8.self))
        }
        state.readOffset += last + 1
    }

    /// Every line of the file as it is now, repeats included (a test may append one to fake a
    /// double write). A last line without its newline is a write still under way, left out.
    func keys() throws -> [String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConnectorError(.transient, "cannot read effects_file \(path): \(error)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()
        return lines.filter { !$0.isEmpty }.map(String.init)
    }

    /// Records the key once, whichever process sharing the file applied it. Returns false when it was
    /// already applied. The effect is on disk before this returns; concurrent callers share the flush,
    /// as a database's group commit does.
    func apply(_ key: String) throws -> Bool {
        let fd = try state.withLock { state -> Int32? in
            guard !state.applied.contains(key) else { return nil }
            guard flock(state.fd, LOCK_EX) == 0 else {
                throw ConnectorError(.transient, "effects_file lock failed: \(String(cString: strerror(errno)))")
            }
            defer { flock(state.fd, LOCK_UN) }
            Self.catchUp(&state)
            guard !state.applied.contains(key) else { return nil }
            let line = Array((key + "\n").utf8)
            let written = line.withUnsafeBytes { write(state.fd, $0.baseAddress, $0.count) }
            guard written == line.count else {
                throw ConnectorError(.transient, "effects_file write failed: \(String(cString: strerror(errno)))")
            }
            state.applied.insert(key)
            return state.fd
        }
        guard let fd else { return false }
        if fsync, fdatasync(fd) != 0 {
            throw ConnectorError(.transient, "effects_file fsync failed: \(String(cString: strerror(errno)))")
        }
        return true
    }
}

/// Exercises the host's vault for tests, logging outcomes but never values:
/// `secret_probe = "NAME:SHA256"` reads the secret and says whether its hash matches;
/// `secret_probe_foreign = "CONNECTOR/NAME"` asks for another connector's secret (the host must refuse);
/// `secret_log = "NAME"` logs the value, as a careless plugin would (the host must redact it);
/// `secret_refresh = "NAME"` with `secret_refresh_value` stores a value as a plugin refreshing an OAuth token would.
enum SecretProbe {
    static func run(config: JSONValue, host: HostConnection, logger: Logger) async throws {
        if let probe = config["secret_probe"]?.stringValue {
            let parts = probe.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts[0]
            let value = try await host.secret(name)
            let digest = Hex.encode(SHA256.hash(data: Data(value.utf8)))
            logger.info(digest == parts.last ? "secret probe: \(name) matches" : "secret probe: \(name) differs")
        }
        if let name = config["secret_log"]?.stringValue {
            // A careless plugin: the host must mask the value wherever it logs it.
            let value = try await host.secret(name)
            logger.warning("secret probe: logging \(value) through the protocol")
            FileHandle.standardError.write(Data("secret probe: printing \(value) on stderr\n".utf8))
        }
        if let foreign = config["secret_probe_foreign"]?.stringValue {
            let parts = foreign.split(separator: "/", maxSplits: 1).map(String.init)
            do {
                _ = try await host.request(Method.credentialsGet, CredentialsGetParams(name: parts[1], connector: parts[0]), as: CredentialsGetResult.self)
                logger.error("secret probe: another connector's secret was handed out")
            } catch let error as ConnectorError {
                logger.info("secret probe: another connector's secret was refused: \(error.code)")
            }
        }
        if let name = config["secret_refresh"]?.stringValue, let value = config["secret_refresh_value"]?.stringValue {
            let version = try await host.storeSecret(name, value: value)
            logger.info("secret probe: \(name) refreshed to version \(version)")
        }
    }
}

/// Where `emit_rate` counts from, set by the first poll.
final class PaceOrigin: Sendable {
    let value = Mutex<(cursor: Int, at: ContinuousClock.Instant)?>(nil)
}

/// Fault directives from the config and from `faults_file`.
final class Faults: Sendable {
    struct Active: Sendable {
        var crashOnStart = false
        var crashAfterMilliseconds: Int?
        var hang = false
        var hangPings = false
        var slowMilliseconds: Int?
        var garbage: [String] = []
        var deliverFailure: (errorClass: ConnectorError.Code, attempts: Int?)?
        /// Deliveries whose idempotency key contains the text fail with the class, every attempt.
        var matchFailures: [(text: String, errorClass: ConnectorError.Code)] = []
        var pollFailure: ConnectorError.Code?
    }

    private let fixed: [String]
    private let file: String?
    private let cache = Mutex<(mtime: timespec, active: Active)?>(nil)

    init(fixed: [String], file: String?) {
        self.fixed = fixed
        self.file = file
    }

    func current() -> Active {
        var lines = fixed
        if let file {
            var info = stat()
            if stat(file, &info) == 0 {
                if let cached = cache.withLock({ $0 }), cached.mtime.tv_sec == info.st_mtim.tv_sec, cached.mtime.tv_nsec == info.st_mtim.tv_nsec {
                    return cached.active
                }
                let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
                lines += text.split(separator: "\n").map(String.init)
                let active = Self.parse(lines)
                cache.withLock { $0 = (info.st_mtim, active) }
                return active
            }
        }
        return Self.parse(lines)
    }

    static func parse(_ lines: [String]) -> Active {
        var active = Active()
        for line in lines {
            let words = line.split(separator: " ").map(String.init)
            guard let directive = words.first else { continue }
            let argument = words.count > 1 ? words[1] : nil
            switch directive {
            case "crash-on-start": active.crashOnStart = true
            case "crash-after-ms": active.crashAfterMilliseconds = argument.flatMap(Int.init)
            case "hang": active.hang = true
            case "hang-pings": active.hangPings = true
            case "slow": active.slowMilliseconds = argument.flatMap(Int.init)
            case "garbage": if let argument { active.garbage.append(argument) }
            case "fail":
                if let code = argument.flatMap(ConnectorError.Code.init(name:)) {
                    active.deliverFailure = (code, words.count > 2 ? Int(words[2]) : nil)
                }
            case "fail-match":
                if let argument, words.count > 2, let code = ConnectorError.Code(name: words[2]) {
                    active.matchFailures.append((argument, code))
                }
            case "poll-fail": active.pollFailure = argument.flatMap(ConnectorError.Code.init(name:))
            default: continue
            }
        }
        return active
    }
}

/// Lines that break the protocol on purpose, so tests can check that the host survives them.
enum Garbage {
    static func write(_ kind: String, to host: HostConnection) throws {
        let line: [UInt8]
        switch kind {
        case "malformed": line = Array("{this is not json\n".utf8)
        case "oversized": line = Array(repeating: UInt8(ascii: "x"), count: 17 * 1024 * 1024) + [0x0A]
        case "invalid-utf8": line = Array(#"{"jsonrpc":"2.0","method":"log","params":{"level":"info","message":""#.utf8) + [0xFF, 0xFE] + Array("\"}}\n".utf8)
        case "unknown-method": line = Array(#"{"jsonrpc":"2.0","id":"x1","method":"no.such.method","params":{}}"#.utf8) + [0x0A]
        case "stray-response": line = Array(#"{"jsonrpc":"2.0","id":987654,"result":{}}"#.utf8) + [0x0A]
        default: return
        }
        try host.writeLine(Data(line))
    }
}
