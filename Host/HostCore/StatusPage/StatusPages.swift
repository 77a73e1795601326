import ConnectorProtocol
import Foundation
import HostAdmin

/// What the overview shows, read at one moment: the same answers `hostctl --json` gives.
struct StatusSnapshot: Sendable {
    /// Unix milliseconds when it was read.
    var now: Int64
    var version: String
    var uptimeSeconds: Double
    var health: HealthResult
    var connectors: [ConnectorStatus]
    var queue: QueueResult
    var deadLetters: [DeadLetterSummary]
    /// The latest report of each reconciliation.
    var reports: [DriftReport]
}

/// The read-only status pages, rendered on the server from what the store and the supervisor say, with no
/// script: each page reloads itself every few seconds. Pure: tested without a daemon.
enum StatusPages {
    static let refreshSeconds = 5
    /// Dead letters listed on the overview, newest first.
    static let deadLetterLimit = 50

    // MARK: The overview

    static func overview(_ snapshot: StatusSnapshot) -> HTML {
        let healthy = snapshot.health.problems.isEmpty
        let problems: HTML = healthy ? "" : "<ul class=\"problems\">\(snapshot.health.problems.map { problem -> HTML in "<li>\(problem)</li>" })</ul>"
        let body: HTML = """
            <header><h1>connector-host</h1><p>connector-hostd \(snapshot.version), up \(duration(snapshot.uptimeSeconds)), \
            read \(time(snapshot.now))</p>\
            <p class="health \(healthy ? "good" : "bad")" id="health">\(snapshot.health.status)</p>\(problems)\
            <form action="/trace" method="get"><label>Trace an event: <input name="id" placeholder="correlation id" size="40"></label> \
            <button>Trace</button></form></header>
            \(connectors(snapshot.connectors, now: snapshot.now))
            \(queues(snapshot.queue))
            \(deadLetters(snapshot.deadLetters, now: snapshot.now))
            \(reconciliations(snapshot.reports, now: snapshot.now))
            """
        return page(title: healthy ? "connector-host" : "connector-host: \(snapshot.health.status)", body: body)
    }

    static func connectors(_ connectors: [ConnectorStatus], now: Int64) -> HTML {
        let rows = connectors.sorted { $0.id < $1.id }.map { connector -> HTML in
            let who = [connector.tenant.map { "tenant \($0)" }, connector.entity.map { "entity \($0)" }].compactMap { $0 }.joined(separator: ", ")
            let state = connector.paused ? "\(connector.state), paused" : connector.state
            let circuit = connector.circuit ?? "-"
            return """
                <tr data-connector="\(connector.id)"><td><b>\(connector.id)</b><br><small>\(connector.plugin)\(connector.pluginVersion.map { " \($0)" } ?? "")\
                \(who.isEmpty ? "" : " · \(who)")</small></td>\
                <td class="state \(stateClass(connector.state, paused: connector.paused))">\(state)</td>\
                <td class="number">\(connector.pid.map(String.init))</td><td class="number">\(duration(connector.uptimeSeconds))</td>\
                <td class="number">\(connector.restarts)</td><td class="state \(circuit == "closed" || circuit == "-" ? "good" : "bad")">\(circuit)</td>\
                <td class="error">\(connector.lastError ?? "")</td></tr>
                """
        }
        return section("Connectors", id: "connectors", empty: rows.isEmpty ? "No connectors are configured." : nil, """
            <table><thead><tr><th>Connector</th><th>State</th><th>PID</th><th>Up</th><th>Restarts</th><th>Circuit</th><th>Last error</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """)
    }

    /// One row per route: its deliveries by state, and how long the oldest pending one has waited.
    static func queues(_ queue: QueueResult) -> HTML {
        struct Route {
            var target = ""
            var counts: [String: Int] = [:]
            var oldest: Double?
        }
        var routes: [String: Route] = [:]
        for row in queue.rows {
            routes[row.route, default: Route()].target = row.target
            routes[row.route, default: Route()].counts[row.state, default: 0] += row.count
            if row.state == "pending", let age = row.oldestAgeSeconds { routes[row.route, default: Route()].oldest = age }
        }
        let rows = routes.sorted { $0.key < $1.key }.map { name, route -> HTML in
            let pending = route.counts["pending"] ?? 0, dead = route.counts["dead"] ?? 0
            return """
                <tr data-route="\(name)"><td><b>\(name)</b></td><td>\(route.target)</td>\
                <td class="number" data-state="pending">\(pending)</td><td class="number \(ageClass(route.oldest))">\(duration(route.oldest))</td>\
                <td class="number" data-state="delivered">\(route.counts["delivered"] ?? 0)</td>\
                <td class="number \(dead > 0 ? "bad" : "")" data-state="dead">\(dead)</td>\
                <td class="number" data-state="discarded">\(route.counts["discarded"] ?? 0)</td></tr>
                """
        }
        let duplicates = queue.duplicates.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        let dropped: HTML = duplicates.isEmpty ? "" : """
            <p>Duplicates dropped at intake (already stored): \(duplicates.map { id, count -> HTML in "<span class=\"pill\">\(id): \(count)</span> " })</p>
            """
        return section("Queues", id: "queues", empty: rows.isEmpty ? "No route has deliveries yet." : nil, """
            <table><thead><tr><th>Route</th><th>Target</th><th>Pending</th><th>Oldest pending</th><th>Delivered</th><th>Dead</th><th>Discarded</th></tr></thead>
            <tbody>\(rows)</tbody></table>\(dropped)
            """)
    }

