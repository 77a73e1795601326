public import Foundation

/// Finds byte ranges inside a JSON document without building values, so that a receiver can keep
/// the exact bytes of a part (e.g. each event of a `source.poll` page) instead of re-encoding it.
/// Meant for documents already validated by a decoder: on malformed input it returns nil.
public enum JSONSlicer {
    /// The byte ranges of the elements of the array reached by following `path` (object keys)
    /// from the top-level object.
    public static func arrayElements(in data: Data, path: [String]) -> [Range<Int>]? {
        data.withUnsafeBytes { buffer in
            var scanner = Scanner(bytes: buffer)
            return scanner.arrayElements(path: path.map { Array($0.utf8) }[...])
        }
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        mutating func arrayElements(path: ArraySlice<[UInt8]>) -> [Range<Int>]? {
            skipWhitespace()
            guard let wanted = path.first else { return elements() }
            guard take(UInt8(ascii: "{")) else { return nil }
            while true {
                skipWhitespace()
                if take(UInt8(ascii: "}")) { return nil }
                guard let key = string() else { return nil }
                skipWhitespace()
                guard take(UInt8(ascii: ":")) else { return nil }
                if key.elementsEqual(wanted) {
                    return arrayElements(path: path.dropFirst())
                }
                skipWhitespace()
                guard skipValue() else { return nil }
                skipWhitespace()
                if take(UInt8(ascii: ",")) { continue }
                return nil
            }
        }

        private mutating func elements() -> [Range<Int>]? {
            guard take(UInt8(ascii: "[")) else { return nil }
            var ranges: [Range<Int>] = []
            skipWhitespace()
            if take(UInt8(ascii: "]")) { return ranges }
            while true {
                skipWhitespace()
                let start = index
                guard skipValue() else { return nil }
                ranges.append(start..<index)
                skipWhitespace()
                if take(UInt8(ascii: ",")) { continue }
                return take(UInt8(ascii: "]")) ? ranges : nil
            }
        }

        private mutating func skipValue() -> Bool {
            guard index < bytes.count else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                return string() != nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: "\""):
                        guard string() != nil else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            index += 1
                            return true
                        }
                    default:
                        break
                    }
                    index += 1
                }
                return false
            default:
                let start = index
                while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                        return index > start
                    default:
                        index += 1
                    }
                }
                return index > start
            }
        }

        /// Skips a string; returns its raw bytes between the quotes (escapes left as they are).
        private mutating func string() -> UnsafeRawBufferPointer? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\\"):
                    index += 2
                case UInt8(ascii: "\""):
                    let content = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    return content
                default:
                    index += 1
                }
            }
            return nil
        }

        private mutating func skipWhitespace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D {
                index += 1
            }
        }

        private mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
    }
}
