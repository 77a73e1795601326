// Durable ingest through the store, beside raw SQLite batched inserts of the same rows, in one run;
// with --postgres, the same ingest through the PostgreSQL store (an empty database, its password in PGPASSWORD).
// usage: pipeline-bench [--events N] [--batch B] [--postgres postgres://USER@HOST:PORT/DATABASE] [--json]
import ConnectorProtocol
import Foundation
import GRDB
import HostCore
import Logging
import PostgresNIO

struct Options {
    var events = 200_000
    var batch = 500
    var json = false
    var postgres: URLComponents?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--events": events = iterator.next().flatMap(Int.init) ?? events
            case "--batch": batch = iterator.next().flatMap(Int.init) ?? batch
            case "--json": json = true
            case "--postgres": postgres = iterator.next().flatMap(URLComponents.init(string:))
            default:
                FileHandle.standardError.write(Data("usage: pipeline-bench [--events N] [--batch B] [--postgres URL] [--json]\n".utf8))
                exit(2)
            }
        }
    }
}

/// A customer like the peers' common record: ~10 fields, ~300 bytes.
func customerEvent(_ i: Int) -> Event {
    Event(
        type: "customer.upserted",
        source: SourceRef(objectType: "customer", objectID: String(format: "cus_%012d", i), version: String(1_700_000_000 + i)),
        tenant: "acme", entity: "acme-fr",
        correlationID: "bench-\(i)", occurredAt: "2026-11-22T00:00:00Z", orderingKey: String(format: "cus_%012d", i),
        record: .customer(Customer(
            name: "Customer Number \(i)", email: "user\(i)@example.com", isCompany: i % 7 == 0,
            address: Address(city: "Lyon", country: "FR"), currency: CurrencyCode("USD")
        ))
    )
}

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    let elapsed = start.duration(to: .now)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

let options = Options(CommandLine.arguments)
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-bench-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

let events = (0..<options.events).map(customerEvent)
let route = RouteConfig(
    id: "bench", from: "src", to: "sink", events: ["*"], tenant: nil, entity: nil, maxAttempts: 10, maxAgeSeconds: 86_400,
    rateLimit: nil, concurrency: 16, retryBaseMilliseconds: 1000, retryMaxMilliseconds: 60_000
)

// Events arrive as JSON from the source plugin and are stored as those bytes: encode them once, up front.
let codec = RPCCodec()
let incoming = try events.map { event in
    let payload = try codec.json(event)
    return Store.Incoming(header: try EventHeader(json: payload), payload: payload)
}

// 1. The store: dedupe on the idempotency key, one delivery per event, cursor, WAL, synchronous=FULL.
let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
var cursor = 0
let storeSeconds = try await seconds {
    while cursor < events.count {
        let page = Array(incoming[cursor..<min(incoming.count, cursor + options.batch)])
        cursor += page.count
        _ = try await store.ingest(connector: "src", stream: "s", incoming: page, cursor: String(cursor), routes: [route])
    }
}

// 2. Raw SQLite: the same encoded rows into one plain table, same batches, same pragmas.
let rows = incoming.map { ($0.header.idempotencyKey(connector: "src"), $0.payload) }
var configuration = Configuration()
configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
let raw = try DatabasePool(path: directory.appendingPathComponent("raw.sqlite").path, configuration: configuration)
try await raw.write { db in try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, key TEXT NOT NULL, payload BLOB NOT NULL)") }
var offset = 0
let rawSeconds = try await seconds {
    while offset < rows.count {
        let page = rows[offset..<min(rows.count, offset + options.batch)]
        offset += page.count
        try await raw.write { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO rows (key, payload) VALUES (?, ?)")
            for (key, payload) in page { try insert.execute(arguments: [key, payload]) }
        }
    }
}

// 3. The PostgreSQL store, when asked for: the same pages, each one transaction.
var postgresSeconds: Double?
if let url = options.postgres, let host = url.host, let user = url.user {
    let configuration = PostgresClient.Configuration(host: host, port: url.port ?? 5432, username: user,
                                                     password: ProcessInfo.processInfo.environment["PGPASSWORD"],
                                                     database: String(url.path.dropFirst()), tls: .disable)
    let postgres = try await PostgresStore(configuration: configuration, logger: Logger(label: "pipeline-bench"))
    var at = 0
    postgresSeconds = try await seconds {
        while at < incoming.count {
            let page = Array(incoming[at..<min(incoming.count, at + options.batch)])
            at += page.count
            _ = try await postgres.ingest(connector: "src", stream: "s", incoming: page, cursor: String(at), routes: [route])
        }
    }
    postgres.close()
}

let averageBytes = rows.map(\.1.count).reduce(0, +) / max(rows.count, 1)
let storeRate = Double(options.events) / storeSeconds
let rawRate = Double(options.events) / rawSeconds
let postgresRate = postgresSeconds.map { Double(options.events) / $0 }
if options.json {
    let postgresField = postgresRate.map { #","postgres_store_events_per_s":\#(Int($0))"# } ?? ""
    print(#"{"events":\#(options.events),"batch":\#(options.batch),"event_bytes":\#(averageBytes),"store_events_per_s":\#(Int(storeRate)),"raw_sqlite_rows_per_s":\#(Int(rawRate))\#(postgresField)}"#)
} else {
    print("durable ingest, \(options.events) events of ~\(averageBytes) bytes, \(options.batch) per transaction, WAL + synchronous=FULL")
    print(String(format: "  store.ingest (dedupe + 1 route + cursor): %9.0f events/s  (%.2f s)", storeRate, storeSeconds))
    print(String(format: "  raw SQLite batched inserts, same rows:     %9.0f rows/s    (%.2f s)", rawRate, rawSeconds))
    print(String(format: "  store / raw: %.2f", storeRate / rawRate))
    if let postgresRate, let postgresSeconds {
        print(String(format: "  PostgreSQL store.ingest (the same):         %9.0f events/s  (%.2f s)", postgresRate, postgresSeconds))
    }
}

if ProcessInfo.processInfo.environment["BENCH_BREAKDOWN"] != nil {
    let encodeSeconds = try await seconds { for event in events { _ = try codec.json(event) } }
    print(String(format: "  (breakdown) JSONEncoder of the events alone: %.0f events/s", Double(events.count) / encodeSeconds))
    let noRoute = try SQLiteStore(path: directory.appendingPathComponent("store2.sqlite").path)
    var at = 0
    let noRouteSeconds = try await seconds {
        while at < events.count {
            let page = Array(incoming[at..<min(incoming.count, at + options.batch)])
            at += page.count
            _ = try await noRoute.ingest(connector: "src", stream: "s", incoming: page, cursor: String(at), routes: [])
        }
    }
    print(String(format: "  (breakdown) store.ingest without routes: %.0f events/s", Double(events.count) / noRouteSeconds))
}