    static func deadLetters(_ letters: [DeadLetterSummary], now: Int64) -> HTML {
        let rows = letters.map { letter -> HTML in
            """
            <tr data-dead-letter="\(letter.id)"><td class="number">\(letter.id)</td><td>\(letter.route)<br><small>to \(letter.target)</small></td>\
            <td>\(letter.eventType)</td><td class="error"><b>\(letter.errorClass)</b>: \(letter.reason)</td>\
            <td class="number">\(letter.attempts)</td><td>\(ago(letter.deadAt, now: now))</td>\
            <td><a href="/trace?id=\(HTML.queryValue(letter.correlationID))">\(letter.correlationID)</a></td></tr>
            """
        }
        let more: HTML = letters.count >= deadLetterLimit ? "<p>The newest \(deadLetterLimit) are shown: <code>hostctl dlq list</code> has them all.</p>" : ""
        return section("Dead letters", id: "dead-letters", empty: rows.isEmpty ? "No dead letters." : nil, """
            <table><thead><tr><th>#</th><th>Route</th><th>Event</th><th>Reason</th><th>Attempts</th><th>Dead since</th><th>Trace</th></tr></thead>
            <tbody>\(rows)</tbody></table>\(more)<p>Replay or discard with <code>hostctl dlq replay ID</code> / <code>hostctl dlq discard ID</code>: \
            this page changes nothing.</p>
            """)
    }

    static func reconciliations(_ reports: [DriftReport], now: Int64) -> HTML {
        guard !reports.isEmpty else { return "" }
        let rows = reports.sorted { $0.name < $1.name }.map { report -> HTML in
            let totals = report.totals.map { totals -> HTML in
                let currency = totals.currency
                let same = totals.sourceCount == totals.targetCount && totals.sourceTotalMinor == totals.targetTotalMinor
                return """
                    <li class="\(same ? "" : "bad")">\(totals.objectType): \(totals.sourceCount) for \(money(totals.sourceTotalMinor, currency)) in \(report.source), \
                    \(totals.targetCount) for \(money(totals.targetTotalMinor, currency)) in \(report.target)</li>
                    """
            }
            let outcome = report.outcome.rawValue
            return """
                <tr data-reconcile="\(report.name)"><td><b>\(report.name)</b><br><small>\(report.source) → \(report.target)\
                \(report.entity.map { " · entity \($0)" } ?? "")</small></td><td>\(report.from) to \(report.to)</td>\
                <td class="state \(report.outcome == .clean ? "good" : "bad")">\(outcome)\(report.error.map { ": \($0)" } ?? "")</td>\
                <td class="number">\(report.drift) (tolerance \(report.tolerance))</td><td><ul class="totals">\(totals)</ul></td>\
                <td>\(ago(report.finishedAt, now: now))</td></tr>
                """
        }
        return section("Reconciliation", id: "reconciliation", empty: nil, """
            <table><thead><tr><th>Reconciliation</th><th>Days</th><th>Outcome</th><th>Differences</th><th>Totals</th><th>Run</th></tr></thead>
            <tbody>\(rows)</tbody></table><p>Its items: <code>hostctl reconcile report NAME</code>.</p>
            """)
    }

    // MARK: A trace

