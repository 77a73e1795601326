/// Protocol versions and the methods of the plugin protocol, with their params and results.
/// PROTOCOL.md is the normative description; this file is its Swift mirror.
public enum ProtocolVersion {
    /// Versions this build speaks, newest first.
    public static let supported: [Int] = [1]

    /// The highest version both sides speak, or nil.
    public static func negotiate(offered: [Int], supported: [Int] = supported) -> Int? {
        Set(offered).intersection(supported).max()
    }
}

/// Method names. Host → plugin unless marked otherwise.
public enum Method {
    /// Plugin → host, the first message on a connection.
    public static let initialize = "initialize"
    public static let ping = "ping"
    public static let shutdown = "shutdown"
    public static let check = "check"
    public static let discover = "discover"
    public static let sourcePoll = "source.poll"
    public static let webhookHandle = "webhook.handle"
    public static let sinkDeliver = "sink.deliver"
    /// Several deliveries in one request, for sinks whose `capabilities.sink_batch` is above 1.
    public static let sinkDeliverBatch = "sink.deliver_batch"
    public static let reconcileSnapshot = "reconcile.snapshot"
    /// Either direction, notification: stop working on request `id`.
    public static let cancel = "cancel"
    /// Plugin → host, notification.
    public static let log = "log"
    /// Plugin → host, notification: the plugin's own gauges (a vendor's quota used), exported by the host.
    public static let metrics = "metrics"
    /// Plugin → host.
    public static let credentialsGet = "credentials.get"
    /// Plugin → host.
    public static let credentialsUpdate = "credentials.update"
    /// Plugin → host.
    public static let linksLookup = "links.lookup"
    /// Host → plugin, notification: an operator stored or removed one of the connector's secrets;
    /// a value the plugin keeps in memory is out of date.
    public static let credentialsChanged = "credentials.changed"
}

/// Environment variables the host sets for a plugin process (its whole environment, with PATH and LANG).
public enum PluginEnvironment {
    /// Path of the Unix socket the plugin connects to.
    public static let socket = "CONNECTOR_HOST_SOCKET"
    /// One-time token the plugin presents in `initialize`.
    public static let token = "CONNECTOR_HOST_TOKEN"
    /// The connector instance id, for the plugin's own diagnostics before the handshake.
    public static let connectorID = "CONNECTOR_ID"
}

// MARK: initialize

public struct PluginInfo: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }
}

/// A stream a source plugin can poll.
public struct StreamInfo: Codable, Sendable, Hashable {
    public var name: String
    /// Event types the stream produces, e.g. `invoice.finalized`.
    public var eventTypes: [String]

    public init(name: String, eventTypes: [String]) {
        self.name = name
        self.eventTypes = eventTypes
    }

    enum CodingKeys: String, CodingKey {
        case name
        case eventTypes = "event_types"
    }
}

public struct Capabilities: Codable, Sendable, Hashable {
    /// Streams the plugin can poll as a source (empty: not a polling source).
    public var streams: [StreamInfo]
    /// Whether the plugin verifies and maps webhooks (`webhook.handle`).
    public var webhooks: Bool
    /// Event-type patterns the plugin accepts as a sink (empty: not a sink).
    public var sinkEventTypes: [String]
    /// Whether the plugin answers `reconcile.snapshot`.
    public var reconcile: Bool
    /// Most deliveries the plugin takes in one `sink.deliver_batch`; 0 or 1: one `sink.deliver` each.
    public var sinkBatch: Int
    /// The HTTP methods of `/hooks/{id}` the plugin handles: `POST`, and `GET` for a vendor's
    /// verification handshake. A plugin that says nothing handles `POST` only.
    public var webhookMethods: [String]
    /// The record kinds the plugin takes as a sink (`customer`, `invoice`, …); empty: any kind.
    /// `connector-hostd --check-config` refuses a route that brings it another kind.
    public var sinkRecordKinds: [String]

    public init(streams: [StreamInfo] = [], webhooks: Bool = false, sinkEventTypes: [String] = [], reconcile: Bool = false, sinkBatch: Int = 0,
                webhookMethods: [String] = ["POST"], sinkRecordKinds: [String] = []) {
        self.streams = streams
        self.webhooks = webhooks
        self.sinkEventTypes = sinkEventTypes
        self.reconcile = reconcile
        self.sinkBatch = sinkBatch
        self.webhookMethods = webhookMethods
        self.sinkRecordKinds = sinkRecordKinds
    }

