// JSON-RPC over the plugin socket (the host's real NIO pipeline and RPCConnection against the real
// connector-sample process) beside a raw Unix socketpair carrying the same lines, in one run.
// usage: protocol-bench [--iterations N] [--warmup N] [--concurrency N] [--requests N]
//                       [--one-way N] [--plugin PATH] [--json]
import ConnectorProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct Options: Sendable {
    /// Sequential round trips measured, on each transport.
    var iterations = 20_000
    /// Round trips before the measured ones.
    var warmup = 1_000
    /// Requests in flight at once in the throughput run.
    var concurrency = 64
    /// Requests in the throughput run.
    var requests = 100_000
    /// One-way messages, on each transport.
    var oneWay = 200_000
    var plugin = Options.defaultPlugin()
    var json = false

    static let usage = """
        usage: protocol-bench [--iterations N] [--warmup N] [--concurrency N] [--requests N]
                              [--one-way N] [--plugin PATH] [--json]
          --iterations N   sequential ping round trips measured (default 20000)
          --warmup N       round trips before those (default 1000)
          --concurrency N  pings in flight at once in the throughput run (default 64)
          --requests N     pings in the throughput run (default 100000)
          --one-way N      one-way messages host -> plugin, and lines over the socketpair (default 200000)
          --plugin PATH    the plugin executable (default: connector-sample beside this executable)
          --json           print one JSON object instead of the table

        """

    init(_ arguments: [String]) throws(BenchError) {
        var iterator = arguments.dropFirst().makeIterator()
        func count(_ name: String, minimum: Int = 1) throws(BenchError) -> Int {
            guard let text = iterator.next(), let value = Int(text), value >= minimum else {
                throw BenchError("\(name) needs a whole number of at least \(minimum)")
            }
            return value
        }
        while let argument = iterator.next() {
            switch argument {
            case "--iterations": iterations = try count(argument)
            case "--warmup": warmup = try count(argument, minimum: 0)
            case "--concurrency": concurrency = try count(argument)
            case "--requests": requests = try count(argument)
            case "--one-way": oneWay = try count(argument)
            case "--plugin":
                guard let path = iterator.next() else { throw BenchError("--plugin needs a path") }
                plugin = path
            case "--json": json = true
            case "--help", "-h":
                print(Self.usage, terminator: "")
                exit(0)
            default: throw BenchError("unknown argument \(argument)")
            }
        }
    }

    /// connector-sample in the directory of the running executable (.build/release in a release build).
    static func defaultPlugin() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let executable = length > 0
            ? String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("connector-sample").path
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func monotonicNanoseconds() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}

/// Round-trip latencies, in microseconds.
struct LatencyStats: Encodable, Sendable {
    var count: Int
    var p50: Double
    var p99: Double
    var p999: Double
    var mean: Double
    var min: Double
    var max: Double

    init(nanoseconds samples: [UInt64]) {
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return Double(sorted[Swift.min(Swift.max(rank, 0), sorted.count - 1)]) / 1000
        }
        count = sorted.count
        p50 = percentile(0.50)
        p99 = percentile(0.99)
        p999 = percentile(0.999)
        mean = sorted.isEmpty ? 0 : Double(sorted.reduce(0, +)) / Double(sorted.count) / 1000
        min = Double(sorted.first ?? 0) / 1000
        max = Double(sorted.last ?? 0) / 1000
    }
}

/// Messages sent one way as fast as they go.
struct OneWayFigure: Encodable, Sendable {
    var messages: Int
    /// Bytes per message on the wire, newline included.
    var lineBytes: Int
    var seconds: Double
    var messagesPerSecond: Double
    /// 10^6 bytes per second.
    var megabytesPerSecond: Double

    init(messages: Int, lineBytes: Int, nanoseconds: UInt64) {
        self.messages = messages
        self.lineBytes = lineBytes
        seconds = Double(nanoseconds) / 1e9
        messagesPerSecond = Double(messages) / seconds
        megabytesPerSecond = Double(messages * lineBytes) / seconds / 1e6
    }

