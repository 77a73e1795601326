public import Foundation

/// Decodes a `Decodable` value from JSON through a flat index of the text, the counterpart of
/// ``JSONStreamEncoder``.
///
/// Foundation's `JSONDecoder` builds a dictionary of members for every object it decodes: for a
/// batch of deliveries that was most of a sink plugin's CPU. This decoder checks the text once
/// with the protocol's own ``JSONScanner`` (strict RFC 8259, as the host reads lines), records
/// each value's kind and place in one array, and finds a member by comparing its key's bytes.
/// It reads what `JSONDecoder` with default strategies reads (`Data` as Base64, `URL` from a
/// string, `Date` as seconds since 2001) and throws the same `DecodingError` cases with the same
/// coding paths, which the protocol's error messages quote. Integers must be written as integers
/// (or as a number that is exactly one, `2.0`), as with `JSONDecoder`.
public struct JSONIndexDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let document = try JSONDocument(data)
        return try document.decode(T.self, at: 0, path: nil)
    }
}

/// The text and its index. Values are nodes in document order; an object's members are a key node
/// then its value's nodes; a container's node says where its subtree ends.
final class JSONDocument {
    enum Kind: UInt8 {
        case object, array, string, integer, number, bool, null
    }

    struct Node {
        var kind: Kind
        /// Strings: whether they hold escapes; booleans: their value; containers: their member count.
        var flag: Int32
        /// Bytes of the value (strings: between the quotes); containers: the node after their subtree.
        var start: Int32
        var end: Int32
    }

    let bytes: UnsafeMutableRawBufferPointer
    /// A constant once built: a `var` of a class pays an exclusivity check on every read.
    let nodes: [Node]

