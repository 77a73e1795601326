import ConnectorProtocol
import HostAdmin

/// What the host adds to a sink's `reconcile.snapshot`: only it knows which records it wrote.
/// Pure, so that the rules are tested on their own; the admin server fetches the inputs.
enum Reconciliation {
    /// The host's canonical ids of the records the snapshot's references name: the links to look up.
    static func canonicalIDs(in snapshot: ReconcileSnapshot) -> [String] {
        let ids = snapshot.groups.flatMap(\.items).compactMap { $0.reference.flatMap(SinkReference.init(parsing:))?.canonicalID }
        return Array(Set(ids)).sorted()
    }

    /// - Parameters:
    ///   - snapshot: the sink's answer, with its items (the host always asks for them).
    ///   - links: the host's links of the same target connector, at least those for ``canonicalIDs(in:)``.
    ///   - includeItems: whether the operator asked for the items; without, the report's groups drop them.
    static func report(snapshot: ReconcileSnapshot, links: [Store.KnownLink], includeItems: Bool) -> ReconcileReport {
        let items = snapshot.groups.flatMap(\.items)
        let known = Set(links.map(\.canonicalKey))

        var seen: [String: Int] = [:]
        for reference in items.compactMap(\.reference) { seen[reference, default: 0] += 1 }
        let duplicates = seen.filter { $0.value > 1 }.keys.sorted()

        // A reference that does not parse cannot have a link either: the host never wrote it.
        let unknown = items.filter { item in
            guard let reference = item.reference else { return false }
            return SinkReference(parsing: reference).map { !known.contains($0.canonicalID) } ?? true
        }

        var shown = snapshot
        if !includeItems {
            for index in shown.groups.indices { shown.groups[index].items = [] }
        }
        return ReconcileReport(
            snapshot: shown,
            duplicates: duplicates,
            unknownToHost: unknown,
            foreign: items.count { $0.reference == nil }
        )
    }
}
