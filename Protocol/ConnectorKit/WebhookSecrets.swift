import Synchronization

/// A webhook's signing secrets, read from the vault once and again whenever the host says a secret
/// changed (`credentials.changed`). A signature that does not match also reads them again, in case a
/// change was missed, but at most once per `refreshInterval`: a flood of forged webhooks must not
/// become a flood of vault reads (each is an audit row).
public final class WebhookSecrets: Sendable {
    /// The vault names, current first; a later one (the next secret of a roll) may be absent.
    let names: [String]
    let refreshInterval: Duration
    let read: @Sendable (String) async throws -> String
    /// The host's count of credential changes (``HostConnection/credentialsGeneration``).
    let generation: @Sendable () -> Int
    private let state = Mutex<(values: [String]?, generation: Int, readAt: ContinuousClock.Instant?)>((nil, 0, nil))

    public init(names: [String], refreshInterval: Duration = .seconds(30), generation: @escaping @Sendable () -> Int = { 0 },
                read: @escaping @Sendable (String) async throws -> String) {
        self.names = names
        self.refreshInterval = refreshInterval
        self.generation = generation
        self.read = read
    }

    /// Reads the secrets through `host`, again whenever it reports a change.
    public convenience init(names: [String], host: HostConnection) {
        self.init(names: names, generation: { host.credentialsGeneration }, read: { try await host.secret($0) })
    }

    /// The secrets as last read; read now the first time and after the host reported a change.
    public func current() async throws -> [String] {
        let now = generation()
        if let known = state.withLock({ $0.generation == now ? $0.values : nil }) { return known }
        return try await reload()
    }

    /// The secrets read again, unless they were read less than `refreshInterval` ago: then nil (the
    /// caller's answer stands).
    public func refreshed(now: ContinuousClock.Instant = .now) async throws -> [String]? {
        let due = state.withLock { state in
            guard state.readAt.map({ now - $0 >= refreshInterval }) ?? true else { return false }
            state.readAt = now
            return true
        }
        return due ? try await reload() : nil
    }

    private func reload() async throws -> [String] {
        let generation = generation()
        var values: [String] = []
        for (index, name) in names.enumerated() {
            do {
                values.append(try await read(name))
            } catch where index > 0 {
                continue
            }
        }
        state.withLock {
            $0.values = values
            $0.generation = generation
        }
        return values
    }
}
