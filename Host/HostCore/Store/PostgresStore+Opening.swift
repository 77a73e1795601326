import Foundation
public import Logging
import NIOSSL
import PostgresNIO

extension PostgresStore {
    /// The store of a `[store] kind = "postgres"`: its password read from the systemd credential or the
    /// password file, TLS as configured; connected, migrated, and held for this host alone.
    public static func open(_ settings: PostgresSettings, credentialsDirectory: String?, logger: Logger) async throws -> PostgresStore {
        var configuration = PostgresClient.Configuration(host: settings.host, port: settings.port, username: settings.user,
                                                         password: try password(settings, credentialsDirectory: credentialsDirectory),
                                                         database: settings.database, tls: try tls(settings))
        configuration.options.maximumConnections = settings.poolSize
        let store: PostgresStore
        do {
            store = try await PostgresStore(configuration: configuration, logger: logger)
        } catch {
            throw HostError(.store, "cannot open the store \(settings.url): \(Self.described(error))")
        }
        try await store.holdAlone(settings)
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

    /// The advisory lock a host holds on its database for as long as it runs.
    static let hostLock: Int64 = 0x636F_6E6E_686F_7374

    /// Holds the host lock on a connection of its own for as long as the store is open: a second daemon
    /// started on the same database is refused, as a second one on the same SQLite file is (several hosts
    /// share a database once deliveries are claimed and sources leased). The connection is checked every
    /// few seconds; cut (the server restarted, the network gone), the lock is taken again once it can be.
    func holdAlone(_ settings: PostgresSettings) async throws {
        enum Answer: Sendable { case held, heldByAnother, failed(String) }
        let (answers, answer) = AsyncStream<Answer>.makeStream()
        let client = client
        let logger = logger
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
                        let held = try await connection.query("SELECT pg_try_advisory_lock(\(Self.hostLock))", logger: logger).collect().first?.decode(Bool.self)
                        guard held == true else {
                            if answered { logger.error("another connector-hostd took the database while this one was cut off from it", metadata: ["store.url": "\(settings.url)"]) }
                            tell(.heldByAnother)
                            return
                        }
                        tell(.held)
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(5))
                            try await connection.query("SELECT 1", logger: logger)
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
            throw HostError(.store, "another connector-hostd uses the database \(settings.url): one host per database for now; stop the other one first")
        case .failed(let reason):
            close()
            throw HostError(.store, "cannot hold the database \(settings.url) for this host: \(reason)")
        case nil:
            close()
            throw HostError(.store, "cannot hold the database \(settings.url) for this host")
        }
    }
}
