public import ConnectorKit
import ConnectorProtocol
import Foundation

/// Chargebee's events feed, oldest first, every page a new query from the cursor's second
/// (`occurred_at[after]` the second before it), the ids read at that second remembered; more events in
/// one second than a page holds are paged with `offset` on that second alone, then passed.
public struct ChargebeeFeed: Sendable {
    let client: ChargebeeClient
    let settings: ChargebeeSettings
    let mapping: ChargebeeEvents

    public init(client: ChargebeeClient, settings: ChargebeeSettings, mapping: ChargebeeEvents) {
        self.client = client
        self.settings = settings
        self.mapping = mapping
    }

    public typealias Cursor = ModifiedSinceCursor<String>

    /// The next page after `cursor`, which moves past it. An event about a resource the backfill read
    /// whole up to `horizon`, from before the horizon, is passed over: the backfill gave that record as it
    /// was at the horizon, and an older version after it would turn the target back.
    func read(_ cursor: inout Cursor, wanted: Int, backfilled: Set<String>, horizon: Int64?) async throws -> (mapped: ChargebeeEvents.Mapped, more: Bool) {
        let limit = min(100, cursor.limit(wanted: wanted))
        let second = Int64(cursor.stamp) ?? 0
        var (events, next) = try await page([("occurred_at[after]", String(second - 1))], limit: limit, offset: nil)
        var more = next != nil
        if events.count == limit, events.allSatisfy({ $0["occurred_at"]?.intValue == second }) {
            // More events in this second than a page holds: page through the second, then go on after it.
            events = try await sameSecond(second, seen: Set(cursor.seen), wanted: wanted)
            more = true
            if events.isEmpty {
                (events, next) = try await page([("occurred_at[after]", String(second))], limit: min(100, wanted), offset: nil)
                more = next != nil
            }
        }
        let rows = events.compactMap { event -> Cursor.Row? in
            guard let id = event["id"]?.stringValue, let at = event["occurred_at"]?.intValue else { return nil }
            return Cursor.Row(id: id, stamp: String(at), fingerprint: id)
        }
        let emitted: [Cursor.Row]
        (emitted, cursor) = cursor.advance(over: rows, wanted: wanted)
        let chosen = Set(emitted.map(\.id))
        var mapped = ChargebeeEvents.Mapped()
        for event in events where chosen.contains(event["id"]?.stringValue ?? "") {
            if let horizon, let at = event["occurred_at"]?.intValue, at < horizon,
               let resource = event["event_type"]?.stringValue.flatMap(ChargebeeEvents.resource(ofEventType:)), backfilled.contains(resource + "s") {
                continue
            }
            mapped.add(mapping.events(event))
        }
        return (mapped, more)
    }

    /// One page of the feed, oldest first: its events and the next page's offset.
    func page(_ filters: [(String, String)], limit: Int, offset: String?) async throws -> ([JSONValue], String?) {
        var query = filters + [("sort_by[asc]", "occurred_at"), ("limit", String(limit))]
        if let offset { query.append(("offset", offset)) }
        let answer = try await client.get("/events", query)
        return ((answer["list"]?.arrayValue ?? []).compactMap { $0["event"] }, answer["next_offset"]?.stringValue)
    }

    func sameSecond(_ second: Int64, seen: Set<String>, wanted: Int) async throws -> [JSONValue] {
        var found: [JSONValue] = []
        var offset: String?
        repeat {
            let (events, next) = try await page([("occurred_at[between]", "[\(second), \(second)]")], limit: 100, offset: offset)
            found += events.filter { !seen.contains($0["id"]?.stringValue ?? "") }
            offset = next
        } while found.count < wanted && offset != nil
        return Array(found.prefix(wanted))
    }
}
