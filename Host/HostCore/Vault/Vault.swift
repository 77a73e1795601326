import Crypto
import ConnectorProtocol
import Foundation
public import HostAdmin
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Credentials, sealed at rest with AES-256-GCM under a master key that never enters the database.
/// Each value's associated data names its connector, name and version, so a sealed value copied to
/// another row does not open. A plugin reads only its own connector's secrets.
public final class Vault: Sendable {
    /// Where the master key comes from: a systemd credential (`LoadCredential=vault-master-key:…`,
    /// read-only, never created) or a 0600 key file (created on first start).
    public struct KeySource: Sendable, Equatable {
        public var path: String
        public var isCredential: Bool
        /// A new key written by a rekey, until it has replaced the old one.
        public var pendingPath: String

        public static let credentialName = "vault-master-key"

        /// `$CREDENTIALS_DIRECTORY/vault-master-key` when systemd provides it, else the configured key file.
        public static func resolve(keyFile: String, stateDirectory: String, environment: [String: String]) -> KeySource {
            if let directory = environment["CREDENTIALS_DIRECTORY"], FileManager.default.fileExists(atPath: "\(directory)/\(credentialName)") {
                return KeySource(path: "\(directory)/\(credentialName)", isCredential: true, pendingPath: "\(stateDirectory)/\(credentialName).new")
            }
            return KeySource(path: keyFile, isCredential: false, pendingPath: keyFile + ".new")
        }
    }

    let store: any SecretStorage & AuditTrail
    let source: KeySource
    let logger: Logger
    private let masterKey: Mutex<SymmetricKey>
    private let onValue: @Sendable (String) -> Void
    /// The first audit row that must carry an HMAC, from its sealed record; nil when that record is
    /// gone (tampering: `audit verify` says so).
    private let auditStart = Mutex<Int64?>(nil)

    /// What the `check` record seals: its second form also promises an `audit-start` record.
    static let legacyCheck = Data("connector-host vault".utf8)
    static let check = Data("connector-host vault 2: audit-start".utf8)

    private init(store: any SecretStorage & AuditTrail, source: KeySource, key: SymmetricKey, logger: Logger, onValue: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.source = source
        self.masterKey = Mutex(key)
        self.logger = logger
        self.onValue = onValue
    }

