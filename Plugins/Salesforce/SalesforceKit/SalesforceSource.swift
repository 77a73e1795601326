public import ConnectorKit
public import ConnectorProtocol
import Foundation
public import Logging
import Synchronization

/// A stream's cursor: where its Bulk backfill stands while one runs, then the incremental read — a
/// ``ModifiedSinceCursor`` over `SystemModstamp` (to the second) and record ids, and the
/// `nextRecordsUrl` of the query being paged.
public struct SalesforceCursor: StoredCursor, Equatable {
    /// A Bulk API 2.0 query job reading the history up to its creation.
    public struct Backfill: Codable, Sendable, Equatable {
        /// nil until the job is created.
        public var job: String?
        /// The next results page (`Sforce-Locator`); nil: the first.
        public var locator: String?
        /// The results' header row, for pages that come without one.
        public var header: [String]?
        /// When the job was created, as the org's clock says (a SOQL literal): the incremental read
        /// starts there, less the look-back.
        public var horizon: String?
        /// How long to wait before the job's state is read again (it doubles, to ``SalesforceSource/bulkCheckLimit``).
        public var waitMilliseconds: Int64?

        public init(job: String? = nil, locator: String? = nil, header: [String]? = nil, horizon: String? = nil) {
            self.job = job
            self.locator = locator
            self.header = header
            self.horizon = horizon
        }
    }

    public var backfill: Backfill?
    public var rest: ModifiedSinceCursor<String>
    /// The next page of the query being read (relative to the instance), nil between queries.
    public var next: String?
    /// When (epoch seconds, the host's clock) the stream last found nothing new: it is not asked again
    /// before `idle_interval_s` has passed, whatever the host's poll interval.
    public var idleSince: Int64?

    public init(backfill: Backfill?, rest: ModifiedSinceCursor<String>, next: String? = nil, idleSince: Int64? = nil) {
        self.backfill = backfill
        self.rest = rest
        self.next = next
        self.idleSince = idleSince
    }
}

/// Reads accounts, contacts, opportunities and products: the history once through a Bulk API 2.0
/// query job (falling back to REST queries when the job fails), then incrementally by SOQL through
/// `queryAll` on `SystemModstamp` — oldest first, paged by `nextRecordsUrl` — so deletions (`IsDeleted`)
/// come with the changes. A caught-up stream reads the look-back window behind its cursor again, for
/// records whose transaction committed after the cursor passed their second.
public final class SalesforceSource: Sendable {
    let client: SalesforceClient
    let settings: SalesforceSettings
    public let mapping: SalesforceMapping
    let logger: Logger
    /// The standard price book's id, read once.
    private let standardPricebook = Mutex<String?>(nil)

    public init(client: SalesforceClient, settings: SalesforceSettings, mapping: SalesforceMapping, logger: Logger) {
        self.client = client
        self.settings = settings
        self.mapping = mapping
        self.logger = logger
    }

    public static let streams: [StreamInfo] = [
        StreamInfo(name: "accounts", eventTypes: ["company.upserted", "company.deleted"]),
        StreamInfo(name: "contacts", eventTypes: ["contact.upserted", "contact.deleted"]),
        StreamInfo(name: "opportunities", eventTypes: ["order.won", "deal.upserted", "order.deleted", "deal.deleted"]),
        StreamInfo(name: "products", eventTypes: ["product.upserted", "product.deleted"]),
    ]

    /// The first stamp of a stream that reads the whole history.
    static let epoch = "1970-01-01T00:00:00Z"
    /// How long one poll waits for a Bulk job; a job still running then is asked about again at the next
    /// poll, its state read less and less often (a large org's job may run for an hour: each read is an
    /// API request).
    static let bulkWait: Duration = .seconds(20)
    static let bulkCheckLimit: Int64 = 10_000

    public func poll(_ params: PollParams) async throws -> PollResult {
        guard settings.streams.contains(params.stream) else {
            guard SalesforceSettings.objectStreams.contains(params.stream) else {
                throw ConnectorError(.permanent, "the Salesforce connector has no stream \"\(params.stream)\"")
            }
            return PollResult(events: [], cursor: params.cursor, hasMore: false)
        }
        let start = settings.since ?? Self.epoch
        var cursor = try params.cursor.map { try SalesforceCursor.decode($0, connector: "Salesforce") }
            ?? SalesforceCursor(backfill: settings.bulkBackfill ? SalesforceCursor.Backfill() : nil, rest: ModifiedSinceCursor(stamp: start, start: start))
        let wanted = max(1, min(params.maxEvents, 10_000))
        if cursor.backfill != nil {
            do {
                if let page = try await backfill(params.stream, &cursor, wanted: wanted) { return page }
            } catch let error as ConnectorError where error.code == .permanent && cursor.backfill?.job != nil {
                // The job is gone or refused (deleted, expired after its 7 days, another API version):
                // REST queries read the history from the stream's start (records already read come again,
                // with the same versions: the host drops them).
                logger.warning("the Bulk query job of a backfill cannot be read: reading the history by REST queries instead", metadata: [
                    "stream": "\(params.stream)", "salesforce.job": "\(cursor.backfill?.job ?? "")", "connector.error": "\(error.message)",
                ])
                cursor.backfill = nil
                cursor.next = nil
            }
        }
        return try await incremental(params.stream, &cursor, wanted: wanted)
    }

