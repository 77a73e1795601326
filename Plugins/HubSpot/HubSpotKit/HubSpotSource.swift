public import ConnectorKit
public import ConnectorProtocol
public import Foundation

/// A stream's cursor: ConnectorKit's ``ModifiedSinceCursor`` over the modified date in epoch
/// milliseconds (as text) and HubSpot record ids.
public typealias HubSpotCursor = ModifiedSinceCursor<String>

/// Reads companies, contacts and deals incrementally through the CRM search API, and their deletions.
///
/// Every page is a new search from the cursor's time stamp (`modified >= stamp`, oldest first, below
/// now less the search index's lag), never a deep `after` page: no query comes near HubSpot's cap of
/// 10,000 results, and a record changed while a backfill runs moves ahead of the cursor, where it is
/// read, instead of shifting the pages under it. Records sharing the cursor's millisecond are told
/// apart by the ids the cursor remembers; more of them than a page holds are paged through with
/// `after` on that millisecond alone. Deletions: archived records are listed (search never returns
/// them) and emitted once per archiving.
public struct HubSpotSource: Sendable {
    let client: HubSpotClient
    let settings: HubSpotSettings
    public let mapping: HubSpotMapping
    /// The clock, epoch milliseconds (tests set it).
    let now: @Sendable () -> Int64

    /// The most results one search query returns, however many pages.
    public static let searchCap = 10_000

