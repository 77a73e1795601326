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
}
