import ConnectorProtocol
import Foundation
import Testing

/// The stream encoder must write what Foundation's `JSONEncoder` writes (up to member order), for
/// every shape `Codable` produces: plugins and host both encode through it.
@Suite struct JSONStreamEncoderTests {
    let stream = JSONStreamEncoder()

    func foundation<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return try encoder.encode(value)
    }

    /// Both encoders' output, read back and written again with sorted keys: equal when they say the same.
    func expectSame<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ours = try stream.encode(value)
        let parsed = try JSONDecoder().decode(JSONValue.self, from: ours)
        let reference = try JSONDecoder().decode(JSONValue.self, from: try foundation(value))
        #expect(parsed == reference, "ours: \(String(decoding: ours, as: UTF8.self))", sourceLocation: sourceLocation)
    }

    func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try stream.encode(value), as: UTF8.self)
    }

    @Test func canonicalEventsAsJSONEncoderWritesThem() throws {
        let event = EdgeCaseEvents.invoice()
        try expectSame(event)
        #expect(try JSONDecoder().decode(Event.self, from: try stream.encode(event)) == event)
        try expectSame(EdgeCaseEvents.payment)
    }

    @Test func membersInTheOrderTheValueEncodesThem() throws {
        struct Pair: Encodable { var b = 1, a = "x", c: [Int]? = nil }
        #expect(try text(Pair()) == #"{"b":1,"a":"x"}"#)
        #expect(try text(Pair(c: [])) == #"{"b":1,"a":"x","c":[]}"#)
    }

    @Test func scalarsAtTheTopAndInArrays() throws {
        #expect(try text("a/b") == #""a/b""#)
        #expect(try text(0) == "0")
        #expect(try text(Int64.max) == "9223372036854775807")
        #expect(try text(UInt64.max) == "18446744073709551615")
        #expect(try text(Int8.min) == "-128")
        #expect(try text([true, false]) == "[true,false]")
        #expect(try text([Int?.none, 3]) == "[null,3]")
        #expect(try text([[Int]]()) == "[]")
        #expect(try text([[1], [], [2, 3]]) == "[[1],[],[2,3]]")
        for value in [1.5, 3.0, -0.25, 1e-7, 1e21, 123_456.789] { try expectSame(value) }
        #expect(try text(3.0) == "3")
        #expect(try text(Float(0.5)) == "0.5")
    }

    @Test func stringsEscapedAsRFC8259Asks() throws {
        let value = "quote\" backslash\\ tab\t nl\n cr\r bell\u{07} bs\u{08} ff\u{0C} é ✓ 🙂"
        try expectSame(value)
        #expect(try text("\u{01}") == #""\u0001""#)
        #expect(try JSONDecoder().decode(String.self, from: try stream.encode(value)) == value)
    }

    @Test func foundationTypesAsJSONEncoderWritesThem() throws {
        struct Carrier: Encodable {
            var data = Data([0, 1, 2, 250])
            var url = URL(string: "https://example.com/a?b=c")!
            var decimal = Decimal(string: "12.345")!
            var date = Date(timeIntervalSinceReferenceDate: 86_400.5)
        }
        try expectSame(Carrier())
        #expect(try text(Carrier()).contains(#""url":"https://example.com/a?b=c""#))
    }

    @Test func dictionariesOptionalsAndJSONValues() throws {
        try expectSame(["b": 1, "a": 2])
        try expectSame(["k": ["x": [1, 2]], "e": [:]])
        let value: JSONValue = ["a": [1, "two", .double(3.5), nil, true, ["n": .object([:])]], "z": .string("")]
        try expectSame(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: try stream.encode(value)) == value)
    }

    @Test func nestedContainersAndHandWrittenConformances() throws {
        struct Nested: Encodable {
            enum Keys: String, CodingKey { case a, inner, list, after }
            enum Inner: String, CodingKey { case x, deeper }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(1, forKey: .a)
                var inner = container.nestedContainer(keyedBy: Inner.self, forKey: .inner)
                try inner.encode("y", forKey: .x)
                var deeper = inner.nestedUnkeyedContainer(forKey: .deeper)
                try deeper.encode(1)
                var object = deeper.nestedContainer(keyedBy: Inner.self)
                try object.encode(true, forKey: .x)
                try deeper.encode(2)  // after the nested object: it is closed first
                var list = container.nestedUnkeyedContainer(forKey: .list)
                try list.encodeNil()
                #expect(list.count == 1)
                // The same keyed container asked for again continues the object.
                var again = encoder.container(keyedBy: Keys.self)
                try again.encode("end", forKey: .after)
            }
        }
        #expect(try text(Nested()) == #"{"a":1,"inner":{"x":"y","deeper":[1,{"x":true},2]},"list":[null],"after":"end"}"#)
        try expectSame(Nested())
    }

    @Test func aValueThatEncodesNothingIsAnEmptyObject() throws {
        struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
        struct Holder: Encodable { var a = Nothing(), b = 1 }
        #expect(try text(Nothing()) == "{}")
        #expect(try text(Holder()) == #"{"a":{},"b":1}"#)
        try expectSame(Holder())
    }

    @Test func superEncodersWriteAnObjectUnderTheirKey() throws {
        class Base: Encodable {
            enum Keys: String, CodingKey { case base }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(1, forKey: .base)
            }
        }
        final class Derived: Base {
            enum More: String, CodingKey { case own }
            override func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: More.self)
                try container.encode(2, forKey: .own)
                try super.encode(to: container.superEncoder())
            }
        }
        #expect(try text(Derived()) == #"{"own":2,"super":{"base":1}}"#)
        try expectSame(Derived())
    }

    @Test func aFloatThatIsNotFiniteThrows() throws {
        #expect(throws: EncodingError.self) { try stream.encode(["x": Double.nan]) }
        #expect(throws: EncodingError.self) { try stream.encode([Double.infinity]) }
    }

    @Test func protocolLinesAreOneLineOfValidJSON() throws {
        let codec = RPCCodec()
        let line = try codec.response(id: .number(7), result: ["events": [["a": "b\nc"]]])
        #expect(line.last == 0x0A)
        #expect(!line.dropLast().contains(0x0A))
        let message = try codec.decode(line: line.dropLast())
        #expect(message.kind == .response(id: .number(7)))
    }
}
