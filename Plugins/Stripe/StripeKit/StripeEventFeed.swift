public import ConnectorKit
public import ConnectorProtocol
public import Foundation

/// Where the event stream stands: the last Stripe event emitted, and how this Stripe lists events.
public struct StripeCursor: Codable, Sendable, Hashable {
    /// The last event emitted; nil before the first.
    public var last: String?
    /// Unix seconds where the first poll starts.
    public var since: Int64
    /// Found out on the first poll unless configured.
    public var order: StripeSettings.ListOrder?
    /// Newest first, before the first event is emitted: the oldest event reached so far while walking
    /// back through the backfill window (a busy account's window takes more than one poll).
    public var walkedBackTo: String?
    /// Newest first: the `created` of the newest event emitted, and the ids emitted lately (at most
    /// `recentLimit`), for the overlap read that finds events listed late behind newer ones.
    public var lastCreated: Int64?
    public var recent: [String]?

    public init(last: String? = nil, since: Int64, order: StripeSettings.ListOrder? = nil, walkedBackTo: String? = nil) {
        self.last = last
        self.since = since
        self.order = order
        self.walkedBackTo = walkedBackTo
    }

    static let recentLimit = 300

    /// `created[gte]` of the backfill window.
    var window: (String, String) { ("created[gte]", String(since)) }

    /// Newest first: notes emitted events (oldest first) in `lastCreated` and `recent`.
    mutating func emitted(_ events: [JSONValue]) {
        for event in events {
            if let created = event["created"]?.intValue { lastCreated = max(lastCreated ?? created, created) }
        }
        let ids = events.compactMap { $0["id"]?.stringValue }
        recent = Array(((recent ?? []) + ids).suffix(Self.recentLimit))
    }

    public static func decode(_ text: String) throws(ConnectorError) -> StripeCursor {
        try decode(text, connector: "Stripe")
    }
}

extension StripeCursor: StoredCursor {}

/// Reads `GET /v1/events` oldest first, a page at a time, whatever order the server lists in.
///
/// Real Stripe lists newest first: the first poll walks back to the oldest event of the backfill
/// window (keeping only ids), emits it, and from then on asks `ending_before=<last>` — the page of
/// events just newer than the last one, which is reversed before it is emitted. localstripe lists
/// oldest first and knows no `ending_before`: it is read forward with `starting_after=<last>`. With
/// `list_order = "auto"` the order is found once by asking for `ending_before` of a known event:
/// a server that refuses the parameter lists oldest first.
public struct StripeEventFeed: Sendable {
    let client: StripeClient
    let settings: StripeSettings

    public init(client: StripeClient, settings: StripeSettings) {
        self.client = client
        self.settings = settings
    }

    public struct Page: Sendable {
        /// Stripe events, oldest first.
        public var events: [JSONValue]
        public var cursor: StripeCursor
        public var hasMore: Bool
    }

