// LoadReport: the outcome of one run as plain values — totals, failure reasons, latency
// percentiles, stalls, and per-client acknowledged writes — with the final table and the JSON
// document a checker reads (format in docs/load-tool.md). Numbers are formatted by hand.

import Histogram
#if canImport(Glibc)
import Glibc
#endif

/// What one client had acknowledged by the end of the run.
public struct ClientResult: Sendable, Equatable {
    public var id: Int
    public var role: String
    /// Key numbers `n` of acknowledged `SET PFX:<id>:<n>`, as ascending inclusive ranges.
    public var setAcked: [KeyRange]
    public var setAckedCount: Int
    /// SETs written whose reply never came (lost connection or timeout): may or may not exist.
    public var setUnknown: Int
    /// Acknowledged `INCR PFX:<id>:counter`.
    public var incrAcked: Int
    /// INCRs written whose reply never came.
    public var incrUnknown: Int
    /// The last value an INCR returned.
    public var incrLast: Int64?
}

/// The final numbers of a load run.
public struct LoadReport: Sendable {
    public let options: LoadOptions
    /// From start to the end of the load phase (duration, budget or signal).
    public let runUs: Int64
    /// Including the drain of outstanding requests.
    public let totalUs: Int64
    public let requests: Int
    public let ok: Int
    public let failed: Int
    public let timeouts: Int
    public let connectionErrors: Int
    public let reconnects: Int
    public let poolWaits: Int
    public let poolWaitMaxUs: Int64
    public let connects: Int
    public let plannedDisconnects: Int
    public let pushes: Int
    public let unexpectedReplies: Int
    public let abandoned: Int
    public let failureReasons: [String: Int]
    public let pushKinds: [String: Int]
    public let latencyP50Us: Int64
    public let latencyP90Us: Int64
    public let latencyP99Us: Int64
    public let latencyP999Us: Int64
    public let latencyMaxUs: Int64
    public let globalStallMaxUs: Int64
    public let clientStallMaxUs: Int64
    public let clients: [ClientResult]

    init(options: LoadOptions, stats s: LoadStats, runUs: Int64, totalUs: Int64, clients: [ClientResult]) {
        self.options = options
        self.runUs = runUs
        self.totalUs = totalUs
        requests = s.requests; ok = s.ok; failed = s.failed; timeouts = s.timeouts
        connectionErrors = s.connectionErrors; reconnects = s.reconnects
        poolWaits = s.poolWaits; poolWaitMaxUs = s.poolWaitMaxUs
        connects = s.connects; plannedDisconnects = s.plannedDisconnects
        pushes = s.pushes; unexpectedReplies = s.unexpectedReplies; abandoned = s.abandoned
        failureReasons = s.failureReasons; pushKinds = s.pushKinds
        let h = s.latency
        let has = h.totalCount > 0
        latencyP50Us = has ? Int64(h.valueAtPercentile(50)) : 0
        latencyP90Us = has ? Int64(h.valueAtPercentile(90)) : 0
        latencyP99Us = has ? Int64(h.valueAtPercentile(99)) : 0
        latencyP999Us = has ? Int64(h.valueAtPercentile(99.9)) : 0
        latencyMaxUs = has ? Int64(h.max) : 0
        globalStallMaxUs = s.globalStallMaxUs
        clientStallMaxUs = s.clientStallMaxUs
        self.clients = clients
    }

    /// Every written request has exactly one outcome.
    public var isConsistent: Bool { requests == ok + failed + timeouts + abandoned && unexpectedReplies == 0 }

    public var ackedSets: Int { clients.reduce(0) { $0 + $1.setAckedCount } }
    public var ackedIncrs: Int { clients.reduce(0) { $0 + $1.incrAcked } }

    /// The key of SET number `n` of client `id`.
    public func setKey(client id: Int, _ n: Int) -> String { "\(options.keyPrefix):\(id):\(n)" }
    /// The counter key of client `id`.
    public func counterKey(client id: Int) -> String { "\(options.keyPrefix):\(id):counter" }

    // MARK: - Table

    /// The human-readable summary printed at the end.
    public func table() -> String {
        let o = options
        var out = "respite-load \(o.mode.rawValue): target=\(o.target) clients=\(o.clients) pipeline=\(o.pipeline)"
        out += " resp=\(o.resp) timeout=\(o.timeoutMs)ms run=\(LoadReport.seconds(runUs))s\n"
        func row(_ name: String, _ value: String) {
            var n = "  " + name
            while n.utf8.count < 24 { n += " " }
            out += n + value + "\n"
        }
        let perSec = runUs > 0 ? Int64(ok) * 1_000_000 / runUs : 0
        row("requests", "\(requests)")
        row("ok", "\(ok)  (\(perSec)/s)")
        row("failed", "\(failed)")
        for (k, v) in failureReasons.sorted(by: { $0.key < $1.key }) { row("  " + k, "\(v)") }
        row("timeouts", "\(timeouts)")
        row("connection errors", "\(connectionErrors)")
        row("reconnects", "\(reconnects)")
        row("pool waits", "\(poolWaits)  (longest \(LoadReport.ms(poolWaitMaxUs)) ms)")
        row("connects", "\(connects)  (planned disconnects \(plannedDisconnects))")
        if pushes > 0 {
            row("pushes", "\(pushes)")
            for (k, v) in pushKinds.sorted(by: { $0.key < $1.key }) { row("  " + k, "\(v)") }
        }
        if unexpectedReplies > 0 { row("unexpected replies", "\(unexpectedReplies)") }
        if abandoned > 0 { row("abandoned", "\(abandoned)") }
        row("latency ms", "p50=\(LoadReport.ms(latencyP50Us)) p90=\(LoadReport.ms(latencyP90Us)) p99=\(LoadReport.ms(latencyP99Us)) p99.9=\(LoadReport.ms(latencyP999Us)) max=\(LoadReport.ms(latencyMaxUs))")
        row("max stall ms", "global=\(LoadReport.ms(globalStallMaxUs)) per-client=\(LoadReport.ms(clientStallMaxUs))")
        row("acknowledged", "sets=\(ackedSets) incrs=\(ackedIncrs)")
        return out
    }

    /// Microseconds as milliseconds with two decimals.
    static func ms(_ us: Int64) -> String {
        let v = max(0, us)
        let frac = (v % 1000) / 10
        return "\(v / 1000)." + (frac < 10 ? "0" : "") + "\(frac)"
    }

    /// Microseconds as seconds with two decimals.
    static func seconds(_ us: Int64) -> String {
        let v = max(0, us) / 10_000
        let frac = v % 100
        return "\(v / 100)." + (frac < 10 ? "0" : "") + "\(frac)"
    }
}