    init(_ data: Data) throws {
        bytes = .allocate(byteCount: max(data.count, 1), alignment: 1)
        _ = data.copyBytes(to: bytes.bindMemory(to: UInt8.self))
        let text = UnsafeRawBufferPointer(rebasing: bytes[0..<data.count])
        var nodes: [Node] = []
        nodes.reserveCapacity(data.count / 8)
        var scanner = JSONScanner(text)
        do throws(JSONScanner.Failure) {
            try Self.index(&scanner, base: text.baseAddress!, into: &nodes)
            try scanner.expectEnd()
            self.nodes = nodes
        } catch {
            bytes.deallocate()
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: [], debugDescription: "The given data was not valid JSON: \(error.message) (at byte \(error.offset))."))
        }
    }

    deinit { bytes.deallocate() }

    private static func index(_ scanner: inout JSONScanner, base: UnsafeRawPointer, into nodes: inout [Node]) throws(JSONScanner.Failure) {
        guard let byte = scanner.peek() else { throw scanner.failure("expected a value") }
        switch byte {
        case UInt8(ascii: "{"):
            let me = nodes.count
            nodes.append(Node(kind: .object, flag: 0, start: 0, end: 0))
            var position = try scanner.openObject()
            var count: Int32 = 0
            while let key = try scanner.nextKey(&position) {
                append(key, base: base, to: &nodes)
                try index(&scanner, base: base, into: &nodes)
                count += 1
            }
            nodes[me].flag = count
            nodes[me].end = Int32(nodes.count)
        case UInt8(ascii: "["):
            let me = nodes.count
            nodes.append(Node(kind: .array, flag: 0, start: 0, end: 0))
            var position = try scanner.openArray()
            var count: Int32 = 0
            while try scanner.nextElement(&position) {
                try index(&scanner, base: base, into: &nodes)
                count += 1
            }
            nodes[me].flag = count
            nodes[me].end = Int32(nodes.count)
        case UInt8(ascii: "\""):
            append(try scanner.string(), base: base, to: &nodes)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let (range, isInteger) = try scanner.number()
            nodes.append(Node(kind: isInteger ? .integer : .number, flag: 0, start: Int32(range.lowerBound), end: Int32(range.upperBound)))
        default:
            let range = try scanner.skipValue()  // true, false or null, checked there
            let kind: Kind = byte == UInt8(ascii: "n") ? .null : .bool
            nodes.append(Node(kind: kind, flag: byte == UInt8(ascii: "t") ? 1 : 0, start: Int32(range.lowerBound), end: Int32(range.upperBound)))
        }
    }

    private static func append(_ string: JSONScanner.RawString, base: UnsafeRawPointer, to nodes: inout [Node]) {
        let start = Int32(string.bytes.baseAddress.map { $0 - base } ?? 0)
        nodes.append(Node(kind: .string, flag: string.hasEscapes ? 1 : 0, start: start, end: start + Int32(string.bytes.count)))
    }

    // MARK: Reading nodes

    /// The node after `node`'s subtree.
    @inline(__always)
    func next(_ node: Int) -> Int {
        let value = nodes[node]
        return value.kind == .object || value.kind == .array ? Int(value.end) : node + 1
    }

    func raw(_ node: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(nodes[node].start)..<Int(nodes[node].end)])
    }

    func string(_ node: Int) -> String {
        let raw = raw(node)
        return nodes[node].flag != 0 ? JSONScanner.unescape(raw) : String(decoding: raw, as: UTF8.self)
    }

    /// Whether the string at `node` is `key` (its bytes compared, escapes resolved first if any).
    func keyEquals(_ node: Int, _ key: String) -> Bool {
        if nodes[node].flag != 0 { return string(node) == key }
        let raw = raw(node)
        var key = key
        return key.withUTF8 { utf8 in
            utf8.count == raw.count && (raw.count == 0 || memcmp(raw.baseAddress!, utf8.baseAddress!, raw.count) == 0)
        }
    }

    /// The value node of member `key` of the object at `object`.
    func member(_ key: String, of object: Int) -> Int? {
        var node = object + 1
        for _ in 0..<nodes[object].flag {
            if keyEquals(node, key) { return node + 1 }
            node = next(node + 1)
        }
        return nil
    }

    func describe(_ node: Int) -> String {
        switch nodes[node].kind {
        case .object: "a dictionary"
        case .array: "an array"
        case .string: "a string"
        case .integer, .number: "number \(String(decoding: raw(node), as: UTF8.self))"
        case .bool: "bool"
        case .null: "null"
        }
    }

    // MARK: Values

    func mismatch(_ type: Any.Type, _ node: Int, _ path: CodingPathNode?, _ key: (any CodingKey)? = nil) -> DecodingError {
        let path = key.map { path.appending($0) } ?? path
        let context = DecodingError.Context(codingPath: path.array, debugDescription: "Expected to decode \(type) but found \(describe(node)) instead.")
        return nodes[node].kind == .null
            ? DecodingError.valueNotFound(type, DecodingError.Context(codingPath: path.array, debugDescription: "Cannot get value of type \(type) -- found null value instead"))
            : DecodingError.typeMismatch(type, context)
    }

    func decodeString(_ node: Int, _ path: CodingPathNode?, _ key: (any CodingKey)? = nil) throws -> String {
        guard nodes[node].kind == .string else { throw mismatch(String.self, node, path, key) }
        return string(node)
    }

    func decodeBool(_ node: Int, _ path: CodingPathNode?, _ key: (any CodingKey)? = nil) throws -> Bool {
        guard nodes[node].kind == .bool else { throw mismatch(Bool.self, node, path, key) }
        return nodes[node].flag != 0
    }

    func decodeInteger<I: FixedWidthInteger>(_ type: I.Type, _ node: Int, _ path: CodingPathNode?, _ key: (any CodingKey)? = nil) throws -> I {
        let kind = nodes[node].kind
        guard kind == .integer || kind == .number else { throw mismatch(I.self, node, path, key) }
        let raw = raw(node)
        func outOfRange() -> DecodingError {
            DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: (key.map { path.appending($0) } ?? path).array, debugDescription: "Parsed JSON number <\(String(decoding: raw, as: UTF8.self))> does not fit in \(I.self)."))
        }
        if kind == .number {
            // Written with a fraction or an exponent: an integer only if it is exactly one.
            guard let value = Double(String(decoding: raw, as: UTF8.self)), value.rounded() == value, let exact = I(exactly: value) else {
                throw outOfRange()
            }
            return exact
        }
        guard let value = JSONScanner.integer(raw, as: I.self) else { throw outOfRange() }
        return value
    }

    func decodeDouble(_ node: Int, _ path: CodingPathNode?, _ key: (any CodingKey)? = nil) throws -> Double {
        let kind = nodes[node].kind
        guard kind == .integer || kind == .number, let value = Double(String(decoding: raw(node), as: UTF8.self)) else {
            throw mismatch(Double.self, node, path, key)
        }
        return value
    }

    /// The value at `node` as a ``JSONValue``, built straight from the index: what `JSONValue`'s own
    /// `Decodable` conformance makes of it (a number that is exactly an `Int64` is one; one too large for
    /// a `Double` is refused, at the path of the whole value), without its trial decodes, each miss of
    /// which throws an error. Of a key written twice, the last counts.
    func jsonValue(_ node: Int, _ path: CodingPathNode?) throws -> JSONValue {
        let value = nodes[node]
        switch value.kind {
        case .null: return .null
        case .bool: return .bool(value.flag != 0)
        case .string: return .string(string(node))
        case .integer, .number:
            if value.kind == .integer, let integer = JSONScanner.integer(raw(node), as: Int64.self) { return .int(integer) }
            guard let number = Double(String(decoding: raw(node), as: UTF8.self)), number.isFinite else {
                throw DecodingError.dataCorrupted(DecodingError.Context(
                    codingPath: path.array, debugDescription: "Number \(String(decoding: raw(node), as: UTF8.self)) is not representable in Swift."))
            }
            if value.kind == .number, number.rounded() == number, let integer = Int64(exactly: number) { return .int(integer) }
            return .double(number)
        case .array:
            var elements: [JSONValue] = []
            elements.reserveCapacity(Int(value.flag))
            var child = node + 1
            for _ in 0..<value.flag {
                elements.append(try jsonValue(child, path))
                child = next(child)
            }
            return .array(elements)
        case .object:
            var members = [String: JSONValue](minimumCapacity: Int(value.flag))
            var key = node + 1
            for _ in 0..<value.flag {
                members[string(key)] = try jsonValue(key + 1, path)
                key = next(key + 1)
            }
            return .object(members)
        }
    }

    func decode<T: Decodable>(_ type: T.Type, at node: Int, path: CodingPathNode?) throws -> T {
        if T.self == JSONValue.self { return try jsonValue(node, path) as! T }
        // The scalars the containers' own overloads do not reach (a generic `T` that is one).
        if T.self == String.self { return try decodeString(node, path) as! T }
        if T.self == Int.self { return try decodeInteger(Int.self, node, path) as! T }
        if T.self == Int64.self { return try decodeInteger(Int64.self, node, path) as! T }
        if T.self == Bool.self { return try decodeBool(node, path) as! T }
        if T.self == Double.self { return try decodeDouble(node, path) as! T }
        // The Foundation types `JSONDecoder` reads its own way by default.
        if T.self == Data.self {
            guard let data = Data(base64Encoded: try decodeString(node, path)) else {
                throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: path.array, debugDescription: "Encountered Data is not valid Base64."))
            }
            return data as! T
        }
        if T.self == URL.self {
            guard let url = URL(string: try decodeString(node, path)) else {
                throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: path.array, debugDescription: "Invalid URL string."))
            }
            return url as! T
        }
        if T.self == Decimal.self {
            let kind = nodes[node].kind
            guard kind == .integer || kind == .number, let decimal = Decimal(string: String(decoding: raw(node), as: UTF8.self)) else {
                throw mismatch(Decimal.self, node, path)
            }
            return decimal as! T
        }
        return try T(from: IndexDecoder(document: self, node: node, path: path))
    }
}

