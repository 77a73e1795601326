public import Foundation

/// Encodes an `Encodable` value as compact JSON, written byte by byte as the value encodes itself.
///
/// Foundation's `JSONEncoder` first builds a tree of boxed values and dictionaries and then
/// serialises it: on the protocol's hot paths (a poll answer of 1,000 events, a batch of
/// deliveries) that tree was most of a plugin's CPU. This encoder keeps a stack of the open
/// containers and nothing else. Its output is what `JSONEncoder` with `.withoutEscapingSlashes`
/// writes, except that members come in the order the value encodes them (synthesised `Codable`:
/// declaration order; a `Dictionary`: its own order, as with `JSONEncoder`). `Data` is written as
/// Base64, `URL` as its absolute string, `Decimal` as a number, `Date` as `JSONEncoder`'s default
/// does (seconds since 2001). A float that is not finite throws, as it does with `JSONEncoder`.
///
/// It supports what synthesised and hand-written `Codable` conformances do: containers used one
/// after the other, each finished before its parent's next member. Two nested containers of one
/// parent filled alternately are not supported (nothing in this project does it).
public struct JSONStreamEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> Data {
        var data = Data()
        try encode(value, appendingTo: &data)
        return data
    }

    /// Appends `value`'s JSON to `data`.
    public func encode<T: Encodable>(_ value: T, appendingTo data: inout Data) throws {
        let writer = JSONStreamWriter()
        try writer.encodeValue(value, level: 0)
        data.append(contentsOf: writer.bytes)
    }
}

/// The encoder's state: the bytes written and the containers still open, innermost last.
final class JSONStreamWriter {
    struct Open {
        var close: UInt8
        var count: Int
    }

    var bytes: [UInt8] = []
    var open: [Open] = []

    init() {
        bytes.reserveCapacity(512)
        open.reserveCapacity(8)
    }

    // MARK: Structure

    /// Closes the containers opened above `level` (finished nested values).
    @inline(__always)
    func close(above level: Int) {
        while open.count > level {
            bytes.append(open.removeLast().close)
        }
    }

    /// Starts the next member of the container at `index`: closes what its previous member left
    /// open and writes the separator.
    @inline(__always)
    func startMember(of index: Int) {
        close(above: index + 1)
        if open[index].count > 0 { bytes.append(UInt8(ascii: ",")) }
        open[index].count += 1
    }

    func openContainer(at level: Int, _ opener: UInt8, _ closer: UInt8) -> Int {
        if open.count > level {
            // The value asked for its container again: the same one, with what was nested in it closed.
            close(above: level + 1)
            return level
        }
        bytes.append(opener)
        open.append(Open(close: closer, count: 0))
        return open.count - 1
    }

    /// Writes one value that starts at `level` (its containers, if any, will be at that index).
    func encodeValue<T: Encodable>(_ value: T, level: Int) throws {
        if T.self == Data.self {
            writeString((value as! Data).base64EncodedString())
            return
        }
        if T.self == URL.self {
            writeString((value as! URL).absoluteString)
            return
        }
        if T.self == Decimal.self {
            bytes.append(contentsOf: (value as! Decimal).description.utf8)
            return
        }
        if T.self == JSONValue.self {
            try writeJSON(value as! JSONValue)
            return
        }
        let before = bytes.count
        try value.encode(to: StreamEncoder(writer: self, level: level))
        close(above: level)
        if bytes.count == before {
            // Encoded nothing at all: `JSONEncoder` writes an empty object.
            bytes.append(UInt8(ascii: "{"))
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Writes a ``JSONValue`` as its `Encodable` conformance would, without its containers; with
    /// `sortedKeys`, each object's members in the order of their keys' UTF-8 bytes.
    func writeJSON(_ value: JSONValue, sortedKeys: Bool = false) throws {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): writeInteger(number)
        case .double(let number): try writeFloat(number, path: [])
        case .string(let text): writeString(text)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                try writeJSON(element, sortedKeys: sortedKeys)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            func write(_ key: String, _ member: JSONValue) throws {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                writeKey(key)
                try writeJSON(member, sortedKeys: sortedKeys)
            }
            if sortedKeys {
                for key in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) { try write(key, members[key]!) }
            } else {
                for (key, member) in members { try write(key, member) }
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    // MARK: Scalars

    @inline(__always)
    func writeKey(_ key: String) {
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    func writeString(_ value: String) {
        JSONText.append(value, to: &bytes)
    }

    func writeInteger<I: FixedWidthInteger>(_ value: I) {
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        // Digits of the magnitude, least significant first, into a small stack buffer.
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
            var count = 0
            while magnitude > 0 {
                let (quotient, remainder) = magnitude.quotientAndRemainder(dividingBy: 10)
                digits[count] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: remainder)
                count += 1
                magnitude = quotient
            }
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            while count > 0 {
                count -= 1
                bytes.append(digits[count])
            }
        }
    }

    func writeFloat<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F, path: @autoclosure () -> [any CodingKey]) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, EncodingError.Context(codingPath: path(), debugDescription: "Unable to encode \(value) directly in JSON."))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    func writeBool(_ value: Bool) {
        bytes.append(contentsOf: value ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6C, 0x73, 0x65])
    }

    func writeNull() {
        bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
    }
}

