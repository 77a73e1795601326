import Foundation
@testable import HostCore
import Logging
import Synchronization
import Testing

// The "secrets" below are placeholders; where a real-looking value could leak, the tests compare
// through Booleans so that a failure does not print it.

@Suite struct RedactorTests {
    @Test func nothingRegisteredReturnsTheTextUnchanged() {
        let redactor = Redactor()
        #expect(redactor.redact("connector started") == "connector started")
        #expect(redactor.redact("") == "")
    }

    @Test func replacesEveryOccurrence() {
        let redactor = Redactor()
        redactor.register("placeholder-one")
        #expect(redactor.redact("a placeholder-one b placeholder-oneplaceholder-one")
                == "a [redacted] b [redacted][redacted]")
        #expect(redactor.redact("nothing here") == "nothing here")
    }

    @Test func replacesEveryRegisteredValue() {
        let redactor = Redactor()
        redactor.register("placeholder-one")
        redactor.register("placeholder-two")
        #expect(redactor.redact("placeholder-two, placeholder-one") == "[redacted], [redacted]")
    }

    @Test func longerValueWinsWhenOneContainsAnother() {
        let redactor = Redactor()
        redactor.register("abcdef")
        redactor.register("abcdef-longer")
        #expect(redactor.redact("x abcdef-longer y abcdef") == "x [redacted] y [redacted]")
    }

    @Test func ignoresValuesShorterThanSixBytes() {
        let redactor = Redactor()
        redactor.register("12345")
        redactor.register("true")
        redactor.register("")
        #expect(redactor.redact("port 12345 is true") == "port 12345 is true")
        // Six bytes, though fewer characters: registered.
        redactor.register("ééé")
        #expect(redactor.redact("aéééb") == "a[redacted]b")
    }

    @Test func unregisterIsCounted() {
        let redactor = Redactor()
        redactor.register("placeholder-one")
        redactor.register("placeholder-one")
        redactor.unregister("placeholder-one")
        #expect(redactor.redact("placeholder-one") == "[redacted]")
        redactor.unregister("placeholder-one")
        #expect(redactor.redact("placeholder-one") == "placeholder-one")
        redactor.unregister("never-registered")
        #expect(redactor.redact("never-registered") == "never-registered")
    }

    @Test func matchesBytesEvenBeforeACombiningMark() {
        let redactor = Redactor()
        redactor.register("placeholder")
        // "r" + U+0301 is one Character; a Character-wise search would not find the value.
        #expect(redactor.redact("xplaceholder\u{301}y") == "x[redacted]\u{301}y")
    }

    @Test func multiLineAndUnicodeText() {
        let redactor = Redactor()
        redactor.register("line1\nline2")
        #expect(redactor.redact("before\nline1\nline2\nafter ✓") == "before\n[redacted]\nafter ✓")
    }

    /// A plugin printing a multi-line secret is logged line by line: each line of it is masked on its
    /// own (it leaked before), and nothing of it once it is unregistered.
    @Test func eachLineOfAMultiLineSecretIsMaskedOnItsOwn() {
        let redactor = Redactor()
        // Shaped like a PEM block (a header, base64 lines, a footer); made up, not a key.
        let key = "-----BEGIN TEST VALUE-----\nbm90LWEta2V5LWp1c3QtdGVzdA\nc2Vjb25kLWxpbmUtb2YtaXQ\n-----END TEST VALUE-----"
        redactor.register(key)
        for line in key.split(separator: "\n") {
            #expect(redactor.redact("plugin stderr: \(line)") == "plugin stderr: [redacted]")
        }
        #expect(redactor.redact("ok") == "ok")
        redactor.unregister(key)
        #expect(redactor.redact("bm90LWEta2V5LWp1c3QtdGVzdA") == "bm90LWEta2V5LWp1c3QtdGVzdA")
    }

    @Test func concurrentRegistrationAndRedaction() async {
        let redactor = Redactor()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let value = "placeholder-\(index)"
                    for _ in 0..<200 {
                        redactor.register(value)
                        let masked = redactor.redact("v=\(value)") == "v=[redacted]"
                        #expect(masked)
                        redactor.unregister(value)
                    }
                }
            }
        }
        #expect(redactor.redact("v=placeholder-3") == "v=placeholder-3")
    }
}

/// Collects the lines a handler writes.
final class CapturedLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var write: @Sendable (String) -> Void { { line in self.lines.withLock { $0.append(line) } } }
}

@Suite struct JSONLogHandlerTests {
    @Test func redactsMessageAndMetadataValues() throws {
        let secret = "sk_test_\(UUID().uuidString)"
        let redactor = Redactor()
        redactor.register(secret)
        let captured = CapturedLines()
        var logger = Logger(label: "test") { JSONLogHandler(label: $0, redactor: redactor, write: captured.write) }
        logger[metadataKey: "connector.id"] = "stripe-eu"
        logger.info("token \(secret) refused", metadata: [
            "credential": "\(secret)",
            "nested": .dictionary(["inner": "\(secret)"]),
            "note": "first line\nsecond line",
        ])
        let lines = captured.all
        try #require(lines.count == 1)
        let line = lines[0]
        let leaked = line.contains(secret)
        #expect(!leaked, "the secret value appears in the JSON line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        // Booleans, so that a failure does not print the value.
        let messageMasked = object["msg"] == "token [redacted] refused"
        let credentialMasked = object["credential"] == "[redacted]"
        let nestedMasked = object["nested"]?.contains("[redacted]") == true
        #expect(messageMasked, "msg should be \"token [redacted] refused\"")
        #expect(credentialMasked, "credential should be [redacted]")
        #expect(nestedMasked, "nested should hold [redacted]")
        #expect(object["note"] == "first line\nsecond line")
        #expect(object["connector.id"] == "stripe-eu")
        #expect(object["level"] == "info")
        #expect(object["label"] == "test")
        #expect(line.hasSuffix("}\n"))
    }

    @Test func withoutRedactorWritesValuesAsTheyAre() throws {
        let captured = CapturedLines()
        let logger = Logger(label: "test") { JSONLogHandler(label: $0, write: captured.write) }
        logger.warning("plain", metadata: ["k": "v"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(captured.all.joined().utf8)) as? [String: String])
        #expect(object["msg"] == "plain")
        #expect(object["k"] == "v")
        #expect(object["level"] == "warning")
    }
}
