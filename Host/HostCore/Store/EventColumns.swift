import ConnectorProtocol
import NIOCore

/// A page of events as the columns of one `INSERT … SELECT FROM UNNEST`, one element per event: a
/// nullable text as a value and a flag (arrays of optionals are not bound).
struct EventColumns: Sendable {
    var keys: [String] = [], types: [String] = [], objectTypes: [String] = [], objectIDs: [String] = []
    var tenants: [String] = [], hasTenant: [Bool] = [], entities: [String] = [], hasEntity: [Bool] = []
    var correlations: [String] = [], orderingKeys: [String] = [], hasOrderingKey: [Bool] = []
    var references: [String] = [], payloads: [ByteBuffer] = []

    init(_ incoming: [Store.Incoming], connector: String) {
        for item in incoming {
            let header = item.header
            keys.append(header.idempotencyKey(connector: connector))
            types.append(header.type)
            objectTypes.append(header.source.objectType)
            objectIDs.append(header.source.objectID)
            tenants.append(header.tenant ?? "")
            hasTenant.append(header.tenant != nil)
            entities.append(header.entity ?? "")
            hasEntity.append(header.entity != nil)
            correlations.append(header.correlationID)
            orderingKeys.append(header.orderingKey ?? "")
            hasOrderingKey.append(header.orderingKey != nil)
            references.append(Store.references(header, connector: connector).joined(separator: "\n"))
            payloads.append(ByteBuffer(bytes: item.payload))
        }
    }
}
