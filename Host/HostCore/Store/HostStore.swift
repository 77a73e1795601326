public import ConnectorProtocol
public import Crypto
public import Foundation
public import HostAdmin

// The store as the rest of the host sees it: what each part of the daemon asks of it, as protocols
// that every store (SQLite on one machine, PostgreSQL for several) implements and one conformance
// suite checks (Tests/HostCoreTests/StoreConformanceTests.swift). Nothing outside Store/ names an
// implementation but the place that opens it.

/// Events from sources, with the cursor they advance, and the webhook deliveries already seen.
public protocol EventIntake: Sendable {
    /// Stores a page of events from one source and its new cursor in one transaction, with one
    /// delivery per matching route. An event whose idempotency key is already stored is dropped,
    /// counted and audited; rejects are kept with their reason; a `replayKey` seen before stores
    /// nothing and throws ``ReplayedDelivery``.
    func ingest(connector: String, stream: String?, incoming: [Store.Incoming], rejects: [Store.Reject], cursor: String?, routes: [RouteConfig],
                replayKey: String?) async throws -> Store.IngestResult
    func cursor(connector: String, stream: String) async throws -> String?
    /// Forgets webhook replay keys seen before `cutoff` (Unix ms).
    func pruneWebhookReplays(olderThan cutoff: Int64) async throws
}

/// The outbox: deliveries due per route, their outcomes, and the links they leave.
public protocol DeliveryQueue: Sendable {
    /// Due deliveries of a route, at most one per ordering key (the rules are the SQLite store's, on
    /// ``SQLiteStore/dueDeliveries(route:now:limit:excludingTenants:inHand:)``). On a store several hosts
    /// share, reading them claims them for this host (``HostCoordination``): deliver them, record their
    /// outcomes, or give them back with ``HostCoordination/releaseClaims(_:)``. `inHand`: deliveries the
    /// caller still holds (outcomes being recorded), pending still but neither returned nor counted.
    func dueDeliveries(route: String, now: Int64, limit: Int, excludingTenants excluded: [String], inHand: Set<Int64>) async throws -> [DeliveryJob]
    /// When the route's next pending delivery may become due, if any: the earliest retry time still to
    /// come, or the expiry of a claim (a pending delivery whose time has passed waits for an earlier one).
    func nextDue(route: String) async throws -> Int64?
    /// Links the target already has for these canonical ids.
    func links(target: String, canonicalIDs: [String]) async throws -> [Store.KnownLink]
    /// Records the outcomes of a batch in one transaction; returns the deliveries that were to be
    /// dead-lettered but were superseded by a later one of the same object instead.
    func record(_ outcomes: [DeliveryOutcome]) async throws -> Set<Int64>
}

/// What `hostctl` reads and changes: the queue, dead letters, rejects, traces.
public protocol OperatorQueries: Sendable {
    func queue(now: Int64) async throws -> [QueueRow]
    /// Events dropped as duplicates, per source connector.
    func duplicates() async throws -> [String: Int]
    func intakeRejects(connector: String?, limit: Int) async throws -> [IntakeReject]
    func deadLetters(route: String?, limit: Int) async throws -> [DeadLetterSummary]
    func deadLetter(id: Int64) async throws -> DeadLetterDetail?
    /// Puts dead letters back in the queue (by id, or every one of a route); returns their ids.
    func replay(ids: [Int64]?, route: String?, actor: String) async throws -> [Int64]
    func discard(ids: [Int64], actor: String) async throws -> [Int64]
    func trace(correlationID: String) async throws -> TraceResult
}

/// The audit trail: one hash chain, authenticated by an HMAC once the vault gives its key.
public protocol AuditTrail: Sendable {
    func audit(correlationID: String?, actor: String, action: String, subject: String, detail: String) async throws
    /// From now on audit rows carry an HMAC under this key.
    func useAuditKey(_ key: SymmetricKey)
    /// The last audit row's id and hash; nil while the trail is empty.
    func auditHead() async throws -> Store.AuditHead?
    /// Where an upgraded vault's authenticated rows begin: its first row with an HMAC, or the next row.
    func firstAuditRowToAuthenticate() async throws -> Int64
    func verifyAudit(authenticatedFrom start: Int64?) async throws -> AuditVerification
}

/// Sealed secrets and the vault's own sealed records; the cryptography is the vault's.
public protocol SecretStorage: Sendable {
    func sealedSecret(connector: String, name: String) async throws -> Store.SealedSecret?
    func allSealedSecrets() async throws -> [Store.SealedSecret]
    /// Stores the next version of a secret, sealed by `seal(version)`, and audits it. `mustExist`:
    /// rotation of an existing secret. Returns the version written.
    func putSecret(connector: String, name: String, mustExist: Bool, actor: String, action: String,
                   seal: @escaping @Sendable (Int) throws -> Data) async throws -> Int
    func deleteSecret(connector: String, name: String, actor: String) async throws -> Bool
    func secretInfos(connector: String?) async throws -> [SecretInfo]
    func vaultMeta(_ name: String) async throws -> Data?
    func setVaultMeta(_ values: [String: Data]) async throws
    /// Replaces every sealed value at once (rekey): all or nothing.
    func resealAll(secrets: [Store.SealedSecret], meta: [String: Data], actor: String) async throws
}