    // MARK: Bulk backfill

    /// One step of the Bulk backfill: a results page, or nil when the backfill ended (done, or its job
    /// failed and REST takes over from the same start).
    func backfill(_ stream: String, _ cursor: inout SalesforceCursor, wanted: Int) async throws -> PollResult? {
        guard var backfill = cursor.backfill else { return nil }
        let jobs = client.dataPath + "/jobs/query"
        guard let job = backfill.job else {
            let object = SalesforceMapping.object(stream)
            let conditions = settings.since.map { ["SystemModstamp >= \($0)"] } ?? []
            let answer = try await client.json("POST", jobs, body: [
                "operation": "query", "query": .string(SOQL.select(mapping.fields(stream), from: object, where: conditions)),
                "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF",
            ])
            guard let id = answer["id"]?.stringValue else {
                throw ConnectorError(.transient, "Salesforce created a Bulk query job without an id: \(answer)")
            }
            backfill.job = id
            backfill.horizon = SalesforceTime.stamp(answer["createdDate"]?.stringValue) ?? SalesforceTime.soql(Int64(Date().timeIntervalSince1970))
            cursor.backfill = backfill
            return PollResult(events: [], cursor: cursor.encoded(), hasMore: true)
        }
        if backfill.locator == nil && backfill.header == nil {
            // Not read yet: wait (a while, within this poll) for the job to complete.
            let deadline = ContinuousClock.now + Self.bulkWait
            var delay = backfill.waitMilliseconds ?? 100
            while true {
                let info = try await client.json("GET", "\(jobs)/\(job)")
                let state = info["state"]?.stringValue ?? ""
                if state == "JobComplete" { break }
                if state == "Failed" || state == "Aborted" {
                    // REST queries read the same history instead, from the stream's start.
                    logger.warning("the Bulk query job of a backfill failed: reading the history by REST queries instead", metadata: [
                        "stream": "\(stream)", "salesforce.job": "\(job)", "salesforce.job_state": "\(state)",
                        "salesforce.error": "\(info["errorMessage"]?.stringValue ?? "none given")",
                    ])
                    cursor.backfill = nil
                    cursor.next = nil
                    return nil
                }
                guard ContinuousClock.now + .milliseconds(delay) < deadline else {
                    // Still running: the host's next poll (after its interval) asks again.
                    backfill.waitMilliseconds = delay
                    cursor.backfill = backfill
                    return PollResult(events: [], cursor: cursor.encoded(), hasMore: false)
                }
                try await Task.sleep(for: .milliseconds(delay))
                delay = min(delay * 2, Self.bulkCheckLimit)
            }
        }
        var query = [("maxRecords", String(max(wanted, 1)))]
        if let locator = backfill.locator { query.append(("locator", locator)) }
        let response = try await client.text("\(jobs)/\(job)/results", query: query)
        let parsed: (header: [String], records: [SalesforceRecord])
        do {
            parsed = try BulkCSV.records(response.body, header: backfill.header)
        } catch {
            throw ConnectorError(.transient, "the results of Bulk query job \(job) are not CSV Salesforce writes: \(error.description)")
        }
        let (events, rejects) = try await map(stream, parsed.records)
        let locator = response.header("Sforce-Locator").flatMap { $0.isEmpty || $0 == "null" ? nil : $0 }
        if let locator {
            backfill.locator = locator
            backfill.header = parsed.header
            cursor.backfill = backfill
        } else {
            // Done: the incremental read starts at the job's creation, less the look-back (changes made
            // while the job ran are read again; their events are the same and the host drops them).
            let horizon = backfill.horizon.flatMap(SalesforceTime.seconds).map { SalesforceTime.soql($0 - Int64(settings.lookbackSeconds)) } ?? cursor.rest.stamp
            let stamp = max(horizon, cursor.rest.stamp)
            cursor.rest = ModifiedSinceCursor(stamp: stamp, start: stamp)
            cursor.backfill = nil
            _ = try? await client.json("DELETE", "\(jobs)/\(job)")
        }
        return PollResult(events: events, cursor: cursor.encoded(), hasMore: true, rejects: rejects)
    }

