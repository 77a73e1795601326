public import Foundation

/// One run of an Airbyte source command (`spec`, `check`, `discover`, `read …`): a child process whose
/// standard output is read a line at a time on a thread of its own, its standard error line by line for
/// the log. `onLine` may block: the source then waits on its pipe (the host's back-pressure).
public final class AirbyteSourceProcess: @unchecked Sendable {
    /// A line longer than this is not an Airbyte message the host can keep (the host's own limit).
    public static let maxLineBytes = 16 * 1024 * 1024

    private let process = Process()
    private let exited = Locked<Int32?>(nil)
    private let finished = DispatchSemaphore(value: 0)
    private let outputDone = DispatchSemaphore(value: 0)

    /// Starts `command` + `arguments` in `directory` with exactly `environment`.
    /// - Parameters:
    ///   - onLine: each line of standard output (without its newline), in order, on the reading thread.
    ///   - onStderr: each line of standard error.
    public init(command: [String], arguments: [String], directory: String, environment: [String: String],
                onLine: @escaping @Sendable (Data) -> Void, onStderr: @escaping @Sendable (String) -> Void) throws {
        guard let executable = command.first else { throw AirbyteLineProblem("no command") }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(command.dropFirst()) + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let exited = exited
        let finished = finished
        process.terminationHandler = { process in
            exited.withLock { $0 = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus }
            finished.signal()
        }
        try process.run()
        let outputDone = outputDone
        let out = output.fileHandleForReading
        let err = errors.fileHandleForReading
        Thread.detachNewThread {
            Self.readLines(out.fileDescriptor, onLine: onLine, tooLong: { onStderr("a line of more than \(Self.maxLineBytes) bytes was dropped") })
            try? out.close()
            outputDone.signal()
        }
        Thread.detachNewThread {
            Self.readLines(err.fileDescriptor, onLine: { onStderr(String(decoding: $0, as: UTF8.self)) }, tooLong: {})
            try? err.close()
        }
    }

    public var processIdentifier: Int32 { process.processIdentifier }

    /// The exit status once it has exited (128 + the signal when a signal ended it), else nil.
    public var exitStatus: Int32? { exited.withLock { $0 } }

    /// Waits (on a thread of the system's, not the caller's) until it has exited and all its output is read.
    public func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.finished.wait()
                self.finished.signal()
                self.outputDone.wait()
                self.outputDone.signal()
                continuation.resume(returning: self.exitStatus ?? -1)
            }
        }
    }

    /// Asks it and its own children (its process group: a Python source's worker processes) to stop
    /// (SIGTERM), then kills them after `grace`.
    public func stop(grace: Duration = .seconds(5)) {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        // Foundation starts the child as the leader of a process group of its own.
        if kill(-pid, SIGTERM) != 0 { process.terminate() }
        let exited = exited
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(grace.components.seconds * 1000))) {
            if exited.withLock({ $0 == nil }) { kill(-pid, SIGKILL) }
        }
    }

    /// Reads `fd` to its end, handing over each line; a line over ``maxLineBytes`` is skipped whole.
    static func readLines(_ fd: Int32, onLine: (Data) -> Void, tooLong: () -> Void) {
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var line = Data()
        var skipping = false
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            var start = 0
            for index in 0..<count where buffer[index] == UInt8(ascii: "\n") {
                if !skipping {
                    line.append(contentsOf: buffer[start..<index])
                    if !line.isEmpty { onLine(line) }
                }
                line.removeAll(keepingCapacity: true)
                skipping = false
                start = index + 1
            }
            if !skipping && start < count {
                line.append(contentsOf: buffer[start..<count])
                if line.count > maxLineBytes {
                    tooLong()
                    line.removeAll()
                    skipping = true
                }
            }
        }
        if !skipping && !line.isEmpty { onLine(line) }
    }
}
