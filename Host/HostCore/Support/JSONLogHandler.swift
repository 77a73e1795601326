import ConnectorProtocol
import Foundation
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Writes one JSON object per log record to stderr: `ts`, `level`, `label`, `msg`, then the
/// metadata keys (`connector.id`, …). With a ``Redactor``, the message and every metadata value are
/// masked before they are written. ``JournalLogHandler`` falls back to this handler when the
/// journal refuses a record.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let redactor: Redactor?
    private let write: @Sendable (String) -> Void
    private static let output = Mutex<Void>(())

    /// - Parameters:
    ///   - redactor: masks secret values in the message and metadata values; nil: none.
    ///   - write: receives each line, newline included; by default it goes to stderr (tests pass
    ///     their own to capture the lines).
    public init(
        label: String, level: Logger.Level = .info, redactor: Redactor? = nil,
        write: @escaping @Sendable (String) -> Void = JSONLogHandler.writeToStandardError
    ) {
        self.label = label
        self.logLevel = level
        self.redactor = redactor
        self.write = write
    }

    /// Writes the whole line to stderr, one line at a time across threads. Errors are ignored: a
    /// closed stderr must not stop the daemon (FileHandle's `write(_:)` would trap on EPIPE).
    public static func writeToStandardError(_ line: String) {
        output.withLock { _ in
            var line = line
            line.withUTF8 { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Self.timestamp()),
            ("level", event.level.rawValue),
            ("label", label),
            ("msg", redact("\(event.message)")),
        ]
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for key in merged.keys.sorted() { fields.append((key, redact("\(merged[key]!)"))) }
        var line = "{"
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { line += "," }
            line += Self.quote(key) + ":" + Self.quote(value)
        }
        line += "}\n"
        write(line)
    }

    private func redact(_ text: String) -> String {
        redactor?.redact(text) ?? text
    }

    static func quote(_ string: String) -> String {
        var out = Data()
        JSONText.appendString(string, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func timestamp() -> String {
        // (Not timespec: which module's members those are depends on the rest of the module's imports.)
        let now = Date().timeIntervalSince1970
        var seconds = time_t(now.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
            Int32((now - now.rounded(.down)) * 1000)
        )
    }
}
