// The floor of the transport: the same newline-terminated lines over a raw Unix stream socketpair
// between two threads of this process, with blocking reads and writes and no JSON at all.
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct BaselineFigures: Encodable, Sendable {
    var roundTrip: LatencyStats
    var requestBytes: Int
    var responseBytes: Int
    var oneWay: OneWayFigure

    enum CodingKeys: String, CodingKey {
        case roundTrip = "round_trip_us"
        case requestBytes = "request_bytes"
        case responseBytes = "response_bytes"
        case oneWay = "one_way"
    }
}

enum SocketPairBaseline {
    static func run(_ options: Options, lines: SampleLines) async throws -> BaselineFigures {
        let request = [UInt8](lines.pingRequest)
        let response = [UInt8](lines.pingResponse)
        let notification = [UInt8](lines.notification)
        let roundTrip = try await echo(request: request, response: response, warmup: options.warmup, iterations: options.iterations)
        let oneWay = try await oneWay(line: notification, count: options.oneWay)
        return BaselineFigures(
            roundTrip: roundTrip, requestBytes: request.count, responseBytes: response.count, oneWay: oneWay
        )
    }

    /// Sequential round trips: one thread writes the request line and reads up to the newline of
    /// the answer; the other reads request lines and writes a response line for each.
    static func echo(request: [UInt8], response: [UInt8], warmup: Int, iterations: Int) async throws -> LatencyStats {
        let (client, server) = try socketPair()
        defer { close(server) }
        let echoer = startThread("baseline-echo") { () throws(BenchError) in
            defer { shutdown(server, Int32(SHUT_RDWR)) }
            var reader = LineReader(fd: server)
            while try reader.nextLine() {
                try writeAll(server, response)
            }
        }
        let samples = try await onThread("baseline-client") { () throws(BenchError) -> [UInt64] in
            defer { shutdown(client, Int32(SHUT_RDWR)) }
            var reader = LineReader(fd: client)
            var samples: [UInt64] = []
            samples.reserveCapacity(iterations)
            for round in 0..<(warmup + iterations) {
                let start = monotonicNanoseconds()
                try writeAll(client, request)
                guard try reader.nextLine() else { throw BenchError("echo thread closed the socketpair") }
                if round >= warmup { samples.append(monotonicNanoseconds() - start) }
            }
            return samples
        }
        try await echoer.value
        close(client)
        return LatencyStats(nanoseconds: samples)
    }

    /// One-way: one thread writes `count` lines, one write(2) per line; the other reads in 64 KiB
    /// chunks and splits on newlines. Timed from the first write to the last newline read.
    static func oneWay(line: [UInt8], count: Int) async throws -> OneWayFigure {
        let (writer, reader) = try socketPair()
        defer { close(reader) }
        let started = Timestamp()
        let reading = startThread("baseline-reader") { () throws(BenchError) -> UInt64 in
            defer { shutdown(reader, Int32(SHUT_RDWR)) }
            var lines = LineReader(fd: reader)
            for _ in 0..<count {
                guard try lines.nextLine() else { throw BenchError("writer closed after fewer than \(count) lines") }
            }
            return monotonicNanoseconds()
        }
        try await onThread("baseline-writer") { () throws(BenchError) in
            defer { close(writer) }
            started.set(monotonicNanoseconds())
            for _ in 0..<count { try writeAll(writer, line) }
        }
        let finished = try await reading.value
        return OneWayFigure(messages: count, lineBytes: line.count, nanoseconds: finished - started.get())
    }

    // MARK: Helpers

    private static func socketPair() throws(BenchError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw BenchError("socketpair: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(BenchError) {
        let failure: Int32? = bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = send(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure { throw BenchError("write: \(String(cString: strerror(failure)))") }
    }

    /// Runs blocking work on a thread of its own, off the cooperative pool.
    private static func startThread<T: Sendable>(
        _ name: String, _ body: @escaping @Sendable () throws(BenchError) -> T
    ) -> Task<T, any Error> {
        let (stream, continuation) = AsyncStream.makeStream(of: Result<T, BenchError>.self)
        let thread = Thread {
            continuation.yield(Result { () throws(BenchError) -> T in try body() })
            continuation.finish()
        }
        thread.name = name
        thread.start()
        return Task {
            for await result in stream { return try result.get() }
            throw BenchError("\(name) ended without a result")
        }
    }

    private static func onThread<T: Sendable>(
        _ name: String, _ body: @escaping @Sendable () throws(BenchError) -> T
    ) async throws -> T {
        try await startThread(name, body).value
    }
}

/// A time one thread records and another reads after joining it.
final class Timestamp: Sendable {
    private let value = Atomic<UInt64>(0)
    func set(_ nanoseconds: UInt64) { value.store(nanoseconds, ordering: .releasing) }
    func get() -> UInt64 { value.load(ordering: .acquiring) }
}

/// Reads a stream and finds line ends (memchr), without copying or parsing the lines.
struct LineReader: ~Copyable {
    private let fd: Int32
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private var start = 0
    private var end = 0

    init(fd: Int32) { self.fd = fd }

    deinit { buffer.deallocate() }

    /// Consumes one line. Returns false at end of stream.
    mutating func nextLine() throws(BenchError) -> Bool {
        while true {
            if start < end, let base = buffer.baseAddress,
               let newline = memchr(base + start, 0x0A, end - start) {
                start = base.distance(to: UnsafeMutableRawPointer(newline)) + 1
                return true
            }
            // No newline in what is left: the partial line's bytes are not needed, only its end.
            start = 0
            end = 0
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw BenchError("read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return false }
            end = count
        }
    }
}
