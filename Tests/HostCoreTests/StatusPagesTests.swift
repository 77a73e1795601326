import ConnectorProtocol
import Foundation
import HostAdmin
@testable import HostCore
import Testing

/// The status pages as HTML, without a daemon: what each section says, and that nothing a connector,
/// a source or a SaaS API wrote can add markup to them.
@Suite struct StatusPagesTests {
    let now: Int64 = 1_796_650_000_000  // 2026-12-07 13:26:40 UTC

    func snapshot(connectors: [ConnectorStatus] = [], queue: [QueueRow] = [], deadLetters: [DeadLetterSummary] = [],
                  reports: [DriftReport] = [], problems: [String] = []) -> StatusSnapshot {
        StatusSnapshot(now: now, version: "9.9.9", uptimeSeconds: 3_725, health: HealthResult(status: problems.isEmpty ? "healthy" : "degraded", problems: problems),
                       connectors: connectors, queue: QueueResult(rows: queue, duplicates: ["stripe": 3]), deadLetters: deadLetters, reports: reports)
    }

    @Test func theOverviewSaysWhatHostctlSays() {
        let html = StatusPages.overview(snapshot(
            connectors: [ConnectorStatus(id: "stripe", plugin: "stripe", tenant: "acme", entity: nil, state: "running", pid: 4242, uptimeSeconds: 125,
                                         restarts: 2, lastError: nil, paused: false, protocolErrors: 0, pluginVersion: "1.2.0", protocolVersion: 1)],
            queue: [QueueRow(route: "stripe-to-odoo", target: "odoo", state: "pending", count: 7, oldestAgeSeconds: 754),
                    QueueRow(route: "stripe-to-odoo", target: "odoo", state: "delivered", count: 1_200, oldestAgeSeconds: nil),
                    QueueRow(route: "stripe-to-odoo", target: "odoo", state: "dead", count: 1, oldestAgeSeconds: nil)],
            deadLetters: [DeadLetterSummary(id: 17, route: "stripe-to-odoo", target: "odoo", eventType: "invoice.paid", correlationID: "stripe:in_1#2",
                                            idempotencyKey: "stripe:in:in_1:2", errorClass: "permanent", reason: "no such tax", deadAt: now - 90_000, attempts: 3)],
            problems: ["odoo: circuit open"])).text
        #expect(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"))
        #expect(html.contains("connector-hostd 9.9.9, up 1h2m, read 2026-12-07 13:26:40 UTC"))
        #expect(html.contains(#"<p class="health bad" id="health">degraded</p><ul class="problems"><li>odoo: circuit open</li></ul>"#))
        #expect(html.contains(#"<tr data-connector="stripe"><td><b>stripe</b><br><small>stripe 1.2.0 · tenant acme</small></td><td class="state good">running</td><td class="number">4242</td><td class="number">2m5s</td><td class="number">2</td>"#))
        #expect(html.contains(#"<td class="number" data-state="pending">7</td><td class="number bad">12m34s</td><td class="number" data-state="delivered">1200</td><td class="number bad" data-state="dead">1</td>"#))
        #expect(html.contains(#"<td class="error"><b>permanent</b>: no such tax</td><td class="number">3</td><td><span title="2026-12-07 13:25:10 UTC">1m30s ago</span></td>"#))
        #expect(html.contains(#"<a href="/trace?id=stripe%3Ain_1%232">stripe:in_1#2</a>"#), "the correlation id is a query value, not a path")
        #expect(html.contains("stripe: 3</span>"), "duplicates dropped at intake")
        #expect(!html.contains("<section id=\"reconciliation\">"), "no reconciliation: no section")
    }

    /// An error text, a reason or an id is shown as text, whatever it holds.
    @Test func whatOthersWroteIsTextNotMarkup() {
        let hostile = #"<script>alert("x")</script><img src=x onerror='y'>&amp;"#
        let html = StatusPages.overview(snapshot(
            connectors: [ConnectorStatus(id: "c", plugin: "p", tenant: nil, entity: nil, state: "backoff", pid: nil, uptimeSeconds: nil,
                                         restarts: 0, lastError: hostile, paused: false, protocolErrors: 0, pluginVersion: nil, protocolVersion: nil)],
            deadLetters: [DeadLetterSummary(id: 1, route: "r", target: "t", eventType: hostile, correlationID: hostile, idempotencyKey: "k",
                                            errorClass: "permanent", reason: hostile, deadAt: now, attempts: 1)],
            problems: [hostile])).text
        #expect(!html.contains("<script") && !html.contains("<img") && !html.contains("'y'"))
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;y&#39;&gt;&amp;amp;"))
        #expect(html.contains("/trace?id=%3Cscript%3Ealert%28%22x%22%29"))
    }