    enum CodingKeys: String, CodingKey {
        case streams, webhooks, reconcile
        case sinkEventTypes = "sink_event_types"
        case sinkBatch = "sink_batch"
        case webhookMethods = "webhook_methods"
        case sinkRecordKinds = "sink_record_kinds"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        streams = try container.decodeIfPresent([StreamInfo].self, forKey: .streams) ?? []
        webhooks = try container.decodeIfPresent(Bool.self, forKey: .webhooks) ?? false
        sinkEventTypes = try container.decodeIfPresent([String].self, forKey: .sinkEventTypes) ?? []
        reconcile = try container.decodeIfPresent(Bool.self, forKey: .reconcile) ?? false
        sinkBatch = try container.decodeIfPresent(Int.self, forKey: .sinkBatch) ?? 0
        webhookMethods = try container.decodeIfPresent([String].self, forKey: .webhookMethods) ?? ["POST"]
        sinkRecordKinds = try container.decodeIfPresent([String].self, forKey: .sinkRecordKinds) ?? []
    }

    /// The record kind of an event type: what comes before its first dot (`invoice.paid` → `invoice`,
    /// `credit_note.issued` → `credit_note`).
    public static func recordKind(ofEventType type: String) -> String {
        String(type.prefix { $0 != "." })
    }
}

/// What `<plugin> --describe` prints (one JSON line): the plugin and its capabilities, so that the host
/// can check routes against them before running anything.
public struct PluginDescription: Codable, Sendable, Hashable {
    public var plugin: PluginInfo
    public var capabilities: Capabilities

    public init(plugin: PluginInfo, capabilities: Capabilities) {
        self.plugin = plugin
        self.capabilities = capabilities
    }
}

public struct InitializeParams: Codable, Sendable, Hashable {
    public var protocolVersions: [Int]
    public var plugin: PluginInfo
    public var capabilities: Capabilities
    /// The one-time token from `CONNECTOR_HOST_TOKEN`.
    public var token: String

    public init(protocolVersions: [Int], plugin: PluginInfo, capabilities: Capabilities, token: String) {
        self.protocolVersions = protocolVersions
        self.plugin = plugin
        self.capabilities = capabilities
        self.token = token
    }

    enum CodingKeys: String, CodingKey {
        case plugin, capabilities, token
        case protocolVersions = "protocol_versions"
    }
}

public struct ConnectorInfo: Codable, Sendable, Hashable {
    public var id: String
    public var plugin: String
    public var tenant: String?
    public var entity: String?

    public init(id: String, plugin: String, tenant: String? = nil, entity: String? = nil) {
        self.id = id
        self.plugin = plugin
        self.tenant = tenant
        self.entity = entity
    }
}

public struct HostInfo: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }
}

public struct Limits: Codable, Sendable, Hashable {
    /// Longest line the host accepts, newline excluded.
    public var maxLineBytes: Int
    /// Most host → plugin requests in flight at once on this connection.
    public var maxInFlight: Int

    public init(maxLineBytes: Int, maxInFlight: Int) {
        self.maxLineBytes = maxLineBytes
        self.maxInFlight = maxInFlight
    }

    enum CodingKeys: String, CodingKey {
        case maxLineBytes = "max_line_bytes"
        case maxInFlight = "max_in_flight"
    }
}

public struct InitializeResult: Codable, Sendable, Hashable {
    public var protocolVersion: Int
    public var connector: ConnectorInfo
    /// The connector's `[connector.config]` table.
    public var config: JSONValue
    public var host: HostInfo
    public var limits: Limits

    public init(protocolVersion: Int, connector: ConnectorInfo, config: JSONValue, host: HostInfo, limits: Limits) {
        self.protocolVersion = protocolVersion
        self.connector = connector
        self.config = config
        self.host = host
        self.limits = limits
    }

    enum CodingKeys: String, CodingKey {
        case connector, config, host, limits
        case protocolVersion = "protocol_version"
    }
}

// MARK: ping, shutdown, check, cancel, log

public struct PingResult: Codable, Sendable, Hashable {
    /// Requests the plugin is working on, for the operator's view.
    public var inFlight: Int
    public init(inFlight: Int) { self.inFlight = inFlight }
    enum CodingKeys: String, CodingKey { case inFlight = "in_flight" }
}