    /// Opens the vault: loads (or creates) the master key, proves it is the one the vault was sealed
    /// with, and hands the audit key to the store. `onValue` sees every secret value (for redaction).
    public static func open(store: any SecretStorage & AuditTrail, source: KeySource, logger: Logger, onValue: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Vault {
        var key = try loadOrCreateKey(source)
        var checked: Data
        if let check = try await store.vaultMeta("check") {
            if let opened = try? unseal(check, key: key, context: metaContext("check")) {
                checked = opened
            } else {
                guard let pending = try? loadKey(source.pendingPath), let opened = try? unseal(check, key: pending, context: metaContext("check")) else {
                    throw HostError(.vault, "the master key in \(source.path) does not open this vault: it is not the key the secrets were sealed with")
                }
                key = pending
                checked = opened
                try finishRekey(source, logger: logger)
            }
        } else {
            let auditKey = SymmetricKey(size: .bits256)
            try await store.setVaultMeta([
                "check": try seal(legacyCheck, key: key, context: metaContext("check")),
                "audit-key": try seal(auditKey.withUnsafeBytes { Data($0) }, key: key, context: metaContext("audit-key")),
            ])
            checked = legacyCheck
            logger.notice("vault created", metadata: ["vault.key": "\(source.path)"])
        }
        let vault = Vault(store: store, source: source, key: key, logger: logger, onValue: onValue)
        try await vault.openAuditKey()
        try await vault.openAuditStart(upgrading: checked == legacyCheck)
        for sealed in try await store.allSealedSecrets() {
            do {
                onValue(try vault.open(sealed))
            } catch {
                logger.error("a secret does not open; set it again", metadata: ["secret.connector": "\(sealed.connector)", "secret.name": "\(sealed.name)"])
            }
        }
        return vault
    }

    /// Reads where authenticated audit rows begin. A vault made before that record existed gets one
    /// now: its first row with an HMAC, or the next row; its `check` then promises the record, so
    /// deleting the record later is reported rather than silently re-created.
    private func openAuditStart(upgrading: Bool) async throws {
        let key = masterKey.withLock { $0 }
        if upgrading {
            let start = try await store.firstAuditRowToAuthenticate()
            try await store.setVaultMeta([
                "audit-start": try Self.seal(Data(String(start).utf8), key: key, context: Self.metaContext("audit-start")),
                "check": try Self.seal(Self.check, key: key, context: Self.metaContext("check")),
            ])
            logger.notice("audit rows from here on must carry an HMAC", metadata: ["audit.start_id": "\(start)"])
            auditStart.withLock { $0 = start }
        } else if let sealed = try await store.vaultMeta("audit-start"),
                  let start = Int64(String(decoding: try Self.unseal(sealed, key: key, context: Self.metaContext("audit-start")), as: UTF8.self)) {
            auditStart.withLock { $0 = start }
        } else {
            logger.error("the vault's audit-start record is gone: the audit trail was tampered with (hostctl audit verify)")
        }
    }

    /// The audit chain checked against the sealed start of its authenticated rows.
    public func verifyAudit() async throws -> AuditVerification {
        try await store.verifyAudit(authenticatedFrom: auditStart.withLock { $0 })
    }

    private func openAuditKey() async throws {
        guard let sealed = try await store.vaultMeta("audit-key") else {
            throw HostError(.vault, "the vault has no audit key: its database was tampered with")
        }
        let bytes = try Self.unseal(sealed, key: masterKey.withLock { $0 }, context: Self.metaContext("audit-key"))
        store.useAuditKey(SymmetricKey(data: bytes))
    }

    // MARK: Secrets

    /// Sets (or with `rotate`, replaces an existing) secret; returns its new version.
    public func set(connector: String, name: String, value: String, rotate: Bool, actor: String) async throws -> Int {
        try Self.validate(connector: connector, name: name)
        guard !value.isEmpty else { throw HostError(.vault, "the value of \(connector)/\(name) is empty") }
        let key = masterKey.withLock { $0 }
        let version = try await store.putSecret(connector: connector, name: name, mustExist: rotate, actor: actor,
                                                action: rotate ? "secret.rotate" : "secret.set") { version in
            try Self.seal(Data(value.utf8), key: key, context: Self.secretContext(connector: connector, name: name, version: version))
        }
        onValue(value)
        logger.notice("secret stored", metadata: ["connector.id": "\(connector)", "secret.name": "\(name)", "secret.version": "\(version)", "actor": "\(actor)"])
        return version
    }

    /// A plugin's read of a secret. `requester` is the connector whose plugin asks: another
    /// connector's secret is refused and audited.
    public func read(connector: String, name: String, requester: String) async throws -> (value: String, version: Int) {
        guard connector == requester else {
            try? await store.audit(correlationID: nil, actor: requester, action: "secret.denied",
                                   subject: "secret \(connector)/\(name)", detail: "a plugin asked for another connector's secret")
            logger.warning("plugin asked for another connector's secret", metadata: ["connector.id": "\(requester)", "secret.owner": "\(connector)", "secret.name": "\(name)"])
            throw HostError(.secretDenied, "connector \(requester) may not read secrets of connector \(connector)")
        }
        guard let sealed = try await store.sealedSecret(connector: connector, name: name) else {
            throw HostError(.secretNotFound, "no secret \(name) for connector \(connector); set it with: hostctl secret set \(connector) \(name)")
        }
        let value = try open(sealed)
        try? await store.audit(correlationID: nil, actor: requester, action: "secret.read",
                               subject: "secret \(connector)/\(name)", detail: "version \(sealed.version)")
        return (value, sealed.version)
    }

    public func delete(connector: String, name: String, actor: String) async throws -> Bool {
        try await store.deleteSecret(connector: connector, name: name, actor: actor)
    }

    public func list(connector: String?) async throws -> [SecretInfo] {
        try await store.secretInfos(connector: connector)
    }

    /// Seals everything again under a new master key. The new key is written (and synced) beside the
    /// old one first, the database is resealed in one transaction, then the new key replaces the old:
    /// a crash at any point leaves a key that opens the vault (``open(store:source:logger:onValue:)``
    /// tries the pending key).
    public func rekey(actor: String) async throws -> VaultRekeyResult {
        let old = masterKey.withLock { $0 }
        let new = SymmetricKey(size: .bits256)
        try Self.writeKeyFile(source.pendingPath, key: new)
        var resealed: [Store.SealedSecret] = []
        for var secret in try await store.allSealedSecrets() {
            let context = Self.secretContext(connector: secret.connector, name: secret.name, version: secret.version)
            secret.sealed = try Self.seal(try Self.unseal(secret.sealed, key: old, context: context), key: new, context: context)
            resealed.append(secret)
        }
        var meta: [String: Data] = [:]
        for name in ["check", "audit-key", "audit-start"] {
            guard let sealed = try await store.vaultMeta(name) else { throw HostError(.vault, "the vault has no \(name)") }
            meta[name] = try Self.seal(try Self.unseal(sealed, key: old, context: Self.metaContext(name)), key: new, context: Self.metaContext(name))
        }
        try await store.resealAll(secrets: resealed, meta: meta, actor: actor)
        masterKey.withLock { $0 = new }
        try Self.finishRekey(source, logger: logger)
        logger.notice("vault rekeyed", metadata: ["vault.secrets": "\(resealed.count)", "actor": "\(actor)"])
        return VaultRekeyResult(
            secrets: resealed.count,
            keyFile: source.isCredential ? source.pendingPath : source.path,
            notice: source.isCredential
                ? "the master key comes from the systemd credential \(KeySource.credentialName): install \(source.pendingPath) as that credential's file before the next restart"
                : nil
        )
    }

    private func open(_ sealed: Store.SealedSecret) throws -> String {
        let data = try Self.unseal(sealed.sealed, key: masterKey.withLock { $0 },
                                   context: Self.secretContext(connector: sealed.connector, name: sealed.name, version: sealed.version))
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Sealing

    static func secretContext(connector: String, name: String, version: Int) -> Data {
        Data("connector-host/secret/v1\u{0}\(connector)\u{0}\(name)\u{0}\(version)".utf8)
    }

    static func metaContext(_ name: String) -> Data {
        Data("connector-host/vault/v1\u{0}\(name)".utf8)
    }

    /// Nonce, ciphertext and tag in one blob.
    static func seal(_ plaintext: Data, key: SymmetricKey, context: Data) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: key, authenticating: context).combined else {
            throw HostError(.vault, "AES-GCM gave no combined representation")
        }
        return combined
    }

