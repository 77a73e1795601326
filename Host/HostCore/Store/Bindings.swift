import Foundation
import GRDB
import GRDBSQLite

/// Binds and steps a prepared statement directly, for the per-event inserts of ingest: GRDB's
/// `StatementArguments` box every value in an existential, which cost more than the inserts
/// themselves at tens of thousands of rows per second. Everything else goes through GRDB.
struct DirectStatement {
    private let handle: SQLiteStatement
    private let database: Database
    private var index: Int32 = 0

    /// SQLite copies the bytes during the bind (`SQLITE_TRANSIENT`), so Swift's temporaries may go.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ statement: Statement, in database: Database) {
        handle = statement.sqliteStatement
        self.database = database
        sqlite3_reset(handle)
    }

    mutating func bind(_ value: String?) {
        index += 1
        guard var text = value else {
            sqlite3_bind_null(handle, index)
            return
        }
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                _ = sqlite3_bind_text(handle, index, chars.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(chars.count), Self.transient)
            }
        }
    }

    mutating func bind(_ value: Int64) {
        index += 1
        sqlite3_bind_int64(handle, index, value)
    }

    mutating func bind(_ value: Data) {
        index += 1
        value.withUnsafeBytes { bytes in
            _ = sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), Self.transient)
        }
    }

    /// Runs the statement once; errors are GRDB's `DatabaseError`, as if GRDB had run it.
    func execute() throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: database.lastErrorMessage)
        }
    }
}
