import ConnectorProtocol
import Foundation
import HostAdmin
import HTTPTypes
import Hummingbird
import NIOCore

/// The status pages on the metrics listener (loopback unless the operator binds it elsewhere): `GET /`,
/// the overview, and `GET /trace?id=CORRELATION_ID`. Read-only: they answer GET only, from the same
/// sources as `hostctl --json`, and show no secret (the vault is not among their sources).
struct StatusPage: Sendable {
    let store: any HostStore
    let supervisor: Supervisor
    let health: @Sendable () -> HealthResult
    let connectors: @Sendable () -> [ConnectorStatus]

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ -> Response in
            Self.response(StatusPages.overview(try await snapshot()))
        }
        router.get("/trace") { request, _ -> Response in
            guard let id = request.uri.queryParameters.get("id")?.trimmingCharacters(in: .whitespaces), !id.isEmpty else {
                return Response(status: .seeOther, headers: [.location: "/"])
            }
            return Self.response(StatusPages.trace(try await store.trace(correlationID: id), now: Store.now()))
        }
    }

    func snapshot() async throws -> StatusSnapshot {
        let now = Store.now()
        return StatusSnapshot(
            now: now, version: BuildInfo.version, uptimeSeconds: ConnectorInstance.seconds(supervisor.uptime), health: health(),
            connectors: connectors(), queue: QueueResult(rows: try await store.queue(now: now), duplicates: try await store.duplicates()),
            deadLetters: try await store.deadLetters(route: nil, limit: StatusPages.deadLetterLimit),
            reports: try await store.driftReports(name: nil, limit: 1))
    }

    /// A page that no one caches, frames or runs anything in: the only style is its own, inline.
    static func response(_ html: HTML) -> Response {
        Response(status: .ok, headers: [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            .xContentTypeOptions: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
        ], body: .init(byteBuffer: ByteBuffer(string: html.text)))
    }
}
