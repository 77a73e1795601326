import ConnectorProtocol
import Foundation
import Testing

@Suite struct RPCCodecTests {
    let codec = RPCCodec()

    func line(_ text: String) -> Data { Data(text.utf8) }

    @Test func requestRoundTrip() throws {
        let encoded = try codec.request(id: .number(7), method: Method.sourcePoll, params: PollParams(stream: "events", cursor: "c1", maxEvents: 100))
        #expect(encoded.last == 0x0A)
        #expect(!encoded.dropLast().contains(0x0A), "one message is one line")
        let message = try codec.decode(line: encoded.dropLast())
        #expect(message.kind == .request(id: .number(7), method: "source.poll"))
        let params = try codec.params(PollParams.self, of: message)
        #expect(params == PollParams(stream: "events", cursor: "c1", maxEvents: 100))
    }

    @Test func wireNamesAreSnakeCase() throws {
        let encoded = try codec.request(id: .string("a"), method: Method.sourcePoll, params: PollParams(stream: "s", cursor: nil, maxEvents: 5))
        let object = try JSONSerialization.jsonObject(with: encoded) as? [String: Any]
        #expect(object?["jsonrpc"] as? String == "2.0")
        let params = object?["params"] as? [String: Any]
        #expect(params?["max_events"] as? Int == 5)
    }

    /// The first poll carries `"cursor": null`, as PROTOCOL.md 5.5 says (it was left out).
    @Test func theFirstPollCarriesANullCursor() throws {
        let first = String(decoding: try RPCCodec().json(PollParams(stream: "s", cursor: nil, maxEvents: 5)), as: UTF8.self)
        #expect(first.contains(#""cursor":null"#))
        let next = String(decoding: try RPCCodec().json(PollParams(stream: "s", cursor: "7", maxEvents: 5)), as: UTF8.self)
        #expect(next.contains(#""cursor":"7""#))
        #expect(try JSONDecoder().decode(PollParams.self, from: Data(first.utf8)) == PollParams(stream: "s", cursor: nil, maxEvents: 5))
    }

    @Test func notificationHasNoID() throws {
        let encoded = try codec.notification(method: Method.log, params: LogParams(level: "info", message: "hi"))
        let message = try codec.decode(line: encoded.dropLast())
        #expect(message.kind == .notification(method: "log"))
        #expect(try codec.params(LogParams.self, of: message).message == "hi")
    }

    @Test func errorResponseCarriesClassAndRetryAfter() throws {
        let error = ConnectorError(.rateLimited, "slow down", retryAfterMilliseconds: 1500, details: ["status": 429])
        let encoded = codec.errorResponse(id: .number(3), error: error)
        let message = try codec.decode(line: encoded.dropLast())
        guard case .errorResponse(let id, let object) = message.kind else {
            Issue.record("not an error response: \(message.kind)")
            return
        }
        #expect(id == .number(3))
        #expect(object.code == -32001)
        #expect(object.data?.errorClass == "rate_limited")
        #expect(object.connectorError == error)
    }

    @Test func errorWithoutClassIsJudgedByCode() {
        let object = RPCErrorObject(code: -32002, message: "bad key", data: nil)
        #expect(object.connectorError.code == .auth)
        #expect(RPCErrorObject(code: -32601, message: "?", data: nil).connectorError.code == .notSupported)
        #expect(RPCErrorObject(code: 12345, message: "?", data: nil).connectorError.code == .protocol)
    }

    @Test func everyErrorClassRoundTrips() throws {
        for code in [ConnectorError.Code.transient, .rateLimited, .auth, .permanent, .dependency, .protocol, .cancelled, .notSupported] {
            let encoded = codec.errorResponse(id: .number(1), error: ConnectorError(code, "x"))
            guard case .errorResponse(_, let object) = try codec.decode(line: encoded.dropLast()).kind else {
                Issue.record("not an error response")
                continue
            }
            #expect(object.connectorError.code == code)
            #expect(ConnectorError.Code(name: code.name) == code)
        }
    }

    @Test(arguments: [
        "{not json",
        #"{"id":1,"method":"ping"}"#,
        #"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        #"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
        #"{"jsonrpc":"2.0","id":1}"#,
        "[]",
        "",
    ])
    func malformedLinesAreProtocolErrors(_ text: String) {
        #expect(throws: ConnectorError.self) { try codec.decode(line: line(text)) }
        do {
            _ = try codec.decode(line: line(text))
        } catch {
            #expect(error.code == .protocol)
        }
    }