    enum CodingKeys: String, CodingKey {
        case messages, seconds
        case lineBytes = "line_bytes"
        case messagesPerSecond = "messages_per_second"
        case megabytesPerSecond = "mb_per_second"
    }
}

/// The lines both transports carry, encoded once by the protocol's codec.
struct SampleLines: Sendable {
    /// A `ping` request and its answer, as the plugin socket carries them.
    var pingRequest: Data
    var pingResponse: Data
    /// A `log`-shaped notification of 300 bytes (newline included), most of it the message text:
    /// the size of a typical small message. A plugin ignores notifications it does not handle, so
    /// it reads and decodes the envelope and moves on.
    var notification: Data

    static let notificationBytes = 300

    init() throws {
        let codec = RPCCodec()
        pingRequest = try codec.request(id: .number(12_345), method: Method.ping, params: EmptyParams())
        pingResponse = try codec.response(id: .number(12_345), result: PingResult(inFlight: 1))
        func log(_ message: String) throws -> Data {
            try codec.notification(
                method: Method.log,
                params: LogParams(level: "info", message: message, metadata: ["connector.id": "bench"])
            )
        }
        // Plain ASCII without quotes or backslashes, so one character is one byte on the wire.
        let sentence = "fetched page 17 of invoices for tenant acme (entity acme-fr): 50 records, cursor eyJwYWdlIjoxN30, rate limit 87/100 left; "
        let envelope = try log("").count
        let message = String(String(repeating: sentence, count: 4).prefix(max(0, Self.notificationBytes - envelope)))
        notification = try log(message)
    }
}

struct Report: Encodable {
    struct Configuration: Encodable {
        var iterations: Int
        var warmup: Int
        var concurrency: Int
        var requests: Int
        var oneWay: Int
        var plugin: String
        var cpus: Int

        enum CodingKeys: String, CodingKey {
            case iterations, warmup, concurrency, requests, plugin, cpus
            case oneWay = "one_way"
        }
    }

    var configuration: Configuration
    var pluginSocket: PluginFigures
    var socketpairBaseline: BaselineFigures
    var totalSeconds: Double

    enum CodingKeys: String, CodingKey {
        case configuration
        case pluginSocket = "plugin_socket"
        case socketpairBaseline = "socketpair_baseline"
        case totalSeconds = "total_seconds"
    }

