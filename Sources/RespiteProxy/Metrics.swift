// Metrics: the proxy's counters in Prometheus's text format, for the admin endpoint's
// /metrics (cold path: built per scrape).

import RespiteUpstream

extension Proxy {
    /// Every counter and gauge, as Prometheus text exposition.
    public func metricsText() -> String {
        let s = pool.stats
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Int)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, v) in samples { out += "\(name)\(labels) \(v)\n" }
        }
        metric("respite_clients_connected", "gauge", "Client connections open now.", [("", sessionCount)])
        metric("respite_clients_accepted_total", "counter", "Client connections accepted.", [("", totalConnections)])
        metric("respite_upstream_connections", "gauge", "Upstream connections open now (shared and pinned).", [("", pool.connectionCount)])
        metric("respite_upstream_pinned_connections", "gauge", "Dedicated upstream connections open now.", [("", pool.pinnedCount)])
        let types = ["MOVING", "MIGRATING", "MIGRATED", "FAILING_OVER", "FAILED_OVER", "SMIGRATING", "SMIGRATED"]
        var events = types.map { ("{type=\"\($0)\"}", s.events[$0] ?? 0) }
        let unknown = s.events.filter { !types.contains($0.key) }.values.reduce(0, +)
        events.append(("{type=\"unknown\"}", unknown))
        metric("respite_maintenance_events_total", "counter", "Maintenance notifications received, by type.", events)
        metric("respite_maintenance_duplicates_ignored_total", "counter", "MOVING notifications recognised as repeats.", [("", s.duplicatesIgnored)])
        metric("respite_maintenance_handoffs_total", "counter", "Handoffs started on MOVING.", [("", s.handoffs)])
        metric("respite_maintenance_handoff_connections_total", "counter", "Upstream connections moved by handoffs.", [("", s.handoffConnections)])
        metric("respite_maintenance_fallbacks_total", "counter", "Handoffs that fell back to the configured upstream.", [("", s.fallbacks)])
        metric("respite_maintenance_breaker_refusals_total", "counter", "Handoffs refused by an open circuit breaker.", [("", s.breakerRefusals)])
        metric("respite_maintenance_relaxed_windows_total", "counter", "Relaxed-timeout windows opened.", [("", s.relaxedWindows)])
        metric("respite_maintenance_optin_refusals_total", "counter", "Upstream connections whose server refused the opt-in.", [("", s.optInRefusals)])
        metric("respite_requests_retried_total", "counter", "Requests sent again after a lost connection or a did-not-run error.", [("", s.retries)])
        metric("respite_requests_unknown_outcome_total", "counter", "Writes failed because their outcome is unknown.", [("", s.unknownOutcomes)])
        return out
    }
}