public struct ShutdownParams: Codable, Sendable, Hashable {
    /// Time the plugin has to finish in-flight work and exit, after which it is sent SIGTERM.
    public var deadlineMilliseconds: Int
    public init(deadlineMilliseconds: Int) { self.deadlineMilliseconds = deadlineMilliseconds }
    enum CodingKeys: String, CodingKey { case deadlineMilliseconds = "deadline_ms" }
}

public struct CheckResult: Codable, Sendable, Hashable {
    public var ok: Bool
    public var message: String
    public init(ok: Bool, message: String) {
        self.ok = ok
        self.message = message
    }
}

public struct CancelParams: Codable, Sendable, Hashable {
    public var id: RPCID
    public init(id: RPCID) { self.id = id }
}

/// `metrics` params: gauges by name (`[a-z][a-z0-9_]*`, at most 64 characters), each the latest value.
public struct MetricsParams: Codable, Sendable, Hashable {
    public var gauges: [String: Double]

    public init(gauges: [String: Double]) {
        self.gauges = gauges
    }

    /// The most gauges the host keeps for one connector.
    public static let maxGauges = 32

    /// Why a gauge cannot be kept, or nil.
    public static func problem(name: String, value: Double) -> String? {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.count <= 64,
              name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }) else {
            return "gauge name \"\(name.prefix(80))\" must match [a-z][a-z0-9_]* (at most 64 characters)"
        }
        guard value.isFinite else { return "gauge \(name) is not a finite number" }
        return nil
    }
}

public struct LogParams: Codable, Sendable, Hashable {
    /// One of trace, debug, info, notice, warning, error, critical.
    public var level: String
    public var message: String
    public var metadata: [String: String]

    public init(level: String, message: String, metadata: [String: String] = [:]) {
        self.level = level
        self.message = message
        self.metadata = metadata
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        level = try container.decode(String.self, forKey: .level)
        message = try container.decode(String.self, forKey: .message)
        metadata = try container.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:]
    }
}

// MARK: source.poll

public struct PollParams: Codable, Sendable, Hashable {
    public var stream: String
    /// The cursor the plugin returned last time for this stream; nil on the first poll.
    public var cursor: String?
    /// Most events to return in one page.
    public var maxEvents: Int

    public init(stream: String, cursor: String?, maxEvents: Int) {
        self.stream = stream
        self.cursor = cursor
        self.maxEvents = maxEvents
    }

    enum CodingKeys: String, CodingKey {
        case stream, cursor
        case maxEvents = "max_events"
    }

    /// `cursor` is always sent, `null` on the first poll, as PROTOCOL.md says: a plugin in another
    /// language reading `params["cursor"]` must find it (it was left out, and such a plugin crash-looped).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stream, forKey: .stream)
        try container.encode(cursor, forKey: .cursor)
        try container.encode(maxEvents, forKey: .maxEvents)
    }
}

public struct PollResult: Codable, Sendable, Hashable {
    public var events: [Event]
    /// The cursor to send with the next poll. The host stores it in the same transaction as the events.
    public var cursor: String?
    /// More events are ready now: poll again without waiting for the interval.
    public var hasMore: Bool
    /// Records of the page the plugin could not make events of; kept by the host as intake rejects.
    public var rejects: [SourceReject]

    public init(events: [Event], cursor: String?, hasMore: Bool, rejects: [SourceReject] = []) {
        self.events = events
        self.cursor = cursor
        self.hasMore = hasMore
        self.rejects = rejects
    }

    enum CodingKeys: String, CodingKey {
        case events, cursor, rejects
        case hasMore = "has_more"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        events = try container.decode([Event].self, forKey: .events)
        cursor = try container.decodeIfPresent(String.self, forKey: .cursor)
        hasMore = try container.decode(Bool.self, forKey: .hasMore)
        rejects = try container.decodeIfPresent([SourceReject].self, forKey: .rejects) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(events, forKey: .events)
        try container.encode(cursor, forKey: .cursor)
        try container.encode(hasMore, forKey: .hasMore)
        if !rejects.isEmpty { try container.encode(rejects, forKey: .rejects) }
    }
}

