import Foundation

/// A stream cursor over "records modified since": the last time stamp read, the ids already read at
/// that time stamp, and what was last emitted of the most recent records — what Odoo's `write_date`
/// and HubSpot's `hs_lastmodifieddate` need. A query reads `stamp >= cursor.stamp` ordered by stamp then
/// id; ``advance(over:wanted:)`` skips what was read at that same stamp and moves on, so records sharing
/// a stamp across pages are neither lost nor read twice. Records committed late behind the cursor are
/// read again in a look-back window and ``revisit(_:wanted:)`` keeps those not emitted as they are.
/// Time stamps are compared for equality only (their order is the query's), so any sortable text works.
///
/// Stored as JSON with the keys `second`, `seen`, `recent`, `start` (the names of the Odoo connector's
/// first cursors, which stores still hold).
public struct ModifiedSinceCursor<ID: Hashable & Codable & Sendable>: Codable, Sendable, Hashable {
    /// The time stamp read last, as the source writes it.
    public var stamp: String
    /// Ids already read with time stamp `stamp`.
    public var seen: [ID]
    /// The fingerprints of the records emitted last, oldest first.
    public var recent: [Emitted]
    /// Where the stream started (its first stamp): a look-back never reaches before it.
    public var start: String?

    /// How many emitted records the cursor remembers (about 40 bytes each in the stored cursor).
    public static var memory: Int { 1_000 }

    public struct Emitted: Codable, Sendable, Hashable {
        public var id: ID
        public var fingerprint: String
        public init(id: ID, fingerprint: String) {
            self.id = id
            self.fingerprint = fingerprint
        }
    }

    /// A record as the stream reads it: its id, time stamp, and the fingerprint of what its event carries.
    public struct Row: Sendable, Hashable {
        public var id: ID
        public var stamp: String
        public var fingerprint: String
        public init(id: ID, stamp: String, fingerprint: String = "") {
            self.id = id
            self.stamp = stamp
            self.fingerprint = fingerprint
        }
    }

    public init(stamp: String, seen: [ID] = [], recent: [Emitted] = [], start: String? = nil) {
        self.stamp = stamp
        self.seen = seen
        self.recent = recent
        self.start = start
    }

    enum CodingKeys: String, CodingKey {
        case stamp = "second"
        case seen, recent, start
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        stamp = try container.decode(String.self, forKey: .stamp)
        seen = try container.decode([ID].self, forKey: .seen)
        // Cursors stored before fingerprints were kept have none.
        recent = try container.decodeIfPresent([Emitted].self, forKey: .recent) ?? []
        start = try container.decodeIfPresent(String.self, forKey: .start)
    }

    /// How many rows to ask for to get `wanted` new ones.
    public func limit(wanted: Int) -> Int { wanted + seen.count }

    /// Of the rows read (`stamp >= self.stamp`, ordered by stamp then id), the ones to emit, at most
    /// `wanted`, and the cursor after them. The cursor moves over every row it looked at, emitted or
    /// not, so a page of unchanged records still moves it on.
    public func advance(over rows: [Row], wanted: Int) -> (emit: [Row], next: Self) {
        let skipped = Set(seen)
        let last = lastFingerprints
        var emit: [Row] = []
        var considered: [Row] = []
        for row in rows {
            if emit.count == wanted { break }
            considered.append(row)
            let unchanged = last[row.id].map { $0 == row.fingerprint } ?? (row.stamp == stamp && skipped.contains(row.id))
            if !unchanged { emit.append(row) }
        }
        guard let end = considered.last else { return ([], self) }
        var next = Self(stamp: end.stamp, seen: end.stamp == stamp ? seen : [], recent: recent)
        var inStamp = Set(next.seen)
        for row in considered where row.stamp == end.stamp && inStamp.insert(row.id).inserted {
            next.seen.append(row.id)
        }
        next.start = start
        next.remember(emit)
        return (emit, next)
    }

    /// Of records read again behind the cursor (committed late), the ones to emit: those whose
    /// fingerprint the cursor does not remember as emitted. A record forgotten since is emitted again
    /// (noise, never a loss: the host drops an event it already has).
    public func revisit(_ rows: [Row], wanted: Int) -> (emit: [Row], next: Self) {
        let last = lastFingerprints
        let emit = Array(rows.filter { last[$0.id] != $0.fingerprint }.prefix(max(0, wanted)))
        var next = self
        next.remember(emit)
        return (emit, next)
    }

    /// What was last emitted of each remembered record, by id.
    var lastFingerprints: [ID: String] { Dictionary(recent.map { ($0.id, $0.fingerprint) }) { _, newer in newer } }

    mutating func remember(_ emitted: [Row]) {
        let ids = Set(emitted.map(\.id))
        recent.removeAll { ids.contains($0.id) }
        recent += emitted.map { Emitted(id: $0.id, fingerprint: $0.fingerprint) }
        if recent.count > Self.memory { recent.removeFirst(recent.count - Self.memory) }
    }

    /// The first stamp a look-back may read: the start it was given (a cursor stored before starts were
    /// kept has none).
    public var floor: String { start ?? "" }

}

extension ModifiedSinceCursor: StoredCursor {}
