import ConnectorKit
import ConnectorProtocol
import Foundation
import Testing

/// HubSpot's v1/v2/v3 webhook signatures and Basic credentials (issue 15), on the published vectors of
/// the reference (`hubspot.md` §3.3: v2's official ones, v3's and v1's computed with HubSpot's library).
@Suite struct HubSpotSignatureTests {
    let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"

    func verify(_ headers: [String: String], method: String = "POST", uri: String, body: String, now: Date = Date(timeIntervalSince1970: 1_700_000_100)) throws -> String {
        try WebhookSignature.verifyHubSpot(header: { name in headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value },
                                           method: method, uri: uri, body: Data(body.utf8), secrets: ["not-it", secret], now: now)
    }

    @Test func theV3VectorVerifiesAndATamperedURIDoesNot() throws {
        let headers = ["X-HubSpot-Signature-v3": "Uqayf9EATYg43PeNmeE17hOa4lFz6HGJNBfbAk94Uf0=", "X-HubSpot-Request-Timestamp": "1700000000000"]
        #expect(try verify(headers, uri: "https://example.com/hubspot/webhook", body: #"[{"eventId":1}]"#) == "v3:1700000000000:Uqayf9EATYg43PeNmeE17hOa4lFz6HGJNBfbAk94Uf0=")
        #expect(throws: ConnectorError.self) { try verify(headers, uri: "https://example.com/hubspot/webhook?x=1", body: #"[{"eventId":1}]"#) }
        #expect(throws: ConnectorError.self) { try verify(headers, uri: "https://example.com/hubspot/webhook", body: #"[{"eventId":2}]"#) }
        // Ten minutes later the same request is stale.
        #expect { try verify(headers, uri: "https://example.com/hubspot/webhook", body: #"[{"eventId":1}]"#, now: Date(timeIntervalSince1970: 1_700_000_600)) } throws: {
            ($0 as? ConnectorError)?.details?["reason"]?.stringValue == "stale"
        }
    }

    @Test func theOfficialV2VectorsVerify() throws {
        let get = ["X-HubSpot-Signature": "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e", "X-HubSpot-Signature-Version": "v2"]
        #expect(try verify(get, method: "GET", uri: "https://www.example.com/webhook_uri", body: "").hasPrefix("v2:"))
        let post = ["X-HubSpot-Signature": "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900", "X-HubSpot-Signature-Version": "v2"]
        #expect(try verify(post, uri: "https://www.example.com/webhook_uri", body: #"{"example_field":"example_value"}"#).hasPrefix("v2:"))
        #expect(throws: ConnectorError.self) { try verify(post, method: "PUT", uri: "https://www.example.com/webhook_uri", body: #"{"example_field":"example_value"}"#) }
    }

    @Test func theV1VectorVerifiesAndAnUnknownVersionIsRefused() throws {
        let v1 = ["X-HubSpot-Signature": "54b2530692e3a3982727206aeee670ed1d85319cad55d4ddbafcf41725ebf2b3", "X-HubSpot-Signature-Version": "v1"]
        #expect(try verify(v1, uri: "https://anything.test/", body: #"{"example_field":"example_value"}"#).hasPrefix("v1:"))
        #expect(throws: ConnectorError.self) { try verify(["X-HubSpot-Signature": "00", "X-HubSpot-Signature-Version": "v9"], uri: "https://x.test/", body: "") }
        #expect(throws: ConnectorError.self) { try verify([:], uri: "https://x.test/", body: "") }
    }

    @Test func basicCredentialsAreCheckedAgainstEachPassword() throws {
        let header = "Basic " + Data("chargebee:s3cret".utf8).base64EncodedString()
        try WebhookSignature.verifyBasic(header: header, user: "chargebee", passwords: ["old", "s3cret"])
        #expect(throws: ConnectorError.self) { try WebhookSignature.verifyBasic(header: header, user: "chargebee", passwords: ["other"]) }
        #expect(throws: ConnectorError.self) { try WebhookSignature.verifyBasic(header: "Bearer x", user: "chargebee", passwords: ["s3cret"]) }
        #expect(throws: ConnectorError.self) { try WebhookSignature.verifyBasic(header: nil, user: "chargebee", passwords: ["s3cret"]) }
    }
}
