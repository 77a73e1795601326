import ArgumentParser
import ConnectorProtocol
import Foundation
import HostAdmin

struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The hosts sharing the store: each one's state, last heartbeat, the sources it polls and the deliveries it has claimed.",
        discussion: "A member is alive while its heartbeat is within the lease, lost once it stopped beating without leaving (the others take its sources and deliveries over), left once it stopped gracefully."
    )
    @OptionGroup var options: GlobalOptions

    func run() throws {
        let client = try options.connect()
        let cluster = try options.call(client, AdminMethod.cluster, EmptyParams(), as: ClusterResult.self)
        if options.json { return options.printJSON(cluster) }
        guard cluster.store == "postgres" else {
            print("one host: \(cluster.member) (the \(cluster.store) store is not shared; several hosts share a PostgreSQL store)")
            return
        }
        print("this host: \(cluster.member), lease \(Double(cluster.leaseMilliseconds) / 1000) s")
        print(table(
            ["MEMBER", "STATE", "HEARTBEAT", "UP", "PID", "VERSION", "SOURCES", "CLAIMED"],
            cluster.members.map { member in
                [member.name + (member.name == cluster.member ? " *" : ""), member.state, ago(member.heartbeatAt, now: cluster.now),
                 member.state == "left" ? "-" : duration(Double(cluster.now - member.startedAt) / 1000), String(member.pid), member.version,
                 member.sources.isEmpty ? "-" : member.sources.joined(separator: ","), String(member.claimed)]
            }
        ))
        guard !cluster.leases.isEmpty else { return }
        print("")
        print(table(
            ["SOURCE", "HOLDER", "TOKEN", "HELD FOR", "EXPIRES"],
            cluster.leases.map { lease in
                let expired = lease.expiresAt < cluster.now
                return [lease.connector, expired ? "(\(lease.holder), expired)" : lease.holder, String(lease.token),
                        expired ? "-" : duration(Double(cluster.now - lease.acquiredAt) / 1000),
                        expired ? "\(ago(lease.expiresAt, now: cluster.now))" : "in \(duration(Double(lease.expiresAt - cluster.now) / 1000))"]
            }
        ))
    }

    func ago(_ at: Int64, now: Int64) -> String {
        at <= 0 ? "-" : "\(duration(Double(max(0, now - at)) / 1000)) ago"
    }
}
