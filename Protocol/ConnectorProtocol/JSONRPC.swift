public import Foundation

/// A JSON-RPC 2.0 request id: a number or a string.
public enum RPCID: Hashable, Sendable, Codable, CustomStringConvertible {
    case number(Int64)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            self = .number(number)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .string(let string): try container.encode(string)
        }
    }

    public var description: String {
        switch self {
        case .number(let number): String(number)
        case .string(let string): string
        }
    }
}

/// One line received from a peer, classified but with its `params` or `result` not decoded yet:
/// the receiver knows from the method (or from the request it sent) which type to decode them as.
public struct RPCMessage: Sendable {
    public enum Kind: Sendable, Equatable {
        case request(id: RPCID, method: String)
        case notification(method: String)
        case response(id: RPCID)
        case errorResponse(id: RPCID?, error: RPCErrorObject)
    }

    public let kind: Kind
    /// The whole line, without its terminating newline.
    public let line: Data
    /// Where the `params` (of a request or notification) or the `result` (of a response) lies in
    /// `line`, as offsets from its start; located, not checked: whoever reads it as a type checks it,
    /// so a line is parsed once.
    let payloadRange: Range<Int>?

    init(kind: Kind, line: Data, payloadRange: Range<Int>?) {
        self.kind = kind
        self.line = line
        self.payloadRange = payloadRange
    }

    /// The `params` or `result` as sent, nil when absent.
    public var payload: Data? {
        payloadRange.map { line[(line.startIndex + $0.lowerBound)..<(line.startIndex + $0.upperBound)] }
    }
}

/// Params of a message that takes none. Encodes as `{}`; decodes from `{}`, `[]` or absent params.
public struct EmptyParams: Codable, Sendable, Hashable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: JSONKey.self)
    }
}

/// Encodes and decodes JSON-RPC 2.0 messages as single lines (see PROTOCOL.md, "Framing").
///
/// Decoding is done in two steps: ``decode(line:)`` reads the envelope (id, method, error) and
/// ``params(_:of:)`` or ``result(_:of:)`` read the payload as the type the caller expects.
public struct RPCCodec: Sendable {
    /// The largest line either side accepts, newline excluded. Longer lines are a protocol error.
    public static let defaultMaxLineBytes = 16 * 1024 * 1024

    private let encoder = JSONStreamEncoder()
    private let decoder: JSONDecoder

    public init() {
        self.decoder = JSONDecoder()
    }

    // MARK: Decoding

    /// Classifies one line. Throws a `protocol` ``ConnectorError`` for anything that is not a valid
    /// JSON-RPC 2.0 message; the caller answers a request it cannot parse with ``parseErrorLine(_:)``.
    public func decode(line: Data) throws(ConnectorError) -> RPCMessage {
        let head = try line.withUnsafeBytes { buffer in Result { () throws(ConnectorError) in try Head(buffer) } }.get()
        guard head.jsonrpc == "2.0" else {
            throw ConnectorError(.protocol, "missing or wrong \"jsonrpc\" member: expected \"2.0\"")
        }
        if let method = head.method {
            if let id = head.id {
                return RPCMessage(kind: .request(id: id, method: method), line: line, payloadRange: head.params)
            }
            return RPCMessage(kind: .notification(method: method), line: line, payloadRange: head.params)
        }
        if let errorRange = head.error {
            let base = line.startIndex
            let error: RPCErrorObject
            do {
                error = try decoder.decode(RPCErrorObject.self, from: line[(base + errorRange.lowerBound)..<(base + errorRange.upperBound)])
            } catch {
                throw ConnectorError(.protocol, "malformed JSON-RPC line: \"error\": \(Self.describe(error))")
            }
            return RPCMessage(kind: .errorResponse(id: head.id, error: error), line: line, payloadRange: nil)
        }
        if head.result != nil, let id = head.id {
            return RPCMessage(kind: .response(id: id), line: line, payloadRange: head.result)
        }
        throw ConnectorError(.protocol, "a message needs a \"method\", a \"result\" or an \"error\"")
    }

    /// Decodes the `params` of a request or notification as `P`, from their own bytes.
    public func params<P: Decodable>(_ type: P.Type, of message: RPCMessage) throws(ConnectorError) -> P {
        try payload(P.self, of: message, "params")
    }

    /// Decodes the `result` of a response as `R`, from its own bytes.
    public func result<R: Decodable>(_ type: R.Type, of message: RPCMessage) throws(ConnectorError) -> R {
        try payload(R.self, of: message, "result")
    }

    /// The payload (located, not yet checked, by ``decode(line:)``) read as `T` by ``JSONIndexDecoder``,
    /// which checks it whole. A type that takes nothing (``EmptyParams``) takes an absent payload, and a
    /// present one only if it is JSON.
    private func payload<T: Decodable>(_ type: T.Type, of message: RPCMessage, _ member: String) throws(ConnectorError) -> T {
        guard let json = message.payload else {
            if let empty = EmptyParams() as? T { return empty }
            throw ConnectorError(.protocol, "invalid \(member): missing \"\(member)\"")
        }
        if let empty = EmptyParams() as? T {
            if let problem = JSONScanner.problem(in: json) { throw ConnectorError(.protocol, "invalid \(member): \(problem)") }
            return empty
        }
        do {
            return try JSONIndexDecoder().decode(T.self, from: json)
        } catch {
            throw ConnectorError(.protocol, "invalid \(member): \(Self.describe(error))")
        }
    }

