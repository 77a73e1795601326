import ConnectorKit
import ConnectorProtocol
import Foundation

/// The backfill: the configured lists read once, from `since` up to a horizon, by `updated_at` windows
/// with `include_deleted`; in each window every list in turn (item prices, customers, subscriptions,
/// invoices, credit notes, transactions). A page of invoices brings the payments linked to them
/// (`linked_payments`, one request for the page), each right after its invoice: a paid invoice then
/// waits for its payment only as long as the next delivery of its customer, not as long as the rest of
/// the history takes to read (its payment read again with the transactions is the same version: one
/// event). Each list is paged in
/// its window with Chargebee's `next_offset` (a position by sort value, so a record changed meanwhile
/// leaves the window without shifting the pages). A record changed after the horizon is in no window:
/// the feed gives its changes from the horizon on.
public struct ChargebeeBackfill: Sendable {
    /// The lists it can read, in the order a window reads them: what the later ones refer to first.
    public static let resources = ["item_prices", "customers", "subscriptions", "invoices", "credit_notes", "transactions"]

    /// The resource a list element carries (`{"list": [{"customer": {…}}]}`).
    static func member(of resource: String) -> String { String(resource.dropLast()) }

    /// Where the backfill is: the window starting at `from`, the list being read in it, its offset.
    public struct Position: Codable, Sendable, Hashable {
        public var from: Int64
        public var list: Int
        public var offset: String?
    }

    let client: ChargebeeClient
    let settings: ChargebeeSettings
    let mapping: ChargebeeEvents

    public init(client: ChargebeeClient, settings: ChargebeeSettings, mapping: ChargebeeEvents) {
        self.client = client
        self.settings = settings
        self.mapping = mapping
    }

    func query(_ resource: String, from: Int64, to: Int64, limit: Int) -> [(String, String)] {
        // Credit notes sort by date only; any stable order pages a window.
        var query: [(String, String)] = [("updated_at[between]", "[\(from), \(to - 1)]"), ("sort_by[asc]", resource == "credit_notes" ? "date" : "updated_at"),
                                         ("limit", String(limit))]
        if resource != "item_prices" { query.append(("include_deleted", "true")) }
        return query
    }

    /// Reads the next page of `lists` at `position` and moves it on; nil when everything before `until`
    /// was read.
    func read(_ position: inout Position, lists: [String], until: Int64, limit: Int) async throws -> ChargebeeEvents.Mapped? {
        guard position.from < until, position.list < lists.count else { return nil }
        let to = min(position.from + settings.backfillWindowSeconds, until)
        let resource = lists[position.list]
        var query = query(resource, from: position.from, to: to, limit: limit)
        if let offset = position.offset { query.append(("offset", offset)) }
        let answer = try await client.get("/\(resource)", query)
        let records = (answer["list"]?.arrayValue ?? []).compactMap { $0[Self.member(of: resource)] }
        let payments = resource == "invoices" ? try await linkedPayments(of: records) : [:]
        var mapped = ChargebeeEvents.Mapped()
        for json in records {
            mapped.add(mapping.record(Self.member(of: resource), json))
            for id in json["linked_payments"]?.arrayValue?.compactMap({ $0["txn_id"]?.stringValue }) ?? [] {
                if let payment = payments[id] { mapped.add(mapping.record("transaction", payment)) }
            }
        }
        if let next = answer["next_offset"]?.stringValue {
            position.offset = next
        } else if position.list + 1 < lists.count {
            (position.list, position.offset) = (position.list + 1, nil)
        } else {
            // The window is read: the next starts at the first record any list changed after it, so
            // years without any cost a request a list, not one per window.
            position = Position(from: try await firstChange(lists, from: to, until: until), list: 0, offset: nil)
        }
        return mapped
    }

    /// The transactions a page of invoices names in `linked_payments`, by id (in requests of 100 ids).
    func linkedPayments(of invoices: [JSONValue]) async throws -> [String: JSONValue] {
        let ids = Array(Set(invoices.flatMap { $0["linked_payments"]?.arrayValue?.compactMap { $0["txn_id"]?.stringValue } ?? [] })).sorted()
        var found: [String: JSONValue] = [:]
        for start in stride(from: 0, to: ids.count, by: 100) {
            let chunk = ids[start..<min(ids.count, start + 100)]
            let list = "[" + chunk.map { "\"\($0)\"" }.joined(separator: ",") + "]"
            let answer = try await client.get("/transactions", [("id[in]", list), ("limit", "100")])
            for element in answer["list"]?.arrayValue ?? [] {
                if let transaction = element["transaction"], let id = transaction["id"]?.stringValue { found[id] = transaction }
            }
        }
        return found
    }

    /// When the first record of any list changed in `[from, until)`, at the earliest; `until` if none.
    /// Credit notes do not sort by `updated_at`: their earliest `date` is a bound, none being changed
    /// before its date.
    func firstChange(_ lists: [String], from: Int64, until: Int64) async throws -> Int64 {
        guard from < until else { return until }
        var first = until
        for resource in lists {
            let field = resource == "credit_notes" ? "date" : "updated_at"
            var query = query(resource, from: from, to: until, limit: 1)
            query[1] = ("sort_by[asc]", field)
            let answer = try await client.get("/\(resource)", query)
            if let at = answer["list"]?.arrayValue?.first?[Self.member(of: resource)]?[field]?.intValue { first = min(first, max(from, at)) }
        }
        return first
    }
}
