public import ConnectorProtocol
import Crypto
public import Foundation

/// Verification of signed webhooks, for plugins.
public enum WebhookSignature {
    /// The timestamped HMAC scheme Stripe uses: a header `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, where
    /// each v1 is HMAC-SHA256 of `"<t>.<body>"` under a signing secret. Any v1 matching any of
    /// `secrets` is accepted (during a secret roll the sender signs with both); comparisons are
    /// constant-time. Returns the replay key of the delivery (`t` and the matching signature).
    ///
    /// The header is read exactly as Stripe's own library (stripe-python's `WebhookSignature`) reads
    /// it, checked against vectors that library judged (Tests/Fixtures/stripe-signature-vectors.json):
    /// items split on `,` and each on its first two `=`; the first `t` is the timestamp, as a Python
    /// integer (surrounding whitespace, a sign and single underscores allowed; ASCII digits only here),
    /// and the signed payload uses it as a plain number; a `t` or `v1` item without `=` makes the
    /// header unreadable; a signature must equal the lowercase hex digest. The signature is checked
    /// before the age, and only a timestamp more than `tolerance` seconds in the past is stale (a
    /// sender's clock ahead of ours is not refused); a tolerance of 0 checks no age.
    public static func verifyTimestamped(
        header: String?, body: String, secrets: [String], tolerance: Int = 300, now: Date
    ) throws(ConnectorError) -> String {
        guard let header, !header.isEmpty else {
            throw rejected("signature", "the request has no signature header")
        }
        var timestamps: [Substring] = []
        var signatures: [Substring] = []
        for item in header.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts[0] == "t" || parts[0] == "v1" else { continue }  // other schemes (v0, …) are ignored
            guard parts.count > 1 else {
                throw rejected("signature", "the signature header cannot be read: \"\(parts[0])\" has no value")
            }
            if parts[0] == "t" { timestamps.append(parts[1]) } else { signatures.append(parts[1]) }
        }
        guard let first = timestamps.first, let timestamp = pythonInteger(first) else {
            throw rejected("signature", "the signature header has no readable timestamp")
        }
        guard !signatures.isEmpty else {
            throw rejected("signature", "the signature header has no v1 signature")
        }
        let signedPayload = Data("\(timestamp).".utf8) + Data(body.utf8)
        var matched: Substring?
        for secret in secrets where !secret.allSatisfy(\.isWhitespace) {
            let expected = Data(Hex.encode(HMAC<SHA256>.authenticationCode(for: signedPayload, using: SymmetricKey(data: Data(secret.utf8)))).utf8)
            for signature in signatures where constantTimeEqual(expected, Data(signature.utf8)) {
                matched = signature
            }
        }
        guard let matched else {
            throw rejected("signature", "no v1 signature matches the signing secret")
        }
        let age = Int(now.timeIntervalSince1970) - timestamp
        guard tolerance <= 0 || age <= tolerance else {
            throw rejected("stale", "the signature's timestamp is \(age) s old; the tolerance is \(tolerance) s")
        }
        return "t=\(timestamp),v1=\(matched)"
    }

    /// Python's `int(text)` for ASCII: surrounding whitespace, an optional sign, digits with single
    /// underscores between them.
    static func pythonInteger(_ text: Substring) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var digits = Substring(trimmed)
        var negative = false
        if let sign = digits.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        guard let head = digits.first, head.isASCII, head.isNumber, let last = digits.last, last.isASCII, last.isNumber,
              !digits.contains("__"), digits.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == "_" }),
              let value = Int(digits.replacingOccurrences(of: "_", with: "")) else { return nil }
        return negative ? -value : value
    }

    /// HubSpot's request signatures, the newest the request carries:
    /// - v3 (`X-HubSpot-Signature-v3`, `X-HubSpot-Request-Timestamp` in epoch milliseconds): base64 of
    ///   HMAC-SHA256 of `method + uri + body + timestamp` under the app's client secret; a timestamp more
    ///   than `tolerance` seconds old is refused (HubSpot's own library allows 300).
    /// - v2 (`X-HubSpot-Signature` with `X-HubSpot-Signature-Version: v2`): hex SHA-256 of
    ///   `secret + method + uri + body`; v1: hex SHA-256 of `secret + body`. Neither is timed.
    /// `uri` is the full URL HubSpot called (scheme, host, path and query, as sent); `body` the raw bytes.
    /// Any of `secrets` may match (a secret roll). Returns the replay key of the delivery.
    public static func verifyHubSpot(
        header: (String) -> String?, method: String, uri: String, body: Data, secrets: [String], tolerance: Int = 300, now: Date
    ) throws(ConnectorError) -> String {
        let usable = secrets.filter { !$0.allSatisfy(\.isWhitespace) }
        if let signature = header("X-HubSpot-Signature-v3") {
            guard let stamp = header("X-HubSpot-Request-Timestamp").flatMap({ Int64($0.trimmingCharacters(in: .whitespaces)) }) else {
                throw rejected("signature", "the request has a v3 signature but no readable X-HubSpot-Request-Timestamp")
            }
            let source = Data((method + uri).utf8) + body + Data(String(stamp).utf8)
            let matches = usable.contains { secret in
                let mac = HMAC<SHA256>.authenticationCode(for: source, using: SymmetricKey(data: Data(secret.utf8)))
                return constantTimeEqual(Data(Data(mac).base64EncodedString().utf8), Data(signature.utf8))
            }
            guard matches else { throw rejected("signature", "the v3 signature does not match the client secret") }
            let age = (Int64(now.timeIntervalSince1970 * 1_000) - stamp) / 1_000
            guard tolerance <= 0 || age <= Int64(tolerance) else {
                throw rejected("stale", "the signature's timestamp is \(age) s old; the tolerance is \(tolerance) s")
            }
            return "v3:\(stamp):\(signature)"
        }
        guard let signature = header("X-HubSpot-Signature")?.lowercased() else {
            throw rejected("signature", "the request has no HubSpot signature header")
        }
        let version = header("X-HubSpot-Signature-Version")?.lowercased() ?? "v1"
        guard version == "v1" || version == "v2" else {
            throw rejected("signature", "X-HubSpot-Signature-Version \"\(version)\" is not v1, v2 or v3")
        }
        let matches = usable.contains { secret in
            let source = version == "v2" ? Data((secret + method + uri).utf8) + body : Data(secret.utf8) + body
            return constantTimeEqual(Data(Hex.encode(Data(SHA256.hash(data: source))).utf8), Data(signature.utf8))
        }
        guard matches else { throw rejected("signature", "the \(version) signature does not match the client secret") }
        return "\(version):\(signature)"
    }

    /// HTTP Basic credentials (Chargebee's webhooks) checked in constant time against each expected pair.
    public static func verifyBasic(header: String?, user: String, passwords: [String]) throws(ConnectorError) {
        guard let header, header.lowercased().hasPrefix("basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)) else {
            throw rejected("signature", "the request has no Basic credentials")
        }
        let matches = passwords.filter { !$0.isEmpty }.reduce(false) { found, password in
            constantTimeEqual(decoded, Data("\(user):\(password)".utf8)) || found
        }
        guard matches else { throw rejected("signature", "the Basic credentials do not match") }
    }

    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Signs like the sender does (for tests, fakes and benchmarks).
    public static func signTimestamped(body: String, secret: String, timestamp: Int) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).".utf8) + Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(timestamp),v1=\(Hex.encode(Data(mac)))"
    }

    static func rejected(_ reason: String, _ message: String) -> ConnectorError {
        ConnectorError(.auth, message, details: ["reason": .string(reason)])
    }
}

extension WebhookParams {
    /// The body's bytes, whichever way they came (text, or base64 when not UTF-8).
    public var bodyBytes: Data {
        bodyBase64.flatMap { Data(base64Encoded: $0) } ?? Data(body.utf8)
    }
}
