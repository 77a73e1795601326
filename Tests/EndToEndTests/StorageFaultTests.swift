import ConnectorProtocol
import Foundation
import HostAdmin
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whether this machine lets us mount a small tmpfs (root with CAP_SYS_ADMIN, as on the CI machines).
let canMountTmpfs: Bool = {
    let probe = "/tmp/chd-mount-probe-\(getpid())"
    try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: probe) }
    guard (try? DaemonHarness.shell("mount -t tmpfs -o size=1m tmpfs \(probe)")) == 0 else { return false }
    _ = try? DaemonHarness.shell("umount \(probe)")
    return true
}()

/// Whether this machine lets us put the state directory on a loop-mounted ext4 file system.
let canMountLoopExt4: Bool = {
    guard canMountTmpfs else { return false }
    let probe = "/tmp/chd-loop-probe-\(getpid())"
    defer { _ = try? DaemonHarness.shell("umount \(probe)/mnt; rm -rf \(probe)") }
    return (try? DaemonHarness.shell("""
        mkdir -p \(probe)/mnt && truncate -s 16M \(probe)/img && mkfs.ext4 -q -F \(probe)/img && mount -o loop \(probe)/img \(probe)/mnt
        """)) == 0
}()

extension DaemonHarness {
    @discardableResult
    static func shell(_ command: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " 2>/dev/null"]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Suite(.serialized, .enabled(if: canMountTmpfs, "needs root to mount a small tmpfs as the state directory"))
struct StorageFaultTests {
    /// The state directory fills up: the daemon stops taking new work with a clear error, keeps
    /// running, and resumes when space returns, with nothing lost, nothing duplicated and the
    /// database intact.
    @Test func fullStateDirectory() throws {
        let daemon = try DaemonHarness()
        let state = daemon.path("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        #expect(try DaemonHarness.shell("mount -t tmpfs -o size=1500k tmpfs \(state)") == 0)
        defer { _ = try? DaemonHarness.shell("umount -l \(state)") }
        let total = 4000
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "poll_batch = 200\npoll_interval_ms = 200\n[connector.config]\nemit = \(total)")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            // Paced, so that deliveries are still being written when the store turns read-only.
            + DaemonHarness.route("src", "erp", "rate_limit = \"400/s\""))
        try daemon.start()

        try daemon.waitUntil("the full disk is reported", timeout: 60) {
            try daemon.client().call(AdminMethod.health, EmptyParams(), as: HealthResult.self).problems.contains { $0.hasPrefix("store:") }
        }
        let health = try daemon.hostctl("health")
        #expect(health.status == 1)
        #expect(health.stdout.contains("store: "))
        #expect(daemon.log.contains("store cannot take new work; sources paused until it can"))
        #expect(try daemon.connector("src").state == "running", "the daemon and its plugins keep running")

        #expect(try DaemonHarness.shell("mount -o remount,size=64m \(state)") == 0)
        try daemon.waitUntil("work resumes once there is space", timeout: 60) { try daemon.count("delivered") > 0 && daemon.hostctl("health").status == 0 }

        try Self.expectEveryEventOnceAndAnIntactStore(daemon, total: total, state: state)
    }

    /// The file system under the state directory turns read-only while the daemon works (ext4 aborts
    /// its journal after an I/O error, as on a failing disk): the daemon keeps running with a clear
    /// error and takes no new work; once an operator has repaired the file system and restarted it,
    /// every event is delivered exactly once and the database is intact.
    @Test(.enabled(if: canMountLoopExt4, "needs loop devices and mkfs.ext4"))
    func stateFileSystemTurnsReadOnlyWhileRunning() throws {
        let daemon = try DaemonHarness()
        let state = daemon.path("state"), image = daemon.path("state.img")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        #expect(try DaemonHarness.shell("truncate -s 64M \(image) && mkfs.ext4 -q -F \(image) && mount -o loop,errors=remount-ro \(image) \(state)") == 0)
        defer { _ = try? DaemonHarness.shell("umount -l \(state)") }
        let total = 4000
        try daemon.writeConfig(connectors:
            DaemonHarness.sample("src", "poll_batch = 100\npoll_interval_ms = 100\n[connector.config]\nemit = \(total)\nemit_rate = 1000")
            + DaemonHarness.sample("erp", "[connector.config]\neffects_file = \"\(daemon.path("effects"))\"")
            + DaemonHarness.route("src", "erp"))
        try daemon.start()
        try daemon.waitUntil("some events are delivered", timeout: 30) { try daemon.count("delivered") > 200 }

        #expect(try DaemonHarness.shell("mount -o remount,abort \(state)") == 0)
        try daemon.waitUntil("the read-only store is reported", timeout: 30) {
            try daemon.client().call(AdminMethod.health, EmptyParams(), as: HealthResult.self).problems.contains { $0.hasPrefix("store:") }
        }
        #expect(try daemon.hostctl("health").status == 1)
        #expect(daemon.log.contains("store cannot take new work; sources paused until it can"))
        usleep(1_000_000)
        #expect(try daemon.connector("src").state == "running", "the daemon and its plugins keep running")
        #expect(try daemon.stop() == 0)

        // The operator's repair: unmount, check the file system, mount it again, start the daemon.
        #expect(try DaemonHarness.shell("umount \(state) && e2fsck -fy \(image) >/dev/null 2>&1; mount -o loop \(image) \(state)") == 0)
        try daemon.start()
        try Self.expectEveryEventOnceAndAnIntactStore(daemon, total: total, state: state)
    }

    /// The end of a storage fault: every event reached the sink once, the daemon stops cleanly, and
    /// SQLite finds its file intact.
    static func expectEveryEventOnceAndAnIntactStore(_ daemon: DaemonHarness, total: Int, state: String) throws {
        try daemon.waitUntil("every event is delivered", timeout: 120) {
            try daemon.count("delivered") == total && daemon.count("pending") == 0
        }
        let effects = daemon.effects("effects")
        #expect(effects.count == total)
        #expect(Set(effects).count == total)
        #expect(try daemon.stop() == 0)
        let check = try DaemonHarness.shell("python3 -c \"import sqlite3,sys; c=sqlite3.connect('\(state)/connector-host.sqlite'); sys.exit(0 if c.execute('PRAGMA integrity_check').fetchone()[0]=='ok' else 1)\"")
        #expect(check == 0, "integrity_check failed")
    }

    /// A read-only state directory at start: the daemon refuses to run, naming the database.
    @Test func readOnlyStateDirectoryAtStart() throws {
        let daemon = try DaemonHarness()
        let state = daemon.path("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        #expect(try DaemonHarness.shell("mount -t tmpfs -o size=1m,ro tmpfs \(state)") == 0)
        defer { _ = try? DaemonHarness.shell("umount -l \(state)") }
        try daemon.writeConfig(connectors: DaemonHarness.sample("a"))
        let run = try DaemonHarness.run("connector-hostd", ["--config", daemon.configPath])
        #expect(run.status == 1)
        #expect(run.stderr.contains("cannot open the store \(state)/connector-host.sqlite"), "\(run.stderr)")
    }
}
