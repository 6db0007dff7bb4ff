// CircuitBreaker: one per handoff endpoint. Closed → open after `threshold` consecutive dial
// failures; open → half-open by TIME (not by use: a breaker that only half-opens when a request
// passes through it never does if the open breaker refuses every request); half-open lets a few
// probes through and closes after `probes` successes, reopening on any failure. Pure: the caller
// passes the clock.

/// A circuit breaker's state.
public enum BreakerState: String, Sendable { case closed, open, halfOpen = "half-open" }

/// A per-endpoint circuit breaker with a time-based half-open.
public struct CircuitBreaker: Sendable {
    public private(set) var state: BreakerState = .closed
    public private(set) var failures = 0
    public private(set) var openedAt: Int64 = 0
    var probesInFlight = 0
    var probeSuccesses = 0
    let threshold: Int
    let resetMs: Int64
    let probes: Int

    public init(threshold: Int, resetMs: Int, probes: Int) {
        self.threshold = max(1, threshold)
        self.resetMs = Int64(resetMs)
        self.probes = max(1, probes)
    }

    /// Whether an attempt may go ahead at `now`; in half-open, counts it as a probe.
    public mutating func allow(now: Int64) -> Bool {
        if state == .open && now - openedAt >= resetMs {
            state = .halfOpen
            probesInFlight = 0
            probeSuccesses = 0
        }
        switch state {
        case .closed: return true
        case .open: return false
        case .halfOpen:
            if probesInFlight + probeSuccesses >= probes { return false }
            probesInFlight += 1
            return true
        }
    }

    public mutating func recordSuccess() {
        switch state {
        case .closed: failures = 0
        case .halfOpen:
            probesInFlight = max(0, probesInFlight - 1)
            probeSuccesses += 1
            if probeSuccesses >= probes { state = .closed; failures = 0 }
        case .open: break
        }
    }

    public mutating func recordFailure(now: Int64) {
        switch state {
        case .closed:
            failures += 1
            if failures >= threshold { state = .open; openedAt = now }
        case .halfOpen:
            state = .open
            openedAt = now
            probesInFlight = 0
        case .open: break
        }
    }
}
