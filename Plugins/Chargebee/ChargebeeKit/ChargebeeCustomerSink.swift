import ConnectorKit
public import ConnectorProtocol
import Crypto
import Foundation

/// Customers from another system (a CRM, Odoo) as Chargebee customers. Each is created under an id made
/// from its source reference, so it is found again by that id — after a lost answer, a replay, or a
/// host that lost its database — and never created twice; the create carries the delivery's
/// `chargebee-idempotency-key`. What changed later is written: the customer's own fields with an update,
/// its billing address and VAT number with `update_billing_info` (an update refuses them).
public struct ChargebeeCustomerSink: Sendable {
    let client: ChargebeeClient

    public init(client: ChargebeeClient) {
        self.client = client
    }

    /// The Chargebee customer id of a source record: `<source>-<type>-<id>` in the characters Chargebee
    /// takes (letters, digits, `_ - . @`), at most 50; a longer one keeps its start and a hash of the whole.
    public static func customerID(sourceConnector: String, objectType: String, objectID: String) -> String {
        let whole = "\(sourceConnector)-\(objectType)-\(objectID)"
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@")
        let safe = String(whole.map { allowed.contains($0) ? $0 : "_" })
        guard safe.count > 50 || safe != whole else { return safe }
        let digest = SHA256.hash(data: Data(whole.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        return String(safe.prefix(33)) + "-" + digest
    }

    /// The customer's own fields (create and update) and its billing fields (create and `update_billing_info`).
    public static func fields(_ customer: Customer) -> (own: [(String, String)], billing: [(String, String)]) {
        var own: [(String, String)] = []
        if customer.isCompany {
            own.append(("company", customer.name))
        } else {
            let words = customer.name.split(separator: " ")
            own.append(("first_name", words.count > 1 ? words.dropLast().joined(separator: " ") : customer.name))
            if words.count > 1 { own.append(("last_name", String(words.last!))) }
        }
        if let email = customer.email { own.append(("email", email)) }
        if let phone = customer.phone { own.append(("phone", phone)) }
        var billing: [(String, String)] = []
        if let vat = customer.vat { billing.append(("vat_number", vat)) }
        if let address = customer.address {
            for (key, value) in [("line1", address.line1), ("line2", address.line2), ("city", address.city), ("zip", address.postalCode),
                                 ("state", address.state), ("country", address.country)] {
                if let value { billing.append(("billing_address[\(key)]", value)) }
            }
        }
        return (own, billing)
    }

    /// The fields whose value Chargebee does not hold yet.
    static func changed(_ fields: [(String, String)], in customer: JSONValue) -> [(String, String)] {
        fields.filter { key, value in
            let held = key.hasPrefix("billing_address[")
                ? customer["billing_address"]?[String(key.dropFirst("billing_address[".count).dropLast())]
                : customer[key]
            return held?.stringValue != value
        }
    }

    public func deliver(_ params: DeliverParams) async throws -> DeliverResult {
        guard case .customer(let customer) = params.event.record else {
            throw ConnectorError(.notSupported, "the Chargebee connector takes customers only, not \(params.event.record.kind)")
        }
        // A customer deleted at the source stays in Chargebee, with its subscriptions and invoices.
        if params.event.type.hasSuffix(".deleted") { return DeliverResult(externalID: nil, duplicate: true) }
        let source = params.event.source
        // The host's link: the id this sink answered, or (a customer that came from this Chargebee site
        // and went round through another system) the way back, written `customer:<id>`.
        let link = params.links.first(where: { $0.objectType == source.objectType && $0.sourceID == source.objectID })?.externalID
        let linked = link.map { $0.hasPrefix("customer:") ? String($0.dropFirst("customer:".count)) : $0 }
        let id = linked ?? Self.customerID(sourceConnector: params.sourceConnector ?? source.connector ?? "unknown", objectType: source.objectType, objectID: source.objectID)
        let (own, billing) = Self.fields(customer)
        if let existing = try await find(id) { return try await update(existing, id: id, own: own, billing: billing, params) }
        var create = [("id", id)] + own + billing
        if let currency = customer.currency { create.append(("preferred_currency_code", currency.code)) }
        do {
            _ = try await client.post("/customers", create, idempotencyKey: params.idempotencyKey)
        } catch let error as ConnectorError where error.details?["chargebee_error_code"]?.stringValue == "duplicate_entry" {
            // Created meanwhile (an answer lost before the key was stored): it is there, write what differs.
            guard let existing = try await find(id) else { throw error }
            return try await update(existing, id: id, own: own, billing: billing, params)
        }
        return DeliverResult(externalID: id, sourceRef: RecordRef(objectType: "customer", objectID: id))
    }

    static func path(_ id: String) -> String {
        "/customers/" + (id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._@"))) ?? id)
    }

    func find(_ id: String) async throws -> JSONValue? {
        do {
            return try await client.get(Self.path(id))["customer"]
        } catch let error as ConnectorError where error.details?["chargebee_error_code"]?.stringValue == "resource_not_found" {
            return nil
        }
    }

    func update(_ existing: JSONValue, id: String, own: [(String, String)], billing: [(String, String)], _ params: DeliverParams) async throws -> DeliverResult {
        let path = Self.path(id)
        let ownChanges = Self.changed(own, in: existing), billingChanges = Self.changed(billing, in: existing)
        // A key per attempt: an error Chargebee kept under an earlier attempt's key is not replayed to this one.
        if !ownChanges.isEmpty { _ = try await client.post(path, ownChanges, idempotencyKey: "\(params.idempotencyKey):update:\(params.attempt)") }
        if !billingChanges.isEmpty {
            _ = try await client.post(path + "/update_billing_info", billingChanges, idempotencyKey: "\(params.idempotencyKey):billing:\(params.attempt)")
        }
        return DeliverResult(externalID: id, duplicate: ownChanges.isEmpty && billingChanges.isEmpty, sourceRef: RecordRef(objectType: "customer", objectID: id))
    }
}