    // MARK: Incremental reads

    func incremental(_ stream: String, _ cursor: inout SalesforceCursor, wanted: Int) async throws -> PollResult {
        // A caught-up stream costs the org's daily API requests on every poll: it asks at most once per
        // idle interval.
        let now = Int64(Date().timeIntervalSince1970)
        if cursor.next == nil, let idle = cursor.idleSince, now - idle < Int64(settings.idleIntervalSeconds), now >= idle {
            return PollResult(events: [], cursor: cursor.encoded(), hasMore: false)
        }
        let object = SalesforceMapping.object(stream)
        let fields = mapping.fields(stream)
        var page: JSONValue
        do {
            // Pages no larger than the host takes in one poll, so that each is read whole and the next
            // one followed (a page cut short sends the query again from the cursor).
            let pages = Self.batchHeader(min(settings.pageSize, wanted + cursor.rest.seen.count))
            if let next = cursor.next {
                page = try await client.json("GET", next, headers: pages)
            } else {
                page = try await queryAll(SOQL.select(fields, from: object, where: ["SystemModstamp >= \(cursor.rest.stamp)"],
                                                      orderBy: ["SystemModstamp ASC", "Id ASC"]), headers: pages)
            }
        } catch let error as ConnectorError where error.details?["salesforce_error"]?.stringValue == "INVALID_QUERY_LOCATOR" && cursor.next != nil {
            // The query's locator expired (15 minutes unused): the same query again from the cursor.
            cursor.next = nil
            page = try await queryAll(SOQL.select(fields, from: object, where: ["SystemModstamp >= \(cursor.rest.stamp)"], orderBy: ["SystemModstamp ASC", "Id ASC"]))
        }
        let records = (page["records"]?.arrayValue ?? []).compactMap(SalesforceRecord.init(json:))
        let rows = records.compactMap { record in record.stamp.map { ModifiedSinceCursor<String>.Row(id: record.id, stamp: $0, fingerprint: Self.fingerprint(record)) } }
        let (emit, next) = cursor.rest.advance(over: rows, wanted: wanted)
        cursor.rest = next
        // The page's next one follows on only when every row of this one was looked at.
        let consideredAll = emit.count < wanted || rows.last.map { row in emit.last?.id == row.id } ?? true
        cursor.next = consideredAll ? page["nextRecordsUrl"]?.stringValue : nil
        var chosen = Set(emit.map(\.id))
        var read = records
        if cursor.next == nil, page["done"]?.boolValue ?? true, consideredAll, settings.lookbackSeconds > 0, emit.count < wanted,
           let stamp = SalesforceTime.seconds(cursor.rest.stamp) {
            // Caught up: the look-back window is read again for records committed late.
            let from = max(SalesforceTime.soql(stamp - Int64(settings.lookbackSeconds)), cursor.rest.floor)
            let late = try await queryAll(SOQL.select(fields, from: object, where: ["SystemModstamp >= \(from)", "SystemModstamp < \(cursor.rest.stamp)"],
                                                      orderBy: ["SystemModstamp ASC", "Id ASC"]))
            let lateRecords = (late["records"]?.arrayValue ?? []).compactMap(SalesforceRecord.init(json:))
            let lateRows = lateRecords.compactMap { record in record.stamp.map { ModifiedSinceCursor<String>.Row(id: record.id, stamp: $0, fingerprint: Self.fingerprint(record)) } }
            let revisited = cursor.rest.revisit(lateRows, wanted: wanted - emit.count)
            cursor.rest = revisited.next
            chosen.formUnion(revisited.emit.map(\.id))
            read += lateRecords
        }
        var seen = Set<String>()
        let picked = read.filter { chosen.contains($0.id) && seen.insert($0.id).inserted }
        cursor.idleSince = picked.isEmpty && cursor.next == nil ? now : nil
        let (events, rejects) = try await map(stream, picked)
        return PollResult(events: events, cursor: cursor.encoded(), hasMore: cursor.next != nil, rejects: rejects)
    }

    /// What an event of the record carries: its version.
    static func fingerprint(_ record: SalesforceRecord) -> String {
        record.version ?? ""
    }

    var batchHeader: [(name: String, value: String)] { Self.batchHeader(settings.pageSize) }

    /// `Sforce-Query-Options: batchSize=N` (200 to 2000, Salesforce's range).
    static func batchHeader(_ size: Int) -> [(name: String, value: String)] {
        [("Sforce-Query-Options", "batchSize=\(min(2_000, max(200, size)))")]
    }