// MARK: - Encoder and containers

/// The `Encoder` handed to a value: where its container goes. Coding paths are not tracked (they
/// serve only error messages, and cost an array per value); an error names no path.
struct StreamEncoder: Encoder {
    let writer: JSONStreamWriter
    let level: Int

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let index = writer.openContainer(at: level, UInt8(ascii: "{"), UInt8(ascii: "}"))
        return KeyedEncodingContainer(StreamKeyedContainer<Key>(writer: writer, index: index))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let index = writer.openContainer(at: level, UInt8(ascii: "["), UInt8(ascii: "]"))
        return StreamUnkeyedContainer(writer: writer, index: index)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        StreamSingleValueContainer(writer: writer, level: level)
    }
}

struct StreamKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONStreamWriter
    let index: Int

    var codingPath: [any CodingKey] { [] }

    @inline(__always)
    private func member(_ key: Key) {
        writer.startMember(of: index)
        writer.writeKey(key.stringValue)
    }

    mutating func encodeNil(forKey key: Key) throws { member(key); writer.writeNull() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { member(key); writer.writeBool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { member(key); writer.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { member(key); try writer.writeFloat(value, path: [key]) }
    mutating func encode(_ value: Float, forKey key: Key) throws { member(key); try writer.writeFloat(value, path: [key]) }
    mutating func encode(_ value: Int, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { member(key); writer.writeInteger(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { member(key); writer.writeInteger(value) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        member(key)
        try writer.encodeValue(value, level: index + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        member(key)
        let nested = writer.openContainer(at: index + 1, UInt8(ascii: "{"), UInt8(ascii: "}"))
        return KeyedEncodingContainer(StreamKeyedContainer<NestedKey>(writer: writer, index: nested))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        member(key)
        let nested = writer.openContainer(at: index + 1, UInt8(ascii: "["), UInt8(ascii: "]"))
        return StreamUnkeyedContainer(writer: writer, index: nested)
    }

    /// The super encoder's value is an object under `key` (as `JSONEncoder` writes it), opened now so
    /// that a super encoder left unused still leaves valid JSON.
    mutating func superEncoder() -> any Encoder { superEncoder(named: "super") }

    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key.stringValue) }

    private func superEncoder(named name: String) -> any Encoder {
        writer.startMember(of: index)
        writer.writeKey(name)
        _ = writer.openContainer(at: index + 1, UInt8(ascii: "{"), UInt8(ascii: "}"))
        return StreamEncoder(writer: writer, level: index + 1)
    }
}

struct StreamUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: JSONStreamWriter
    let index: Int

    var codingPath: [any CodingKey] { [] }
    var count: Int { writer.open.count > index ? writer.open[index].count : 0 }

    mutating func encodeNil() throws { writer.startMember(of: index); writer.writeNull() }
    mutating func encode(_ value: Bool) throws { writer.startMember(of: index); writer.writeBool(value) }
    mutating func encode(_ value: String) throws { writer.startMember(of: index); writer.writeString(value) }
    mutating func encode(_ value: Double) throws { writer.startMember(of: index); try writer.writeFloat(value, path: []) }
    mutating func encode(_ value: Float) throws { writer.startMember(of: index); try writer.writeFloat(value, path: []) }
    mutating func encode(_ value: Int) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { writer.startMember(of: index); writer.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { writer.startMember(of: index); writer.writeInteger(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        writer.startMember(of: index)
        try writer.encodeValue(value, level: index + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        writer.startMember(of: index)
        let nested = writer.openContainer(at: index + 1, UInt8(ascii: "{"), UInt8(ascii: "}"))
        return KeyedEncodingContainer(StreamKeyedContainer<NestedKey>(writer: writer, index: nested))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        writer.startMember(of: index)
        let nested = writer.openContainer(at: index + 1, UInt8(ascii: "["), UInt8(ascii: "]"))
        return StreamUnkeyedContainer(writer: writer, index: nested)
    }

    mutating func superEncoder() -> any Encoder {
        writer.startMember(of: index)
        _ = writer.openContainer(at: index + 1, UInt8(ascii: "{"), UInt8(ascii: "}"))
        return StreamEncoder(writer: writer, level: index + 1)
    }
}

struct StreamSingleValueContainer: SingleValueEncodingContainer {
    let writer: JSONStreamWriter
    let level: Int

    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { writer.writeNull() }
    mutating func encode(_ value: Bool) throws { writer.writeBool(value) }
    mutating func encode(_ value: String) throws { writer.writeString(value) }
    mutating func encode(_ value: Double) throws { try writer.writeFloat(value, path: []) }
    mutating func encode(_ value: Float) throws { try writer.writeFloat(value, path: []) }
    mutating func encode(_ value: Int) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { writer.writeInteger(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try writer.encodeValue(value, level: level)
    }
}
