import ConnectorProtocol
import Synchronization

/// A secret a plugin reads from the host's vault once and keeps in memory (an API key, a private-app
/// token), forgotten when the vendor refuses it so that a rotated one is read again. A secret the vault
/// does not have, or refuses to give, is `auth`: the connector pauses until an operator stores it.
public final class CachedSecret: Sendable {
    private let read: @Sendable () async throws -> String
    private let value = Mutex<String?>(nil)

    public init(_ read: @escaping @Sendable () async throws -> String) {
        self.read = read
    }

    public func get() async throws -> String {
        if let known = value.withLock({ $0 }) { return known }
        let secret: String
        do {
            secret = try await read()
        } catch let error as ConnectorError where error.code != .transient && error.code != .rateLimited {
            throw ConnectorError(.auth, error.message, details: error.details)
        }
        value.withLock { $0 = secret }
        return secret
    }

    /// The vendor refused it: the next call reads the vault again.
    public func forget() {
        value.withLock { $0 = nil }
    }
}
