// LoadReport+JSON: the machine-readable report a scenario checker reads after a run; the
// acknowledged SET keys are per-client inclusive ranges of key numbers. Written by hand (no
// Foundation); the schema is documented in docs/load-tool.md.

import Observability
#if canImport(Glibc)
import Glibc
#endif

/// Writing the JSON report failed.
public struct LoadReportWriteError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension LoadReport {
    /// The full report as one JSON document.
    public func json() -> String {
        let o = options
        var j = "{\n"
        func field(_ name: String, _ raw: String, last: Bool = false) {
            j += "  " + JSONString.quote(name) + ": " + raw + (last ? "\n" : ",\n")
        }
        func counts(_ d: [String: Int]) -> String {
            "{" + d.sorted(by: { $0.key < $1.key }).map { JSONString.quote($0.key) + ": \($0.value)" }.joined(separator: ", ") + "}"
        }
        field("tool", JSONString.quote("respite-load"))
        field("mode", JSONString.quote(o.mode.rawValue))
        field("target", JSONString.quote(o.target))
        field("clients", "\(o.clients)")
        field("pipeline", "\(o.pipeline)")
        field("resp", "\(o.resp)")
        field("timeout_ms", "\(o.timeoutMs)")
        field("key_prefix", JSONString.quote(o.keyPrefix))
        field("set_key_format", JSONString.quote("{prefix}:{client}:{n}"))
        field("set_value", JSONString.quote("the key itself"))
        field("counter_key_format", JSONString.quote("{prefix}:{client}:counter"))
        field("run_us", "\(runUs)")
        field("total_us", "\(totalUs)")
        field("requests", "\(requests)")
        field("ok", "\(ok)")
        field("failed", "\(failed)")
        field("timeouts", "\(timeouts)")
        field("connection_errors", "\(connectionErrors)")
        field("reconnects", "\(reconnects)")
        field("pool_waits", "\(poolWaits)")
        field("pool_wait_max_us", "\(poolWaitMaxUs)")
        field("connects", "\(connects)")
        field("planned_disconnects", "\(plannedDisconnects)")
        field("pushes", "\(pushes)")
        field("unexpected_replies", "\(unexpectedReplies)")
        field("abandoned", "\(abandoned)")
        field("consistent", isConsistent ? "true" : "false")
        field("failures", counts(failureReasons))
        field("push_kinds", counts(pushKinds))
        field("latency_us", "{\"p50\": \(latencyP50Us), \"p90\": \(latencyP90Us), \"p99\": \(latencyP99Us), \"p999\": \(latencyP999Us), \"max\": \(latencyMaxUs)}")
        field("stall_us", "{\"global_max\": \(globalStallMaxUs), \"client_max\": \(clientStallMaxUs)}")
        field("acked", "{\"sets\": \(ackedSets), \"incrs\": \(ackedIncrs)}")
        var list = "[\n"
        for (i, c) in clients.enumerated() {
            let ranges = c.setAcked.map { "[\($0.first), \($0.last)]" }.joined(separator: ", ")
            list += "    {\"client\": \(c.id), \"role\": \(JSONString.quote(c.role)), \"set_acked\": [\(ranges)]"
            list += ", \"set_acked_count\": \(c.setAckedCount), \"set_unknown\": \(c.setUnknown)"
            list += ", \"incr_key\": \(JSONString.quote(counterKey(client: c.id))), \"incr_acked\": \(c.incrAcked)"
            list += ", \"incr_unknown\": \(c.incrUnknown), \"incr_last\": \(c.incrLast.map { "\($0)" } ?? "null")}"
            list += i + 1 < clients.count ? ",\n" : "\n"
        }
        list += "  ]"
        field("per_client", list, last: true)
        j += "}\n"
        return j
    }

    /// Writes `json()` to `path`, replacing the file.
    public func writeJSON(to path: String) throws {
        guard let f = fopen(path, "w") else {
            throw LoadReportWriteError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let text = json()
        let n = text.withCString { fputs($0, f) }
        let closed = fclose(f)
        if n < 0 || closed != 0 { throw LoadReportWriteError(description: "cannot write \(path)") }
    }
}