    static func trace(_ trace: TraceResult, now: Int64) -> HTML {
        let events = trace.events.map { event -> HTML in
            let links = event.links.map { link -> HTML in "<span class=\"pill\">\(link.connector): \(link.externalID)</span> " }
            let deliveries = event.deliveries.map { delivery -> HTML in
                let attempts = delivery.attempts.map { attempt -> HTML in
                    """
                    <li>#\(attempt.number) \(time(attempt.startedAt)), \(attempt.finishedAt - attempt.startedAt) ms: \
                    <b class="\(attempt.outcome == "delivered" || attempt.outcome == "duplicate" ? "good" : "bad")">\(attempt.outcome)</b>\
                    \(attempt.error.map { ": \($0)" } ?? "")</li>
                    """
                }
                // The delivery's last error, unless its last attempt already says it.
                let lastError: HTML = delivery.lastError.map { error -> HTML in
                    error == delivery.attempts.last?.error ? "" : "<p class=\"error\">\(error)</p>"
                } ?? ""
                return """
                    <tr data-delivery="\(delivery.id)"><td class="number">\(delivery.id)</td><td>\(delivery.route)<br><small>to \(delivery.target)</small></td>\
                    <td class="state \(stateClass(delivery.state, paused: false))">\(delivery.state)</td><td>\(delivery.externalID)</td>\
                    <td><ul class="attempts">\(attempts)</ul>\(lastError)</td></tr>
                    """
            }
            return """
                <section class="event" data-event="\(event.id)"><h2>Event \(event.id): \(event.type)</h2>\
                <p>From <b>\(event.connector)</b>, received \(time(event.receivedAt)) (\(duration(Double(max(0, now - event.receivedAt)) / 1000)) ago); \
                idempotency key <code>\(event.idempotencyKey)</code></p>\
                <p>External ids: \(links.isEmpty ? "none yet" : HTML(stringLiteral: links.map(\.text).joined()))</p>\
                <table><thead><tr><th>#</th><th>Route</th><th>State</th><th>External id</th><th>Attempts</th></tr></thead>\
                <tbody>\(deliveries)</tbody></table></section>
                """
        }
        let audit = trace.audit.map { record -> HTML in
            "<tr><td>\(time(record.at))</td><td>\(record.actor)</td><td>\(record.action)</td><td>\(record.subject)</td><td>\(record.detail)</td></tr>"
        }
        let body: HTML = """
            <header><p><a href="/">← connector-host</a></p><h1>Trace \(trace.correlationID)</h1>\
            <p>Read \(time(now)).</p></header>
            \(events.isEmpty ? "<p class=\"empty\" id=\"no-event\">No event has this correlation id.</p>" : HTML(stringLiteral: events.map(\.text).joined()))
            \(section("Audit", id: "audit", empty: audit.isEmpty ? "Nothing audited for it." : nil, """
                <table><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Subject</th><th>Detail</th></tr></thead><tbody>\(audit)</tbody></table>
                """))
            """
        return page(title: "Trace \(trace.correlationID)", body: body)
    }

    // MARK: Pieces

    /// A whole page, reloading itself every ``refreshSeconds``.
    static func page(title: String, body: HTML) -> HTML {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
        <meta http-equiv="refresh" content="\(refreshSeconds)"><title>\(title)</title><style>\(style)</style></head>
        <body>\(body)</body></html>
        """
    }

    static func section(_ title: String, id: String, empty: String?, _ content: HTML) -> HTML {
        if let empty { return "<section id=\"\(id)\"><h2>\(title)</h2><p class=\"empty\">\(empty)</p></section>" }
        return "<section id=\"\(id)\"><h2>\(title)</h2>\(content)</section>"
    }

    static func stateClass(_ state: String, paused: Bool) -> String {
        if paused { return "warn" }
        switch state {
        case "running", "delivered": return "good"
        case "pending", "starting", "backoff", "in_flight": return "warn"
        default: return "bad"
        }
    }

    /// Pending for a minute is normal; for ten, someone should look.
    static func ageClass(_ seconds: Double?) -> String {
        guard let seconds else { return "" }
        return seconds >= 600 ? "bad" : seconds >= 60 ? "warn" : ""
    }

    /// `2026-12-07 13:35:02 UTC`.
    static func time(_ milliseconds: Int64) -> String {
        guard milliseconds > 0 else { return "-" }
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d UTC", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    /// `3m12s ago`, with the time itself in its title.
    static func ago(_ milliseconds: Int64, now: Int64) -> HTML {
        guard milliseconds > 0 else { return "-" }
        return "<span title=\"\(time(milliseconds))\">\(duration(Double(max(0, now - milliseconds)) / 1000)) ago</span>"
    }

    /// An amount in minor units with its currency's digits and code: `1,234.50 EUR`, `1,999 JPY`.
    static func money(_ minor: Int64, _ currency: String?) -> String {
        guard let currency, let code = CurrencyCode(currency) else { return String(minor) }
        return Money(amountMinor: minor, currency: code).text(grouped: true)
    }

    /// The one style sheet, inline (the page loads nothing else). HTML, not text: CSS is not escaped.
    static let style: HTML = """
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}h1{font-size:1.4em;margin:0}\
        h2{font-size:1.1em;margin:1.4em 0 .4em}header p{margin:.3em 0;color:#555}table{border-collapse:collapse;width:100%}\
        th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f4f5f7}\
        td.number{text-align:right;font-variant-numeric:tabular-nums}small{color:#666}code{background:#f4f5f7;padding:0 .2em}\
        .good{color:#137333}.warn{color:#a05a00}.bad{color:#b3261e;font-weight:600}.error{color:#b3261e;max-width:40em;word-break:break-word}\
        .health{font-size:1.1em;font-weight:600}.problems{color:#b3261e}.empty{color:#666}.pill{background:#eef1f5;border-radius:1em;padding:0 .5em}\
        ul.totals,ul.attempts{margin:0;padding-left:1.2em}form{margin:.6em 0}
        """
}