    static func unseal(_ sealed: Data, key: SymmetricKey, context: Data) throws -> Data {
        try AES.GCM.open(try AES.GCM.SealedBox(combined: sealed), using: key, authenticating: context)
    }

    static func validate(connector: String, name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        for (what, value) in [("connector id", connector), ("secret name", name)] {
            guard !value.isEmpty, value.count <= 128, value.allSatisfy(allowed.contains) else {
                throw HostError(.vault, "\(what) \"\(value)\" is not valid: use 1–128 letters, digits, '_', '.' or '-'")
            }
        }
    }

    // MARK: Key files

    static func loadOrCreateKey(_ source: KeySource) throws -> SymmetricKey {
        if FileManager.default.fileExists(atPath: source.path) || source.isCredential {
            return try loadKey(source.path, checkMode: !source.isCredential)
        }
        let key = SymmetricKey(size: .bits256)
        try writeKeyFile(source.path, key: key, exclusive: true)
        return key
    }

    /// A key file holds the 32 key bytes, raw or as 64 hex digits.
    static func loadKey(_ path: String, checkMode: Bool = true) throws -> SymmetricKey {
        if checkMode {
            if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
                throw HostError(.vault, "the vault key file \(path) is readable by others (mode \(String(mode, radix: 8))): chmod 600 it")
            }
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HostError(.vault, "cannot read the vault master key \(path)")
        }
        if data.count == 32 { return SymmetricKey(data: data) }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.utf8.count == 64, let bytes = Hex.decode(text) { return SymmetricKey(data: bytes) }
        throw HostError(.vault, "the vault master key \(path) must hold 32 bytes (raw, or as 64 hex digits); it holds \(data.count) bytes")
    }

    /// Writes a key file 0600 and syncs it and its folder.
    static func writeKeyFile(_ path: String, key: SymmetricKey, exclusive: Bool = false) throws {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC)
        let fd = Glibc.open(path, flags, 0o600)
        guard fd >= 0 else { throw HostError(.vault, "cannot create the vault key file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = key.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == 32, fsync(fd) == 0 else {
            throw HostError(.vault, "cannot write the vault key file \(path): \(String(cString: strerror(errno)))")
        }
        syncFolder(of: path)
    }

    /// A rekey's new key becomes the key file (for a systemd credential the operator installs it).
    static func finishRekey(_ source: KeySource, logger: Logger) throws {
        if source.isCredential {
            logger.warning("the vault was rekeyed: install the new key as the systemd credential", metadata: [
                "vault.pending_key": "\(source.pendingPath)", "vault.credential": "\(KeySource.credentialName)",
            ])
            return
        }
        guard rename(source.pendingPath, source.path) == 0 else {
            throw HostError(.vault, "cannot move the new vault key \(source.pendingPath) to \(source.path): \(String(cString: strerror(errno)))")
        }
        syncFolder(of: source.path)
    }

    private static func syncFolder(of path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        let fd = Glibc.open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
