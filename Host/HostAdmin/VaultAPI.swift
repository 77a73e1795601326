// Admin API of the credentials vault and the audit trail.

extension AdminMethod {
    public static let secretSet = "secret.set"
    public static let secretList = "secret.list"
    public static let secretDelete = "secret.delete"
    public static let vaultRekey = "vault.rekey"
    public static let auditVerify = "audit.verify"
}

/// Sets a secret. The value travels only over the admin socket (never in argv); hostctl reads it from stdin.
public struct SecretSetParams: Codable, Sendable {
    public var connector: String
    public var name: String
    public var value: String
    /// Rotation: the secret must exist already; its version goes up.
    public var rotate: Bool

    public init(connector: String, name: String, value: String, rotate: Bool) {
        self.connector = connector
        self.name = name
        self.value = value
        self.rotate = rotate
    }
}

public struct SecretSetResult: Codable, Sendable {
    public var connector: String
    public var name: String
    public var version: Int
    /// Set when the connector is not configured (yet): the secret is kept for when it is.
    public var warning: String?

    public init(connector: String, name: String, version: Int, warning: String?) {
        self.connector = connector
        self.name = name
        self.version = version
        self.warning = warning
    }
}

public struct SecretRef: Codable, Sendable {
    public var connector: String
    public var name: String

    public init(connector: String, name: String) {
        self.connector = connector
        self.name = name
    }
}

public struct SecretListParams: Codable, Sendable {
    public var connector: String?
    public init(connector: String?) { self.connector = connector }
}

/// What `secret list` shows: never the value.
public struct SecretInfo: Codable, Sendable, Equatable {
    public var connector: String
    public var name: String
    public var version: Int
    public var createdAt: Int64
    public var updatedAt: Int64
    /// `operator` (hostctl), or the connector id when its plugin refreshed it (OAuth).
    public var updatedBy: String

    public init(connector: String, name: String, version: Int, createdAt: Int64, updatedAt: Int64, updatedBy: String) {
        self.connector = connector
        self.name = name
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.updatedBy = updatedBy
    }

    enum CodingKeys: String, CodingKey {
        case connector, name, version
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case updatedBy = "updated_by"
    }
}

public struct VaultRekeyResult: Codable, Sendable {
    /// Secrets sealed again under the new master key.
    public var secrets: Int
    /// Where the new master key was written.
    public var keyFile: String
    /// Set when the key came from a systemd credential: the operator must install the new key file there.
    public var notice: String?

    public init(secrets: Int, keyFile: String, notice: String?) {
        self.secrets = secrets
        self.keyFile = keyFile
        self.notice = notice
    }

    enum CodingKeys: String, CodingKey {
        case secrets, notice
        case keyFile = "key_file"
    }
}

/// The audit chain checked row by row.
public struct AuditVerification: Codable, Sendable {
    public var rows: Int
    /// Rows whose HMAC under the vault's audit key checked out.
    public var authenticated: Int
    public var problems: [Problem]
    /// The last row's id and hash: keep them elsewhere to detect a later truncation of the tail.
    public var headID: Int64?
    public var headHash: String?

    public struct Problem: Codable, Sendable, Equatable {
        public var id: Int64
        /// `edited`, `chain_broken`, `missing`, `forged`, `unauthenticated`, `truncated`, `anchor_missing`,
        /// `head_missing` or `head_forged`.
        public var kind: String
        public var message: String

        public init(id: Int64, kind: String, message: String) {
            self.id = id
            self.kind = kind
            self.message = message
        }
    }

    public var ok: Bool { problems.isEmpty }

    public init(rows: Int, authenticated: Int, problems: [Problem], headID: Int64?, headHash: String?) {
        self.rows = rows
        self.authenticated = authenticated
        self.problems = problems
        self.headID = headID
        self.headHash = headHash
    }

    enum CodingKeys: String, CodingKey {
        case rows, authenticated, problems
        case headID = "head_id"
        case headHash = "head_hash"
    }
}
