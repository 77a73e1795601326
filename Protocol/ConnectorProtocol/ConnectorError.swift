/// An error as it crosses the plugin protocol. Its ``Code`` is the error class that decides what the
/// host does next (retry, slow down, pause the connector, dead-letter the event); it travels as a
/// stable string in `error.data.class` and as a fixed JSON-RPC error code.
public struct ConnectorError: Error, Sendable, Hashable {
    /// The error class: a closed set with stable wire names.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, CaseIterable {
            case transient, rateLimited = "rate_limited", auth, permanent, dependency, `protocol`, cancelled,
                notSupported = "not_supported"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Network failure, timeout, 5xx, lock contention: retry with backoff.
        public static let transient = Code(.transient)
        /// 429 or a quota: retry after `retryAfterMilliseconds`, and slow down.
        public static let rateLimited = Code(.rateLimited)
        /// Credentials rejected: pause the connector and tell the operator.
        public static let auth = Code(.auth)
        /// Validation or business-rule failure: retrying will not help; dead-letter at once.
        public static let permanent = Code(.permanent)
        /// Something this record needs is not there yet (a payment before its invoice): retry later, bounded.
        public static let dependency = Code(.dependency)
        /// The peer broke the protocol: malformed JSON, an unknown method, bad params.
        public static let `protocol` = Code(.protocol)
        /// The request was cancelled by its sender.
        public static let cancelled = Code(.cancelled)
        /// The connector does not implement this method or capability.
        public static let notSupported = Code(.notSupported)

        /// The stable wire name, e.g. `rate_limited`.
        public var name: String { base.rawValue }
        public var description: String { base.rawValue }

        public init?(name: String) {
            guard let base = Base(rawValue: name) else { return nil }
            self.base = base
        }

        /// The JSON-RPC `error.code` that goes with this class.
        public var rpcCode: Int {
            switch base {
            case .transient: -32000
            case .rateLimited: -32001
            case .auth: -32002
            case .permanent: -32003
            case .dependency: -32004
            case .protocol: -32600
            case .cancelled: -32800
            case .notSupported: -32601
            }
        }

        /// Whether the host may try the same work again later.
        public var isRetryable: Bool {
            base == .transient || base == .rateLimited || base == .dependency
        }
    }

    public var code: Code
    public var message: String
    /// How long the sender asks to wait before retrying (rate limits, Retry-After), in milliseconds.
    public var retryAfterMilliseconds: Int64?
    /// Context for the operator: the request, the response, the mapping that failed.
    public var details: JSONValue?

    public init(_ code: Code, _ message: String, retryAfterMilliseconds: Int64? = nil, details: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.details = details
    }
}

extension ConnectorError {
    /// `dependency`, naming the record of the same source the delivery waits for
    /// (`details.waiting_for`): the host retries the delivery as soon as that record is delivered to
    /// the same target, instead of only on its retry schedule (PROTOCOL.md, 6.2).
    public static func dependency(on record: RecordRef, _ message: String, details: [String: JSONValue] = [:]) -> ConnectorError {
        var details = details
        details["waiting_for"] = ["object_type": .string(record.objectType), "object_id": .string(record.objectID)]
        return ConnectorError(.dependency, message, details: .object(details))
    }

    /// The record a `dependency` error says the delivery waits for, if it names one.
    public var waitingFor: RecordRef? {
        guard code == .dependency, let waiting = details?["waiting_for"],
              let type = waiting["object_type"]?.stringValue, let id = waiting["object_id"]?.stringValue else { return nil }
        return RecordRef(objectType: type, objectID: id)
    }
}

extension ConnectorError: CustomStringConvertible {
    public var description: String { "\(code.name): \(message)" }
}

/// The `error` member of a JSON-RPC response.
public struct RPCErrorObject: Codable, Sendable, Hashable {
    public var code: Int
    public var message: String
    public var data: ErrorData?

    public struct ErrorData: Codable, Sendable, Hashable {
        public var errorClass: String
        public var retryAfterMilliseconds: Int64?
        public var details: JSONValue?

        public init(errorClass: String, retryAfterMilliseconds: Int64? = nil, details: JSONValue? = nil) {
            self.errorClass = errorClass
            self.retryAfterMilliseconds = retryAfterMilliseconds
            self.details = details
        }

        enum CodingKeys: String, CodingKey {
            case errorClass = "class"
            case retryAfterMilliseconds = "retry_after_ms"
            case details
        }
    }

    public init(code: Int, message: String, data: ErrorData?) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// JSON-RPC 2.0's own codes for requests that could not be understood.
    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603

    public init(_ error: ConnectorError) {
        self.code = error.code.rpcCode
        self.message = error.message
        self.data = ErrorData(
            errorClass: error.code.name,
            retryAfterMilliseconds: error.retryAfterMilliseconds,
            details: error.details
        )
    }

    /// The error as the receiver should act on it. A peer that sent no class is judged by its code.
    public var connectorError: ConnectorError {
        let code: ConnectorError.Code =
            data.flatMap { ConnectorError.Code(name: $0.errorClass) }
            ?? {
                switch self.code {
                case -32000: .transient
                case -32001: .rateLimited
                case -32002: .auth
                case -32003: .permanent
                case -32004: .dependency
                case -32800: .cancelled
                case RPCErrorObject.methodNotFound: .notSupported
                case RPCErrorObject.internalError: .transient
                default: .protocol
                }
            }()
        return ConnectorError(
            code,
            message,
            retryAfterMilliseconds: data?.retryAfterMilliseconds,
            details: data?.details
        )
    }
}