/// A record a source read but cannot make an event of (an invoice whose lines do not come to its total,
/// a required field missing): rather than fail its page, and stop its stream behind it, the plugin
/// names it here and the host keeps it among its intake rejects (`hostctl dlq rejects`), audited.
public struct SourceReject: Codable, Sendable, Hashable {
    /// What is wrong, naming the field.
    public var problem: String
    /// The record as the source identifies it.
    public var source: SourceRef?
    /// The record as the source sent it, for the operator.
    public var record: JSONValue?

    public init(problem: String, source: SourceRef?, record: JSONValue?) {
        self.problem = problem
        self.source = source
        self.record = record
    }
}

// MARK: sink.deliver

/// A known mapping between a canonical record and its id in one connector's system.
public struct Link: Codable, Sendable, Hashable {
    public var connector: String
    public var objectType: String
    /// The source object id (canonical side).
    public var sourceID: String
    /// The id in the target system.
    public var externalID: String

    public init(connector: String, objectType: String, sourceID: String, externalID: String) {
        self.connector = connector
        self.objectType = objectType
        self.sourceID = sourceID
        self.externalID = externalID
    }

    enum CodingKeys: String, CodingKey {
        case connector
        case objectType = "object_type"
        case sourceID = "source_id"
        case externalID = "external_id"
    }
}

public struct DeliverParams: Codable, Sendable, Hashable {
    public var event: Event
    /// The host's id of the connector the event came from (also set in `event.source.connector`).
    public var sourceConnector: String?
    /// Stable across retries and replays: the sink uses it to make its write idempotent.
    public var idempotencyKey: String
    /// 1 for the first attempt.
    public var attempt: Int
    /// Links the host already knows for records this event refers to.
    public var links: [Link]

    public init(event: Event, sourceConnector: String? = nil, idempotencyKey: String, attempt: Int, links: [Link]) {
        self.event = event
        self.sourceConnector = sourceConnector ?? event.source.connector
        if self.event.source.connector == nil { self.event.source.connector = sourceConnector }
        self.idempotencyKey = idempotencyKey
        self.attempt = attempt
        self.links = links
    }

    enum CodingKeys: String, CodingKey {
        case event, attempt, links
        case sourceConnector = "source_connector"
        case idempotencyKey = "idempotency_key"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        event = try container.decode(Event.self, forKey: .event)
        sourceConnector = try container.decodeIfPresent(String.self, forKey: .sourceConnector)
        idempotencyKey = try container.decode(String.self, forKey: .idempotencyKey)
        attempt = try container.decode(Int.self, forKey: .attempt)
        links = try container.decodeIfPresent([Link].self, forKey: .links) ?? []
        if event.source.connector == nil { event.source.connector = sourceConnector }
    }
}

public struct DeliverResult: Codable, Sendable, Hashable {
    /// The id of the written record in the target system.
    public var externalID: String?
    /// True when the target already had this effect (a redelivery): nothing new was written.
    public var duplicate: Bool
    /// Further links the sink learned (e.g. the partner it created for an invoice's customer).
    public var links: [Link]
    /// The written record as this connector names it when it is a source (`{"object_type": "res.partner",
    /// "object_id": "80"}`): the host then knows the way back, and a later event of that record sent to
    /// the event's source connector carries a link whose `external_id` is the source's own record as
    /// `<object type>:<object id>` (`companies:101`).
    public var sourceRef: RecordRef?

    public init(externalID: String?, duplicate: Bool = false, links: [Link] = [], sourceRef: RecordRef? = nil) {
        self.externalID = externalID
        self.duplicate = duplicate
        self.links = links
        self.sourceRef = sourceRef
    }

    enum CodingKeys: String, CodingKey {
        case duplicate, links
        case externalID = "external_id"
        case sourceRef = "source_ref"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        externalID = try container.decodeIfPresent(String.self, forKey: .externalID)
        duplicate = try container.decodeIfPresent(Bool.self, forKey: .duplicate) ?? false
        links = try container.decodeIfPresent([Link].self, forKey: .links) ?? []
        sourceRef = try container.decodeIfPresent(RecordRef.self, forKey: .sourceRef)
    }
}

// MARK: sink.deliver_batch

/// Deliveries of one route to one sink, each as `sink.deliver` would carry it. The host puts at most
/// one delivery per ordering key in a batch, so the sink may apply them in any order or concurrently,
/// working on at most `concurrency` of them at once (all of them when absent).
public struct DeliverBatchParams: Codable, Sendable, Hashable {
    public var deliveries: [DeliverParams]
    public var concurrency: Int?