/// Reconciliation's reports, what the host knows of a record a target lacks, and repairs.
public protocol ReconcileStorage: Sendable {
    /// Stores a run's report with its audit entry; returns it with its id.
    func save(_ report: DriftReport, actor: String) async throws -> DriftReport
    /// The reports of `name`, newest first; without a name, the latest of each reconciliation.
    func driftReports(name: String?, limit: Int) async throws -> [DriftReport]
    func recordsInHost(source: String, target: String, objectType: String, objectIDs: [String]) async throws -> [String: Store.RecordInHost]
    /// Queues a new delivery of each event on its route (one not already waiting); returns their ids.
    func requeue(_ requests: [(eventID: Int64, route: RouteConfig)], report: Int64, actor: String) async throws -> [Int64]
}

/// Several hosts on one store: members with a heartbeat, one poller per source (a lease with a fencing
/// token), deliveries claimed by one host at a time. A store of one machine (SQLite) has one member,
/// which holds every lease and needs no claims.
public protocol HostCoordination: Sendable {
    /// This host's name among the members.
    var member: String { get }
    /// How long a heartbeat, a source lease and a delivery claim last (ms).
    var leaseMilliseconds: Int64 { get }
    /// Beats this host's heart: renews its membership, the source leases it holds and the claims of the
    /// deliveries it is delivering. What it holds outlives it by one lease at most.
    func heartbeat() async throws
    /// Takes the lease of polling `connector`, or keeps it; false while another live host holds it.
    /// Each page a source's poll stores afterwards is fenced by this lease: once another host took
    /// it, the page and its cursor are refused (``LeaseLost``) and nothing of them is stored.
    func holdSource(_ connector: String) async throws -> Bool
    /// Gives back claims of deliveries this host read but will not deliver now.
    func releaseClaims(_ ids: [Int64]) async throws
    /// Leaves for good (a graceful stop): gives back every lease and claim at once.
    func leave() async throws
    func cluster() async throws -> ClusterResult
    /// Routes that other hosts gave new work (LISTEN/NOTIFY), to wake idle workers; a store of one
    /// host never yields.
    func workNotices() -> AsyncStream<String>
}

/// A source page refused: this host no longer holds the source's lease (another took it over).
public struct LeaseLost: Error, CustomStringConvertible {
    public var connector: String
    public var description: String { "the lease of polling \(connector) was taken over by another host" }
}

/// Everything the daemon keeps.
public typealias HostStore = EventIntake & DeliveryQueue & OperatorQueries & AuditTrail & SecretStorage & ReconcileStorage & HostCoordination

extension EventIntake {
    public func ingest(connector: String, stream: String?, incoming: [Store.Incoming], rejects: [Store.Reject] = [], cursor: String?,
                       routes: [RouteConfig]) async throws -> Store.IngestResult {
        try await ingest(connector: connector, stream: stream, incoming: incoming, rejects: rejects, cursor: cursor, routes: routes, replayKey: nil)
    }

    /// Stores events that exist only as values (tests, benchmarks): encodes them first.
    public func ingest(connector: String, stream: String?, events: [Event], cursor: String?, routes: [RouteConfig]) async throws -> Store.IngestResult {
        let codec = RPCCodec()
        let incoming = try events.map { event in
            let payload = try codec.json(event)
            return Store.Incoming(header: try EventHeader(json: payload), payload: payload)
        }
        return try await ingest(connector: connector, stream: stream, incoming: incoming, rejects: [], cursor: cursor, routes: routes, replayKey: nil)
    }
}

extension DeliveryQueue {
    public func dueDeliveries(route: String, now: Int64, limit: Int) async throws -> [DeliveryJob] {
        try await dueDeliveries(route: route, now: now, limit: limit, excludingTenants: [], inHand: [])
    }

    public func dueDeliveries(route: String, now: Int64, limit: Int, excludingTenants excluded: [String]) async throws -> [DeliveryJob] {
        try await dueDeliveries(route: route, now: now, limit: limit, excludingTenants: excluded, inHand: [])
    }

    /// Records one attempt and what follows from it; true when a delivery to dead-letter was superseded.
    @discardableResult
    public func record(_ outcome: DeliveryOutcome) async throws -> Bool {
        try await !record([outcome]).isEmpty
    }
}