    public func next(after stored: String?, now: Date = Date()) async throws -> Page {
        var cursor = try stored.map(StripeCursor.decode) ?? StripeCursor(
            since: Int64(now.timeIntervalSince1970) - Int64(settings.backfillDays) * 86_400, order: settings.listOrder
        )
        let limit = String(settings.pageSize)
        guard let last = cursor.last else {
            if let reached = cursor.walkedBackTo {
                return try await walkBack(from: reached, cursor: cursor)
            }
            // The first poll: the window's events in the server's order.
            let first = try await list([cursor.window, ("limit", limit)])
            guard let some = first.data.first?["id"]?.stringValue else { return Page(events: [], cursor: cursor, hasMore: false) }
            if cursor.order == nil { cursor.order = try await probeOrder(knownEvent: some) }
            if cursor.order == .oldestFirst {
                cursor.last = first.data.last?["id"]?.stringValue
                return Page(events: first.data, cursor: cursor, hasMore: first.hasMore)
            }
            // Newest first: one page holds the whole window, or the walk back to its oldest event begins.
            guard first.hasMore, let oldestSeen = first.data.last?["id"]?.stringValue else {
                cursor.last = some
                let events = Array(first.data.reversed())
                cursor.emitted(events)
                return Page(events: events, cursor: cursor, hasMore: false)
            }
            return try await walkBack(from: oldestSeen, cursor: cursor)
        }
        if cursor.order == nil { cursor.order = try await probeOrder(knownEvent: last) }
        switch cursor.order {
        case .oldestFirst:
            let page = try await list([("limit", limit), ("starting_after", last)])
            cursor.last = page.data.last?["id"]?.stringValue ?? last
            return Page(events: page.data, cursor: cursor, hasMore: page.hasMore)
        default:
            let page = try await list([("limit", limit), ("ending_before", last)])
            var events = Array(page.data.reversed())
            cursor.last = events.last?["id"]?.stringValue ?? last
            if !page.hasMore, let lastCreated = cursor.lastCreated {
                // Caught up: look again at the last few minutes, newest first. Stripe lists by
                // `created`, so an event that became visible after newer ones were read sits behind
                // the cursor, where `ending_before` never looks.
                let window = try await list([("created[gte]", String(lastCreated - Self.overlapSeconds)), ("limit", "100")])
                let known = Set((cursor.recent ?? []) + events.compactMap { $0["id"]?.stringValue } + [last])
                let late = window.data.reversed().filter { event in event["id"]?.stringValue.map { !known.contains($0) } ?? false }
                events = late + events
            }
            cursor.emitted(events)
            return Page(events: events, cursor: cursor, hasMore: page.hasMore)
        }
    }

    /// Newest first: pages back towards the oldest event of the backfill window, at most
    /// `walkPagesPerPoll` pages of `page_size` per poll (a poll must answer in time), keeping only ids. The
    /// oldest event is emitted when reached; the events after it come from `ending_before` polls.
    func walkBack(from reached: String, cursor: StripeCursor) async throws -> Page {
        var cursor = cursor
        var oldest = reached
        /// The walk is over: `event` is the first emitted, and the cursor's `last`.
        func start(at event: JSONValue) -> Page {
            cursor.last = event["id"]?.stringValue
            cursor.walkedBackTo = nil
            cursor.emitted([event])
            return Page(events: [event], cursor: cursor, hasMore: true)
        }
        for _ in 0..<Self.walkPagesPerPoll {
            let page = try await list([cursor.window, ("limit", String(settings.pageSize)), ("starting_after", oldest)])
            guard let older = page.data.last, let id = older["id"]?.stringValue else {
                // Nothing older (the window's edge, or the last older event expired): start from
                // the oldest one seen. Its event was read, but not emitted: fetch it again.
                return start(at: try await client.get("/v1/events/\(oldest)"))
            }
            oldest = id
            if !page.hasMore { return start(at: older) }
        }
        cursor.walkedBackTo = oldest
        return Page(events: [], cursor: cursor, hasMore: true)
    }

    static let walkPagesPerPoll = 10
    /// How far back (seconds before the newest event emitted) a caught-up poll looks for late events.
    static let overlapSeconds: Int64 = 300

    struct List {
        var data: [JSONValue]
        var hasMore: Bool
    }

    func list(_ query: [(String, String)]) async throws -> List {
        let answer = try await client.get("/v1/events", query)
        guard let data = answer["data"]?.arrayValue else {
            throw ConnectorError(.transient, "Stripe's event list has no data array")
        }
        return List(data: data, hasMore: answer["has_more"]?.boolValue ?? false)
    }

    /// Newest first when the server takes `ending_before`; oldest first when it refuses it.
    func probeOrder(knownEvent: String) async throws -> StripeSettings.ListOrder {
        do {
            _ = try await list([("limit", "1"), ("ending_before", knownEvent)])
            return .newestFirst
        } catch let error as ConnectorError where error.code == .permanent && error.details?["http_status"]?.intValue == 400 {
            return .oldestFirst
        }
    }
}