    public init(deliveries: [DeliverParams], concurrency: Int? = nil) {
        self.deliveries = deliveries
        self.concurrency = concurrency
    }
}

/// One answer per delivery, in the order of the request.
public struct DeliverBatchResult: Codable, Sendable, Hashable {
    public var results: [DeliverItemResult]

    public init(results: [DeliverItemResult]) {
        self.results = results
    }
}

/// On the wire `{"ok": <sink.deliver result>}` or `{"error": <JSON-RPC error object>}`.
public enum DeliverItemResult: Codable, Sendable, Hashable {
    case ok(DeliverResult)
    case error(RPCErrorObject)

    public init(_ result: Result<DeliverResult, ConnectorError>) {
        switch result {
        case .success(let value): self = .ok(value)
        case .failure(let error): self = .error(RPCErrorObject(error))
        }
    }

    public var result: Result<DeliverResult, ConnectorError> {
        switch self {
        case .ok(let value): .success(value)
        case .error(let error): .failure(error.connectorError)
        }
    }

    enum CodingKeys: String, CodingKey {
        case ok, error
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let error = try container.decodeIfPresent(RPCErrorObject.self, forKey: .error) {
            self = .error(error)
        } else {
            self = .ok(try container.decode(DeliverResult.self, forKey: .ok))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .ok(let value): try container.encode(value, forKey: .ok)
        case .error(let error): try container.encode(error, forKey: .error)
        }
    }
}

// MARK: credentials.get / credentials.update (plugin → host)

/// A plugin asks for one of its connector's secrets by name (as its config names it).
public struct CredentialsGetParams: Codable, Sendable, Hashable {
    public var name: String
    /// Another connector's id: always refused with `auth`, and audited. Absent: the plugin's own.
    public var connector: String?

    public init(name: String, connector: String? = nil) {
        self.name = name
        self.connector = connector
    }
}

public struct CredentialsGetResult: Codable, Sendable, Hashable {
    public var name: String
    public var value: String
    public var version: Int

    public init(name: String, value: String, version: Int) {
        self.name = name
        self.value = value
        self.version = version
    }
}

/// A plugin stores a value it obtained itself, e.g. a refreshed OAuth token.
public struct CredentialsUpdateParams: Codable, Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `credentials.changed`: which secret changed, and its version now (nil: removed).
public struct CredentialsChangedParams: Codable, Sendable, Hashable {
    public var name: String
    public var version: Int?

    public init(name: String, version: Int?) {
        self.name = name
        self.version = version
    }
}

public struct CredentialsUpdateResult: Codable, Sendable, Hashable {
    public var version: Int
    public init(version: Int) { self.version = version }
}

// MARK: webhook.handle

/// An HTTP request that arrived at `POST /hooks/{connector-id}`, for the plugin to verify and map.
public struct WebhookParams: Codable, Sendable, Hashable {
    /// Header names lower-cased; a repeated header's values joined with ", ".
    public var headers: [String: String]
    /// The body exactly as received when it is UTF-8 (signatures are computed over these bytes); empty
    /// when it is not, and then in `bodyBase64`.
    public var body: String
    /// When the host received it, milliseconds since the epoch (for timestamp tolerance checks).
    public var receivedAtMilliseconds: Int64
    /// The request's method (`POST`, or `GET` for a handshake the plugin declared in `webhook_methods`).
    public var method: String
    /// The request target as received: path and query (`/hooks/crm?x=1`), for signatures over the URI
    /// (HubSpot's v3 signs the full URL the vendor called: the plugin puts its public base URL before it).
    public var target: String?
    /// The body's bytes in base64 when they are not UTF-8 (absent otherwise).
    public var bodyBase64: String?

    public init(headers: [String: String], body: String, receivedAtMilliseconds: Int64, method: String = "POST", target: String? = nil, bodyBase64: String? = nil) {
        self.headers = headers
        self.body = body
        self.receivedAtMilliseconds = receivedAtMilliseconds
        self.method = method
        self.target = target
        self.bodyBase64 = bodyBase64
    }

