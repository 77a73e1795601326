import Crypto
import Foundation
import HostAdmin
@testable import HostCore
import Logging
import Testing

/// The vault and the audit chain on each store of the conformance suite (``StoreUnderTest``), with
/// real key files.
@Suite struct VaultTests {
    let directory: URL
    let logger = Logger(label: "test")

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vault-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    var source: Vault.KeySource { Vault.KeySource.resolve(keyFile: path("vault.key"), stateDirectory: directory.path, environment: [:]) }

    /// A value no test would contain by chance.
    static func secretValue() -> String { "sk_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "") }


    @Test(arguments: StoreUnderTest.all) func keyFileIsCreatedPrivateOnFirstOpen(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await Vault.open(store: store, source: source, logger: logger)
        let attributes = try FileManager.default.attributesOfItem(atPath: path("vault.key"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((attributes[.size] as? Int) == 32)
    }

    @Test(arguments: StoreUnderTest.all) func secretsAreSealedAndReadOnlyByTheirConnector(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await Vault.open(store: store, source: source, logger: logger)
        let value = Self.secretValue()
        #expect(try await vault.set(connector: "stripe", name: "api_key", value: value, rotate: false, actor: "operator") == 1)
        let read = try await vault.read(connector: "stripe", name: "api_key", requester: "stripe")
        #expect(read.value == value && read.version == 1)
        await #expect(throws: HostError.self) { try await vault.read(connector: "stripe", name: "api_key", requester: "odoo") }
        await #expect(throws: HostError.self) { try await vault.read(connector: "stripe", name: "missing", requester: "stripe") }
        #expect(try await store.storedBytesForTests().range(of: Data(value.utf8)) == nil, "the store holds the secret in plain text")
        #expect(try await vault.list(connector: nil).map(\.name) == ["api_key"])
        let audit = try await store.auditActionsForTests()
        #expect(audit.contains("secret.set") && audit.contains("secret.read") && audit.contains("secret.denied"))
    }

    @Test(arguments: StoreUnderTest.all) func aSealedValueMovedToAnotherSecretDoesNotOpen(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await Vault.open(store: store, source: source, logger: logger)
        _ = try await vault.set(connector: "a", name: "one", value: Self.secretValue(), rotate: false, actor: "operator")
        _ = try await vault.set(connector: "b", name: "one", value: Self.secretValue(), rotate: false, actor: "operator")
        try await store.rawExecuteForTests("UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE connector = 'a') WHERE connector = 'b'")
        await #expect(throws: (any Error).self) { try await vault.read(connector: "b", name: "one", requester: "b") }
    }

    @Test(arguments: StoreUnderTest.all) func rotationRequiresAnExistingSecretAndRaisesTheVersion(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await Vault.open(store: store, source: source, logger: logger)
        await #expect(throws: HostError.self) { try await vault.set(connector: "a", name: "k", value: "value-1", rotate: true, actor: "operator") }
        _ = try await vault.set(connector: "a", name: "k", value: "value-1", rotate: false, actor: "operator")
        #expect(try await vault.set(connector: "a", name: "k", value: "value-2", rotate: true, actor: "operator") == 2)
        #expect(try await vault.read(connector: "a", name: "k", requester: "a").value == "value-2")
    }

    @Test(arguments: StoreUnderTest.all) func anotherMasterKeyDoesNotOpenTheVault(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await Vault.open(store: store, source: source, logger: logger)
        try Vault.writeKeyFile(path("vault.key"), key: SymmetricKey(size: .bits256))
        await #expect(throws: HostError.self) { try await Vault.open(store: store, source: source, logger: logger) }
    }

    @Test(arguments: StoreUnderTest.all) func aKeyFileOthersCanReadIsRefused(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        _ = try await Vault.open(store: store, source: source, logger: logger)
        chmod(path("vault.key"), 0o644)
        await #expect(throws: HostError.self) { try await Vault.open(store: store, source: source, logger: logger) }
    }

    @Test(arguments: StoreUnderTest.all) func rekeySealsEverythingUnderANewKey(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await Vault.open(store: store, source: source, logger: logger)
        let value = Self.secretValue()
        _ = try await vault.set(connector: "a", name: "k", value: value, rotate: false, actor: "operator")
        let before = FileManager.default.contents(atPath: path("vault.key"))
        let result = try await vault.rekey(actor: "operator")
        #expect(result.secrets == 1)
        #expect(FileManager.default.contents(atPath: path("vault.key")) != before)
        #expect(!FileManager.default.fileExists(atPath: path("vault.key.new")))
        let reopened = try await Vault.open(store: store, source: source, logger: logger)
        #expect(try await reopened.read(connector: "a", name: "k", requester: "a").value == value)
        #expect(try await reopened.verifyAudit().ok)
    }

    /// A crash after the database was resealed but before the new key replaced the old file.
    @Test(arguments: StoreUnderTest.all) func aRekeyInterruptedBeforeTheKeyMovedIsFinishedOnOpen(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await Vault.open(store: store, source: source, logger: logger)
        let value = Self.secretValue()
        _ = try await vault.set(connector: "a", name: "k", value: value, rotate: false, actor: "operator")
        let oldKey = try #require(FileManager.default.contents(atPath: path("vault.key")))
        _ = try await vault.rekey(actor: "operator")
        try FileManager.default.moveItem(atPath: path("vault.key"), toPath: path("vault.key.new"))
        _ = FileManager.default.createFile(atPath: path("vault.key"), contents: oldKey, attributes: [.posixPermissions: 0o600])
        let reopened = try await Vault.open(store: store, source: source, logger: logger)
        #expect(try await reopened.read(connector: "a", name: "k", requester: "a").value == value)
        #expect(!FileManager.default.fileExists(atPath: path("vault.key.new")))
    }

    @Test func aSystemdCredentialIsPreferredAndNeverCreated() throws {
        let credentials = path("credentials")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        let absent = Vault.KeySource.resolve(keyFile: path("vault.key"), stateDirectory: directory.path, environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(!absent.isCredential)
        _ = FileManager.default.createFile(atPath: "\(credentials)/vault-master-key", contents: Data(repeating: 7, count: 32))
        let present = Vault.KeySource.resolve(keyFile: path("vault.key"), stateDirectory: directory.path, environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(present.isCredential && present.path == "\(credentials)/vault-master-key")
    }

    // MARK: Audit

    @discardableResult
    func auditWithRows(_ store: any StoreTestAccess) async throws -> Vault {
        let vault = try await Vault.open(store: store, source: source, logger: logger)
        for index in 1...5 {
            try await store.audit(correlationID: "c", actor: "operator", action: "act.\(index)", subject: "s", detail: "d\(index)")
        }
        let verification = try await vault.verifyAudit()
        #expect(verification.ok)
        #expect(verification.authenticated == verification.rows)
        // An attacker with write access to the database removes what keeps the table append-only first.
        try await store.dropAuditGuardsForTests()
        return vault
    }

    /// Without the vault key: rows edited, the SHA-256 chain recomputed, every HMAC removed. This
    /// passed as "intact, 0 authenticated" before the start of authenticated rows was sealed.
    @Test(arguments: StoreUnderTest.all) func aRecomputedChainWithoutHMACsIsFound(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await auditWithRows(store)
        try await store.rawExecuteForTests("UPDATE audit SET detail = 'nothing happened' WHERE action = 'act.3'")
        try await rechainWithoutKey(store)
        let verification = try await vault.verifyAudit()
        #expect(verification.authenticated == 0)
        #expect(verification.problems.map(\.kind) == Array(repeating: "unauthenticated", count: verification.rows) + ["edited"])
        // Reopening the vault does not take the missing HMACs for an old, unauthenticated store.
        #expect(try await Vault.open(store: store, source: source, logger: logger).verifyAudit().problems.count == verification.rows + 1)
    }

    @Test(arguments: StoreUnderTest.all) func aRemovedTailIsFound(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await auditWithRows(store)
        try await store.rawExecuteForTests("DELETE FROM audit WHERE action IN ('act.4', 'act.5')")
        let problems = try await vault.verifyAudit().problems
        #expect(problems.map(\.kind) == ["truncated"])
        #expect(problems.first?.message.contains("were removed from the end") == true)
    }

    /// Deleting the sealed records to make the store look older than it is.
    @Test(arguments: StoreUnderTest.all) func removedAuditAnchorsAreFound(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        try await auditWithRows(store)
        try await store.rawExecuteForTests("DELETE FROM vault_meta WHERE name = 'audit-head'")
        let reopened = try await Vault.open(store: store, source: source, logger: logger)
        #expect(try await reopened.verifyAudit().problems.map(\.kind) == ["head_missing"])
        try await store.rawExecuteForTests("DELETE FROM vault_meta WHERE name = 'audit-start'")
        let again = try await Vault.open(store: store, source: source, logger: logger)
        #expect(try await again.verifyAudit().problems.map(\.kind) == ["anchor_missing"])
    }

    /// What an attacker without the key can do: recompute every hash of the chain and drop the HMACs.
    func rechainWithoutKey(_ store: any StoreTestAccess) async throws {
        let rows = try await store.auditRowsForTests()
        var previous = ""
        var statements: [String] = ["DELETE FROM audit"]
        for row in rows {
            let hash = Store.auditHash(previous: previous, at: row.at, correlationID: row.correlationID, actor: row.actor, action: row.action, subject: row.subject, detail: row.detail)
            statements.append("INSERT INTO audit (id, at, correlation_id, actor, action, subject, detail, prev_hash, hash) VALUES (\(row.id), \(row.at), \(row.correlationID.map { "'\($0)'" } ?? "NULL"), '\(row.actor)', '\(row.action)', '\(row.subject)', '\(row.detail)', '\(previous)', '\(hash)')")
            previous = hash
        }
        for statement in statements { try await store.rawExecuteForTests(statement) }
    }

    @Test(arguments: StoreUnderTest.all) func anEditedAuditRowIsFound(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await auditWithRows(store)
        try await store.rawExecuteForTests("UPDATE audit SET detail = 'nothing happened' WHERE action = 'act.3'")
        #expect(try await vault.verifyAudit().problems.map(\.kind) == ["edited"])
    }

    @Test(arguments: StoreUnderTest.all) func aDeletedAuditRowIsFound(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await auditWithRows(store)
        try await store.rawExecuteForTests("DELETE FROM audit WHERE action = 'act.3'")
        #expect(Set(try await vault.verifyAudit().problems.map(\.kind)) == ["missing", "chain_broken"])
    }

    @Test(arguments: StoreUnderTest.all) func anInsertedAuditRowIsFoundEvenWithARecomputedHash(_ kind: StoreUnderTest) async throws {
        let store = try await kind.open()
        let vault = try await auditWithRows(store)
        // Appended with a correct SHA-256 chain link, but without the vault's audit key.
        let head = try #require(try await vault.verifyAudit().headHash)
        let hash = Store.auditHash(previous: head, at: 1, correlationID: nil, actor: "operator", action: "forged", subject: "s", detail: "d")
        try await store.rawExecuteForTests("INSERT INTO audit (id, at, actor, action, subject, detail, prev_hash, hash) VALUES ((SELECT MAX(id) + 1 FROM audit), 1, 'operator', 'forged', 's', 'd', '\(head)', '\(hash)')")
        #expect(try await vault.verifyAudit().problems.map(\.kind) == ["unauthenticated"])
        try await store.rawExecuteForTests("UPDATE audit SET mac = '00' WHERE action = 'forged'")
        #expect(try await vault.verifyAudit().problems.map(\.kind) == ["forged"])
    }
}