    // MARK: Encoding (each line ends with "\n")

    public func request<P: Encodable>(id: RPCID, method: String, params: P) throws -> Data {
        try line(Outgoing(id: id, method: method, params: params, result: Never?.none, error: nil))
    }

    /// A request whose params are already JSON (spliced in verbatim, e.g. a stored event).
    public func request(id: RPCID, method: String, rawParams: Data) throws -> Data {
        var line = Data(#"{"jsonrpc":"2.0","id":"#.utf8)
        line += try encoder.encode(id)
        line += Data(#","method":"#.utf8)
        line += try encoder.encode(method)
        line += Data(#","params":"#.utf8)
        line += rawParams
        line += Data("}\n".utf8)
        return line
    }

    public func notification<P: Encodable>(method: String, params: P) throws -> Data {
        try line(Outgoing(id: nil, method: method, params: params, result: Never?.none, error: nil))
    }

    public func response<R: Encodable>(id: RPCID, result: R) throws -> Data {
        try line(Outgoing(id: id, method: nil, params: Never?.none, result: result, error: nil))
    }

    public func errorResponse(id: RPCID?, error: RPCErrorObject) -> Data {
        // Cannot fail: every member is a plain string, number or JSONValue.
        (try? line(Outgoing(id: id, method: nil, params: Never?.none, result: Never?.none, error: error)))
            ?? Data(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"unencodable error"}}"#.utf8 + [0x0A])
    }

    public func errorResponse(id: RPCID?, error: ConnectorError) -> Data {
        errorResponse(id: id, error: RPCErrorObject(error))
    }

    /// The answer to a line that could not be parsed at all (JSON-RPC's -32700, with `id: null`).
    public func parseErrorLine(_ error: ConnectorError) -> Data {
        errorResponse(
            id: nil,
            error: RPCErrorObject(
                code: RPCErrorObject.parseError,
                message: error.message,
                data: .init(errorClass: ConnectorError.Code.protocol.name, retryAfterMilliseconds: nil, details: nil)
            )
        )
    }

    /// Encodes any value as compact JSON (used for JSON inside JSON, e.g. config handed to plugins).
    public func json<T: Encodable>(_ value: T) throws -> Data {
        try encoder.encode(value)
    }

    /// Appends any value as compact JSON to `data` (a value inside a message being written).
    public func json<T: Encodable>(_ value: T, appendingTo data: inout Data) throws {
        try encoder.encode(value, appendingTo: &data)
    }

    /// Decodes any value from JSON.
    public func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decoder.decode(type, from: data)
    }

    /// Why `data` is not a `T`, naming the member and what it should have been; nil when it is one.
    public func problem<T: Decodable>(decoding type: T.Type, from data: Data) -> String? {
        do {
            _ = try decoder.decode(type, from: data)
            return nil
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            // A number with a fraction where an integer belongs fails without a path ("The given data
            // was not valid JSON"): find the member ourselves.
            if let value = try? decoder.decode(JSONValue.self, from: data), let (path, number) = Self.fractionalInteger(in: value) {
                return "\"\(path)\" must be an integer (money is in minor units), found \(number)"
            }
            return Self.describe(DecodingError.dataCorrupted(context))
        } catch {
            return Self.describe(error)
        }
    }

    /// The first member that the canonical model keeps as an integer (`*_minor`, `schema_version`,
    /// `interval_count`) holding a number with a fraction.
    static func fractionalInteger(in value: JSONValue, path: String = "") -> (String, Double)? {
        switch value {
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                let memberPath = path.isEmpty ? key : "\(path).\(key)"
                if case .double(let number) = member, key.hasSuffix("_minor") || key == "schema_version" || key == "interval_count" {
                    return (memberPath, number)
                }
                if let found = fractionalInteger(in: member, path: memberPath) { return found }
            }
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let found = fractionalInteger(in: element, path: "\(path)[\(index)]") { return found }
            }
        default:
            break
        }
        return nil
    }

    private func line<P: Encodable, R: Encodable>(_ message: Outgoing<P, R>) throws -> Data {
        var data = Data()
        try encoder.encode(message, appendingTo: &data)
        data.append(0x0A)
        return data
    }

    /// A decoding error as a person reads it, naming the member (its path from the decoded value,
    /// less the first `dropping` keys) and what it should have been.
    public static func describe(_ error: any Error, from dropping: Int = 0) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            let what = context.underlyingError.map { "\(context.debugDescription) (\($0))" } ?? context.debugDescription
            return context.codingPath.count <= dropping ? what : "\(path(context.codingPath.dropFirst(dropping))): \(what)"
        case DecodingError.keyNotFound(let key, let context):
            return "missing \(path(context.codingPath.dropFirst(dropping) + [key]))"
        case DecodingError.typeMismatch(let type, let context):
            return "\(path(context.codingPath.dropFirst(dropping))) must be \(kind(type)): \(context.debugDescription)"
        case DecodingError.valueNotFound(let type, let context):
            return "\(path(context.codingPath.dropFirst(dropping))) is null, expected \(kind(type))"
        default:
            return "\(error)"
        }
    }

    /// A Swift type as a JSON reader would name it.
    private static func kind(_ type: Any.Type) -> String {
        switch type {
        case is any BinaryInteger.Type: "an integer"
        case is any BinaryFloatingPoint.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is [Any].Type: "an array"
        case is [String: Any].Type: "an object"
        default: "\(type)"
        }
    }

    private static func path(_ keys: some Collection<any CodingKey>) -> String {
        let joined = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return joined.isEmpty ? "the message" : "\"\(joined.dropFirst())\""
    }
}

