import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `<state_dir>/connector-host.lock`, held for the daemon's life: two daemons
/// on one state directory (each with its own admin socket) would both deliver every event. The lock
/// goes with the process, however it ends; the file holds the holder's pid for the error message.
public final class StateDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Int32

    public init(directory: String) throws(HostError) {
        path = "\(directory)/connector-host.lock"
        // O_CLOEXEC: a plugin must not inherit (and outlive the daemon holding) the lock.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw HostError(.io, "cannot open the store \(directory)/connector-host.sqlite: cannot create its lock \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw HostError(.stateDirectoryInUse,
                            "another connector-hostd\(holder.map { $0.isEmpty ? "" : " (pid \($0))" } ?? "") uses the state directory \(directory); stop it first, or give this one its own state_dir")
        }
        self.descriptor = descriptor
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit { close(descriptor) }
}