    func table() -> String {
        let plugin = pluginSocket, base = socketpairBaseline
        func us(_ value: Double) -> String { pad(String(format: value < 100 ? "%.1f" : "%.0f", value), 10) }
        func latencyRow(_ label: String, _ stats: LatencyStats) -> String {
            pad(label, 56, left: true) + us(stats.p50) + us(stats.p99) + us(stats.p999) + us(stats.mean)
        }
        var lines: [String] = []
        lines.append("protocol-bench: JSON-RPC lines over the plugin socket vs a raw Unix socketpair")
        lines.append("plugin \(configuration.plugin), \(configuration.cpus) CPUs")
        lines.append("")
        lines.append(
            pad("Round trip, sequential (\(grouped(configuration.iterations)) after \(grouped(configuration.warmup)) warm-up)", 56, left: true)
                + pad("p50 µs", 10) + pad("p99 µs", 10) + pad("p99.9 µs", 10) + pad("mean µs", 10)
        )
        lines.append(latencyRow("  plugin socket: ping -> {\"in_flight\":N}", plugin.roundTrip))
        lines.append(latencyRow("  socketpair: \(base.requestBytes) B line -> \(base.responseBytes) B line", base.roundTrip))
        lines.append(
            pad("  plugin socket / socketpair", 56, left: true)
                + pad(String(format: "%.1fx", plugin.roundTrip.p50 / base.roundTrip.p50), 10)
                + pad(String(format: "%.1fx", plugin.roundTrip.p99 / base.roundTrip.p99), 10)
                + pad(String(format: "%.1fx", plugin.roundTrip.p999 / base.roundTrip.p999), 10)
                + pad(String(format: "%.1fx", plugin.roundTrip.mean / base.roundTrip.mean), 10)
        )
        lines.append("")
        lines.append(pad("Throughput", 56, left: true) + pad("per second", 14) + pad("MB/s", 10))
        let concurrent = plugin.concurrent
        lines.append(
            pad("  plugin socket: ping, \(concurrent.concurrency) in flight (\(grouped(concurrent.requests)))", 56, left: true)
                + pad(grouped(Int(concurrent.requestsPerSecond.rounded())) + " req", 14)
                + pad("", 10)
                + String(format: "   latency p50 %.0f µs, p99 %.0f µs", concurrent.latency.p50, concurrent.latency.p99)
        )
        func oneWayRow(_ label: String, _ figure: OneWayFigure, _ unit: String) -> String {
            pad("  \(label): one-way \(grouped(figure.messages)) x \(figure.lineBytes) B", 56, left: true)
                + pad(grouped(Int(figure.messagesPerSecond.rounded())) + " " + unit, 14)
                + pad(String(format: "%.1f", figure.megabytesPerSecond), 10)
        }
        lines.append(oneWayRow("plugin socket", plugin.oneWay, "msg"))
        lines.append(oneWayRow("socketpair", base.oneWay, "line"))
        lines.append(
            pad("  plugin socket / socketpair", 56, left: true)
                + pad(String(format: "%.1fx", base.oneWay.messagesPerSecond / plugin.oneWay.messagesPerSecond) + " slower", 14)
        )
        lines.append("")
        let process = plugin.process
        func mib(_ kib: Int?) -> String { kib.map { String(format: "%.1f MiB", Double($0) / 1024) } ?? "?" }
        lines.append(
            "Plugin process: RSS \(mib(process.rssAfterRoundTripsKiB)) after round trips, "
                + "\(mib(process.rssAfterConcurrentKiB)) after concurrent, \(mib(process.rssAfterOneWayKiB)) after one-way, "
                + "peak \(mib(process.peakRSSKiB))"
        )
        lines.append(
            "                in_flight reported when idle: \(process.inFlightWhenIdle)"
                + (process.inFlightWhenIdle > 1 ? " (expected 0 or 1: finished requests are still counted)" : "")
        )
        lines.append("Total run \(String(format: "%.1f", totalSeconds)) s")
        return lines.joined(separator: "\n")
    }
}

func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + padding : padding + text
}

func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(digit)
    }
    return value < 0 ? "-" + result : result
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("protocol-bench: \(message)\n".utf8))
    exit(status)
}

// MARK: Main

signal(SIGPIPE, SIG_IGN)
let options: Options
do {
    options = try Options(CommandLine.arguments)
} catch {
    fail("\(error)\n\(Options.usage)", status: 2)
}
guard access(options.plugin, X_OK) == 0 else {
    fail("no executable plugin at \(options.plugin): build it with `swift build -c release --product connector-sample` or pass --plugin PATH")
}

let started = monotonicNanoseconds()
do {
    let lines = try SampleLines()
    let pluginFigures = try await PluginBench.run(options, lines: lines)
    let baseline = try await SocketPairBaseline.run(options, lines: lines)
    let report = Report(
        configuration: .init(
            iterations: options.iterations, warmup: options.warmup, concurrency: options.concurrency,
            requests: options.requests, oneWay: options.oneWay, plugin: options.plugin,
            cpus: ProcessInfo.processInfo.activeProcessorCount
        ),
        pluginSocket: pluginFigures,
        socketpairBaseline: baseline,
        totalSeconds: Double(monotonicNanoseconds() - started) / 1e9
    )
    if options.json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    } else {
        print(report.table())
    }
} catch {
    fail("\(error)")
}