/// A coding path as a chain from the innermost key out: one small object per nested value, an
/// array only when someone asks for it (an error's context, a type that reads `codingPath`).
final class CodingPathNode {
    let key: any CodingKey
    let parent: CodingPathNode?

    init(_ key: any CodingKey, parent: CodingPathNode?) {
        self.key = key
        self.parent = parent
    }

    var array: [any CodingKey] { Optional(self).array }
}

extension CodingPathNode? {
    var array: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = self
        while let current = node {
            keys.append(current.key)
            node = current.parent
        }
        return keys.reversed()
    }

    func appending(_ key: any CodingKey) -> CodingPathNode {
        CodingPathNode(key, parent: self)
    }
}

/// A key of the protocol's own JSON code: a member's name, or an array element named as `JSONDecoder`
/// names it.
struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
}

// MARK: - Decoder and containers

struct IndexDecoder: Decoder, SingleValueDecodingContainer {
    let document: JSONDocument
    let node: Int
    let path: CodingPathNode?

    var codingPath: [any CodingKey] { path.array }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard document.nodes[node].kind == .object else { throw document.mismatch([String: Any].self, node, path) }
        return KeyedDecodingContainer(IndexKeyedContainer<Key>(document: document, node: node, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard document.nodes[node].kind == .array else { throw document.mismatch([Any].self, node, path) }
        return IndexUnkeyedContainer(document: document, node: node, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // SingleValueDecodingContainer
    func decodeNil() -> Bool { document.nodes[node].kind == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try document.decodeBool(node, path) }
    func decode(_ type: String.Type) throws -> String { try document.decodeString(node, path) }
    func decode(_ type: Double.Type) throws -> Double { try document.decodeDouble(node, path) }
    func decode(_ type: Float.Type) throws -> Float { Float(try document.decodeDouble(node, path)) }
    func decode(_ type: Int.Type) throws -> Int { try document.decodeInteger(type, node, path) }
    func decode(_ type: Int8.Type) throws -> Int8 { try document.decodeInteger(type, node, path) }
    func decode(_ type: Int16.Type) throws -> Int16 { try document.decodeInteger(type, node, path) }
    func decode(_ type: Int32.Type) throws -> Int32 { try document.decodeInteger(type, node, path) }
    func decode(_ type: Int64.Type) throws -> Int64 { try document.decodeInteger(type, node, path) }
    func decode(_ type: UInt.Type) throws -> UInt { try document.decodeInteger(type, node, path) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try document.decodeInteger(type, node, path) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try document.decodeInteger(type, node, path) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try document.decodeInteger(type, node, path) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try document.decodeInteger(type, node, path) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try document.decode(type, at: node, path: path) }
}

struct IndexKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let document: JSONDocument
    let node: Int
    let path: CodingPathNode?

    var codingPath: [any CodingKey] { path.array }

    var allKeys: [Key] {
        var keys: [Key] = []
        var member = node + 1
        for _ in 0..<document.nodes[node].flag {
            if let key = Key(stringValue: document.string(member)) { keys.append(key) }
            member = document.next(member + 1)
        }
        return keys
    }

    func contains(_ key: Key) -> Bool { document.member(key.stringValue, of: node) != nil }

    private func value(_ key: Key) throws -> Int {
        guard let value = document.member(key.stringValue, of: node) else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(
                codingPath: path.array, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { document.nodes[try value(key)].kind == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try document.decodeBool(try value(key), path, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try document.decodeString(try value(key), path, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try document.decodeDouble(try value(key), path, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try document.decodeDouble(try value(key), path, key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try document.decodeInteger(type, try value(key), path, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try document.decodeInteger(type, try value(key), path, key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try document.decode(type, at: try value(key), path: path.appending(key))
    }

    /// Absent or null: nil, without building the member's path.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = document.member(key.stringValue, of: node), document.nodes[value].kind != .null else { return nil }
        return try document.decode(type, at: value, path: path.appending(key))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try IndexDecoder(document: document, node: try value(key), path: path.appending(key)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try IndexDecoder(document: document, node: try value(key), path: path.appending(key)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(named: JSONKey(stringValue: "super"))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try superDecoder(named: key)
    }

    private func superDecoder(named key: any CodingKey) throws -> any Decoder {
        guard let value = document.member(key.stringValue, of: node) else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(
                codingPath: path.array, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return IndexDecoder(document: document, node: value, path: path.appending(key))
    }
}

struct IndexUnkeyedContainer: UnkeyedDecodingContainer {
    let document: JSONDocument
    let path: CodingPathNode?
    let count: Int?
    private(set) var currentIndex = 0
    /// The next element's node.
    private var cursor: Int

    init(document: JSONDocument, node: Int, path: CodingPathNode?) {
        self.document = document
        self.path = path
        count = Int(document.nodes[node].flag)
        cursor = node + 1
    }

    var codingPath: [any CodingKey] { path.array }
    var isAtEnd: Bool { currentIndex >= (count ?? 0) }

    /// The next element's node and path, moving past it.
    private mutating func take<T>(_ type: T.Type) throws -> (Int, CodingPathNode) {
        let elementPath = path.appending(JSONKey(intValue: currentIndex))
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, DecodingError.Context(codingPath: elementPath.array, debugDescription: "Unkeyed container is at end."))
        }
        let node = cursor
        cursor = document.next(cursor)
        currentIndex += 1
        return (node, elementPath)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, DecodingError.Context(
                codingPath: path.appending(JSONKey(intValue: currentIndex)).array, debugDescription: "Unkeyed container is at end."))
        }
        guard document.nodes[cursor].kind == .null else { return false }
        cursor += 1
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (node, path) = try take(type); return try document.decodeBool(node, path) }
    mutating func decode(_ type: String.Type) throws -> String { let (node, path) = try take(type); return try document.decodeString(node, path) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (node, path) = try take(type); return try document.decodeDouble(node, path) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (node, path) = try take(type); return Float(try document.decodeDouble(node, path)) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (node, path) = try take(type); return try document.decodeInteger(type, node, path) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (node, path) = try take(type)
        return try document.decode(type, at: node, path: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (node, path) = try take([String: Any].self)
        return try IndexDecoder(document: document, node: node, path: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (node, path) = try take([Any].self)
        return try IndexDecoder(document: document, node: node, path: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (node, path) = try take((any Decoder).self)
        return IndexDecoder(document: document, node: node, path: path)
    }
}
