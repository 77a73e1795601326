import Foundation
public import Logging
import NIOSSL
import PostgresNIO
import Synchronization

extension PostgresStore {
    /// The store of a `[store] kind = "postgres"`: its password read from the systemd credential or the
    /// password file, TLS as configured; connected, migrated, and this host registered as its member.
    public static func open(_ settings: PostgresSettings, credentialsDirectory: String?, logger: Logger) async throws -> PostgresStore {
        var configuration = PostgresClient.Configuration(host: settings.host, port: settings.port, username: settings.user,
                                                         password: try password(settings, credentialsDirectory: credentialsDirectory),
                                                         database: settings.database, tls: try tls(settings))
        configuration.options.maximumConnections = settings.poolSize
        let store: PostgresStore
        do {
            store = try await PostgresStore(configuration: configuration, member: settings.member,
                                            leaseMilliseconds: Int64(settings.leaseSeconds) * 1000, logger: logger)
        } catch {
            throw HostError(.store, "cannot open the store \(settings.url): \(Self.described(error))")
        }
        try await store.holdMember(settings)
        return store
    }

    /// The systemd credential (`$CREDENTIALS_DIRECTORY/<password_credential>`), else `password_file`, else
    /// none (a server that trusts this host without one).
    static func password(_ settings: PostgresSettings, credentialsDirectory: String?) throws -> String? {
        if let directory = credentialsDirectory, let value = try? String(contentsOfFile: "\(directory)/\(settings.passwordCredential)", encoding: .utf8) {
            return value.trimmingCharacters(in: .newlines)
        }
        guard let file = settings.passwordFile else { return nil }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
              let value = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw HostError(.store, "cannot read the store's password_file \(file)")
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw HostError(.store, "the store's password_file \(file) can be read by others (mode \(String(mode, radix: 8))): chmod 600 it")
        }
        return value.trimmingCharacters(in: .newlines)
    }

    static func tls(_ settings: PostgresSettings) throws -> PostgresClient.Configuration.TLS {
        switch settings.tls {
        case .disable:
            return .disable
        case .prefer:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            return .prefer(configuration)
        case .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            if let file = settings.caFile {
                do {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
                } catch {
                    throw HostError(.store, "cannot read the store's ca_file \(file): \(error)")
                }
            }
            return .require(configuration)
        }
    }

    /// The advisory lock class of members: a host holds (class, hashtext(member)) for as long as it runs.
    static let memberLock: Int32 = 0x636F_6E6E

    /// Holds this member's lock on a connection of its own for as long as the store is open: a second
    /// daemon under the same `[store] member` is refused, as a second one on the same SQLite file is.
    /// Holding it, the host registers, frees what an earlier run under its name left claimed (that run
    /// is dead), and listens on the same connection for other hosts' work notices. The connection is
    /// checked every few seconds; cut (the server restarted, the network gone), the lock is taken again
    /// once it can be.
    func holdMember(_ settings: PostgresSettings) async throws {
        enum Answer: Sendable { case held, heldByAnother, failed(String) }
        let (answers, answer) = AsyncStream<Answer>.makeStream()
        let client = client
        let logger = logger
        let member = member
        keep(Task {
            var answered = false
            func tell(_ value: Answer) {
                guard !answered else { return }
                answered = true
                answer.yield(value)
                answer.finish()
            }
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        let held = try await connection.query("SELECT pg_try_advisory_lock(\(Self.memberLock), hashtext(\(member)))", logger: logger)
                            .collect().first?.decode(Bool.self)
                        guard held == true else {
                            if answered {
                                logger.error("another connector-hostd took this member's name while this one was cut off from the database",
                                             metadata: ["store.url": "\(settings.url)", "store.member": "\(member)"])
                            }
                            tell(.heldByAnother)
                            return
                        }
                        try await self.register(at: Store.now(), on: connection)
                        if !answered { try await self.releaseWhatAnEarlierRunHeld(on: connection) }
                        self.holdings.withLock { $0.memberConnection = connection }
                        defer { self.holdings.withLock { $0.memberConnection = nil } }
                        try await connection.listen(on: Self.workChannel) { notices in
                            tell(.held)  // listening: no notice from now on is missed
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask {
                                    for try await notice in notices { self.heard(notice.payload) }
                                }
                                group.addTask {
                                    while !Task.isCancelled {
                                        try await Task.sleep(for: .seconds(5))
                                        try await connection.query("SELECT 1", logger: logger)
                                    }
                                }
                                defer { group.cancelAll() }
                                try await group.next()
                            }
                        }
                    }
                } catch {
                    tell(.failed(String(describing: error)))
                }
                guard answered else { return }
                try? await Task.sleep(for: .seconds(1))
            }
        })
        var iterator = answers.makeAsyncIterator()
        switch await iterator.next() {
        case .held:
            return
        case .heldByAnother:
            close()
            throw HostError(.store, "another connector-hostd runs as member \(member) on the database \(settings.url): give each host its own [store] member, or stop the other one first")
        case .failed(let reason):
            close()
            throw HostError(.store, "cannot hold the database \(settings.url) for this host: \(reason)")
        case nil:
            close()
            throw HostError(.store, "cannot hold the database \(settings.url) for this host")
        }
    }
}
