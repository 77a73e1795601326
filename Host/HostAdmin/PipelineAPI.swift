// Admin API of the event pipeline: queue depth, dead letters, replay, trace.
public import ConnectorProtocol

extension AdminMethod {
    public static let queue = "queue"
    public static let dlqList = "dlq.list"
    public static let dlqShow = "dlq.show"
    public static let dlqReplay = "dlq.replay"
    public static let dlqDiscard = "dlq.discard"
    public static let dlqRejects = "dlq.rejects"
    public static let trace = "trace"
}

public struct QueueRow: Codable, Sendable, Equatable {
    public var route: String
    public var target: String
    /// pending, delivered, dead or discarded.
    public var state: String
    public var count: Int
    /// Age of the oldest pending delivery.
    public var oldestAgeSeconds: Double?

    public init(route: String, target: String, state: String, count: Int, oldestAgeSeconds: Double?) {
        self.route = route
        self.target = target
        self.state = state
        self.count = count
        self.oldestAgeSeconds = oldestAgeSeconds
    }

    enum CodingKeys: String, CodingKey {
        case route, target, state, count
        case oldestAgeSeconds = "oldest_age_seconds"
    }
}

public struct QueueResult: Codable, Sendable {
    public var rows: [QueueRow]
    /// Duplicates dropped at ingest, by source connector.
    public var duplicates: [String: Int]
    public init(rows: [QueueRow], duplicates: [String: Int]) {
        self.rows = rows
        self.duplicates = duplicates
    }
}

public struct DeadLetterSummary: Codable, Sendable, Equatable {
    /// The delivery id: what `dlq show`, `replay` and `discard` take.
    public var id: Int64
    public var route: String
    public var target: String
    public var eventType: String
    public var correlationID: String
    public var idempotencyKey: String
    public var errorClass: String
    public var reason: String
    /// Unix milliseconds.
    public var deadAt: Int64
    public var attempts: Int

    public init(id: Int64, route: String, target: String, eventType: String, correlationID: String, idempotencyKey: String, errorClass: String, reason: String, deadAt: Int64, attempts: Int) {
        self.id = id
        self.route = route
        self.target = target
        self.eventType = eventType
        self.correlationID = correlationID
        self.idempotencyKey = idempotencyKey
        self.errorClass = errorClass
        self.reason = reason
        self.deadAt = deadAt
        self.attempts = attempts
    }

    enum CodingKeys: String, CodingKey {
        case id, route, target, reason, attempts
        case eventType = "event_type"
        case correlationID = "correlation_id"
        case idempotencyKey = "idempotency_key"
        case errorClass = "error_class"
        case deadAt = "dead_at"
    }
}

public struct AttemptRecord: Codable, Sendable, Equatable {
    public var number: Int
    public var startedAt: Int64
    public var finishedAt: Int64
    /// delivered, duplicate, or the error class.
    public var outcome: String
    public var error: String?
    /// JSON the plugin reported with the error (request, response, mapping).
    public var details: String?

    public init(number: Int, startedAt: Int64, finishedAt: Int64, outcome: String, error: String?, details: String?) {
        self.number = number
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.error = error
        self.details = details
    }

    enum CodingKeys: String, CodingKey {
        case number, outcome, error, details
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}

public struct DeadLetterDetail: Codable, Sendable {
    public var summary: DeadLetterSummary
    public var event: JSONValue
    public var attempts: [AttemptRecord]

    public init(summary: DeadLetterSummary, event: JSONValue, attempts: [AttemptRecord]) {
        self.summary = summary
        self.event = event
        self.attempts = attempts
    }
}

public struct AuditRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: Int64
    public var actor: String
    public var action: String
    public var subject: String
    public var detail: String

    public init(id: Int64, at: Int64, actor: String, action: String, subject: String, detail: String) {
        self.id = id
        self.at = at
        self.actor = actor
        self.action = action
        self.subject = subject
        self.detail = detail
    }
}

