import ConnectorKit
import ConnectorProtocol
import Foundation
import Logging
import Synchronization

/// Matching a source's customer to the partner another source (or finance) already keeps in Odoo.
extension OdooSink {
    func ownPartner(_ domain: JSONValue, _ write: Write) async throws -> Int64? {
        try await client.searchRead("res.partner", domain: domain, fields: ["id"], limit: 1, context: write.context).first?["id"]?.intValue
    }

    /// The partner another source (or finance) already keeps for this customer, by the configured keys
    /// in order (``OdooSettings/partnerMatch``): its VAT number (as written, or compact), its email.
    func matchPartner(_ customer: Customer, _ write: Write) async throws -> Int64? {
        for key in settings.partnerMatch {
            let domain: JSONValue
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
            let found = try await client.searchRead("res.partner", domain: domain, fields: ["id"], order: "id", limit: 2, context: write.context)
            guard let id = found.first?["id"]?.intValue else { continue }
            if found.count > 1 {
                logger.warning("several Odoo partners match a customer; the oldest is used", metadata: ["odoo.match": "\(key.rawValue)", "odoo.reference": "\(write.reference)"])
            }
            logger.info("customer matched to an existing partner", metadata: ["odoo.match": "\(key.rawValue)", "odoo.partner": "\(id)", "odoo.reference": "\(write.reference)"])
            return id
        }
        return nil
    }

    /// A partner this customer was matched to belongs to whoever made it first: only what it lacks is
    /// written (never its reference, name or another source's address).
    func fillBlanks(_ id: Int64, values: [String: JSONValue], _ write: Write) async throws -> DeliverResult {
        let fields = values.keys.filter { $0 != "ref" }.sorted()
        let existing = try await client.searchRead("res.partner", domain: [["id", "=", .int(id)]], fields: fields, limit: 1, context: write.context).first
        var blanks: [String: JSONValue] = [:]
        if let existing, existing["ref"]?.stringValue == nil || existing["ref"]?.stringValue == write.reference {
            // Its own partner after all (found by the host's link): written as any upsert.
            blanks = values.filter { key, value in !Self.same(existing[key], value) }
        } else if let existing {
            blanks = values.filter { key, _ in key != "ref" && key != "is_company" && (existing[key] == nil || existing[key] == false || existing[key] == "") }
        }
        if !blanks.isEmpty { try await client.write("res.partner", ids: [id], values: blanks, context: write.context) }
        return DeliverResult(externalID: OdooRecordID(model: "res.partner", id: id).description, duplicate: blanks.isEmpty,
                             sourceRef: RecordRef(objectType: "res.partner", objectID: String(id)))
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
