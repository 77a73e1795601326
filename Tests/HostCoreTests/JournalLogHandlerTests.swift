import Foundation
@testable import HostCore
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct JournalFieldTests {
    @Test func metadataKeysBecomeJournalFieldNames() {
        #expect(JournalLogHandler.fieldName("connector.id") == "CONNECTOR_ID")
        #expect(JournalLogHandler.fieldName("event.correlation_id") == "EVENT_CORRELATION_ID")
        #expect(JournalLogHandler.fieldName("http-status.code") == "HTTP_STATUS_CODE")
        #expect(JournalLogHandler.fieldName("_trusted") == "TRUSTED")
        #expect(JournalLogHandler.fieldName("9lives.count") == "LIVES_COUNT")
        #expect(JournalLogHandler.fieldName("größe") == "GRE")
        #expect(JournalLogHandler.fieldName("a b/c=d") == "ABCD")
        #expect(JournalLogHandler.fieldName("..--_9") == nil)
        #expect(JournalLogHandler.fieldName("") == nil)
        #expect(JournalLogHandler.fieldName(String(repeating: "k", count: 100)) == String(repeating: "K", count: 64))
    }

    @Test func syslogPriorities() {
        let levels: [Logger.Level] = [.trace, .debug, .info, .notice, .warning, .error, .critical]
        #expect(levels.map(JournalLogHandler.priority) == [7, 7, 6, 5, 4, 3, 2])
    }

    @Test func entryFieldsWithWellKnownShortNames() {
        let fields = JournalLogHandler.fields(
            message: "delivered", level: .notice, identifier: "connector-hostd", label: "pipeline",
            file: "F.swift", function: "f()", line: 7,
            metadata: [
                "connector.id": "stripe-eu", "connector.tenant": "acme", "tenant": "acme",
                "event.correlation_id": "c-1", "event.id": "e-1", "route.id": "r-1", "delivery.id": "d-1",
                "message": "shadow", "priority": "1",
            ]
        )
        for expected in [
            "MESSAGE=delivered", "PRIORITY=5", "SYSLOG_IDENTIFIER=connector-hostd", "LOGGER=pipeline",
            "CODE_FILE=F.swift", "CODE_LINE=7", "CODE_FUNC=f()",
            "CONNECTOR_ID=stripe-eu", "CONNECTOR_TENANT=acme", "TENANT=acme", "EVENT_CORRELATION_ID=c-1",
            "CORRELATION_ID=c-1", "EVENT_ID=e-1", "ROUTE_ID=r-1", "DELIVERY_ID=d-1",
            "META_MESSAGE=shadow", "META_PRIORITY=1",
        ] {
            #expect(fields.contains(expected), "\(expected)")
        }
        // Identical pairs once; our own fields are never doubled by metadata.
        #expect(fields.count(where: { $0.hasPrefix("TENANT=") }) == 1)
        #expect(fields.count(where: { $0.hasPrefix("MESSAGE=") }) == 1)
        #expect(fields.count(where: { $0.hasPrefix("PRIORITY=") }) == 1)
    }

    @Test func journalStreamMatchesOnlyTheSameFile() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let (device, inode) = try #require(JournalLogHandler.fileIdentity(descriptor: ends[1]))
        #expect(JournalLogHandler.stderrIsJournalStream(environment: ["JOURNAL_STREAM": "\(device):\(inode)"], descriptor: ends[1]))
        #expect(!JournalLogHandler.stderrIsJournalStream(environment: ["JOURNAL_STREAM": "\(device):\(inode + 1)"], descriptor: ends[1]))
        #expect(!JournalLogHandler.stderrIsJournalStream(environment: [:], descriptor: ends[1]))
        #expect(!JournalLogHandler.stderrIsJournalStream(environment: ["JOURNAL_STREAM": "\(device)"], descriptor: ends[1]))
        #expect(!JournalLogHandler.stderrIsJournalStream(environment: ["JOURNAL_STREAM": "x:y"], descriptor: ends[1]))
    }

    @Test func logTargetKey() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("state_dir = \"state\"\n")
        #expect(try ConfigLoader.load(path: fixture.hostPath).logTarget == "auto")
        try fixture.write("state_dir = \"state\"\nlog_target = \"journal\"\n")
        #expect(try ConfigLoader.load(path: fixture.hostPath).logTarget == "journal")
        try fixture.write("state_dir = \"state\"\nlog_target = \"stderr\"\n")
        #expect(try ConfigLoader.load(path: fixture.hostPath).logTarget == "stderr")
        try fixture.write("state_dir = \"state\"\nlog_target = \"syslog\"\n")
        let problems = fixture.problems()
        #expect(problems.count == 1)
        #expect(problems.first?.key == "log_target")
        #expect(problems.first?.line == 2)
        #expect(problems.first?.message.contains("syslog") == true)
        #expect(problems.first?.description.hasPrefix("\(fixture.hostPath):2: log_target: ") == true)
    }
}