    /// `GET /queryAll?q=…`: deleted records too.
    func queryAll(_ soql: String, headers: [(name: String, value: String)]? = nil) async throws -> JSONValue {
        try await client.json("GET", client.dataPath + "/queryAll", query: [("q", soql)], headers: headers ?? batchHeader)
    }

    /// Every record a query answers, following `nextRecordsUrl` (for the related records of a page).
    func queryEverything(_ soql: String) async throws -> [SalesforceRecord] {
        var page = try await client.json("GET", client.dataPath + "/query", query: [("q", soql)], headers: batchHeader)
        var records = (page["records"]?.arrayValue ?? []).compactMap(SalesforceRecord.init(json:))
        while let next = page["nextRecordsUrl"]?.stringValue {
            page = try await client.json("GET", next, headers: batchHeader)
            records += (page["records"]?.arrayValue ?? []).compactMap(SalesforceRecord.init(json:))
        }
        return records
    }

    // MARK: Mapping with related records

    /// The records' events and rejects, with what they are mapped with fetched first.
    public func map(_ stream: String, _ records: [SalesforceRecord]) async throws -> (events: [Event], rejects: [SourceReject]) {
        guard !records.isEmpty else { return ([], []) }
        var related = SalesforceMapping.Related()
        let live = records.filter { !$0.deleted }.map(\.id)
        switch stream {
        case "accounts":
            let contacts = try await queryChunks(live) { chunk in
                SOQL.select(["Id", "AccountId", "Email"], from: "Contact", where: ["AccountId IN \(SOQL.list(chunk))", "Email != null"],
                            orderBy: ["AccountId ASC", "CreatedDate ASC", "Id ASC"])
            }
            for contact in contacts {
                if let account = contact["AccountId"], let email = contact["Email"], related.emails[account] == nil { related.emails[account] = email }
            }
        case "opportunities":
            let items = try await queryChunks(live) { chunk in
                SOQL.select(self.mapping.lineItemFields, from: "OpportunityLineItem", where: ["OpportunityId IN \(SOQL.list(chunk))"],
                            orderBy: ["OpportunityId ASC", "SortOrder ASC", "Id ASC"])
            }
            for item in items {
                if let opportunity = item["OpportunityId"] { related.lineItems[opportunity, default: []].append(item) }
            }
        case "products":
            guard !live.isEmpty, let pricebook = try await standardPricebookID() else { break }
            let prices = try await queryChunks(live) { chunk in
                SOQL.select(self.mapping.priceFields, from: "PricebookEntry", where: ["Product2Id IN \(SOQL.list(chunk))", "Pricebook2Id = \(SOQL.quote(pricebook))"])
            }
            for price in prices where price["IsActive"] != "false" {
                if let product = price["Product2Id"] { related.prices[product, default: []].append(price) }
            }
        default:
            break
        }
        var events: [Event] = []
        var rejects: [SourceReject] = []
        for record in records {
            switch mapping.map(stream, record, related: related) {
            case .event(let event): events.append(event)
            case .reject(let reject): rejects.append(reject)
            }
        }
        return (events, rejects)
    }

    /// The records a query answers for each chunk of `ids` (200 at a time), four queries at once, in
    /// the chunks' order.
    func queryChunks(_ ids: [String], _ query: @escaping @Sendable ([String]) -> String) async throws -> [SalesforceRecord] {
        let chunks = Self.chunks(ids)
        var answers = [[SalesforceRecord]](repeating: [], count: chunks.count)
        try await withThrowingTaskGroup(of: (Int, [SalesforceRecord]).self) { group in
            var next = 0
            func start() {
                guard next < chunks.count else { return }
                let (index, chunk) = (next, chunks[next])
                next += 1
                group.addTask { (index, try await self.queryEverything(query(chunk))) }
            }
            for _ in 0..<4 { start() }
            while let (index, records) = try await group.next() {
                answers[index] = records
                start()
            }
        }
        return answers.flatMap { $0 }
    }

    func standardPricebookID() async throws -> String? {
        if let id = standardPricebook.withLock({ $0 }) { return id }
        let found = try await queryEverything(SOQL.select(["Id"], from: "Pricebook2", where: ["IsStandard = true"], limit: 1)).first?.id
        standardPricebook.withLock { $0 = found }
        return found
    }

    /// Ids 200 at a time: an `IN` list that keeps a query's URL short.
    static func chunks(_ ids: [String]) -> [[String]] {
        stride(from: 0, to: ids.count, by: 200).map { Array(ids[$0..<min(ids.count, $0 + 200)]) }
    }
}
