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

    public static func streams(_ settings: HubSpotSettings) -> [StreamInfo] {
        settings.streams.map { stream in
            switch stream {
            case "companies": StreamInfo(name: stream, eventTypes: ["company.upserted"])
            case "contacts": StreamInfo(name: stream, eventTypes: ["contact.upserted"])
            case "deals": StreamInfo(name: stream, eventTypes: ["deal.upserted", "order.won"])
            default: StreamInfo(name: stream, eventTypes: ["company.deleted", "contact.deleted", "deal.deleted"])
            }
        }
    }

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
        let cursor = try params.cursor.map(Self.decode) ?? HubSpotCursor(stamp: start, start: start)
        let wanted = max(1, min(params.maxEvents, settings.pageSize))
        let before = now() - settings.searchLagMilliseconds
        let limit = min(200, cursor.limit(wanted: wanted))
        let property = HubSpotMapping.modifiedProperty(objectType)
        var filters: [JSONValue] = [["propertyName": .string(property), "operator": "GTE", "value": .string(cursor.stamp)]]
        filters.append(["propertyName": .string(property), "operator": "LT", "value": .string(String(before))])
        let answer = try await client.search(objectType, [
            "filterGroups": [["filters": .array(filters)]],
            "sorts": [["propertyName": .string(property), "direction": "ASCENDING"]],
            "properties": .array(HubSpotMapping.properties(objectType, settings: settings).map { .string($0) }),
            "limit": .int(Int64(limit)),
        ])
        var objects = (answer["results"]?.arrayValue ?? []).compactMap(HubSpotObject.init)
        let total = answer["total"]?.intValue ?? Int64(objects.count)
        // More records share the cursor's millisecond than a page holds: page through that millisecond.
        if objects.count == limit, objects.allSatisfy({ $0.modified(objectType) == Int64(cursor.stamp) }) {
            objects = try await sameStamp(objectType, cursor: cursor, wanted: wanted)
        }
        let rows = objects.compactMap { object in
            object.modified(objectType).map { HubSpotCursor.Row(id: object.id, stamp: String($0), fingerprint: String($0)) }
        }
        let (emit, next) = cursor.advance(over: rows, wanted: wanted)
        let chosen = Set(emit.map(\.id))
        let events = try await events(objectType, objects.filter { chosen.contains($0.id) })
        return PollResult(events: events, cursor: next.encoded(), hasMore: total > Int64(objects.count) || objects.count == limit)
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
        for chunk in stride(from: 0, to: ids.count, by: 100).map({ Array(ids[$0..<min(ids.count, $0 + 100)]) }) {
            let answer = try await client.post("/crm/v4/associations/\(from)/\(to)/batch/read",
                                               ["inputs": .array(chunk.map { ["id": .string($0)] })])
            for result in answer["results"]?.arrayValue ?? [] {
                guard let id = result["from"]?["id"]?.stringValue else { continue }
                found[id, default: []] += (result["to"]?.arrayValue ?? []).compactMap { target in
                    target["toObjectId"]?.stringValue ?? target["toObjectId"]?.intValue.map(String.init)
                }
            }
        }
        return found
    }

    /// `POST /crm/v3/objects/{type}/batch/read`, 100 ids a call.
    public func read(_ objectType: String, _ ids: [String], properties: [String]) async throws -> [HubSpotObject] {
        var found: [HubSpotObject] = []
        for chunk in stride(from: 0, to: ids.count, by: 100).map({ Array(ids[$0..<min(ids.count, $0 + 100)]) }) {
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
        guard let cursor = try? JSONDecoder().decode(HubSpotCursor.self, from: Data(text.utf8)), Int64(cursor.stamp) != nil else {
            throw ConnectorError(.permanent, "the stored cursor \"\(text.prefix(80))\" is not a HubSpot connector cursor")
        }
        return cursor
    }
}
