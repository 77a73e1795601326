public import Foundation

/// Writes JSON text directly, for the hot paths where the host wraps bytes it already has (a stored
/// event) in a small envelope: a `JSONEncoder` per string costs more than the rest of the envelope.
public enum JSONText {
    /// Appends `value` as a JSON string literal (RFC 8259: quotes, backslash and control characters escaped).
    public static func appendString(_ value: String, to data: inout Data) {
        append(value, to: &data)
    }

    /// The one string writer of the protocol's JSON, for `Data` here and for ``JSONStreamEncoder``'s bytes:
    /// runs without escapes are copied whole.
    static func append<Bytes: RangeReplaceableCollection<UInt8>>(_ value: String, to bytes: inout Bytes) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if start < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index])) }
                start = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    let hex: StaticString = "0123456789abcdef"
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                              hex.utf8Start[Int(byte >> 4)], hex.utf8Start[Int(byte & 0xF)]])
                }
            }
            if start < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// Compact JSON with each object's keys in the order of their UTF-8 bytes: the same value, the same
    /// bytes, in whatever order its members came. What a digest of a record is taken over. Throws for
    /// a number JSON cannot hold (infinite, not a number), as encoding it does.
    public func canonicalJSON() throws -> Data {
        let writer = JSONStreamWriter()
        try writer.writeJSON(self, sortedKeys: true)
        return Data(writer.bytes)
    }
}