    @Test func aReconciliationShowsItsTotalsWithTheirCurrency() {
        let report = DriftReport(id: 3, name: "stripe-vs-odoo", source: "stripe", target: "odoo", entity: "acme-us", from: "2026-12-01", to: "2026-12-06",
                                 startedAt: now - 60_000, finishedAt: now - 30_000, trigger: .schedule, outcome: .drift, error: nil, tolerance: 0, drift: 2,
                                 totals: [DriftTotals(objectType: "invoice", currency: "EUR", sourceCount: 1_200, sourceTotalMinor: 123_456_789,
                                                      targetCount: 1_199, targetTotalMinor: 123_446_789),
                                          DriftTotals(objectType: "invoice", currency: "JPY", sourceCount: 2, sourceTotalMinor: 1_999, targetCount: 2, targetTotalMinor: 1_999)],
                                 items: [])
        let html = StatusPages.overview(snapshot(reports: [report])).text
        #expect(html.contains(#"<td class="state bad">drift</td><td class="number">2 (tolerance 0)</td>"#))
        #expect(html.contains(#"<li class="bad">invoice: 1200 for 1,234,567.89 EUR in stripe, 1199 for 1,234,467.89 EUR in odoo</li>"#))
        #expect(html.contains(#"<li class="">invoice: 2 for 1,999 JPY in stripe, 2 for 1,999 JPY in odoo</li>"#))
        #expect(StatusPages.money(-5, "EUR") == "-0.05 EUR" && StatusPages.money(-123_456, "USD") == "-1,234.56 USD" && StatusPages.money(7, nil) == "7")
    }

    @Test func aTraceFollowsTheEventToItsExternalIDsAndAudit() {
        let trace = TraceResult(correlationID: "stripe:in_1", events: [TraceResult.TracedEvent(
            id: 5, idempotencyKey: "stripe:in:in_1:2", connector: "stripe", type: "invoice.paid", receivedAt: now - 5_000,
            deliveries: [TraceResult.TracedDelivery(id: 9, route: "stripe-to-odoo", target: "odoo", state: "delivered",
                                                    attempts: [AttemptRecord(number: 1, startedAt: now - 4_000, finishedAt: now - 3_000, outcome: "transient", error: "HTTP 503", details: nil),
                                                               AttemptRecord(number: 2, startedAt: now - 2_000, finishedAt: now - 1_880, outcome: "delivered", error: nil, details: nil)],
                                                    externalID: "account.move:42", lastError: nil)],
            links: [TraceResult.TracedLink(connector: "odoo", externalID: "account.move:42")])],
            audit: [AuditRecord(id: 1, at: now - 1_000, actor: "operator alice (uid 1000)", action: "dlq.replay", subject: "9", detail: "replayed")])
        let html = StatusPages.trace(trace, now: now).text
        #expect(html.contains("<h1>Trace stripe:in_1</h1>"))
        #expect(html.contains("<h2>Event 5: invoice.paid</h2><p>From <b>stripe</b>, received 2026-12-07 13:26:35 UTC (5s ago)"))
        #expect(html.contains(#"<span class="pill">odoo: account.move:42</span>"#))
        #expect(html.contains(#"<li>#1 2026-12-07 13:26:36 UTC, 1000 ms: <b class="bad">transient</b>: HTTP 503</li><li>#2 2026-12-07 13:26:38 UTC, 120 ms: <b class="good">delivered</b></li>"#))
        #expect(html.contains("<td>operator alice (uid 1000)</td><td>dlq.replay</td>"))
        let none = StatusPages.trace(TraceResult(correlationID: "nope", events: [], audit: []), now: now).text
        #expect(none.contains("No event has this correlation id.") && none.contains("Nothing audited for it."))
    }
}
