import CHostSupport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signalled(status & 0x7f)
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signalled(let signal): "killed by signal \(signal)\(signal == SIGKILL ? " (SIGKILL)" : signal == SIGSEGV ? " (SIGSEGV)" : signal == SIGTERM ? " (SIGTERM)" : signal == SIGABRT ? " (SIGABRT)" : "")"
        }
    }
}

/// Starts plugin processes and collects their exit statuses.
///
/// Children are forked from one thread that lives as long as the daemon, because PR_SET_PDEATHSIG
/// fires when the forking *thread* ends, not the process; a pooled thread that retires would kill
/// plugins at random. A second thread blocks in `waitpid(-1)` and hands each exit to whoever waits
/// for that pid. The daemon starts no other children, so reaping any pid is safe.
public final class ChildProcesses: @unchecked Sendable {
    // @unchecked: `condition` guards `live`, `waiters` and `exited`; `jobs` is guarded by `jobCondition`.
    public static let shared = ChildProcesses()

    private let condition = NSCondition()
    private var live = 0
    private var waiters: [pid_t: CheckedContinuation<ExitStatus, Never>] = [:]
    private var exited: [pid_t: ExitStatus] = [:]

    private let jobCondition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []

    private init() {
        let reaper = Thread { [unowned self] in self.reapForever() }
        reaper.name = "child-reaper"
        reaper.start()
        let spawner = Thread { [unowned self] in self.runJobsForever() }
        spawner.name = "child-spawner"
        spawner.start()
    }

    public struct Spawned: Sendable {
        public let pid: Int32
        /// Read end of the pipe carrying the child's stdout and stderr.
        public let output: Int32
    }

    /// Starts `executable` with exactly `environment`; stdin is /dev/null, stdout and stderr go to a pipe.
    public func spawn(executable: String, arguments: [String] = [], environment: [String: String]) async throws(HostError) -> Spawned {
        let result: Result<Spawned, HostError> = await withCheckedContinuation { continuation in
            enqueue {
                continuation.resume(returning: self.spawnNow(executable: executable, arguments: arguments, environment: environment))
            }
        }
        return try result.get()
    }

    /// Waits until `pid` has exited and returns how.
    public func waitForExit(_ pid: Int32) async -> ExitStatus {
        await withCheckedContinuation { continuation in
            condition.lock()
            if let status = exited.removeValue(forKey: pid) {
                condition.unlock()
                continuation.resume(returning: status)
            } else {
                waiters[pid] = continuation
                condition.unlock()
            }
        }
    }

    private func spawnNow(executable: String, arguments: [String], environment: [String: String]) -> Result<Spawned, HostError> {
        var pipeFDs: [Int32] = [-1, -1]
        let pipeError = ch_pipe_cloexec(&pipeFDs)
        guard pipeError == 0 else {
            return .failure(HostError(.spawn, "pipe2 failed: \(String(cString: strerror(pipeError)))"))
        }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(pipeFDs[1])
            if devNull >= 0 { close(devNull) }
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted(by: { $0.key < $1.key }).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        condition.lock()
        let error = ch_spawn(executable, argv, envp, devNull, pipeFDs[1], pipeFDs[1], &pid)
        if pid > 0 {
            live += 1
            condition.signal()
        }
        condition.unlock()
        if error != 0 {
            close(pipeFDs[0])
            return .failure(HostError(.spawn, "cannot start \(executable): \(String(cString: strerror(error)))"))
        }
        return .success(Spawned(pid: pid, output: pipeFDs[0]))
    }

    private func enqueue(_ job: @escaping @Sendable () -> Void) {
        jobCondition.lock()
        jobs.append(job)
        jobCondition.signal()
        jobCondition.unlock()
    }

    private func runJobsForever() {
        while true {
            jobCondition.lock()
            while jobs.isEmpty { jobCondition.wait() }
            let batch = jobs
            jobs.removeAll()
            jobCondition.unlock()
            for job in batch { job() }
        }
    }

    private func reapForever() {
        while true {
            condition.lock()
            while live == 0 { condition.wait() }
            condition.unlock()
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            if pid < 0 {
                if errno == ECHILD {
                    condition.lock()
                    live = 0
                    condition.unlock()
                }
                continue
            }
            condition.lock()
            live -= 1
            let exitStatus = ExitStatus(waitStatus: status)
            let waiter = waiters.removeValue(forKey: pid)
            if waiter == nil { exited[pid] = exitStatus }
            condition.unlock()
            waiter?.resume(returning: exitStatus)
        }
    }
}