    @Test func invalidUTF8IsAProtocolError() {
        var bytes = Data(#"{"jsonrpc":"2.0","method":"log","params":{"level":"info","message":""#.utf8)
        bytes += Data([0xFF, 0xFE])
        bytes += Data(#""}}"#.utf8)
        #expect(throws: ConnectorError.self) {
            let message = try codec.decode(line: bytes)
            _ = try codec.params(LogParams.self, of: message)
        }
    }

    @Test func parseErrorLineHasNullID() throws {
        let encoded = codec.parseErrorLine(ConnectorError(.protocol, "bad"))
        let object = try JSONSerialization.jsonObject(with: encoded) as? [String: Any]
        #expect(object?["id"] is NSNull)
        #expect((object?["error"] as? [String: Any])?["code"] as? Int == -32700)
    }

    @Test func missingParamsAreReported() throws {
        let message = try codec.decode(line: line(#"{"jsonrpc":"2.0","id":1,"method":"source.poll"}"#))
        #expect(throws: ConnectorError.self) { try codec.params(PollParams.self, of: message) }
        let empty = try codec.decode(line: line(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#))
        #expect(try codec.params(EmptyParams.self, of: empty) == EmptyParams())
    }

    @Test func versionNegotiationPicksHighestCommon() {
        #expect(ProtocolVersion.negotiate(offered: [1, 2, 3], supported: [1, 2]) == 2)
        #expect(ProtocolVersion.negotiate(offered: [3], supported: [1, 2]) == nil)
        #expect(ProtocolVersion.negotiate(offered: [1]) == 1)
    }
}

@Suite struct LineFramerTests {
    func feed(_ framer: inout LineFramer, _ text: String) -> [LineFramer.Output] {
        Array(text.utf8).withUnsafeBytes { framer.feed($0) }
    }

    @Test func splitsAcrossReads() {
        var framer = LineFramer(maxLineBytes: 100)
        #expect(feed(&framer, "ab").isEmpty)
        #expect(feed(&framer, "c\nde\r\nf") == [.line(Data("abc".utf8)), .line(Data("de".utf8))])
        #expect(feed(&framer, "\n") == [.line(Data("f".utf8))])
    }

    @Test func oversizedLineIsDroppedAndTheNextOneSurvives() {
        var framer = LineFramer(maxLineBytes: 8)
        #expect(feed(&framer, "0123456789").isEmpty)
        #expect(feed(&framer, "abc\nok\n") == [.oversized(bytes: 13), .line(Data("ok".utf8))])
    }

    @Test func lineOfExactlyTheLimitIsAccepted() {
        var framer = LineFramer(maxLineBytes: 4)
        #expect(feed(&framer, "abcd\nabcde\n") == [.line(Data("abcd".utf8)), .oversized(bytes: 5)])
    }
}

@Suite struct DeliverBatchWireTests {
    let codec = RPCCodec()

    @Test func itemResultsAreOkOrErrorObjects() throws {
        let batch = DeliverBatchResult(results: [
            DeliverItemResult(.success(DeliverResult(externalID: "x1"))),
            DeliverItemResult(.failure(ConnectorError(.rateLimited, "slow down", retryAfterMilliseconds: 250))),
        ])
        let json = try JSONSerialization.jsonObject(with: try codec.json(batch)) as? [String: Any]
        let results = try #require(json?["results"] as? [[String: Any]])
        #expect((results[0]["ok"] as? [String: Any])?["external_id"] as? String == "x1")
        let error = try #require(results[1]["error"] as? [String: Any])
        #expect(error["code"] as? Int == -32001)
        #expect((error["data"] as? [String: Any])?["class"] as? String == "rate_limited")

        let decoded = try codec.decodeJSON(DeliverBatchResult.self, from: try codec.json(batch))
        guard case .failure(let failure) = decoded.results[1].result else {
            Issue.record("the second result should be a failure")
            return
        }
        #expect(failure.code == .rateLimited)
        #expect(failure.retryAfterMilliseconds == 250)
    }

    @Test func capabilitiesWithoutSinkBatchMeanOneByOne() throws {
        let capabilities = try codec.decodeJSON(Capabilities.self, from: Data(#"{"sink_event_types":["*"]}"#.utf8))
        #expect(capabilities.sinkBatch == 0)
    }
}

/// `metrics` notifications (5.7a): the names and values the host keeps.
@Suite struct MetricsNotificationTests {
    @Test func gaugeNamesAreMetricNamesAndValuesFiniteNumbers() throws {
        #expect(MetricsParams.problem(name: "salesforce_api_requests_used", value: 18) == nil)
        #expect(MetricsParams.problem(name: "Used", value: 1)?.contains("[a-z]") == true)
        #expect(MetricsParams.problem(name: "api-usage", value: 1) != nil)
        #expect(MetricsParams.problem(name: "_x", value: 1) != nil)
        #expect(MetricsParams.problem(name: String(repeating: "a", count: 65), value: 1) != nil)
        #expect(MetricsParams.problem(name: "used", value: .nan)?.contains("finite") == true)
        let line = try RPCCodec().notification(method: Method.metrics, params: MetricsParams(gauges: ["used": 18]))
        #expect(String(decoding: line, as: UTF8.self).contains(#""method":"metrics""#))
    }
}
