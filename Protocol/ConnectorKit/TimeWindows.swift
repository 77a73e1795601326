/// A search over a time range that a vendor caps (HubSpot's CRM search returns at most 10,000 results
/// per query, however many pages): the range is cut into windows, a window whose search reports the cap
/// is split in two and each half searched on its own, and within a window the vendor's opaque page token
/// (`after`) walks the pages. Pure state, stored as the stream's cursor; tested without network.
public struct TimeWindows: Codable, Sendable, Hashable {
    /// `[from, to)` in the vendor's time unit (epoch milliseconds for HubSpot).
    public struct Window: Codable, Sendable, Hashable {
        public var from: Int64
        public var to: Int64

        public init(from: Int64, to: Int64) {
            self.from = from
            self.to = to
        }

        /// Its two halves, or nil when it is one unit wide (no smaller window exists).
        public func halves() -> (Window, Window)? {
            guard to - from > 1 else { return nil }
            let middle = from + (to - from) / 2
            return (Window(from: from, to: middle), Window(from: middle, to: to))
        }
    }

    /// Windows still to read, oldest first; the first is being read.
    public private(set) var pending: [Window]
    /// The vendor's page token within the first window (nil: its first page).
    public private(set) var after: String?

    public init(from: Int64, to: Int64) {
        pending = from < to ? [Window(from: from, to: to)] : []
        after = nil
    }

    /// The window to search now, and the page token to send; nil when everything was read.
    public var current: (window: Window, after: String?)? { pending.first.map { ($0, after) } }

    /// The first page of the current window reported `total` results: at the cap (when the search
    /// cannot return them all) the window is split and the search starts again on its first half
    /// (true: discard this page). A window that cannot be split is read as far as the vendor allows.
    public mutating func reported(total: Int, cap: Int) -> Bool {
        guard after == nil, total >= cap, let first = pending.first, let (older, newer) = first.halves() else { return false }
        pending.replaceSubrange(0..<1, with: [older, newer])
        return true
    }

    /// A page of the current window was read; `next` is the vendor's token for the following page
    /// (nil: the window is done, the next one starts).
    public mutating func read(next: String?) {
        guard !pending.isEmpty else { return }
        if let next {
            after = next
        } else {
            pending.removeFirst()
            after = nil
        }
    }
}
