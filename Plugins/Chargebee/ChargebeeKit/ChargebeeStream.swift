public import ConnectorKit
public import ConnectorProtocol
public import Foundation

/// The connector's one stream, `events`: first the backfill of the configured lists, each in turn, up to
/// one horizon (the time of the first poll), then the events feed. One stream with one horizon, so that
/// what the backfill read as it was at the horizon is never followed by an older version from the feed
/// (the feed passes over events of backfilled resources from before the horizon), and nothing changed
/// between the lists' reads falls between them.
public struct ChargebeeStream: Sendable {
    public static let name = "events"

    /// The stored cursor: the horizon, the lists the backfill reads and where it is (nil once it is
    /// done), then the feed's.
    public struct Cursor: StoredCursor, Hashable {
        /// Epoch seconds, exclusive: the backfill reads what changed before it; the feed what happened
        /// from it on (or from `since` for resources left out of the backfill).
        public var horizon: Int64
        /// The lists to backfill, as configured at the first poll, in reading order.
        public var lists: [String]
        public var backfill: ChargebeeBackfill.Position?
        public var feed: ChargebeeFeed.Cursor?
    }

    let settings: ChargebeeSettings
    let backfill: ChargebeeBackfill
    let feed: ChargebeeFeed

    public init(client: ChargebeeClient, settings: ChargebeeSettings, mapping: ChargebeeEvents) {
        self.settings = settings
        backfill = ChargebeeBackfill(client: client, settings: settings, mapping: mapping)
        feed = ChargebeeFeed(client: client, settings: settings, mapping: mapping)
    }

    /// The lists to backfill, in reading order (the second of the first poll included in the horizon).
    var lists: [String] { ChargebeeBackfill.resources.filter(settings.backfill.contains) }

    public func poll(_ params: PollParams, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> PollResult {
        guard params.stream == Self.name else {
            throw ConnectorError(.permanent, "the Chargebee connector has one stream, \"\(Self.name)\", not \"\(params.stream)\"")
        }
        var cursor = try params.cursor.map { text throws(ConnectorError) in try Cursor.decode(text, connector: "Chargebee") } ?? Cursor(horizon: now + 1, lists: lists, backfill: ChargebeeBackfill.Position(from: settings.sinceSeconds, list: 0, offset: nil), feed: nil)
        let wanted = max(1, min(params.maxEvents, settings.pageSize))
        if var position = cursor.backfill {
            if let mapped = try await backfill.read(&position, lists: cursor.lists, until: cursor.horizon, limit: wanted) {
                cursor.backfill = position
                return PollResult(events: mapped.events, cursor: cursor.encoded(), hasMore: true, rejects: mapped.rejects)
            }
            cursor.backfill = nil
        }
        let backfilled = Set(cursor.lists)
        // The feed: from the horizon when every resource it carries was backfilled, else from `since`.
        let start = String(Set(ChargebeeBackfill.resources).isSubset(of: backfilled) ? cursor.horizon : settings.sinceSeconds)
        var position = cursor.feed ?? ChargebeeFeed.Cursor(stamp: start, start: start)
        let (mapped, more) = try await feed.read(&position, wanted: wanted, backfilled: backfilled, horizon: cursor.horizon)
        cursor.feed = position
        return PollResult(events: mapped.events, cursor: cursor.encoded(), hasMore: more, rejects: mapped.rejects)
    }
}
