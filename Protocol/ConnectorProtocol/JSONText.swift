public import Foundation

/// Writes JSON text directly, for the hot paths where the host wraps bytes it already has (a stored
/// event) in a small envelope: a `JSONEncoder` per string costs more than the rest of the envelope.
public enum JSONText {
    /// Appends `value` as a JSON string literal (RFC 8259: quotes, backslash and control characters escaped).
    public static func appendString(_ value: String, to data: inout Data) {
        data.append(UInt8(ascii: "\""))
        let utf8 = value.utf8
        let escapes = utf8.withContiguousStorageIfAvailable { bytes in
            bytes.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        }
        if escapes == false {
            data.append(contentsOf: utf8)
        } else {
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                default: data.append(byte)
                }
            }
        }
        data.append(UInt8(ascii: "\""))
    }
}
