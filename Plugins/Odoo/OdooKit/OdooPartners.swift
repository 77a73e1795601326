import ConnectorKit
import ConnectorProtocol
import Foundation
import Logging
import Synchronization

/// Matching a source's customer to the partner another source (or finance) already keeps in Odoo.
extension OdooSink {
    /// A partner the host's link or this customer's reference names, and whether it is this customer's
    /// own (its `ref` is the customer's) or one it was matched to (another source's).
    struct KnownPartner {
        var id: Int64
        var own: Bool
        var values: JSONValue
    }

    /// The (oldest) active partner a domain finds, with the fields to compare; nil when there is none
    /// (a linked one archived or deleted in Odoo since).
    func partner(_ domain: JSONValue, fields: [String], _ write: Write) async throws -> KnownPartner? {
        let found = try await client.searchRead("res.partner", domain: domain, fields: Array(Set(fields + ["ref"])).sorted(), order: "id", limit: 1, context: write.context)
        return found.first.flatMap { record in
            record["id"]?.intValue.map { KnownPartner(id: $0, own: record["ref"]?.stringValue == write.reference, values: record) }
        }
    }

    /// The partner another source (or finance) already keeps for this customer, by the configured keys
    /// in order (``OdooSettings/partnerMatch``): its VAT number (as written, or compact), its email. Never
    /// a contact person (a partner with a parent), nor a partner of another customer of the same source
    /// (two customers of one Stripe account sharing an accounts-payable address stay two).
    func matchPartner(_ customer: Customer, _ write: Write) async throws -> Int64? {
        // `not like` wraps its value in wildcards (`not =like` is not an operator on 17).
        let sameSource = "ch:\(write.source):"
        for key in settings.partnerMatch {
            var domain: [JSONValue]
            switch key {
            case .vat:
                guard let vat = customer.vat?.trimmingCharacters(in: .whitespaces), !vat.isEmpty else { continue }
                domain = [["vat", "in", [.string(vat), .string(OdooMapping.compactVAT(vat))]]]
            case .email:
                guard let email = customer.email?.trimmingCharacters(in: .whitespaces), email.contains("@") else { continue }
                // =ilike without wildcards: equal, ignoring case (a literal _ or % is escaped).
                let literal = email.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                domain = [["email", "=ilike", .string(literal)]]
            }
            domain += [["parent_id", "=", false], "|", ["ref", "=", false], ["ref", "not like", .string(sameSource)]]
            let found = try await client.searchRead("res.partner", domain: .array(domain), fields: ["id"], order: "id", limit: 2, context: write.context)
            guard let id = found.first?["id"]?.intValue else { continue }
            if found.count > 1 {
                logger.warning("several Odoo partners match a customer; the oldest is used", metadata: ["odoo.match": "\(key.rawValue)", "odoo.reference": "\(write.reference)"])
            }
            logger.info("customer matched to an existing partner", metadata: ["odoo.match": "\(key.rawValue)", "odoo.partner": "\(id)", "odoo.reference": "\(write.reference)"])
            return id
        }
        return nil
    }

    /// Writes a known partner: its own as any upsert does (what differs); one it was matched to belongs
    /// to whoever made it first, so only what it lacks is written — never its reference, name, kind or
    /// another source's address lines.
    func write(_ partner: KnownPartner, values: [String: JSONValue], _ write: Write) async throws -> DeliverResult {
        let changes = partner.own
            ? values.filter { key, value in !Self.same(partner.values[key], value) }
            : values.filter { key, _ in !["ref", "name", "is_company"].contains(key) && [nil, false, ""].contains(partner.values[key]) }
        if !changes.isEmpty { try await client.write("res.partner", ids: [partner.id], values: changes, context: write.context) }
        return DeliverResult(externalID: OdooRecordID(model: "res.partner", id: partner.id).description, duplicate: changes.isEmpty,
                             sourceRef: RecordRef(objectType: "res.partner", objectID: String(partner.id)))
    }
}

/// Runs one body at a time, in the order they came (an async lock): a waiting caller suspends, it does
/// not block a thread.
final class SerialGate: Sendable {
    private struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func serially<T>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { (turn: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                guard state.busy else {
                    state.busy = true
                    return true
                }
                state.waiting.append(turn)
                return false
            }
            if now { turn.resume() }
        }
        defer {
            // The turn passes to the next in line, or the gate opens: in one step, so none is left waiting.
            state.withLock { state in
                if state.waiting.isEmpty { state.busy = false } else { state.waiting.removeFirst().resume() }
            }
        }
        return try await body()
    }
}
