@testable import ConnectorKit
import ConnectorProtocol
import Foundation
import Testing

/// How a sink reads a delivery now that the host checks only an event's header (issue 15): an event it
/// cannot read is a permanent error naming the member (a dead letter at the first attempt, not a
/// protocol error retried until the route gives up), and in a batch it fails only itself.
@Suite struct DeliveryItemTests {
    let codec = RPCCodec()

    func event(_ id: String, version: Int = 1, customer: String) -> String {
        #"{"schema_version":\#(version),"type":"customer.upserted","source":{"object_type":"customer","object_id":"\#(id)"},"correlation_id":"c-\#(id)","occurred_at":"t","record":{"kind":"customer","customer":\#(customer)}}"#
    }

    func delivery(_ event: String) -> String {
        #"{"event":\#(event),"source_connector":"src","idempotency_key":"k","attempt":1,"links":[]}"#
    }

    func message(_ method: String, _ params: String) throws -> RPCMessage {
        try codec.decode(line: Data(#"{"jsonrpc":"2.0","id":1,"method":"\#(method)","params":\#(params)}"#.utf8))
    }

    @Test func aDeliveryWhoseEventCannotBeReadIsPermanentNamingTheMember() throws {
        let good = try codec.params(DeliveryItem.self, of: try message(Method.sinkDeliver, delivery(event("1", customer: #"{"name":"A"}"#))))
        #expect(try good.result.get().event.source.objectID == "1")
        let unreadable = try codec.params(DeliveryItem.self, of: try message(Method.sinkDeliver, delivery(event("2", customer: #"{"name":7}"#))))
        guard case .failure(let error) = unreadable.result else { Issue.record("read: \(unreadable.result)"); return }
        #expect(error.code == .permanent && error.details?["reason"]?.stringValue == "unreadable_event")
        #expect(error.message.hasPrefix(#"this plugin cannot read the event: "event.record.customer.name" must be a string"#), "\(error.message)")
        let newer = try codec.params(DeliveryItem.self, of: try message(Method.sinkDeliver, delivery(event("3", version: 2, customer: #"{"name":7}"#))))
        guard case .failure(let refusal) = newer.result else { Issue.record("read: \(newer.result)"); return }
        #expect(refusal.code == .permanent && refusal.details?["reason"]?.stringValue == "schema_version", "newer schema wins: \(refusal)")
        // What is not the event's is still the host's fault: a protocol error, as before.
        #expect(throws: ConnectorError.self) {
            try codec.params(DeliveryItem.self, of: try message(Method.sinkDeliver, #"{"event":\#(event("4", customer: #"{"name":"A"}"#)),"attempt":1}"#))
        }
    }

    @Test func inABatchAnUnreadableEventFailsOnlyItself() throws {
        let params = #"{"deliveries":[\#([delivery(event("1", customer: #"{"name":"A"}"#)), delivery(event("2", customer: "{}")), delivery(event("3", customer: #"{"name":"C"}"#))].joined(separator: ","))]}"#
        let items = try codec.params(DeliveryBatch.self, of: try message(Method.sinkDeliverBatch, params)).deliveries.map(\.result)
        #expect(items.map { (try? $0.get())?.event.source.objectID } == ["1", nil, "3"])
        guard case .failure(let error) = items[1] else { Issue.record("read: \(items[1])"); return }
        #expect(error.message == #"this plugin cannot read the event: missing "event.record.customer.name""#, "\(error.message)")
    }
}
