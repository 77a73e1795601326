/// Reads JSON text where it lies: validates it strictly (RFC 8259: grammar, escapes, UTF-8, nesting
/// depth) and hands out the few strings and integers its caller asks for, building no values. What the
/// host reads an envelope and an event's routing header with, in the same pass that finds the bytes
/// it keeps as they were sent.
struct JSONScanner {
    /// Where the text stops being JSON, and why.
    struct Failure: Error, Equatable {
        var offset: Int
        var message: String
    }

    /// A string's bytes between its quotes, escapes left as written.
    struct RawString {
        var bytes: UnsafeRawBufferPointer
        var hasEscapes: Bool

        /// The string it stands for (its UTF-8 was checked when it was scanned).
        var value: String {
            hasEscapes ? JSONScanner.unescape(bytes) : String(decoding: bytes, as: UTF8.self)
        }

        func hasSuffix(_ suffix: StaticString) -> Bool {
            guard !hasEscapes else { return value.hasSuffix("\(suffix)") }
            let count = suffix.utf8CodeUnitCount
            return bytes.count > count && memcmp(bytes.baseAddress! + bytes.count - count, suffix.utf8Start, count) == 0
        }

        func equals(_ name: StaticString) -> Bool {
            guard !hasEscapes else { return value == "\(name)" }
            return bytes.count == name.utf8CodeUnitCount
                && memcmp(bytes.baseAddress!, name.utf8Start, bytes.count) == 0
        }
    }

    /// Where a caller stands in an object or an array: before its first member or after one.
    struct Position {
        fileprivate var first = true
    }

    static let maxDepth = 512

    let bytes: UnsafeRawBufferPointer
    private(set) var index: Int
    private var depth = 0

    init(_ bytes: UnsafeRawBufferPointer, from start: Int = 0) {
        self.bytes = bytes
        self.index = start
    }

    func failure(_ message: String) -> Failure {
        Failure(offset: index, message: message)
    }