// MARK: - A fake journald

/// The journal's native socket, bound by the test to read what libsystemd sends. Used only when
/// running as root and no journald (or other live socket) owns the path: a live socket is never
/// touched, a stale one is replaced, and the test removes only the socket it bound.
final class FakeJournal {
    static let path = "/run/systemd/journal/socket"
    static let directory = "/run/systemd/journal"

    /// Root, and the path free or a dead socket.
    static var available: Bool {
        guard geteuid() == 0 else { return false }
        guard let type = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType else {
            return access(path, F_OK) != 0 && errno == ENOENT
        }
        return type == .typeSocket && !isLive()
    }

    /// The inode of whatever is at `path` (not following a symbolic link).
    static func inode() -> UInt64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber)?.uint64Value
    }

    /// Whether something receives on the socket at `path`.
    static func isLive() -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return true }
        defer { close(probe) }
        return withAddress { connect(probe, $0, $1) } == 0
    }

    static func withAddress<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private var descriptor: Int32?
    let inode: UInt64
    let createdDirectories: [String]

    /// Binds the socket, creating `/run/systemd/journal` when needed. Fails when another process
    /// took the path in the meantime.
    init() throws {
        var created: [String] = []
        for directory in ["/run/systemd", Self.directory] where access(directory, F_OK) != 0 {
            guard mkdir(directory, 0o755) == 0 else { throw FakeJournalError("mkdir \(directory): errno \(errno)") }
            created.append(directory)
        }
        unlink(Self.path)  // `available` said: nothing, or a dead socket.
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FakeJournalError("socket: errno \(errno)") }
        guard Self.withAddress({ bind(fd, $0, $1) }) == 0 else {
            let code = errno
            close(fd)
            throw FakeJournalError("bind \(Self.path): errno \(code)")
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        descriptor = fd
        inode = Self.inode() ?? 0
        createdDirectories = created
    }

    /// Stops receiving but leaves the socket file: senders now get ECONNREFUSED.
    func closeReceiver() {
        if let descriptor { close(descriptor) }
        descriptor = nil
    }

    /// Removes the socket if it is still ours, and the directories this fake created (if empty).
    func remove() {
        if Self.inode() == inode { unlink(Self.path) }
        closeReceiver()
        for directory in createdDirectories.reversed() { rmdir(directory) }
    }

    /// The next datagram, refusing file descriptors (libsystemd passes a memfd for large entries).
    func receive() throws -> [UInt8] {
        guard let descriptor else { throw FakeJournalError("the receiver is closed") }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var control = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { control in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &vector) { vector in
                    var message = msghdr()
                    message.msg_iov = vector
                    message.msg_iovlen = 1
                    message.msg_control = control.baseAddress
                    message.msg_controllen = control.count
                    let count = recvmsg(descriptor, &message, 0)
                    return count >= 0 && message.msg_controllen > 0 ? -2 : count
                }
            }
        }
        if count == -2 { throw FakeJournalError("the entry came as a file descriptor (memfd); keep test entries small") }
        guard count >= 0 else { throw FakeJournalError("recvmsg: errno \(errno)") }
        return Array(buffer[..<count])
    }

    /// Fields of one entry in the journal's native protocol: `KEY=value\n`, or `KEY\n`, a 64-bit
    /// little-endian length, that many bytes, `\n`.
    static func parse(_ datagram: [UInt8]) throws -> [(name: String, value: [UInt8])] {
        var fields: [(String, [UInt8])] = []
        var index = 0
        while index < datagram.count {
            guard let end = datagram[index...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") }) else {
                throw FakeJournalError("a field without = or newline at \(index)")
            }
            let name = String(decoding: datagram[index..<end], as: UTF8.self)
            if datagram[end] == UInt8(ascii: "=") {
                let stop = datagram[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) ?? datagram.count
                fields.append((name, Array(datagram[(end + 1)..<stop])))
                index = stop + 1
            } else {
                let start = end + 1 + 8
                guard start <= datagram.count else { throw FakeJournalError("a truncated length for \(name)") }
                var length: UInt64 = 0
                for (shift, byte) in datagram[(end + 1)..<start].enumerated() { length |= UInt64(byte) << (8 * UInt64(shift)) }
                let stop = start + Int(length)
                guard stop < datagram.count, datagram[stop] == UInt8(ascii: "\n") else {
                    throw FakeJournalError("a binary field \(name) of \(length) bytes is not followed by a newline")
                }
                fields.append((name, Array(datagram[start..<stop])))
                index = stop + 1
            }
        }
        return fields
    }
}