public struct TraceResult: Codable, Sendable {
    public struct TracedLink: Codable, Sendable, Equatable {
        public var connector: String
        public var externalID: String
        public init(connector: String, externalID: String) {
            self.connector = connector
            self.externalID = externalID
        }
        enum CodingKeys: String, CodingKey {
            case connector
            case externalID = "external_id"
        }
    }

    public struct TracedDelivery: Codable, Sendable {
        public var id: Int64
        public var route: String
        public var target: String
        public var state: String
        public var attempts: [AttemptRecord]
        public var externalID: String?
        public var lastError: String?
        public init(id: Int64, route: String, target: String, state: String, attempts: [AttemptRecord], externalID: String?, lastError: String?) {
            self.id = id
            self.route = route
            self.target = target
            self.state = state
            self.attempts = attempts
            self.externalID = externalID
            self.lastError = lastError
        }
        enum CodingKeys: String, CodingKey {
            case id, route, target, state, attempts
            case externalID = "external_id"
            case lastError = "last_error"
        }
    }

    public struct TracedEvent: Codable, Sendable {
        public var id: Int64
        public var idempotencyKey: String
        public var connector: String
        public var type: String
        public var receivedAt: Int64
        public var deliveries: [TracedDelivery]
        public var links: [TracedLink]
        public init(id: Int64, idempotencyKey: String, connector: String, type: String, receivedAt: Int64, deliveries: [TracedDelivery], links: [TracedLink]) {
            self.id = id
            self.idempotencyKey = idempotencyKey
            self.connector = connector
            self.type = type
            self.receivedAt = receivedAt
            self.deliveries = deliveries
            self.links = links
        }
        enum CodingKeys: String, CodingKey {
            case id, connector, type, deliveries, links
            case idempotencyKey = "idempotency_key"
            case receivedAt = "received_at"
        }
    }

    public var correlationID: String
    public var events: [TracedEvent]
    public var audit: [AuditRecord]

    public init(correlationID: String, events: [TracedEvent], audit: [AuditRecord]) {
        self.correlationID = correlationID
        self.events = events
        self.audit = audit
    }

    enum CodingKeys: String, CodingKey {
        case events, audit
        case correlationID = "correlation_id"
    }
}

public struct DLQListParams: Codable, Sendable {
    public var route: String?
    public var limit: Int
    public init(route: String?, limit: Int) {
        self.route = route
        self.limit = limit
    }
}

public struct DLQRejectsParams: Codable, Sendable {
    public var connector: String?
    public var limit: Int
    public init(connector: String?, limit: Int) {
        self.connector = connector
        self.limit = limit
    }
}

/// An element of a source's page (or a webhook's events) that was not a canonical event: kept as sent,
/// with the reason naming the field and what it should have been; the rest of its page was stored.
public struct IntakeReject: Codable, Sendable, Equatable {
    public var id: Int64
    public var connector: String
    /// The stream it was polled from; nil for a webhook.
    public var stream: String?
    /// Unix milliseconds.
    public var rejectedAt: Int64
    public var reason: String
    /// The element exactly as the plugin sent it.
    public var payload: String

    public init(id: Int64, connector: String, stream: String?, rejectedAt: Int64, reason: String, payload: String) {
        self.id = id
        self.connector = connector
        self.stream = stream
        self.rejectedAt = rejectedAt
        self.reason = reason
        self.payload = payload
    }

    enum CodingKeys: String, CodingKey {
        case id, connector, stream, reason, payload
        case rejectedAt = "rejected_at"
    }
}

public struct DLQShowParams: Codable, Sendable {
    public var id: Int64
    public init(id: Int64) { self.id = id }
}

public struct DLQActionParams: Codable, Sendable {
    public var ids: [Int64]?
    public var route: String?
    public init(ids: [Int64]?, route: String?) {
        self.ids = ids
        self.route = route
    }
}

public struct DLQActionResult: Codable, Sendable {
    public var ids: [Int64]
    public init(ids: [Int64]) { self.ids = ids }
}

public struct TraceParams: Codable, Sendable {
    public var correlationID: String
    public init(correlationID: String) { self.correlationID = correlationID }
    enum CodingKeys: String, CodingKey { case correlationID = "correlation_id" }
}
