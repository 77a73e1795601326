public import ConnectorKit
public import ConnectorProtocol
public import Foundation

/// Chargebee's events — from the feed (`GET /events`) or a webhook, the same JSON — as canonical events.
/// An event's version is its resource's `resource_version` (milliseconds, bumped on every change), so a
/// change polled and pushed is one event, and two changes of one resource in one second are two.
public struct ChargebeeEvents: Sendable {
    public let connector: ConnectorInfo

    public init(connector: ConnectorInfo) {
        self.connector = connector
    }

    /// What each event type becomes: the canonical type, and the resource its `content` carries.
    static func route(_ eventType: String, _ content: JSONValue) -> (resource: String, type: String)? {
        switch eventType {
        case "customer_created", "customer_changed": return ("customer", "customer.upserted")
        case "customer_deleted": return ("customer", "customer.deleted")
        case "invoice_generated", "invoice_updated":
            switch content["invoice"]?["status"]?.stringValue {
            case "paid": return ("invoice", "invoice.paid")
            case "voided": return ("invoice", "invoice.voided")
            case "pending": return nil  // not final yet: booked when it is
            default: return ("invoice", "invoice.finalized")
            }
        case "invoice_deleted": return ("invoice", "invoice.voided")
        case "credit_note_created", "credit_note_updated":
            return ("credit_note", content["credit_note"]?["status"]?.stringValue == "voided" ? "credit_note.voided" : "credit_note.issued")
        case "payment_succeeded", "payment_failed", "payment_refunded", "refund_initiated", "transaction_created", "transaction_updated":
            guard let transaction = content["transaction"] else { return nil }
            let kind = transaction["type"]?.stringValue == "refund" ? "refund" : "payment"
            let state = transaction["status"]?.stringValue == "success" ? "succeeded" : transaction["status"]?.stringValue == "failure" ? "failed" : "pending"
            return ("transaction", "\(kind).\(state)")
        default:
            if eventType.hasPrefix("subscription_"), content["subscription"] != nil { return ("subscription", "subscription.updated") }
            return nil
        }
    }

    /// The canonical events of one Chargebee event (none for a type nobody routes, or a record not final yet).
    public func events(_ event: JSONValue) throws -> [Event] {
        guard let eventType = event["event_type"]?.stringValue, let content = event["content"],
              let (resource, type) = Self.route(eventType, content), let json = content[resource], let id = json["id"]?.stringValue else { return [] }
        let record: Record
        switch resource {
        case "customer": record = .customer(ChargebeeMapping.customer(json))
        case "invoice": record = .invoice(try mapped { () throws(ChargebeeMapping.Unmapped) in try ChargebeeMapping.invoice(json) })
        case "credit_note": record = .creditNote(try mapped { () throws(ChargebeeMapping.Unmapped) in try ChargebeeMapping.invoice(json, creditNote: true) })
        case "subscription": record = .subscription(try mapped { () throws(ChargebeeMapping.Unmapped) in try ChargebeeMapping.subscription(json) })
        default:
            guard let transaction = try mapped({ () throws(ChargebeeMapping.Unmapped) in try ChargebeeMapping.transaction(json) }) else { return [] }
            record = transaction
        }
        let version = json["resource_version"]?.intValue.map(String.init) ?? event["id"]?.stringValue ?? "-"
        let customer = json["customer_id"]?.stringValue ?? (resource == "customer" ? id : nil)
        let occurred = event["occurred_at"]?.intValue.map { Date(timeIntervalSince1970: Double($0)).formatted(.iso8601) } ?? ""
        return [Event(type: type, source: SourceRef(objectType: resource, objectID: id, version: version), tenant: connector.tenant, entity: connector.entity,
                      correlationID: "\(connector.id):\(resource):\(id):\(version)", occurredAt: occurred,
                      orderingKey: customer.map { "customer:\($0)" }, record: record)]
    }

    /// A resource Chargebee sent that cannot be mapped is a fault of the source's data: the event is not
    /// emitted and the poll says why (it must not be skipped silently).
    private func mapped<T>(_ map: () throws(ChargebeeMapping.Unmapped) -> T) throws(ConnectorError) -> T {
        do {
            return try map()
        } catch {
            throw ConnectorError(.permanent, "Chargebee: \(error.description)", details: ["reason": "unmapped"])
        }
    }
}