    enum CodingKeys: String, CodingKey {
        case headers, body, method, target
        case receivedAtMilliseconds = "received_at_ms"
        case bodyBase64 = "body_base64"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        headers = try container.decode([String: String].self, forKey: .headers)
        body = try container.decode(String.self, forKey: .body)
        receivedAtMilliseconds = try container.decode(Int64.self, forKey: .receivedAtMilliseconds)
        method = try container.decodeIfPresent(String.self, forKey: .method) ?? "POST"
        target = try container.decodeIfPresent(String.self, forKey: .target)
        bodyBase64 = try container.decodeIfPresent(String.self, forKey: .bodyBase64)
    }

}

/// An answer the plugin shapes itself (a vendor's handshake wants its challenge back, some want a
/// particular body): status, headers and body the host sends instead of its own `{"accepted": …}`.
public struct WebhookResponse: Codable, Sendable, Hashable {
    public var status: Int
    public var headers: [String: String]
    public var body: String

    public init(status: Int = 200, headers: [String: String] = [:], body: String = "") {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decodeIfPresent(Int.self, forKey: .status) ?? 200
        headers = try container.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
        body = try container.decodeIfPresent(String.self, forKey: .body) ?? ""
    }
}

/// The verified request's events. Errors instead: `auth` for a forged or stale signature (the host
/// answers 401), `permanent` for a request that can never be accepted (400); `details.reason` names why.
public struct WebhookResult: Codable, Sendable, Hashable {
    public var events: [Event]
    /// Identifies this very delivery (e.g. its signature): the host refuses a second copy as a replay.
    public var replayKey: String?
    /// The answer to send, when the plugin shapes it (after the events are stored).
    public var response: WebhookResponse?
    /// Records of the delivery the plugin could not make events of (see ``SourceReject``).
    public var rejects: [SourceReject]

    public init(events: [Event], replayKey: String?, response: WebhookResponse? = nil, rejects: [SourceReject] = []) {
        self.events = events
        self.replayKey = replayKey
        self.response = response
        self.rejects = rejects
    }

    enum CodingKeys: String, CodingKey {
        case events, response, rejects
        case replayKey = "replay_key"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        events = try container.decodeIfPresent([Event].self, forKey: .events) ?? []
        replayKey = try container.decodeIfPresent(String.self, forKey: .replayKey)
        response = try container.decodeIfPresent(WebhookResponse.self, forKey: .response)
        rejects = try container.decodeIfPresent([SourceReject].self, forKey: .rejects) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(events, forKey: .events)
        try container.encodeIfPresent(replayKey, forKey: .replayKey)
        try container.encodeIfPresent(response, forKey: .response)
        if !rejects.isEmpty { try container.encode(rejects, forKey: .rejects) }
    }
}

// MARK: reconcile.snapshot

/// What the host asks a plugin for to reconcile: the records of some kinds in a date range, as the
/// system behind it has them. A sink answers for what it wrote (`side` target); a source for what it
/// would emit (`side` source), so that the host can compare the two.
public struct ReconcileParams: Codable, Sendable, Hashable {
    /// Which side of a pair the plugin answers for.
    public enum Side: String, Codable, Sendable, Hashable {
        /// The records the plugin's source emits events for: each item's `external_id` is the object id
        /// its events carry, with the record's canonical `status`.
        case source
        /// The records a sink wrote, with the reference it wrote on each.
        case target
    }

    /// Canonical record kinds, e.g. `invoice`, `payment`.
    public var objectTypes: [String]
    /// First day, inclusive, `YYYY-MM-DD`. Calendar dates in the target's own terms (an invoice's
    /// accounting date), not instants: books are closed per day where the records live.
    public var from: String
    /// Last day, inclusive, `YYYY-MM-DD`.
    public var to: String
    /// Whether each group lists its records; without, counts and totals only.
    public var includeItems: Bool
    /// Absent on the wire (a host before sources reconciled): target.
    public var side: Side
    /// The legal entity compared (the source connector's): a target keeping several entities' books
    /// answers for that one's only. Nil: all it holds.
    public var entity: String?

    public init(objectTypes: [String], from: String, to: String, includeItems: Bool, side: Side = .target, entity: String? = nil) {
        self.objectTypes = objectTypes
        self.from = from
        self.to = to
        self.includeItems = includeItems
        self.side = side
        self.entity = entity
    }

