import Foundation

/// What the store suites need of a store beyond ``HostStore``, to check what it refuses and what an
/// attacker with write access to it can do: raw statements (one at a time), the audit rows as stored,
/// the bytes it keeps.
protocol StoreTestAccess: HostStore {
    /// Runs one raw SQL statement outside the store's own.
    func rawExecuteForTests(_ sql: String) async throws
    /// Every audit row in id order.
    func auditRowsForTests() async throws -> [Store.AuditRow]
    /// Removes what makes the audit table append-only, as an attacker with the database's owner rights would.
    func dropAuditGuardsForTests() async throws
    /// Everything the store holds of secrets, the vault's records and the audit trail, as bytes: a secret
    /// in plain text would show in them.
    func storedBytesForTests() async throws -> Data
    /// Webhook replay keys kept, in order.
    func replayKeysForTests() async throws -> [String]
}

extension StoreTestAccess {
    /// Every audit action in order.
    func auditActionsForTests() async throws -> [String] {
        try await auditRowsForTests().map(\.action)
    }
}