    public init(client: HubSpotClient, settings: HubSpotSettings, mapping: HubSpotMapping,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000) }) {
        self.client = client
        self.settings = settings
        self.mapping = mapping
        self.now = now
    }

    /// Every stream and the events it gives, announced before the configuration is known (a stream an
    /// instance does not read answers empty pages).
    public static let streams: [StreamInfo] = [
        StreamInfo(name: "companies", eventTypes: ["company.upserted"]),
        StreamInfo(name: "contacts", eventTypes: ["contact.upserted"]),
        StreamInfo(name: "deals", eventTypes: ["deal.upserted", "order.won"]),
        StreamInfo(name: HubSpotSettings.archivedStream, eventTypes: ["company.deleted", "contact.deleted", "deal.deleted", "order.deleted"]),
    ]

    public func poll(_ params: PollParams) async throws -> PollResult {
        guard settings.streams.contains(params.stream) else {
            // Every instance announces every stream (capabilities come before the configuration): one
            // its `streams` leaves out is read as empty.
            guard (HubSpotSettings.objectStreams + [HubSpotSettings.archivedStream]).contains(params.stream) else {
                throw ConnectorError(.permanent, "the HubSpot connector has no stream \"\(params.stream)\"")
            }
            return PollResult(events: [], cursor: params.cursor, hasMore: false)
        }
        if params.stream == HubSpotSettings.archivedStream { return try await archived(params) }
        let objectType = params.stream
        let start = String(settings.sinceMilliseconds)
        var cursor = try params.cursor.map(Self.decode) ?? HubSpotCursor(stamp: start, start: start)
        let wanted = max(1, min(params.maxEvents, settings.pageSize))
        let before = now() - settings.searchLagMilliseconds
        let limit = min(200, cursor.limit(wanted: wanted))
        var (objects, total) = try await search(objectType, from: cursor.stamp, before: before, limit: limit)
        var more = total > objects.count || objects.count == limit
        // More records share the cursor's millisecond than a page holds: page through that millisecond,
        // and once every one of them is read, go on after it.
        if objects.count == limit, objects.allSatisfy({ $0.modified(objectType) == Int64(cursor.stamp) }) {
            objects = try await sameStamp(objectType, cursor: cursor, wanted: wanted)
            if objects.isEmpty {
                (objects, total) = try await search(objectType, from: cursor.stamp, after: true, before: before, limit: min(200, wanted))
                more = total > objects.count || objects.count == min(200, wanted)
            }
        }
        let rows = Self.rows(objects, objectType)
        let (emit, next) = cursor.advance(over: rows, wanted: wanted)
        cursor = next
        var chosen = emit.map(\.id)
        // Caught up: the last moments behind the cursor are searched again, for records HubSpot's index
        // took in late (a record it indexed after the cursor passed its millisecond).
        if !more, settings.lookbackMilliseconds > 0, let stamp = Int64(cursor.stamp), emit.count < wanted {
            let from = max(stamp - settings.lookbackMilliseconds, Int64(cursor.floor) ?? 0)
            let (late, _) = try await search(objectType, from: String(from), before: stamp, limit: 200)
            let revisited = cursor.revisit(Self.rows(late, objectType), wanted: wanted - emit.count)
            cursor = revisited.next
            chosen += revisited.emit.map(\.id)
            objects += late
        }
        let byID = Dictionary(objects.map { ($0.id, $0) }) { first, _ in first }
        let events = try await events(objectType, chosen.compactMap { byID[$0] })
        return PollResult(events: events, cursor: cursor.encoded(), hasMore: more)
    }

    /// One search page, oldest first: records modified from `from` (after it, with `after`) to before `before`.
    func search(_ objectType: String, from: String, after: Bool = false, before: Int64, limit: Int) async throws -> (objects: [HubSpotObject], total: Int) {
        let property = HubSpotMapping.modifiedProperty(objectType)
        let answer = try await client.search(objectType, [
            "filterGroups": [["filters": [
                ["propertyName": .string(property), "operator": after ? "GT" : "GTE", "value": .string(from)],
                ["propertyName": .string(property), "operator": "LT", "value": .string(String(before))],
            ]]],
            "sorts": [["propertyName": .string(property), "direction": "ASCENDING"]],
            "properties": .array(HubSpotMapping.properties(objectType, settings: settings).map { .string($0) }),
            "limit": .int(Int64(limit)),
        ])
        let objects = (answer["results"]?.arrayValue ?? []).compactMap(HubSpotObject.init)
        return (objects, Int(answer["total"]?.intValue ?? Int64(objects.count)))
    }

    /// Records as cursor rows: their modified time is both their stamp and what they carry.
    static func rows(_ objects: [HubSpotObject], _ objectType: String) -> [HubSpotCursor.Row] {
        objects.compactMap { object in
            object.modified(objectType).map { HubSpotCursor.Row(id: object.id, stamp: String($0), fingerprint: String($0)) }
        }
    }

    /// Records at the cursor's very millisecond not read yet, by `after` pages of that millisecond alone.
    func sameStamp(_ objectType: String, cursor: HubSpotCursor, wanted: Int) async throws -> [HubSpotObject] {
        let property = HubSpotMapping.modifiedProperty(objectType)
        let seen = Set(cursor.seen)
        var after: String?
        var found: [HubSpotObject] = []
        repeat {
            var request: [String: JSONValue] = [
                "filterGroups": [["filters": [["propertyName": .string(property), "operator": "EQ", "value": .string(cursor.stamp)]]]],
                "sorts": [["propertyName": "hs_object_id", "direction": "ASCENDING"]],
                "properties": .array(HubSpotMapping.properties(objectType, settings: settings).map { .string($0) }),
                "limit": 200,
            ]
            if let after { request["after"] = .string(after) }
            let answer = try await client.search(objectType, .object(request))
            let page = (answer["results"]?.arrayValue ?? []).compactMap(HubSpotObject.init)
            found += page.filter { !seen.contains($0.id) }
            after = answer["paging"]?["next"]?["after"]?.stringValue
            if let offset = after.flatMap(Int.init), offset >= Self.searchCap {
                throw ConnectorError(.permanent, "more than \(Self.searchCap) HubSpot \(objectType) share the modified time \(cursor.stamp): the search cannot read past them")
            }
        } while found.count < wanted && after != nil
        return Array(found.prefix(wanted))
    }

    /// The records' events, with what they are mapped with: a company's contacts' emails, a contact's
    /// company, a deal's company, contacts and line items.
    public func events(_ objectType: String, _ objects: [HubSpotObject]) async throws -> [Event] {
        guard !objects.isEmpty else { return [] }
        let ids = objects.map(\.id)
        var associations: [String: HubSpotAssociations] = [:]
        var contactEmails: [String: String] = [:]
        var lineItems: [String: HubSpotObject] = [:]
        let related: [String] = switch objectType {
        case "companies": ["contacts"]
        case "contacts": ["companies"]
        case "deals": ["companies", "contacts", "line_items"]
        default: []
        }
        for other in related {
            for (id, targets) in try await self.associations(objectType, ids, to: other) {
                associations[id, default: [:]][other] = targets
            }
        }
        if objectType == "companies" {
            let contacts = Set(associations.values.flatMap { $0["contacts"] ?? [] })
            for contact in try await read("contacts", Array(contacts), properties: ["email"]) {
                if let email = contact["email"] { contactEmails[contact.id] = email }
            }
        }
        if objectType == "deals" {
            let items = Set(associations.values.flatMap { $0["line_items"] ?? [] })
            for item in try await read("line_items", Array(items), properties: HubSpotMapping.properties("line_items", settings: settings)) {
                lineItems[item.id] = item
            }
        }
        return objects.compactMap { object in
            mapping.event(objectType, object, associations: associations[object.id] ?? [:], contactEmails: contactEmails, lineItems: lineItems)
        }
    }

    /// `POST /crm/v4/associations/{from}/{to}/batch/read`, 100 ids a call: the ids each record is associated with.
    func associations(_ from: String, _ ids: [String], to: String) async throws -> [String: [String]] {
        var found: [String: [String]] = [:]
        for chunk in Self.chunks(ids) {
            let answer = try await client.post("/crm/v4/associations/\(from)/\(to)/batch/read",
                                               ["inputs": .array(chunk.map { ["id": .string($0)] })])
            for result in answer["results"]?.arrayValue ?? [] {
                guard let id = result["from"]?["id"]?.stringValue else { continue }
                // The primary association first (a contact's primary company, HubSpot's "Primary" label).
                let targets = (result["to"]?.arrayValue ?? []).compactMap { target -> (id: String, primary: Bool)? in
                    guard let to = target["toObjectId"]?.stringValue ?? target["toObjectId"]?.intValue.map(String.init) else { return nil }
                    let primary = (target["associationTypes"]?.arrayValue ?? []).contains { $0["label"]?.stringValue == "Primary" }
                    return (to, primary)
                }
                found[id, default: []] += targets.filter(\.primary).map(\.id) + targets.filter { !$0.primary }.map(\.id)
            }
        }
        return found
    }

    /// HubSpot's batch calls take 100 inputs at most.
    static func chunks(_ ids: [String]) -> [[String]] {
        stride(from: 0, to: ids.count, by: 100).map { Array(ids[$0..<min(ids.count, $0 + 100)]) }
    }

    /// `POST /crm/v3/objects/{type}/batch/read`, 100 ids a call.
    public func read(_ objectType: String, _ ids: [String], properties: [String]) async throws -> [HubSpotObject] {
        var found: [HubSpotObject] = []
        for chunk in Self.chunks(ids) {
            let answer = try await client.post("/crm/v3/objects/\(objectType)/batch/read", [
                "inputs": .array(chunk.map { ["id": .string($0)] }), "properties": .array(properties.map { .string($0) }),
            ])
            found += (answer["results"]?.arrayValue ?? []).compactMap(HubSpotObject.init)
        }
        return found
    }

    /// Records archived since (a webhook's object that no longer reads), one `GET ?archived=true` each.
    public func readArchived(_ objectType: String, _ ids: [String], properties: [String]) async throws -> [HubSpotObject] {
        var found: [HubSpotObject] = []
        for id in ids {
            do {
                let answer = try await client.get("/crm/v3/objects/\(objectType)/\(id)", [("archived", "true"), ("properties", properties.joined(separator: ","))])
                if let object = HubSpotObject(answer), object.archived { found.append(object) }
            } catch let error as ConnectorError where error.code == .permanent {
                continue  // gone for good (or never there): nothing to tell
            }
        }
        return found
    }

    /// The `archived` stream: each object type's archived records, listed page by page (the list is
    /// not ordered by archiving), emitted as deletions. The cursor is the object type and page being
    /// read; a sweep over all of them starts again. An archiving already emitted is dropped by the host
    /// (its version is the archiving time).
    func archived(_ params: PollParams) async throws -> PollResult {
        let types = settings.streams.filter { HubSpotSettings.objectStreams.contains($0) }
        guard !types.isEmpty else { return PollResult(events: [], cursor: params.cursor, hasMore: false) }
        let cursor = params.cursor.flatMap { try? JSONDecoder().decode(ArchivedCursor.self, from: Data($0.utf8)) } ?? ArchivedCursor(type: types[0], after: nil)
        let objectType = types.contains(cursor.type) ? cursor.type : types[0]
        var query = [("archived", "true"), ("limit", String(max(1, min(params.maxEvents, 100)))),
                     ("properties", HubSpotMapping.properties(objectType, settings: settings).joined(separator: ","))]
        if let after = cursor.after { query.append(("after", after)) }
        let answer = try await client.get("/crm/v3/objects/\(objectType)", query)
        let objects = (answer["results"]?.arrayValue ?? []).compactMap(HubSpotObject.init).filter(\.archived)
        let since = settings.sinceMilliseconds
        let deleted = objects.filter { ($0.archivedAt.flatMap(HubSpotTime.milliseconds) ?? 0) >= since }
        let events = deleted.compactMap { mapping.event(objectType, $0) }
        let after = answer["paging"]?["next"]?["after"]?.stringValue
        let next: ArchivedCursor
        let more: Bool
        if let after {
            (next, more) = (ArchivedCursor(type: objectType, after: after), true)
        } else {
            let following = types.firstIndex(of: objectType).map { types.index(after: $0) } ?? types.endIndex
            // After the last type the sweep is done: the next poll (after the interval) starts another.
            (next, more) = following < types.endIndex ? (ArchivedCursor(type: types[following], after: nil), true) : (ArchivedCursor(type: types[0], after: nil), false)
        }
        return PollResult(events: events, cursor: String(decoding: try JSONEncoder().encode(next), as: UTF8.self), hasMore: more)
    }

    struct ArchivedCursor: Codable {
        var type: String
        var after: String?
    }

    static func decode(_ text: String) throws(ConnectorError) -> HubSpotCursor {
        let cursor = try HubSpotCursor.decode(text, connector: "HubSpot")
        guard Int64(cursor.stamp) != nil else {
            throw ConnectorError(.permanent, "the stored cursor \"\(text.prefix(80))\" is not a HubSpot connector cursor")
        }
        return cursor
    }
}
