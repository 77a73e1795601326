@testable import AirbyteKit
import Foundation
import Testing

/// A source's output read a line at a time from a real child process over a real pipe.
@Suite struct AirbyteSourceProcessTests {
    /// Lines of every length from 0 to 3,000 bytes, written by a child faster than they are read, cross the
    /// reader's 256 KiB reads at every offset; each must arrive whole and in order.
    @Test func linesCrossingReadsArriveWholeAndInOrder() async throws {
        let lines = Locked<[Data]>([])
        let script = """
            i=0; while [ $i -lt 4000 ]; do printf '{"i":%d,"pad":"%0*d"}\\n' $i $(( (i * 7919) % 3001 )) 0; i=$((i+1)); done
            """
        let process = try AirbyteSourceProcess(
            command: ["/bin/sh", "-c", script], arguments: [], directory: "/", environment: [:],
            onLine: { line in lines.withLock { $0.append(line) } }, onStderr: { _ in })
        #expect(await process.wait() == 0)
        let read = lines.withLock { $0 }
        #expect(read.count == 4000)
        for (index, line) in read.enumerated() {
            let object = try JSONSerialization.jsonObject(with: line) as? [String: Any]
            let pad = object?["pad"] as? String
            #expect(object?["i"] as? Int == index && pad?.count == max(1, (index * 7919) % 3001), "line \(index)")
            if object?["i"] as? Int != index { break }
        }
    }
}
