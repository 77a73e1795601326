public import ConnectorProtocol
public import Foundation

/// What a SaaS API's HTTP answer means for the host, the same for every connector: the error class of
/// a status, a vendor's own verdict (a body code, a header) over it, and `Retry-After` in both its
/// forms. Pure functions, tested without network.
public enum HTTPAnswer {
    /// The error class of a status: nil for a success; 401/403 `auth`; 429 `rate_limited`; 408, 409,
    /// 423, 425 and 5xx `transient` (a timeout, a conflict or lock that may clear, the server's fault);
    /// any other status `permanent` (the request's fault: retrying sends the same thing again).
    public static func errorClass(status: Int) -> ConnectorError.Code? {
        switch status {
        case 100..<400: nil
        case 401, 403: .auth
        case 429: .rateLimited
        case 408, 409, 423, 425, 500...: .transient
        default: .permanent
        }
    }

    /// The longest wait a `Retry-After` may ask for: an hour. A larger one is taken as this (a
    /// misconfigured server must not park a connector for days).
    public static let maxRetryAfterMilliseconds: Int64 = 3_600_000

    /// `Retry-After` as milliseconds from `now`: delta-seconds (`120`) or an HTTP-date (`Sun, 06 Nov
    /// 2026 08:49:37 GMT`, and the obsolete RFC 850 and asctime forms), capped at `cap`; a date in the
    /// past is 0; absent or malformed is nil (the host's own backoff applies).
    public static func retryAfterMilliseconds(_ value: String?, now: Date = Date(), cap: Int64 = maxRetryAfterMilliseconds) -> Int64? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty, value.count <= 64 else { return nil }
        if value.allSatisfy(\.isASCII), value.allSatisfy(\.isNumber) {
            guard let seconds = Int64(value) else { return cap }  // more digits than an Int64: far beyond the cap
            return seconds > cap / 1_000 ? cap : seconds * 1_000
        }
        guard let date = httpDate(value) else { return nil }
        let milliseconds = (date.timeIntervalSince(now) * 1_000).rounded(.up)
        return milliseconds <= 0 ? 0 : Int64(min(milliseconds, Double(cap)))
    }

    /// An HTTP-date in any of the three forms RFC 9110 §5.6.7 says a recipient must accept.
    static func httpDate(_ text: String) -> Date? {
        for format in ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text.replacingOccurrences(of: "  ", with: " ")) { return date }
        }
        return nil
    }

    /// The error of a failed answer, or nil for a success. `vendorClass` is the vendor's own verdict
    /// read from the body or headers (Salesforce's `REQUEST_LIMIT_EXCEEDED` → `rate_limited`, Stripe's
    /// `Stripe-Should-Retry: false` → `permanent`, …); it wins over the status. A rate limit without a
    /// usable `Retry-After` waits `defaultRateLimitMilliseconds`. `details` get the status.
    public static func failure(
        _ response: HTTPResponse, message: String, vendorClass: ConnectorError.Code? = nil, details: [String: JSONValue] = [:],
        defaultRateLimitMilliseconds: Int64 = 1_000, now: Date = Date()
    ) -> ConnectorError? {
        guard let statusClass = errorClass(status: response.status) else { return nil }
        let code = vendorClass ?? statusClass
        var retryAfter: Int64?
        if code == .rateLimited || code == .transient {
            retryAfter = retryAfterMilliseconds(response.header("Retry-After"), now: now)
            if code == .rateLimited, retryAfter == nil { retryAfter = defaultRateLimitMilliseconds }
        }
        var details = details
        details["http_status"] = .int(Int64(response.status))
        return ConnectorError(code, message, retryAfterMilliseconds: retryAfter, details: .object(details))
    }
}
