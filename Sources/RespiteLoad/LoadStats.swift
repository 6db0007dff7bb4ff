// LoadStats: the counters every client of a run adds to — outcomes, failure reasons, latency
// histograms (whole run and current second), stalls and pushes. Lives on the run's loop thread.

import Histogram
#if canImport(Glibc)
import Glibc
#endif

/// Microseconds on the monotonic clock.
@inline(__always) func monotonicUs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec / 1000)
}

/// Running totals of one load run, shared by its clients. Single-threaded.
public final class LoadStats {
    /// Requests written (handshakes excluded).
    public internal(set) var requests = 0
    public internal(set) var ok = 0
    /// Error replies plus requests lost with their connection.
    public internal(set) var failed = 0
    public internal(set) var timeouts = 0
    /// Connects that failed, handshakes refused, and connections that dropped under a client.
    public internal(set) var connectionErrors = 0
    /// Reconnects after an unplanned loss (drop, timeout, failed connect).
    public internal(set) var reconnects = 0
    /// Requests that had to wait for a connection to be reopened after a loss.
    public internal(set) var poolWaits = 0
    public internal(set) var poolWaitMaxUs: Int64 = 0
    /// Connections that reached the ready state.
    public internal(set) var connects = 0
    /// Connections closed on purpose (cycling, churn, end of run).
    public internal(set) var plannedDisconnects = 0
    public internal(set) var pushes = 0
    /// Replies that arrived with nothing outstanding (a protocol desync; should stay 0).
    public internal(set) var unexpectedReplies = 0
    /// Requests still unanswered when the run was forced to end.
    public internal(set) var abandoned = 0
    /// Failures by reason: the error prefix (`ERR`, `LOADING`, ...) or "connection lost".
    public internal(set) var failureReasons: [String: Int] = [:]
    /// Push frames by their first element (`MOVING`, `MIGRATING`, ...).
    public internal(set) var pushKinds: [String: Int] = [:]

    /// Latency of successful requests, microseconds.
    public internal(set) var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000,
                                                         numberOfSignificantValueDigits: .three)
    /// The same, for the current one-second interval.
    var interval = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000,
                                     numberOfSignificantValueDigits: .three)
    var intervalOk = 0

    /// Longest gap between consecutive successful replies across all clients.
    public internal(set) var globalStallMaxUs: Int64 = 0
    /// Longest time one client wanted progress without a successful reply.
    public internal(set) var clientStallMaxUs: Int64 = 0
    var lastSuccessUs: Int64 = 0

    init() {}

    @inline(__always) func recordSuccess(latencyUs: Int64, now: Int64) {
        ok &+= 1
        intervalOk &+= 1
        let v = UInt64(max(1, min(latencyUs, 600_000_000)))
        _ = latency.record(v)
        _ = interval.record(v)
        let gap = now - lastSuccessUs
        if gap > globalStallMaxUs { globalStallMaxUs = gap }
        lastSuccessUs = now
    }

    func recordFailure(_ reason: String, count: Int = 1) {
        guard count > 0 else { return }
        failed += count
        failureReasons[reason, default: 0] += count
    }

    func recordTimeouts(_ n: Int) { timeouts += n }

    func recordConnectionError() { connectionErrors += 1 }

    func recordReconnect() { reconnects += 1 }

    func recordConnect() { connects += 1 }

    func recordPlannedDisconnect() { plannedDisconnects += 1 }

    func recordPoolWait(requests n: Int, waitedUs: Int64) {
        poolWaits += n
        if waitedUs > poolWaitMaxUs { poolWaitMaxUs = waitedUs }
    }

    func recordClientStall(_ us: Int64) { if us > clientStallMaxUs { clientStallMaxUs = us } }

    func recordPush(_ kind: String) {
        pushes += 1
        pushKinds[kind, default: 0] += 1
    }

    func recordUnexpectedReply() { unexpectedReplies += 1 }

    func recordAbandoned(_ n: Int) { abandoned += n }

    /// Adds the gap since the last success as if a success happened now (end of run).
    func closeGlobalStall(now: Int64) {
        let gap = now - lastSuccessUs
        if gap > globalStallMaxUs { globalStallMaxUs = gap }
    }
}
