// RelaxedWindow: the relaxed-timeout state of one upstream connection. A start (MIGRATING,
// FAILING_OVER, SMIGRATING, a handoff) relaxes until a completion plus a post-window; a start
// never shortens an open window; a completion without a start, or a retained one replayed at
// opt-in, does nothing; a window whose completion never comes ends at the cap. The effective
// timeout is never below the normal one. Pure: the caller passes the clock.

/// When a connection's timeouts are relaxed.
public struct RelaxedWindow: Sendable, Equatable {
    /// Relaxed until this time (ms); 0 when not relaxed.
    public private(set) var until: Int64 = 0
    /// Open starts without their completion.
    public private(set) var openStarts = 0

    public init() {}

    public func isRelaxed(now: Int64) -> Bool { until > now }

    /// The timeout to apply at `now`.
    public func timeout(normal: Int, relaxed: Int, now: Int64) -> Int {
        guard isRelaxed(now: now) else { return normal }
        if normal == 0 { return 0 }
        return max(normal, relaxed)
    }

    /// A maintenance start: relaxed until the completion, at most `capMs` from now.
    public mutating func start(now: Int64, capMs: Int) {
        openStarts += 1
        until = max(until, now + Int64(capMs))
    }

    /// A completion: relaxed for `postMs` more, then normal. Ignored without an open start.
    public mutating func complete(now: Int64, postMs: Int) {
        guard openStarts > 0 else { return }
        openStarts -= 1
        if openStarts == 0 { until = now + Int64(postMs) }
    }

    /// Relaxed until exactly `until` (0: not relaxed) — the deadline a MaintenanceCoordinator
    /// decided, applied to the connection it holds the counting window for.
    public mutating func hold(until: Int64) {
        self.until = until
    }

    /// Relaxed for `ms` from now without a start (after a handoff), never shortening.
    public mutating func extend(now: Int64, ms: Int) {
        until = max(until, now + Int64(ms))
    }
}
