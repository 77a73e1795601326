public import ConnectorProtocol
import Crypto
public import Foundation

/// Verification of signed webhooks, for plugins.
public enum WebhookSignature {
    /// The timestamped HMAC scheme Stripe uses: a header `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, where
    /// each v1 is HMAC-SHA256 of `"<t>.<body>"` under a signing secret. Any v1 matching any of
    /// `secrets` is accepted (during a secret roll the sender signs with both); comparisons are
    /// constant-time; a timestamp further than `tolerance` seconds from `now` is stale.
    /// Returns the replay key of the delivery (`t` and the matching signature).
    public static func verifyTimestamped(
        header: String?, body: String, secrets: [String], tolerance: Int = 300, now: Date
    ) throws(ConnectorError) -> String {
        guard let header, !header.isEmpty else {
            throw rejected("signature", "the request has no signature header")
        }
        var timestamp: Int?
        var signatures: [Data] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t": timestamp = Int(pair[1])
            case "v1": if let bytes = Hex.decode(pair[1]) { signatures.append(bytes) }
            default: continue  // other schemes (v0, …) are ignored
            }
        }
        guard let timestamp, !signatures.isEmpty else {
            throw rejected("signature", "the signature header has no timestamp or no v1 signature")
        }
        let signedPayload = Data("\(timestamp).".utf8) + Data(body.utf8)
        var matched: Data?
        for secret in secrets where !secret.isEmpty {
            let key = SymmetricKey(data: Data(secret.utf8))
            for signature in signatures where HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signedPayload, using: key) {
                matched = signature
            }
        }
        guard let matched else {
            throw rejected("signature", "no v1 signature matches the signing secret")
        }
        let age = Int(now.timeIntervalSince1970) - timestamp
        guard abs(age) <= tolerance else {
            throw rejected("stale", "the signature's timestamp is \(age) s old; the tolerance is \(tolerance) s")
        }
        return "t=\(timestamp),v1=\(Hex.encode(matched))"
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
