import CHostSupport
import CSystemd
import Foundation
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Writes each log record to the systemd journal as one structured entry (`sd_journal_sendv`):
///
/// - `MESSAGE`, `PRIORITY` (syslog: trace and debug 7, info 6, notice 5, warning 4, error 3,
///   critical 2), `SYSLOG_IDENTIFIER` (`connector-hostd`), `LOGGER` (the logger's label),
///   `CODE_FILE`, `CODE_LINE`, `CODE_FUNC`;
/// - every metadata key as a field of its own (``fieldName(_:)``: `connector.id` → `CONNECTOR_ID`);
/// - the short names operators search for, from the dotted keys that carry them:
///   `TENANT` (`connector.tenant`), `CORRELATION_ID` (`event.correlation_id`); `CONNECTOR_ID`,
///   `EVENT_ID`, `ROUTE_ID` and `DELIVERY_ID` already come out of their keys under those names.
///
/// Values may hold newlines or any bytes: libsystemd sends such a field in the protocol's
/// length-prefixed form. With a ``Redactor``, the message and every value are masked first.
///
/// When the journal refuses a record (`sd_journal_sendv` fails: the socket exists but nobody
/// listens, the entry is too large…), the record is written as a JSON line on stderr instead.
/// libsystemd drops records silently when the journal socket does not exist at all, so choose this
/// handler only where journald runs (``stderrIsJournalStream(environment:descriptor:)``).
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let identifier: String
    private let redactor: Redactor?
    private var fallback: JSONLogHandler

    /// - Parameters:
    ///   - identifier: `SYSLOG_IDENTIFIER` of every entry.
    ///   - redactor: masks secret values in the message and metadata values; nil: none.
    ///   - fallbackWrite: where JSON lines go when the journal refuses a record; stderr by default.
    public init(
        label: String, level: Logger.Level = .info, identifier: String = "connector-hostd", redactor: Redactor? = nil,
        fallbackWrite: @escaping @Sendable (String) -> Void = JSONLogHandler.writeToStandardError
    ) {
        self.label = label
        self.logLevel = level
        self.identifier = identifier
        self.redactor = redactor
        self.fallback = JSONLogHandler(label: label, level: level, redactor: redactor, write: fallbackWrite)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let fields = Self.fields(
            message: redact("\(event.message)"), level: event.level, identifier: identifier, label: label,
            file: event.file, function: event.function, line: event.line,
            metadata: merged.mapValues { redact("\($0)") }
        )
        if Self.send(fields) < 0 {
            var fallback = self.fallback
            fallback.metadata = merged
            fallback.log(event: event)
        }
    }

    private func redact(_ text: String) -> String {
        redactor?.redact(text) ?? text
    }

    // MARK: Entry

    /// The syslog priority of a level, as journald's `PRIORITY` field expects.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Field names this handler sets itself or that journald interprets; a metadata key that maps to
    /// one of them is sent as `META_<NAME>` so that it can neither replace nor confuse them.
    static let reservedNames: Set<String> = [
        "MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID", "SYSLOG_TIMESTAMP",
        "LOGGER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERRNO", "TID", "OBJECT_PID",
    ]

    /// Short names operators search for, and the metadata keys that carry them, in order of preference.
    static let wellKnownNames: [(name: String, keys: [String])] = [
        ("CONNECTOR_ID", ["connector.id"]),
        ("TENANT", ["tenant", "connector.tenant"]),
        ("CORRELATION_ID", ["event.correlation_id", "correlation_id"]),
        ("EVENT_ID", ["event.id"]),
        ("ROUTE_ID", ["route.id"]),
        ("DELIVERY_ID", ["delivery.id"]),
    ]

    /// The journal field name for a metadata key: ASCII letters uppercased, `.` and `-` as `_`, any
    /// other character that is not a letter, digit or `_` dropped, leading characters up to the first
    /// letter dropped (a journal field starts with a letter; a leading `_` would claim a trusted
    /// field), at most 64 characters. Nil when nothing is left.
    public static func fieldName(_ key: String) -> String? {
        var name: [UInt8] = []
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): name.append(byte - 0x20)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): name.append(byte)
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                if !name.isEmpty { name.append(byte) }
            case UInt8(ascii: "."), UInt8(ascii: "-"):
                if !name.isEmpty { name.append(UInt8(ascii: "_")) }
            default: continue
            }
            if name.count == 64 { break }
        }
        return name.isEmpty ? nil : String(decoding: name, as: UTF8.self)
    }

    /// The entry's fields as `NAME=value` strings, in a stable order; identical pairs once.
    static func fields(
        message: String, level: Logger.Level, identifier: String, label: String,
        file: String, function: String, line: UInt, metadata: [String: String]
    ) -> [String] {
        var fields = [
            "MESSAGE=\(message)",
            "PRIORITY=\(priority(level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "LOGGER=\(label)",
            "CODE_FILE=\(file)",
            "CODE_LINE=\(line)",
            "CODE_FUNC=\(function)",
        ]
        var seen = Set(fields)
        func add(_ name: String, _ value: String) {
            let field = "\(name)=\(value)"
            if seen.insert(field).inserted { fields.append(field) }
        }
        for key in metadata.keys.sorted() {
            guard let name = fieldName(key) else { continue }
            add(reservedNames.contains(name) ? "META_\(name)".prefix(64).description : name, metadata[key]!)
        }
        for (name, keys) in wellKnownNames {
            if let value = keys.lazy.compactMap({ metadata[$0] }).first { add(name, value) }
        }
        return fields
    }

    /// Sends one entry; 0 or a negative errno, as `sd_journal_sendv` returns.
    ///
    /// All fields are copied into one buffer and the iovecs point into it; the buffer and the iovec
    /// array stay alive (and unmoved) for the whole call.
    static func send(_ fields: [String]) -> Int32 {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(fields.reduce(0) { $0 + $1.utf8.count })
        var ranges: [(offset: Int, count: Int)] = []
        ranges.reserveCapacity(fields.count)
        for field in fields {
            ranges.append((buffer.count, field.utf8.count))
            buffer.append(contentsOf: field.utf8)
        }
        return buffer.withUnsafeMutableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress else { return -EINVAL }
            let vectors = ranges.map { iovec(iov_base: base + $0.offset, iov_len: $0.count) }
            return vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }

    // MARK: Where stderr goes

    /// Whether stderr is the journal stream systemd connected the service to: `JOURNAL_STREAM` is set
    /// (`DEVICE:INODE`, both decimal) and names the same file as the descriptor's fstat(2)
    /// `st_dev:st_ino` (systemd.exec(5), "JOURNAL_STREAM"). A child whose stderr was redirected
    /// elsewhere inherits the variable, hence the comparison.
    public static func stderrIsJournalStream(
        environment: [String: String], descriptor: Int32 = 2 /* stderr */
    ) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        guard let identity = fileIdentity(descriptor: descriptor) else { return false }
        return identity.device == device && identity.inode == inode
    }

    /// fstat(2)'s `st_dev` and `st_ino` of an open file.
    static func fileIdentity(descriptor: Int32) -> (device: UInt64, inode: UInt64)? {
        // In C: which module Swift takes `struct stat` from depends on the build order (Glibc or CDispatch).
        var device: UInt64 = 0, inode: UInt64 = 0
        guard ch_file_identity(descriptor, &device, &inode) == 0 else { return nil }
        return (device, inode)
    }
}