/// A webhook delivery whose replay key was already seen.
public struct ReplayedDelivery: Error {}

/// What every store shares: the values that cross the protocols, and the rules that must give the
/// same bytes whichever store keeps them (the audit chain's hashes).
public enum Store {
    /// Unix milliseconds, the store's time stamps.
    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    public struct IngestResult: Sendable, Equatable {
        public var stored: [Int64]
        public var duplicates: Int

        public init(stored: [Int64], duplicates: Int) {
            self.stored = stored
            self.duplicates = duplicates
        }
    }

    /// An event as the host keeps it: the header it routes by, the bytes the source sent (stored verbatim,
    /// never re-encoded).
    public struct Incoming: Sendable {
        public var header: EventHeader
        public var payload: Data
        public init(header: EventHeader, payload: Data) {
            self.header = header
            self.payload = payload
        }
    }

    /// An element of a page that is not a canonical event: kept as sent, with why.
    public struct Reject: Sendable, Equatable {
        public var reason: String
        public var payload: Data
        public init(reason: String, payload: Data) {
            self.reason = reason
            self.payload = payload
        }
    }

    /// A link with the canonical id it belongs to.
    public struct KnownLink: Sendable {
        public var canonicalKey: String
        public var link: Link

        public init(canonicalKey: String, link: Link) {
            self.canonicalKey = canonicalKey
            self.link = link
        }
    }

    /// Canonical ids (`connector:object type:object id`) of the record an event carries and of the
    /// records it refers to: what link lookups at delivery need.
    static func references(_ header: EventHeader, connector: String) -> [String] {
        var seen: Set<String> = []
        return ([RecordRef(objectType: header.source.objectType, objectID: header.source.objectID)] + header.references)
            .map { "\(connector):\($0.objectType):\($0.objectID)" }
            .filter { seen.insert($0).inserted }
    }

    /// The last audit row's id and hash, authenticated with the audit key.
    public struct AuditHead: Equatable, Sendable {
        public var id: Int64
        public var hash: String

        func sealed(key: SymmetricKey) -> Data {
            Data("\(id) \(hash) \(Store.auditMAC(hash: "head \(id) \(hash)", key: key))".utf8)
        }

        /// Nil when the record does not parse or its HMAC does not match.
        init?(sealed: Data, key: SymmetricKey) {
            let parts = String(decoding: sealed, as: UTF8.self).split(separator: " ").map(String.init)
            guard parts.count == 3, let id = Int64(parts[0]), Store.auditMAC(hash: "head \(id) \(parts[1])", key: key) == parts[2] else { return nil }
            self.init(id: id, hash: parts[1])
        }

        init(id: Int64, hash: String) {
            self.id = id
            self.hash = hash
        }
    }

    static func auditHash(previous: String, at: Int64, correlationID: String?, actor: String, action: String, subject: String, detail: String) -> String {
        let material = [previous, String(at), correlationID ?? "", actor, action, subject, detail].joined(separator: "\u{1F}")
        return Hex.encode(SHA256.hash(data: Data(material.utf8)))
    }

    static func auditMAC(hash: String, key: SymmetricKey) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Data(hash.utf8), using: key))
    }

    /// Reports kept per `[[reconcile]]`; older ones are dropped as new ones are stored.
    static let driftReportsKept = 200

    /// What the host holds of a source record: its latest event, and the deliveries of that event's
    /// object to the target that are still waiting.
    public struct RecordInHost: Sendable, Equatable {
        public var eventID: Int64
        public var eventType: String
        public var tenant: String?
        public var entity: String?
        /// Waiting deliveries of any event of the record to the target (`at`: when queued, ms).
        public var pending: [Delivery]
        /// The last delivery of any of its events the target took (`at`: when, ms).
        public var lastDelivered: Delivery?

        public struct Delivery: Sendable, Equatable {
            public var id: Int64
            public var route: String
            public var at: Int64
        }

        public init(eventID: Int64, eventType: String, tenant: String? = nil, entity: String? = nil, pending: [Delivery], lastDelivered: Delivery? = nil) {
            self.eventID = eventID
            self.eventType = eventType
            self.tenant = tenant
            self.entity = entity
            self.pending = pending
            self.lastDelivered = lastDelivered
        }
    }

    /// A secret as the store keeps it: sealed by the vault, never in plain text.
    public struct SealedSecret: Sendable {
        public var connector: String
        public var name: String
        public var version: Int
        public var sealed: Data

        public init(connector: String, name: String, version: Int, sealed: Data) {
            self.connector = connector
            self.name = name
            self.version = version
            self.sealed = sealed
        }
    }
}

extension Store {
    /// One audit row as stored.
    public struct AuditRow: Sendable {
        public var id: Int64
        public var at: Int64
        public var correlationID: String?
        public var actor: String
        public var action: String
        public var subject: String
        public var detail: String
        public var previousHash: String
        public var hash: String
        public var mac: String?

