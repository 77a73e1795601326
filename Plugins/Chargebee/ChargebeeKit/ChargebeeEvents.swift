import ConnectorKit
public import ConnectorProtocol
import Foundation

/// Chargebee's records as canonical events, whether they come in an event (from the feed or a webhook,
/// the same JSON) or from a backfill's list. An event's version is its resource's `resource_version`
/// (milliseconds, bumped on every change), so one change polled, pushed and backfilled is one event,
/// and two changes of one resource in one second are two.
public struct ChargebeeEvents: Sendable {
    public let connector: ConnectorInfo

    public init(connector: ConnectorInfo) {
        self.connector = connector
    }

    /// Canonical events, and the records that could not be made events of (kept by the host as rejects,
    /// so one bad record neither stops its stream nor disappears).
    public struct Mapped: Sendable {
        public var events: [Event] = []
        public var rejects: [SourceReject] = []

        public init() {}

        mutating func add(_ other: Mapped) {
            events += other.events
            rejects += other.rejects
        }
    }

    /// The resource an event type carries in its `content`; nil for types nobody routes.
    static func resource(ofEventType eventType: String) -> String? {
        let prefixes: [(String, String)] = [
            ("customer_", "customer"), ("invoice_", "invoice"), ("credit_note_", "credit_note"), ("payment_", "transaction"),
            ("refund_", "transaction"), ("transaction_", "transaction"), ("subscription_", "subscription"), ("item_price_", "item_price"),
        ]
        return prefixes.first { eventType.hasPrefix($0.0) }?.1
    }

    /// The canonical type of a resource in its state; nil while it is not final (a pending invoice is
    /// booked when it is).
    static func type(of resource: String, _ json: JSONValue, deleted: Bool) -> String? {
        let deleted = deleted || json["deleted"]?.boolValue == true
        switch resource {
        case "customer": return deleted ? "customer.deleted" : "customer.upserted"
        case "invoice":
            if deleted { return "invoice.voided" }
            switch json["status"]?.stringValue {
            case "paid": return "invoice.paid"
            case "voided": return "invoice.voided"
            case "pending": return nil
            default: return "invoice.finalized"
            }
        case "credit_note": return deleted || json["status"]?.stringValue == "voided" ? "credit_note.voided" : "credit_note.issued"
        case "transaction":
            let kind = json["type"]?.stringValue == "refund" ? "refund" : "payment"
            let state = switch json["status"]?.stringValue {
            case "success": "succeeded"
            case "failure", "voided", "timeout": "failed"
            default: "pending"
            }
            return "\(kind).\(state)"
        case "subscription": return "subscription.updated"
        case "item_price": return "product.upserted"
        default: return nil
        }
    }

    /// The canonical events of one Chargebee event (none for a type nobody routes, or a record not final yet).
    public func events(_ event: JSONValue) -> Mapped {
        guard let eventType = event["event_type"]?.stringValue, let resource = Self.resource(ofEventType: eventType),
              let json = event["content"]?[resource] else { return Mapped() }
        return record(resource, json, deleted: eventType.hasSuffix("_deleted"), occurredAt: event["occurred_at"]?.intValue)
    }

    /// The canonical event of one resource as Chargebee has it now.
    public func record(_ resource: String, _ json: JSONValue, deleted: Bool = false, occurredAt: Int64? = nil) -> Mapped {
        var mapped = Mapped()
        guard let id = json["id"]?.stringValue, let type = Self.type(of: resource, json, deleted: deleted) else { return mapped }
        let version = json["resource_version"]?.intValue.map(String.init) ?? json["updated_at"]?.intValue.map(String.init) ?? "-"
        let source = SourceRef(objectType: resource, objectID: id, version: version)
        let record: Record
        do throws(ChargebeeMapping.Unmapped) {
            switch resource {
            case "customer": record = .customer(ChargebeeMapping.customer(json))
            case "invoice": record = .invoice(try ChargebeeMapping.invoice(json))
            case "credit_note": record = .creditNote(try ChargebeeMapping.invoice(json, creditNote: true))
            case "subscription": record = .subscription(try ChargebeeMapping.subscription(json))
            case "item_price": record = .product(try ChargebeeMapping.itemPrice(json))
            default:
                guard let transaction = try ChargebeeMapping.transaction(json) else { return mapped }
                record = transaction
            }
        } catch {
            mapped.rejects.append(SourceReject(problem: "Chargebee \(error.description)", source: source, record: json))
            return mapped
        }
        let customer = json["customer_id"]?.stringValue ?? (resource == "customer" ? id : nil)
        let occurred = (occurredAt ?? json["updated_at"]?.intValue).map { Date(timeIntervalSince1970: Double($0)).formatted(.iso8601) } ?? ""
        mapped.events.append(Event(type: type, source: source, tenant: connector.tenant, entity: connector.entity,
                                   correlationID: "\(connector.id):\(resource):\(id):\(version)", occurredAt: occurred,
                                   orderingKey: customer.map { "customer:\($0)" }, record: record))
        return mapped
    }
}
