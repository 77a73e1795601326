import ConnectorProtocol
import Foundation
import Testing

@Suite struct JSONTextTests {
    @Test(arguments: ["", "plain:key:1", "quote \" and backslash \\", "new\nline\ttab\r", "\u{01}\u{1F}", "é € 😀", "</script>"])
    func stringsRoundTripThroughFoundation(_ value: String) throws {
        var data = Data()
        JSONText.appendString(value, to: &data)
        #expect(try JSONDecoder().decode(String.self, from: data) == value)
    }

    @Test func controlCharactersAreEscapedNotCopied() {
        var data = Data()
        JSONText.appendString("a\u{01}b\nc", to: &data)
        #expect(String(decoding: data, as: UTF8.self) == #""a\u0001b\nc""#)
    }

    /// The bytes a record's digest is taken over: members in byte order at every depth, whatever order
    /// they were read in, and the text still JSON that reads back as the same value.
    @Test func canonicalJSONSortsKeysAtEveryDepthAndReadsBack() throws {
        let one = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"b": 1, "a": {"é": [2.5, null], "Z": true}, "": "x\"y"}"#.utf8))
        let two = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"": "x\"y", "a": {"Z": true, "é": [2.5, null]}, "b": 1}"#.utf8))
        let canonical = try one.canonicalJSON()
        #expect(String(decoding: canonical, as: UTF8.self) == #"{"":"x\"y","a":{"Z":true,"é":[2.5,null]},"b":1}"#)
        #expect(try canonical == two.canonicalJSON())
        #expect(try JSONDecoder().decode(JSONValue.self, from: canonical) == one)
        #expect(try JSONValue.object(["a": 1]).canonicalJSON() != JSONValue.object(["a": "1"]).canonicalJSON())
        #expect(throws: EncodingError.self) { try JSONValue.double(.infinity).canonicalJSON() }
    }
}
