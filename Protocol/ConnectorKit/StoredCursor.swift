public import ConnectorProtocol
import Foundation

/// A stream's cursor as the host stores it: JSON text the plugin wrote and reads back. A text that is
/// not such a cursor is a `permanent` error naming the connector (the stream cannot go on from it).
public protocol StoredCursor: Codable, Sendable {}

extension StoredCursor {
    public func encoded() -> String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
    }

    /// - Parameter connector: the connector's name for the error ("Stripe", "HubSpot", …).
    public static func decode(_ text: String, connector: String) throws(ConnectorError) -> Self {
        guard let cursor = try? JSONDecoder().decode(Self.self, from: Data(text.utf8)) else {
            throw ConnectorError(.permanent, "the stored cursor \"\(text.prefix(80))\" is not a \(connector) connector cursor")
        }
        return cursor
    }
}
