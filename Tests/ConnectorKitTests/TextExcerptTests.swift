import ConnectorKit
import Foundation
import Testing

@Suite struct TextExcerptTests {
    @Test func shortTextIsWholeOnOneLine() {
        #expect(TextExcerpt.of(Data("<html>\r\n<b>502</b>\n</html>".utf8)) == "<html> <b>502</b> </html>")
    }

    @Test func longTextIsCutAndMarked() {
        #expect(TextExcerpt.of(Data(String(repeating: "x", count: 500).utf8), limit: 120) == String(repeating: "x", count: 120) + "…")
        #expect(TextExcerpt.of(Data(String(repeating: "y", count: 160).utf8)) == String(repeating: "y", count: 160), "exactly the limit is not cut")
    }

    /// "é" is two bytes: a limit between them leaves it out instead of showing a replacement character.
    @Test func aCharacterCutInTwoIsLeftOut() {
        #expect(TextExcerpt.of(Data("abé and more".utf8), limit: 3) == "ab…")
        #expect(TextExcerpt.of(Data("abé and more".utf8), limit: 4) == "abé…")
    }
}
