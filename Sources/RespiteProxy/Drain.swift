// Drain: what a SIGTERM/SIGINT drain decides, with no sockets. A client is closed at once when
// nothing of it is pending, waited for while requests are in flight (busy) or while it holds
// state that ends only by its own next command (pinned: a blocked BLPOP, an open MULTI or
// WATCH, a subscription, MONITOR, a replica's relay), and closed regardless at the deadline
// (`shutdown-timeout`). Proxy+Drain.swift is the shell that acts on these verdicts.

/// What one client has going on, as the drain sees it.
struct DrainActivity: Equatable {
    /// Requests whose replies are not all written yet (in flight upstream, or answered locally
    /// behind one that is), or input stopped until they are.
    var requestsPending = false
    /// Reply bytes the client has not read yet.
    var outputPending = false
    /// State that lasts until the client's own next command ends it.
    var pinnedState = false
}

/// What the drain does with one client now.
enum DrainVerdict: Equatable {
    /// Nothing pending: close it (Redis closes its clients at shutdown).
    case close
    /// Requests in flight or output unread: wait for them.
    case busy
    /// A session that ends on its own (EXEC, UNSUBSCRIBE, the BLPOP's reply): wait for it.
    case pinned
}

enum DrainPolicy {
    static func verdict(_ a: DrainActivity) -> DrainVerdict {
        if a.pinnedState { return .pinned }
        if a.requestsPending || a.outputPending { return .busy }
        return .close
    }
}

/// How a drain began: what was closed at once and what it waits for.
public struct DrainStart: Sendable, Equatable {
    /// Idle clients closed at once.
    public var closedIdle = 0
    /// Clients with requests in flight or output unread, waited for.
    public var busy = 0
    /// Clients in a pinned session (blocked, MULTI/WATCH, pub/sub, MONITOR, replica), waited for.
    public var pinned = 0
    /// How long the drain waits at most, in milliseconds.
    public var timeoutMs = 0
    public var waiting: Int { busy + pinned }
}

/// How a drain ended.
public enum DrainEnd: Sendable, Equatable {
    /// Every client finished (or left) within the timeout.
    case drained(elapsedMs: Int64)
    /// The timeout ran out: these clients were closed, `pinned` of them in a pinned session.
    case timedOut(closed: Int, pinned: Int)
}

/// A drain in progress: when it started, when it must end, and how it began.
struct DrainState {
    let startedMs: Int64
    let deadlineMs: Int64
    let start: DrainStart

    init(nowMs: Int64, start: DrainStart) {
        self.startedMs = nowMs
        self.deadlineMs = nowMs + Int64(start.timeoutMs)
        self.start = start
    }

    /// What to do now, with `remaining` clients connected: finish (every client is gone),
    /// end by timeout, or keep waiting.
    func step(remaining: Int, nowMs: Int64) -> DrainStep {
        if remaining == 0 { return .finish(.drained(elapsedMs: nowMs - startedMs)) }
        if nowMs >= deadlineMs { return .closeRemaining }
        return .wait
    }
}

enum DrainStep: Equatable {
    case wait
    case closeRemaining
    case finish(DrainEnd)
}