        public init(id: Int64, at: Int64, correlationID: String?, actor: String, action: String, subject: String, detail: String,
                    previousHash: String, hash: String, mac: String?) {
            self.id = id
            self.at = at
            self.correlationID = correlationID
            self.actor = actor
            self.action = action
            self.subject = subject
            self.detail = detail
            self.previousHash = previousHash
            self.hash = hash
            self.mac = mac
        }
    }

    /// Walks the audit chain, fed every row in id order by the store: every row must hash to its stored
    /// hash, point at the row before it and follow it without a gap in ids; from `authenticatedFrom`
    /// (the vault's sealed record; nil when that record is gone) every row must carry a valid HMAC, and
    /// the last row must be the sealed head. Pure: each store reads, this judges, alike.
    public struct AuditChainCheck {
        let key: SymmetricKey?
        let start: Int64?
        var problems: [AuditVerification.Problem] = []
        var rows = 0
        var authenticated = 0
        var previousID: Int64?
        var previousHash = ""

        public init(key: SymmetricKey?, authenticatedFrom start: Int64?) {
            self.key = key
            self.start = start
        }

        public mutating func add(_ row: AuditRow) {
            rows += 1
            let id = row.id
            if let previousID, id != previousID + 1 {
                problems.append(.init(id: id, kind: "missing", message: "rows \(previousID + 1)…\(id - 1) are missing: deleted"))
            }
            if row.previousHash != previousHash {
                problems.append(.init(id: id, kind: "chain_broken", message: "row \(id) does not point at the row before it: a row before it was deleted, inserted or rewritten"))
            }
            let computed = Store.auditHash(previous: row.previousHash, at: row.at, correlationID: row.correlationID, actor: row.actor, action: row.action,
                                           subject: row.subject, detail: row.detail)
            if computed != row.hash {
                problems.append(.init(id: id, kind: "edited", message: "row \(id)'s content does not match its hash: it was edited"))
            }
            let mustBeAuthenticated = start.map { id >= $0 } ?? false
            if let mac = row.mac, let key {
                if Store.auditMAC(hash: row.hash, key: key) == mac {
                    authenticated += 1
                } else {
                    problems.append(.init(id: id, kind: "forged", message: "row \(id)'s HMAC does not match: it was written without the vault's audit key"))
                }
            } else if row.mac == nil, mustBeAuthenticated {
                problems.append(.init(id: id, kind: "unauthenticated", message: "row \(id) has no HMAC although every row from \(start ?? 0) on must: it was inserted or its HMAC removed"))
            }
            previousID = id
            previousHash = row.hash
        }

        /// The verdict, once every row was added. `sealedHead`: the vault's sealed record of the last row
        /// written with the audit key; `hash(id)`: the stored hash of row `id`, if there is one.
        public func finish(sealedHead: Data?, hash: (Int64) throws -> String?) rethrows -> AuditVerification {
            var problems = self.problems
            let verdict = { AuditVerification(rows: rows, authenticated: authenticated, problems: problems, headID: previousID,
                                              headHash: previousID == nil ? nil : previousHash) }
            guard let key else { return verdict() }
            guard let start else {
                problems.append(.init(id: 0, kind: "anchor_missing", message: "the vault's sealed record of where authenticated rows begin is gone: removed to hide rewritten rows"))
                return verdict()
            }
            // Rows after the sealed head were not written by the daemon; rows missing up to it were removed from the end.
            let head = sealedHead.flatMap { Store.AuditHead(sealed: $0, key: key) }
            let lastID = previousID ?? 0
            switch (sealedHead, head) {
            case (nil, _) where lastID >= start:
                problems.append(.init(id: lastID, kind: "head_missing", message: "the sealed audit head is gone although rows from \(start) on exist"))
            case (.some, nil):
                problems.append(.init(id: lastID, kind: "head_forged", message: "the sealed audit head does not match its HMAC: it was written without the vault's audit key"))
            case (_, let head?) where head.id > lastID:
                problems.append(.init(id: head.id, kind: "truncated", message: "rows \(lastID + 1)…\(head.id) were removed from the end (the sealed head is row \(head.id))"))
            case (_, let head?) where try hash(head.id) != head.hash:
                problems.append(.init(id: head.id, kind: "edited", message: "row \(head.id) is not the row the sealed head names: rewritten"))
            default:
                break
            }
            return verdict()
        }

        /// The row whose hash ``finish(sealedHead:hash:)`` will ask for, for a store that reads it ahead.
        public func headToCheck(sealedHead: Data?) -> Int64? {
            guard let key else { return nil }
            return sealedHead.flatMap { Store.AuditHead(sealed: $0, key: key) }?.id
        }
    }
}