private enum EnvelopeKeys: String, CodingKey {
    case jsonrpc, id, method, params, result, error
}

/// The envelope, read in one pass: its own members checked, `params` and `result` only located
/// (their reader checks them), `error` checked and located.
private struct Head {
    var jsonrpc: String?
    var id: RPCID?
    var method: String?
    var params: Range<Int>?
    var result: Range<Int>?
    var error: Range<Int>?

    init(_ buffer: UnsafeRawBufferPointer) throws(ConnectorError) {
        var scanner = JSONScanner(buffer)
        do throws(JSONScanner.Failure) {
            var members = try scanner.openObject()
            while let key = try scanner.nextKey(&members) {
                if key.equals("jsonrpc") {
                    jsonrpc = try scanner.stringOrNull()??.value
                    if jsonrpc == nil { try scanner.skipValue() }
                } else if key.equals("id") {
                    if let number = try scanner.integer() {
                        guard let number else { throw scanner.failure("\"id\" must be a number, a string or null") }
                        id = .number(number)
                    } else if let string = try scanner.stringOrNull() {
                        id = string.map { .string($0.value) }
                    } else {
                        throw scanner.failure("\"id\" must be a number, a string or null")
                    }
                } else if key.equals("method") {
                    guard let method = try scanner.stringOrNull() else { throw scanner.failure("\"method\" must be a string") }
                    self.method = method?.value
                } else if key.equals("params") {
                    params = try scanner.skimValue()
                } else if key.equals("result") {
                    result = try scanner.skimValue()
                } else if key.equals("error") {
                    if scanner.peek() == UInt8(ascii: "n") { try scanner.skipValue() } else { error = try scanner.skipValue() }
                } else {
                    try scanner.skipValue()
                }
            }
            try scanner.expectEnd()
        } catch {
            let failure = error
            throw ConnectorError(.protocol, "malformed JSON-RPC line: \(failure.message) (at byte \(failure.offset))")
        }
    }
}

private struct Outgoing<P: Encodable, R: Encodable>: Encodable {
    var id: RPCID?
    var method: String?
    var params: P?
    var result: R?
    var error: RPCErrorObject?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: EnvelopeKeys.self)
        try container.encode("2.0", forKey: .jsonrpc)
        if let method {
            try container.encode(method, forKey: .method)
            if let id { try container.encode(id, forKey: .id) }
            if let params { try container.encode(params, forKey: .params) }
        } else {
            // Responses always carry an id; `null` when the request's id could not be read.
            if let id { try container.encode(id, forKey: .id) } else { try container.encodeNil(forKey: .id) }
            if let error {
                try container.encode(error, forKey: .error)
            } else if let result {
                try container.encode(result, forKey: .result)
            }
        }
    }
}

/// Splits a byte stream into lines with a bound on their length. Used by the plugin SDK and by
/// hostctl; the host's NIO pipeline has its own decoder with the same rules.
public struct LineFramer: Sendable {
    public enum Output: Sendable, Equatable {
        case line(Data)
        /// A line longer than the bound was dropped; `bytes` counts what was discarded.
        case oversized(bytes: Int)
    }

    public let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var discarding = 0

    public init(maxLineBytes: Int = RPCCodec.defaultMaxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// Feeds bytes and returns the complete lines (and oversize reports) they finish.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [Output] {
        var outputs: [Output] = []
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                append(UnsafeRawBufferPointer(rebasing: bytes[start...]))
                break
            }
            append(UnsafeRawBufferPointer(rebasing: bytes[start..<newline]))
            if discarding > 0 {
                outputs.append(.oversized(bytes: discarding))
                discarding = 0
            } else {
                if buffer.last == 0x0D { buffer.removeLast() }
                outputs.append(.line(Data(buffer)))
            }
            buffer.removeAll(keepingCapacity: true)
            start = newline + 1
        }
        return outputs
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if discarding > 0 {
            discarding += bytes.count
        } else if buffer.count + bytes.count > maxLineBytes {
            discarding = buffer.count + bytes.count
            buffer.removeAll(keepingCapacity: false)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }
}
