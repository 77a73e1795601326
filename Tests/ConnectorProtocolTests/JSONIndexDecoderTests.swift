import ConnectorProtocol
import Foundation
import Testing

/// The index decoder must read what Foundation's `JSONDecoder` reads, and fail where and as it
/// fails (the same `DecodingError` case and coding path): plugins read every request through it.
@Suite struct JSONIndexDecoderTests {
    let decoder = JSONIndexDecoder()

    func data(_ text: String) -> Data { Data(text.utf8) }

    /// Both decoders on the same text: the same value, or errors of the same case at the same path.
    func expectSame<T: Decodable & Equatable>(_ type: T.Type, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let ours = Result { try decoder.decode(T.self, from: data(text)) }
        let reference = Result { try JSONDecoder().decode(T.self, from: data(text)) }
        switch (ours, reference) {
        case (.success(let a), .success(let b)):
            #expect(a == b, sourceLocation: sourceLocation)
        case (.failure(let a), .failure(let b)):
            #expect(Self.shape(a) == Self.shape(b), "ours: \(a)\nFoundation: \(b)", sourceLocation: sourceLocation)
        default:
            Issue.record("ours: \(ours), Foundation: \(reference)", sourceLocation: sourceLocation)
        }
    }

    /// An error's case and coding path, as the protocol's messages quote them.
    static func shape(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context): return "keyNotFound \(path(context)) \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context): return "typeMismatch \(path(context))"
        case DecodingError.valueNotFound(_, let context): return "valueNotFound \(path(context))"
        case DecodingError.dataCorrupted(let context): return "dataCorrupted \(path(context))"
        default: return "\(error)"
        }
    }

    @Test func canonicalEventsAsJSONDecoderReadsThem() throws {
        let event = EdgeCaseEvents.invoice(amountDueMinor: .max)
        #expect(try decoder.decode(Event.self, from: try JSONEncoder().encode(event)) == event)
        let payment = EdgeCaseEvents.payment
        #expect(try decoder.decode(Payment.self, from: try JSONEncoder().encode(payment)) == payment)
    }

    @Test func scalarsArraysAndOptionals() {
        expectSame([Int].self, "[1, -2, 0, 9223372036854775807]")
        expectSame([Int8].self, "[127, -128]")
        expectSame([UInt64].self, "[18446744073709551615]")
        expectSame([Double].self, "[1.5, -0.25, 1e-7, 3, 1E21]")
        expectSame([Bool].self, " [true,false] ")
        expectSame([Int?].self, "[null, 3]")
        expectSame([[String]].self, #"[["a"], [], ["b", "c"]]"#)
        expectSame(String.self, #""top""#)
        expectSame([String: Int].self, #"{"b": 1, "a": 2}"#)
        expectSame([String: [String: Int?]].self, #"{"k": {"x": null, "y": 2}, "e": {}}"#)
        expectSame(Int.self, "2.0")  // exactly an integer
    }

    @Test func stringsWithEveryEscape() throws {
        expectSame(String.self, #""q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude42 é""#)
        // A lone surrogate: the protocol's scanner (the host's too) reads it as U+FFFD; Foundation refuses the text.
        #expect(try decoder.decode(String.self, from: data(#""lone \ud800 surrogate""#)) == "lone \u{FFFD} surrogate")
        expectSame([String: String].self, #"{"k\u0065y": "v"}"#)
    }

    @Test func foundationTypesAsJSONDecoderReadsThem() throws {
        struct Carrier: Codable, Equatable {
            var data: Data
            var url: URL
            var decimal: Decimal
            var date: Date
        }
        let value = Carrier(data: Data([0, 1, 2, 250]), url: URL(string: "https://example.com/a?b=c")!,
                            decimal: Decimal(string: "12.345")!, date: Date(timeIntervalSinceReferenceDate: 86_400.5))
        let json = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        expectSame(Carrier.self, json)
        #expect(try decoder.decode(Carrier.self, from: data(json)) == value)
    }

    @Test func errorsNameTheSameMemberAsJSONDecoder() {
        struct Inner: Codable, Equatable { var name: String; var count: Int }
        struct Outer: Codable, Equatable { var items: [Inner]; var note: String? }
        expectSame(Outer.self, #"{"items": [{"name": "a", "count": 1}, {"count": 2}]}"#)  // missing items[1].name
        expectSame(Outer.self, #"{"items": [{"name": 5, "count": 1}]}"#)  // a number where a string belongs
        expectSame(Outer.self, #"{"items": [{"name": null, "count": 1}]}"#)  // null where a string belongs
        // A fraction where an integer belongs, or an integer too large: Foundation says where only in its
        // message ("The given data was not valid JSON", no path); this decoder names the member.
        for text in [#"{"items": [{"name": "a", "count": 1.5}]}"#, #"{"items": [{"name": "a", "count": 99999999999999999999}]}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(Outer.self, from: data(text)) }
            do {
                _ = try decoder.decode(Outer.self, from: data(text))
                Issue.record("decoded \(text)")
            } catch {
                #expect(Self.shape(error) == "dataCorrupted .items[0].count")
            }
        }
        expectSame(Outer.self, #"{"items": {"name": "a"}}"#)  // an object where an array belongs
        expectSame(Outer.self, #"{"items": [], "note": 3}"#)
        expectSame(Outer.self, #"{"items": [], "note": null}"#)
        expectSame(Outer.self, #"[]"#)
        expectSame([Int].self, #"[1, "2"]"#)
    }

    @Test func messagesQuoteThePathAsTheProtocolSaysIt() {
        struct Inner: Decodable { var name: String }
        struct Outer: Decodable { var items: [Inner] }
        #expect(throws: DecodingError.self) { try decoder.decode(Outer.self, from: data(#"{"items": [{}]}"#)) }
        do {
            _ = try decoder.decode(Outer.self, from: data(#"{"items": [{"name": "a"}, {"name": 7}]}"#))
            Issue.record("decoded a number as a string")
        } catch {
            #expect(RPCCodec.describe(error).hasPrefix(#""items[1].name" must be a string"#), "\(RPCCodec.describe(error))")
        }
    }

    @Test func textThatIsNotJSONIsDataCorrupted() {
        for text in ["", "{", #"{"a" 1}"#, "[1,]", "01", #""\x""#, "[1] [2]", "nul", #"{"a":1,}"#] {
            #expect(throws: DecodingError.self, "\(text)") { try decoder.decode(JSONValue.self, from: data(text)) }
        }
        let invalidUTF8 = Data([0x22, 0xFF, 0x22])
        #expect(throws: DecodingError.self) { try decoder.decode(String.self, from: invalidUTF8) }
    }

    @Test func handWrittenConformancesUseEveryContainer() throws {
        struct Custom: Decodable, Equatable {
            enum Keys: String, CodingKey { case a, nested, list, absent }
            enum Inner: String, CodingKey { case x }
            var a: Int, x: String, list: [Int?], keys: [String], absent: Bool, atEnd: Bool
            init(a: Int, x: String, list: [Int?], keys: [String], absent: Bool, atEnd: Bool) {
                (self.a, self.x, self.list, self.keys, self.absent, self.atEnd) = (a, x, list, keys, absent, atEnd)
            }
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: Keys.self)
                a = try container.decode(Int.self, forKey: .a)
                x = try container.nestedContainer(keyedBy: Inner.self, forKey: .nested).decode(String.self, forKey: .x)
                var unkeyed = try container.nestedUnkeyedContainer(forKey: .list)
                var list: [Int?] = []
                while !unkeyed.isAtEnd { list.append(try unkeyed.decodeNil() ? nil : try unkeyed.decode(Int.self)) }
                self.list = list
                atEnd = unkeyed.isAtEnd && unkeyed.count == list.count && unkeyed.currentIndex == list.count
                keys = container.allKeys.map(\.stringValue).sorted()
                absent = try container.decodeIfPresent(Bool.self, forKey: .absent) == nil && !container.contains(.absent)
            }
        }
        let value = try decoder.decode(Custom.self, from: data(#"{"a": 1, "nested": {"x": "y"}, "list": [1, null, 3], "other": 0}"#))
        #expect(value == Custom(a: 1, x: "y", list: [1, nil, 3], keys: ["a", "list", "nested"], absent: true, atEnd: true))
    }

    @Test func jsonValuesRoundTrip() throws {
        let text = #"{"a": [1, "two", 3.5, null, true, {"n": {}}], "z": "", "big": -9223372036854775808}"#
        #expect(try decoder.decode(JSONValue.self, from: data(text)) == JSONDecoder().decode(JSONValue.self, from: data(text)))
    }

    /// A `JSONValue` is built straight from the index (issue 22: the trial decodes of its `Decodable`
    /// conformance were half of the Airbyte plugin's CPU); every kind of number must land as with
    /// Foundation, where an integer is exactly one, however it is written.
    @Test func jsonValuesOfEveryKindAsJSONDecoderReadsThem() {
        let texts = ["0", "-0", "2.0", "2.5", "1e2", "1E-2", "-1.5e3", "9223372036854775807", "9223372036854775808",
                     "-9223372036854775809", "123456789012345678901234567890", "0.1", "1e300", "true", "false", "null",
                     #""caf\u00e9 \"x\"""#, "[]", "{}", "[[], {}, [1, [2, [3]]]]", #"{"a": {"b": {"c": [1.25, "d"]}}}"#]
        for text in texts {
            expectSame(JSONValue.self, text)
            expectSame([String: JSONValue].self, #"{"v": \#(text), "w": [\#(text)]}"#)
        }
        expectSame(JSONValue.self, #"{"a": 1"#)
        // Foundation refuses a number too large for a Double as JSON; so does this decoder, as a JSONValue.
        #expect(throws: DecodingError.self) { try decoder.decode(JSONValue.self, from: data(#"{"a": [1e400]}"#)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(JSONValue.self, from: data(#"{"a": [1e400]}"#)) }
    }

    /// The stream encoder writes a `JSONValue` as `JSONEncoder` does: it reads back as the same value.
    @Test func jsonValuesEncodeAsJSONEncoderWritesThem() throws {
        let value = try JSONDecoder().decode(JSONValue.self, from: data(#"{"a": [1, -2, 2.5, "x\"y", null, true, {"n": {}}], "b": []}"#))
        let ours = try JSONStreamEncoder().encode(["v": value])
        #expect(try JSONDecoder().decode([String: JSONValue].self, from: ours) == ["v": value])
        #expect(try JSONStreamEncoder().encode(JSONValue.array([1, .double(2.5), "é"])) == JSONEncoder().encode(JSONValue.array([1, .double(2.5), "é"])))
        #expect(throws: EncodingError.self) { try JSONStreamEncoder().encode(["v": JSONValue.double(.nan)]) }
    }
}