struct FakeJournalError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Binds the real journal socket path, so these run one at a time and only where nothing owns it.
@Suite(.serialized, .enabled(if: FakeJournal.available, "needs root and no live socket at /run/systemd/journal/socket"))
struct JournalLogHandlerTests {
    @Test func entryReachesTheJournalSocketWithStructuredFields() throws {
        let journal = try FakeJournal()
        defer { journal.remove() }
        let run = UUID().uuidString
        let secret = "sk_test_\(UUID().uuidString)"
        let redactor = Redactor()
        redactor.register(secret)
        let fallback = CapturedLines()
        var logger = Logger(label: "connector-hostd.test") {
            JournalLogHandler(label: $0, level: .debug, redactor: redactor, fallbackWrite: fallback.write)
        }
        logger[metadataKey: "connector.id"] = "stripe-eu"
        logger.warning("delivery failed", metadata: [
            "test.run": "\(run)",
            "event.correlation_id": "corr-42",
            "connector.tenant": "acme",
            "response.body": "line one\nline two\n\tindented",
            "credential": "Bearer \(secret)",
        ])

        var fields: [(name: String, value: [UInt8])] = []
        var datagram: [UInt8] = []
        for _ in 0..<20 {
            datagram = try journal.receive()
            let entry = try FakeJournal.parse(datagram)
            // Something else on this machine may log to the journal too: find our entry.
            if entry.contains(where: { $0.name == "TEST_RUN" && $0.value == Array(run.utf8) }) {
                fields = entry
                break
            }
        }
        try #require(!fields.isEmpty, "no entry of this test arrived")
        func values(_ name: String) -> [String] {
            fields.filter { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
        }
        #expect(values("MESSAGE") == ["delivery failed"])
        #expect(values("PRIORITY") == ["4"])
        #expect(values("SYSLOG_IDENTIFIER") == ["connector-hostd"])
        #expect(values("LOGGER") == ["connector-hostd.test"])
        #expect(values("CONNECTOR_ID") == ["stripe-eu"])
        #expect(values("CORRELATION_ID") == ["corr-42"])
        #expect(values("EVENT_CORRELATION_ID") == ["corr-42"])
        #expect(values("TENANT") == ["acme"])
        #expect(values("CONNECTOR_TENANT") == ["acme"])
        #expect(values("RESPONSE_BODY") == ["line one\nline two\n\tindented"])
        // The multi-line value travelled in the length-prefixed form, the others as NAME=value.
        let binaryForm = String(decoding: datagram, as: UTF8.self).contains("\nRESPONSE_BODY\n")
        #expect(binaryForm)
        let credentialMasked = values("CREDENTIAL") == ["Bearer [redacted]"]
        #expect(credentialMasked, "CREDENTIAL should be \"Bearer [redacted]\"")
        #expect(values("CODE_LINE").count == 1)
        let leaked = fields.contains { String(decoding: $0.value, as: UTF8.self).contains(secret) }
        #expect(!leaked, "the secret value reached the journal")
        #expect(fallback.all.isEmpty, "the journal accepted the entry, nothing should fall back to stderr")
    }

    @Test func refusedEntryFallsBackToAJSONLine() throws {
        let journal = try FakeJournal()
        defer { journal.remove() }
        // The socket file stays but nobody receives: sd_journal_sendv fails with ECONNREFUSED.
        journal.closeReceiver()
        let secret = "sk_test_\(UUID().uuidString)"
        let redactor = Redactor()
        redactor.register(secret)
        let fallback = CapturedLines()
        let logger = Logger(label: "connector-hostd.test") {
            JournalLogHandler(label: $0, redactor: redactor, fallbackWrite: fallback.write)
        }
        logger.error("cannot reach the sink", metadata: ["connector.id": "odoo", "credential": "\(secret)"])
        let lines = fallback.all
        try #require(lines.count == 1)
        let leaked = lines[0].contains(secret)
        #expect(!leaked, "the secret value reached stderr")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        #expect(object["msg"] == "cannot reach the sink")
        #expect(object["level"] == "error")
        #expect(object["connector.id"] == "odoo")
        let credentialMasked = object["credential"] == "[redacted]"
        #expect(credentialMasked, "credential should be [redacted]")
    }
}
