@testable import ConnectorKit
import ConnectorProtocol
import Foundation
import Synchronization
import Testing

/// The SDK's default `deliverBatch` works on at most the batch's `concurrency` deliveries at once: the
/// host hands a sink batches larger than its share of the route's concurrency, and the share holds.
@Suite struct DeliverBatchTests {
    final class Running: Sendable {
        let counts = Mutex((now: 0, most: 0))
    }

    /// A sink that counts how many of its deliveries run at once, and refuses those of ids ending in 7.
    struct CountingSink: Connector {
        static let plugin = PluginInfo(name: "counting", version: "1")
        static let capabilities = Capabilities(sinkEventTypes: ["*"])
        let running = Running()

        init(context: ConnectorContext) async throws { fatalError("made directly in the test") }
        init() {}

        func deliver(_ params: DeliverParams) async throws -> DeliverResult {
            running.counts.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            defer { running.counts.withLock { $0.now -= 1 } }
            try await Task.sleep(for: .milliseconds(20))  // long enough for the others to start meanwhile
            if params.event.source.objectID.hasSuffix("7") { throw ConnectorError(.permanent, "refused \(params.event.source.objectID)") }
            return DeliverResult(externalID: "x-\(params.event.source.objectID)")
        }
    }

    func batch(_ count: Int, concurrency: Int?) throws -> DeliveryBatch {
        let deliveries = (0..<count).map { index in
            #"{"event":{"schema_version":1,"type":"customer.upserted","source":{"object_type":"customer","object_id":"\#(index)"},"correlation_id":"c-\#(index)","occurred_at":"t","record":{"kind":"customer","customer":{"name":"A"}}},"idempotency_key":"k\#(index)","attempt":1,"links":[]}"#
        }
        let share = concurrency.map { #","concurrency":\#($0)"# } ?? ""
        let line = #"{"jsonrpc":"2.0","id":1,"method":"sink.deliver_batch","params":{"deliveries":[\#(deliveries.joined(separator: ","))]\#(share)}}"#
        let codec = RPCCodec()
        return try codec.params(DeliveryBatch.self, of: try codec.decode(line: Data(line.utf8)))
    }

    @Test(arguments: [1, 3, 16])
    func atMostTheBatchsConcurrencyRunsAtOnce(concurrency: Int) async throws {
        let sink = CountingSink()
        let batch = try batch(40, concurrency: concurrency)
        #expect(batch.concurrency == concurrency)
        let results = await sink.deliverBatch(batch.deliveries.map { try! $0.result.get() }, concurrency: batch.atOnce)
        #expect(sink.running.counts.withLock { $0.most } == concurrency)
        // Each answer in the order of the request, failures in their place.
        #expect(results.map { (try? $0.get())?.externalID } == (0..<40).map { $0 % 10 == 7 ? nil : "x-\($0)" })
    }

    /// A host that does not say (an older one) gets every delivery of the batch at once, as before.
    @Test func withoutAConcurrencyTheWholeBatchRunsAtOnce() async throws {
        let sink = CountingSink()
        let batch = try batch(12, concurrency: nil)
        #expect(batch.concurrency == nil && batch.atOnce == 12)
        _ = await sink.deliverBatch(batch.deliveries.map { try! $0.result.get() }, concurrency: batch.atOnce)
        #expect(sink.running.counts.withLock { $0.most } == 12)
    }
}