    /// Why `json` is not one JSON value, or nil when it is.
    static func problem(in json: Data) -> String? {
        json.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer)
            do throws(Failure) {
                try scanner.skipValue()
                try scanner.expectEnd()
                return nil
            } catch {
                return "\(error.message) (at byte \(error.offset))"
            }
        }
    }

    /// The first byte of the next value (whitespace skipped), or nil at the end of the text.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Checks that only whitespace is left.
    mutating func expectEnd() throws(Failure) {
        if peek() != nil { throw failure("unexpected text after the JSON value") }
    }

    // MARK: Objects and arrays

    /// Reads `{`; follow with ``nextKey(_:)`` until it returns nil.
    mutating func openObject() throws(Failure) -> Position {
        guard peek() == UInt8(ascii: "{") else { throw failure("expected an object") }
        try enter()
        return Position()
    }

    /// The next member's key, its `:` read: the caller then reads or skips its value. Nil after `}`.
    mutating func nextKey(_ position: inout Position) throws(Failure) -> RawString? {
        guard let byte = peek() else { throw failure("unterminated object") }
        if byte == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return nil
        }
        if !position.first {
            guard byte == UInt8(ascii: ",") else { throw failure("expected \",\" or \"}\" in an object") }
            index += 1
        }
        position.first = false
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a string key in an object") }
        let key = try string()
        guard peek() == UInt8(ascii: ":") else { throw failure("expected \":\" after a key") }
        index += 1
        return key
    }

    /// Reads `[`; follow with ``nextElement(_:)`` until it returns false.
    mutating func openArray() throws(Failure) -> Position {
        guard peek() == UInt8(ascii: "[") else { throw failure("expected an array") }
        try enter()
        return Position()
    }

    /// Whether another element follows (the scanner then stands before it); false after `]`.
    mutating func nextElement(_ position: inout Position) throws(Failure) -> Bool {
        guard let byte = peek() else { throw failure("unterminated array") }
        if byte == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return false
        }
        if !position.first {
            guard byte == UInt8(ascii: ",") else { throw failure("expected \",\" or \"]\" in an array") }
            index += 1
        }
        position.first = false
        return true
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw failure("nested deeper than \(Self.maxDepth) levels") }
        index += 1
    }

    // MARK: Values

    /// Checks the next value whole and moves past it; returns where it lies.
    @discardableResult
    mutating func skipValue() throws(Failure) -> Range<Int> {
        guard let byte = peek() else { throw failure("expected a value") }
        let start = index
        switch byte {
        case UInt8(ascii: "{"):
            var members = try openObject()
            while try nextKey(&members) != nil { try skipValue() }
        case UInt8(ascii: "["):
            var elements = try openArray()
            while try nextElement(&elements) { try skipValue() }
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            _ = try number()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            throw failure("unexpected character \(Self.show(byte))")
        }
        return start..<index
    }

    /// Moves past the next object or array matching only quotes and brackets (`{]` passes): for a value
    /// that whoever reads it later checks whole (the JSON-RPC envelope's `params` and `result`).
    @discardableResult
    mutating func skimValue() throws(Failure) -> Range<Int> {
        guard let first = peek() else { throw failure("expected a value") }
        let start = index
        switch first {
        case UInt8(ascii: "\""):
            try skimString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            repeat {
                guard index < bytes.count else { throw failure("unterminated \(first == UInt8(ascii: "{") ? "object" : "array")") }
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    try skimString()
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
                index += 1
            } while depth > 0
        default:
            return try skipValue()  // a scalar is short: checked at once
        }
        return start..<index
    }

    private mutating func skimString() throws(Failure) {
        index += 1
        while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
            index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        guard index < bytes.count else { throw failure("unterminated string") }
        index += 1
    }

    /// The next value if it is a string; nil (and nothing read) if it is null.
    mutating func stringOrNull() throws(Failure) -> RawString?? {
        switch peek() {
        case UInt8(ascii: "\""): return .some(try string())
        case UInt8(ascii: "n"):
            try literal("null")
            return .some(nil)
        default: return nil
        }
    }

    /// The next value if it is an integer that fits 64 bits; nil (and nothing read) if it is not a number.
    /// A number with a fraction or an exponent, or too large, is read and answered as `.some(nil)`.
    mutating func integer() throws(Failure) -> Int64?? {
        guard let byte = peek(), byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        let (range, isInteger) = try number()
        guard isInteger else { return .some(nil) }
        return .some(Self.integer(UnsafeRawBufferPointer(rebasing: bytes[range]), as: Int64.self))
    }

    /// The value of an integer's checked text (an optional `-`, then digits) as `I`; nil when it does not fit.
    static func integer<I: FixedWidthInteger>(_ text: UnsafeRawBufferPointer, as type: I.Type) -> I? {
        var value: I = 0
        let negative = text.first == UInt8(ascii: "-")
        for byte in text.dropFirst(negative ? 1 : 0) {
            let digit = I(byte - UInt8(ascii: "0"))
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = next
        }
        return value
    }

    /// Reads a string, checking its escapes and its UTF-8.
    mutating func string() throws(Failure) -> RawString {
        index += 1  // the opening quote
        let start = index
        var hasEscapes = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let raw = RawString(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), hasEscapes: hasEscapes)
                index += 1
                return raw
            case UInt8(ascii: "\\"):
                hasEscapes = true
                try escape()
            case 0..<0x20:
                throw failure("control character \(Self.show(byte)) in a string")
            case 0x80...:
                try utf8Sequence()
            default:
                index += 1
            }
        }
        throw failure("unterminated string")
    }

    private mutating func escape() throws(Failure) {
        guard index + 1 < bytes.count else { throw failure("unterminated string") }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
        case UInt8(ascii: "u"):
            guard index + 5 < bytes.count, (index + 2...index + 5).allSatisfy({ Self.hexValue(bytes[$0]) != nil }) else {
                throw failure("\\u needs four hexadecimal digits")
            }
            index += 6
        default:
            throw failure("invalid escape \\\(Self.show(bytes[index + 1]))")
        }
    }

    /// One multi-byte UTF-8 character: no overlong forms, no surrogates, nothing above U+10FFFF.
    private mutating func utf8Sequence() throws(Failure) {
        let lead = bytes[index]
        let count: Int, low: UInt8, high: UInt8  // allowed range of the second byte
        switch lead {
        case 0xC2...0xDF: (count, low, high) = (2, 0x80, 0xBF)
        case 0xE0: (count, low, high) = (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (count, low, high) = (3, 0x80, 0xBF)
        case 0xED: (count, low, high) = (3, 0x80, 0x9F)
        case 0xF0: (count, low, high) = (4, 0x90, 0xBF)
        case 0xF1...0xF3: (count, low, high) = (4, 0x80, 0xBF)
        case 0xF4: (count, low, high) = (4, 0x80, 0x8F)
        default: throw failure("invalid UTF-8")
        }
        guard index + count <= bytes.count, (low...high).contains(bytes[index + 1]),
              (index + 2..<index + count).allSatisfy({ bytes[$0] & 0xC0 == 0x80 })
        else { throw failure("invalid UTF-8") }
        index += count
    }

    /// Reads a number; says whether it is written as an integer.
    mutating func number() throws(Failure) -> (Range<Int>, isInteger: Bool) {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, Self.isDigit(bytes[index]) else { throw failure("a number needs digits") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            digits()
        }
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw failure("a number needs digits after \".\"") }
            digits()
            isInteger = false
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw failure("a number needs digits in its exponent") }
            digits()
            isInteger = false
        }
        return (start..<index, isInteger)
    }

    private mutating func digits() {
        while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count, memcmp(bytes.baseAddress! + index, word.utf8Start, count) == 0 else {
            throw failure("expected \(word)")
        }
        index += count
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    // MARK: Helpers

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private static func show(_ byte: UInt8) -> String {
        (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x\(String(byte, radix: 16, uppercase: true))"
    }

    /// A checked string's escapes resolved (a lone surrogate becomes U+FFFD, as Foundation reads it).
    /// Only for bytes ``string()`` accepted: every backslash there is followed by a whole escape.
    static func unescape(_ raw: UnsafeRawBufferPointer) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        func flush() {
            if !utf8.isEmpty { scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars); utf8.removeAll(keepingCapacity: true) }
        }
        func hex4(_ at: Int) -> UInt32 {
            (at..<at + 4).reduce(0) { $0 << 4 | (hexValue(raw[$1]) ?? 0) }
        }
        var index = 0
        while index < raw.count {
            guard raw[index] == UInt8(ascii: "\\") else {
                utf8.append(raw[index])
                index += 1
                continue
            }
            let kind = raw[index + 1]
            index += 2
            switch kind {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = hex4(index)
                index += 4
                if (0xD800..<0xDC00).contains(code), index + 5 < raw.count, raw[index] == UInt8(ascii: "\\"), raw[index + 1] == UInt8(ascii: "u") {
                    let low = hex4(index + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: utf8.append(kind)  // \" \\ \/
            }
        }
        flush()
        return String(scalars)
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
