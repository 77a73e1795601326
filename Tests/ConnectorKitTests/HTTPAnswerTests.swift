import ConnectorKit
import ConnectorProtocol
import Foundation
import Testing

/// The HTTP answer classifier every SaaS connector shares (issue 15), without network.
@Suite struct HTTPAnswerTests {
    @Test func statusesMapToErrorClasses() {
        let table: [(Int, ConnectorError.Code?)] = [
            (200, nil), (201, nil), (204, nil), (304, nil),
            (401, .auth), (403, .auth), (429, .rateLimited),
            (408, .transient), (409, .transient), (423, .transient), (425, .transient),
            (500, .transient), (502, .transient), (503, .transient), (504, .transient), (599, .transient),
            (400, .permanent), (404, .permanent), (405, .permanent), (410, .permanent), (413, .permanent), (415, .permanent), (422, .permanent),
        ]
        for (status, expected) in table {
            #expect(HTTPAnswer.errorClass(status: status) == expected, "HTTP \(status)")
        }
    }

    @Test func retryAfterInSecondsIsCappedAtAnHour() {
        #expect(HTTPAnswer.retryAfterMilliseconds("120") == 120_000)
        #expect(HTTPAnswer.retryAfterMilliseconds(" 0 ") == 0)
        #expect(HTTPAnswer.retryAfterMilliseconds("86400") == 3_600_000)
        #expect(HTTPAnswer.retryAfterMilliseconds("99999999999999999999999") == 3_600_000)
        #expect(HTTPAnswer.retryAfterMilliseconds("30", cap: 10_000) == 10_000)
        for garbage in [nil, "", "-5", "1.5", "soon", "１２"] {
            #expect(HTTPAnswer.retryAfterMilliseconds(garbage) == nil, "\(garbage ?? "nil")")
        }
    }

    /// The three date forms RFC 9110 makes a recipient accept, relative to the time of the answer.
    @Test func retryAfterAsAnHTTPDateCountsFromNow() throws {
        let now = try #require(ISO8601DateFormatter().date(from: "2026-12-06T08:49:07Z"))
        #expect(HTTPAnswer.retryAfterMilliseconds("Sun, 06 Dec 2026 08:49:37 GMT", now: now) == 30_000)
        #expect(HTTPAnswer.retryAfterMilliseconds("Sunday, 06-Dec-26 08:49:37 GMT", now: now) == 30_000)
        #expect(HTTPAnswer.retryAfterMilliseconds("Sun Dec  6 08:49:37 2026", now: now) == 30_000)
        #expect(HTTPAnswer.retryAfterMilliseconds("Sun, 06 Dec 2026 08:00:00 GMT", now: now) == 0)  // already past
        #expect(HTTPAnswer.retryAfterMilliseconds("Mon, 07 Dec 2026 08:49:07 GMT", now: now) == 3_600_000)  // a day: capped
        #expect(HTTPAnswer.retryAfterMilliseconds("Sun, 06 Dec 2026 25:00:00 GMT", now: now) == nil)
    }

    @Test func aFailureCarriesItsClassStatusAndWait() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let limited = try #require(HTTPAnswer.failure(HTTPResponse(status: 429, headers: [("retry-after", "7")], body: Data()), message: "slow down", now: now))
        #expect(limited.code == .rateLimited && limited.retryAfterMilliseconds == 7_000 && limited.details?["http_status"]?.intValue == 429)
        // A 429 without Retry-After still waits, a second by default.
        #expect(HTTPAnswer.failure(HTTPResponse(status: 429, body: Data()), message: "x")?.retryAfterMilliseconds == 1_000)
        let busy = try #require(HTTPAnswer.failure(HTTPResponse(status: 503, headers: [("Retry-After", "2")], body: Data()), message: "busy", details: ["vendor": "v"]))
        #expect(busy.code == .transient && busy.retryAfterMilliseconds == 2_000 && busy.details?["vendor"]?.stringValue == "v")
        // A permanent failure ignores Retry-After; a success is no failure.
        #expect(HTTPAnswer.failure(HTTPResponse(status: 400, headers: [("Retry-After", "2")], body: Data()), message: "bad")?.retryAfterMilliseconds == nil)
        #expect(HTTPAnswer.failure(HTTPResponse(status: 200, body: Data()), message: "ok") == nil)
    }

    /// A vendor's verdict from its body wins over the status: Salesforce answers a row lock and its
    /// request limit with 400/403 and a code.
    @Test func aVendorVerdictWinsOverTheStatus() {
        func salesforce(_ status: Int, _ code: String) -> ConnectorError.Code? {
            let verdict: ConnectorError.Code? = switch code {
            case "REQUEST_LIMIT_EXCEEDED": .rateLimited
            case "UNABLE_TO_LOCK_ROW": .transient
            default: nil
            }
            return HTTPAnswer.failure(HTTPResponse(status: status, body: Data()), message: code, vendorClass: verdict)?.code
        }
        #expect(salesforce(403, "REQUEST_LIMIT_EXCEEDED") == .rateLimited)
        #expect(salesforce(400, "UNABLE_TO_LOCK_ROW") == .transient)
        #expect(salesforce(400, "REQUIRED_FIELD_MISSING") == .permanent)
        #expect(salesforce(401, "INVALID_SESSION_ID") == .auth)
    }
}
