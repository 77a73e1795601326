public import ConnectorKit
public import ConnectorProtocol
public import Foundation

/// The backfill streams: each resource listed once, from `since` to the time of its first poll, by
/// `updated_at` windows with `include_deleted`, each window paged with Chargebee's `next_offset` (a
/// position by sort value, so a record changed meanwhile moves out of the window without shifting the
/// pages). A record read here and again from the events feed at the same `resource_version` is one event.
public struct ChargebeeBackfill: Sendable {
    /// The streams, by the name of the list they read.
    public static let resources = ["item_prices", "customers", "subscriptions", "invoices", "credit_notes", "transactions"]

    /// The resource a list element carries (`{"list": [{"customer": {…}}]}`).
    static func member(of resource: String) -> String { String(resource.dropLast()) }

    /// Where a backfill is: the window `[from, min(from + window, until))` and the offset within it.
    public struct Cursor: Codable, Sendable, Hashable {
        public var from: Int64
        public var until: Int64
        public var offset: String?

        public var done: Bool { from >= until }
    }

    let client: ChargebeeClient
    let settings: ChargebeeSettings
    let mapping: ChargebeeEvents

    public init(client: ChargebeeClient, settings: ChargebeeSettings, mapping: ChargebeeEvents) {
        self.client = client
        self.settings = settings
        self.mapping = mapping
    }

    public func poll(_ params: PollParams, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> PollResult {
        let resource = params.stream
        var cursor = try params.cursor.map { text in
            guard let cursor = try? JSONDecoder().decode(Cursor.self, from: Data(text.utf8)) else {
                throw ConnectorError(.permanent, "the stored cursor \"\(text.prefix(80))\" is not a Chargebee backfill cursor")
            }
            return cursor
        } ?? Cursor(from: settings.sinceSeconds, until: now + 1, offset: nil)  // the second of the first poll included
        guard settings.backfill.contains(resource), !cursor.done else {
            return PollResult(events: [], cursor: cursor.encoded(), hasMore: false)
        }
        let to = min(cursor.from + settings.backfillWindowSeconds, cursor.until)
        var query: [(String, String)] = [
            ("updated_at[between]", "[\(cursor.from), \(to - 1)]"),
            // Credit notes sort by date only; any stable order pages a window.
            ("sort_by[asc]", resource == "credit_notes" ? "date" : "updated_at"),
            ("limit", String(max(1, min(params.maxEvents, settings.pageSize)))),
        ]
        if resource != "item_prices" { query.append(("include_deleted", "true")) }
        if let offset = cursor.offset { query.append(("offset", offset)) }
        let answer = try await client.get("/\(resource)", query)
        let list = answer["list"]?.arrayValue ?? []
        if list.isEmpty, cursor.offset == nil {
            // An empty window: the next one starts at the next record changed, so years without any
            // cost one request, not one per window.
            cursor.from = try await firstChange(resource, from: to, until: cursor.until) ?? cursor.until
            return PollResult(events: [], cursor: cursor.encoded(), hasMore: !cursor.done)
        }
        var mapped = ChargebeeEvents.Mapped()
        for element in list {
            guard let json = element[Self.member(of: resource)] else { continue }
            mapped.add(mapping.record(Self.member(of: resource), json))
        }
        if let next = answer["next_offset"]?.stringValue {
            cursor.offset = next
        } else {
            (cursor.from, cursor.offset) = (to, nil)
        }
        return PollResult(events: mapped.events, cursor: cursor.encoded(), hasMore: !cursor.done, rejects: mapped.rejects)
    }

    /// When the first record changed in `[from, until)` was changed (at the earliest), if any. Credit
    /// notes do not sort by `updated_at`: the earliest `date` among them is a bound, as none is changed
    /// before its date.
    func firstChange(_ resource: String, from: Int64, until: Int64) async throws -> Int64? {
        guard from < until else { return nil }
        let field = resource == "credit_notes" ? "date" : "updated_at"
        var query: [(String, String)] = [("updated_at[between]", "[\(from), \(until - 1)]"), ("sort_by[asc]", field), ("limit", "1")]
        if resource != "item_prices" { query.append(("include_deleted", "true")) }
        let answer = try await client.get("/\(resource)", query)
        guard let first = answer["list"]?.arrayValue?.first?[Self.member(of: resource)] else { return nil }
        return max(from, first[field]?.intValue ?? from)
    }
}

extension ChargebeeBackfill.Cursor {
    func encoded() -> String { String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self) }
}
