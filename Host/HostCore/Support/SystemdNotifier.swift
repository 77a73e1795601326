import CSystemd
public import Logging
public import ServiceLifecycle

/// Talks to systemd through libsystemd's `sd_notify`: READY=1 once the connectors are up, STATUS=
/// lines, WATCHDOG=1 at half the watchdog interval, STOPPING=1 when shutdown begins. Without
/// `NOTIFY_SOCKET` (not under systemd) every call is a no-op.
public struct SystemdNotifier: Sendable {
    public init() {}

    public func notify(_ state: String) {
        _ = state.withCString { sd_notify(0, $0) }
    }

    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }
    public func status(_ status: String) { notify("STATUS=\(status)") }
    public func stopping() { notify("STOPPING=1\nSTATUS=stopping") }

    /// The watchdog interval systemd expects pings within, when `WatchdogSec=` is set for us.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }
}

/// Sends READY=1 when the supervisor has brought every connector up (or given up on it), pings the
/// watchdog, keeps STATUS= current, and says STOPPING=1 as soon as graceful shutdown begins.
public struct SystemdService: Service {
    let notifier: SystemdNotifier
    let supervisor: Supervisor
    let logger: Logger

    public init(notifier: SystemdNotifier = SystemdNotifier(), supervisor: Supervisor, logger: Logger) {
        self.notifier = notifier
        self.supervisor = supervisor
        self.logger = logger
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            try? await cancelWhenGracefulShutdown {
                try await supervisor.waitUntilStarted()
                notifier.ready(status: supervisor.statusLine())
                logger.info("daemon ready", metadata: ["daemon.status": "\(supervisor.statusLine())"])
                let watchdog = notifier.watchdogInterval
                let tick = watchdog.map { $0 / 2 } ?? .seconds(5)
                while true {
                    try await Task.sleep(for: tick)
                    if watchdog != nil { notifier.notify("WATCHDOG=1") }
                    notifier.status(supervisor.statusLine())
                }
            }
        } onGracefulShutdown: {
            notifier.stopping()
        }
    }
}