    enum CodingKeys: String, CodingKey {
        case from, to, side, entity
        case objectTypes = "object_types"
        case includeItems = "include_items"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        objectTypes = try container.decode([String].self, forKey: .objectTypes)
        from = try container.decode(String.self, forKey: .from)
        to = try container.decode(String.self, forKey: .to)
        includeItems = try container.decodeIfPresent(Bool.self, forKey: .includeItems) ?? false
        side = try container.decodeIfPresent(Side.self, forKey: .side) ?? .target
        entity = try container.decodeIfPresent(String.self, forKey: .entity)
    }

    /// Checked by the host before it asks and by ConnectorKit before the plugin answers, so a
    /// plugin never sees a range it would have to guess about.
    public func validate() throws(ConnectorError) {
        if objectTypes.isEmpty || objectTypes.contains(where: \.isEmpty) {
            throw ConnectorError(.permanent, "object_types must name at least one record kind, e.g. [\"invoice\"]")
        }
        for type in objectTypes where !Record.kinds.contains(type) {
            let suggestion = Spelling.closest(to: type, in: Record.kinds).map { ": did you mean \($0)?" } ?? ""
            throw ConnectorError(.permanent, "\"\(type)\" is not a record kind (\(Record.kinds.joined(separator: ", ")))\(suggestion)")
        }
        for (field, value) in [("from", from), ("to", to)] where !Self.isCalendarDate(value) {
            throw ConnectorError(.permanent, "\(field) must be a date YYYY-MM-DD, not \"\(value)\"")
        }
        // Same fixed-width format: the text order is the date order.
        if from > to {
            throw ConnectorError(.permanent, "from (\(from)) is after to (\(to))")
        }
    }

    /// `YYYY-MM-DD` naming a day that exists (no 2026-02-30).
    static func isCalendarDate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1...12).contains(month) else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }
}

/// The reference a sink writes on every record it creates, `ch:<source connector>:<object type>:<object id>`:
/// what makes its writes idempotent, and what lets a reconciliation tie a record back to its source.
/// Connector ids and object types hold no `:`; the object id may.
public struct SinkReference: Sendable, Hashable, CustomStringConvertible {
    public var sourceConnector: String
    public var objectType: String
    public var objectID: String

    public init(sourceConnector: String, objectType: String, objectID: String) {
        self.sourceConnector = sourceConnector
        self.objectType = objectType
        self.objectID = objectID
    }

    /// Nil for text that is not such a reference (a record someone else wrote).
    public init?(parsing text: String) {
        guard text.hasPrefix("ch:") else { return nil }
        let parts = text.dropFirst(3).split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts.contains(where: \.isEmpty) else { return nil }
        self.init(sourceConnector: String(parts[0]), objectType: String(parts[1]), objectID: String(parts[2]))
    }

    public var description: String { "ch:\(sourceConnector):\(objectType):\(objectID)" }

    /// The host's canonical id of the source record, as its links table keys it.
    public var canonicalID: String { "\(sourceConnector):\(objectType):\(objectID)" }
}

public struct ReconcileSnapshot: Codable, Sendable, Hashable {
    /// One per requested object type.
    public var groups: [ReconcileGroup]

    public init(groups: [ReconcileGroup]) {
        self.groups = groups
    }
}

public struct ReconcileGroup: Codable, Sendable, Hashable {
    public var objectType: String
    public var count: Int
    /// One per currency.
    public var totals: [Money]
    /// Empty unless `include_items` was asked for.
    public var items: [ReconcileItem]
    /// On the source side, the object type the source's events carry for records of this kind when it is
    /// not the kind itself (Chargebee's payments and refunds are `transaction`s): the type in the
    /// references a sink writes for them. Nil: the kind.
    public var sourceObjectType: String?

    public init(objectType: String, count: Int, totals: [Money], items: [ReconcileItem] = [], sourceObjectType: String? = nil) {
        self.objectType = objectType
        self.count = count
        self.totals = totals
        self.items = items
        self.sourceObjectType = sourceObjectType
    }

    enum CodingKeys: String, CodingKey {
        case count, totals, items
        case objectType = "object_type"
        case sourceObjectType = "source_object_type"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        objectType = try container.decode(String.self, forKey: .objectType)
        count = try container.decode(Int.self, forKey: .count)
        totals = try container.decodeIfPresent([Money].self, forKey: .totals) ?? []
        items = try container.decodeIfPresent([ReconcileItem].self, forKey: .items) ?? []
        sourceObjectType = try container.decodeIfPresent(String.self, forKey: .sourceObjectType)
    }
}

extension ReconcileGroup {
    /// The group of `items`: their count and their totals, one per currency (by code); the items
    /// themselves, by date and id, only when `listed` (the params' `include_items`).
    public init(objectType: String, tallying items: [ReconcileItem], listed: Bool, sourceObjectType: String? = nil) {
        var totals: [CurrencyCode: Int64] = [:]
        for case let amount? in items.map(\.amount) { totals[amount.currency, default: 0] += amount.amountMinor }
        self.init(objectType: objectType, count: items.count,
                  totals: totals.sorted { $0.key.code < $1.key.code }.map { Money(amountMinor: $0.value, currency: $0.key) },
                  items: listed ? items.sorted { ($0.date ?? "", $0.externalID) < ($1.date ?? "", $1.externalID) } : [],
                  sourceObjectType: sourceObjectType)
    }
}

extension ReconcileParams {
    /// Whether a record dated `day` (`YYYY-MM-DD`) falls in the range; one without a date does not.
    public func includes(day: String?) -> Bool {
        day.map { $0 >= from && $0 <= to } ?? false
    }

    /// Unix seconds at 00:00 UTC of `from` and of `to` (its last second is `to + 86_399`): what a
    /// source's list API filters by. Nil for params that did not pass ``validate()``.
    public var unixDays: (from: Int64, to: Int64)? {
        guard let first = Self.unixDay(from), let last = Self.unixDay(to) else { return nil }
        return (first, last)
    }

    static func unixDay(_ text: String) -> Int64? {
        guard isCalendarDate(text) else { return nil }
        let parts = text.split(separator: "-").compactMap { Int64($0) }
        // Days since 1970-01-01 (Howard Hinnant's days-from-civil).
        let (year, month, day) = (parts[0] - (parts[1] <= 2 ? 1 : 0), parts[1], parts[2])
        let era = (year >= 0 ? year : year - 399) / 400
        let yoe = year - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return (era * 146_097 + doe - 719_468) * 86_400
    }
}

/// One record, in the target system (`side` target) or in the source (`side` source).
public struct ReconcileItem: Codable, Sendable, Hashable {
    /// The record's id in the target; in a source's answer, the object id its events carry.
    public var externalID: String
    /// The ``SinkReference`` the sink wrote on it; nil for a record written by someone else.
    public var reference: String?
    /// From the reference, when it is one.
    public var sourceConnector: String?
    /// From the reference, when it is one.
    public var sourceID: String?
    public var amount: Money?
    /// The record's state in the target, in the target's words (e.g. Odoo's `posted`).
    public var state: String?
    /// `YYYY-MM-DD`, the date the range was matched against.
    public var date: String?
    /// The record's canonical status where both sides can say it, e.g. an invoice's `open`, `paid` or
    /// `void` (the canonical model's words): compared between source and target.
    public var status: String?
    /// What the payment processor kept of a payment or refund (Stripe's fee), in its balance's currency:
    /// the amount's unless it was converted, when the net is `amount` less this. Nil where the source does not say.
    public var fee: Money?

    public init(externalID: String, reference: String?, sourceConnector: String?, sourceID: String?, amount: Money?, state: String?, date: String?,
                status: String? = nil, fee: Money? = nil) {
        self.externalID = externalID
        self.reference = reference
        self.sourceConnector = sourceConnector
        self.sourceID = sourceID
        self.amount = amount
        self.state = state
        self.date = date
        self.status = status
        self.fee = fee
    }

    /// Fills `sourceConnector` and `sourceID` from the reference, so every plugin parses it alike.
    public init(externalID: String, reference: String?, amount: Money? = nil, state: String? = nil, date: String? = nil, status: String? = nil) {
        let parsed = reference.flatMap(SinkReference.init(parsing:))
        self.init(externalID: externalID, reference: reference, sourceConnector: parsed?.sourceConnector, sourceID: parsed?.objectID,
                  amount: amount, state: state, date: date, status: status)
    }

    enum CodingKeys: String, CodingKey {
        case reference, amount, state, date, status, fee
        case externalID = "external_id"
        case sourceConnector = "source_connector"
        case sourceID = "source_id"
    }
}
