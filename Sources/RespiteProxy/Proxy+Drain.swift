// Proxy+Drain: the SIGTERM/SIGINT drain as the proxy carries it out. `beginDrain` closes the
// listeners at once (new connections are refused), closes idle clients, and keeps the rest
// running: their requests in flight finish, their pinned sessions end on their own. A client
// that has nothing pending any more is closed at the end of the loop pass in which its last
// reply left (Session.maybeFinishClose notes it); a 100 ms sweep catches the rest and the
// deadline (`shutdown-timeout`). When the last client is gone, or at the deadline, every
// remaining client and upstream connection is closed and the owner is told how it ended.
// The decisions are Drain.swift's.

import EventLoop
import Observability
#if canImport(Glibc)
import Glibc
#endif

/// The drain's loop events and its candidates for closing; owned by the Proxy while draining.
final class DrainShell {
    var state: DrainState
    let finished: (DrainEnd) -> Void
    /// Sessions that may have just run out of pending work, re-checked at the end of the pass.
    var candidates: [Session] = []
    var reaper: Event?
    var sweep: Event?
    var done = false

    init(state: DrainState, finished: @escaping (DrainEnd) -> Void) {
        self.state = state
        self.finished = finished
    }

    func free() {
        reaper?.free(); reaper = nil
        sweep?.free(); sweep = nil
        candidates.removeAll()
    }
}

extension Proxy {
    /// True from `beginDrain` until the process stops.
    public var isDraining: Bool { drainShell != nil }

    /// Starts the drain: stops accepting, closes idle clients, and waits for the others up to
    /// `shutdown-timeout`. `finished` is called once, from a loop callback, after every client
    /// and upstream connection has been closed.
    @discardableResult
    public func beginDrain(finished: @escaping (DrainEnd) -> Void) -> DrainStart {
        if let shell = drainShell { return shell.state.start }
        closeListeners()
        idleTimer?.free(); idleTimer = nil
        var start = DrainStart()
        start.timeoutMs = settings.shutdownTimeoutSeconds * 1000
        for case let s? in sessions where !s.closed {
            switch DrainPolicy.verdict(s.drainActivity) {
            case .close:
                Log.verbose("Drain: closing idle client id=\(s.id) addr=\(s.peer)")
                s.close()
                start.closedIdle += 1
            case .busy: start.busy += 1
            case .pinned: start.pinned += 1
            }
        }
        let shell = DrainShell(state: DrainState(nowMs: monotonicMs(), start: start), finished: finished)
        drainShell = shell
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        shell.reaper = loop.deferred(proxyDrainReap, ctx)
        shell.sweep = loop.timer(persist: true, proxyDrainSweep, ctx)
        shell.sweep!.add(timeoutMs: Proxy.drainSweepMs)
        // Decide in the next pass, after the caller has reported the start.
        shell.reaper!.activate()
        return start
    }

    /// How often the drain re-checks every client and its deadline.
    static let drainSweepMs = 100

    /// A session's output drained or its state changed: if it has nothing pending any more,
    /// it is closed at the end of this pass (never inside its own callback).
    func drainNote(_ s: Session) {
        guard let shell = drainShell, !shell.done else { return }
        shell.candidates.append(s)
        if shell.candidates.count == 1 { shell.reaper?.activate() }
    }

    /// End of pass: closes the noted sessions that are finished, then checks the whole drain.
    func drainReap() {
        guard let shell = drainShell, !shell.done else { return }
        let list = shell.candidates
        shell.candidates.removeAll(keepingCapacity: true)
        for s in list where !s.closed && DrainPolicy.verdict(s.drainActivity) == .close { s.close() }
        drainAdvance()
    }

    /// Every 100 ms: closes every finished session and applies the deadline.
    func drainSweepAll() {
        guard let shell = drainShell, !shell.done else { return }
        for case let s? in sessions where !s.closed && DrainPolicy.verdict(s.drainActivity) == .close { s.close() }
        drainAdvance()
    }

    private func drainAdvance() {
        guard let shell = drainShell, !shell.done else { return }
        switch shell.state.step(remaining: sessionCount, nowMs: monotonicMs()) {
        case .wait:
            return
        case .closeRemaining:
            var closed = 0, pinned = 0
            for case let s? in sessions where !s.closed {
                if DrainPolicy.verdict(s.drainActivity) == .pinned { pinned += 1 }
                closed += 1
                s.close()
            }
            endDrain(.timedOut(closed: closed, pinned: pinned))
        case .finish(let end):
            endDrain(end)
        }
    }

    private func endDrain(_ end: DrainEnd) {
        guard let shell = drainShell else { return }
        shell.done = true
        shutdown()
        shell.free()
        shell.finished(end)
    }

    /// Closes the listeners (and removes the unix socket file) once; later calls do nothing,
    /// so a socket another process has since bound at the same path is left alone.
    func closeListeners() {
        guard !listeners.isEmpty else { return }
        for l in listeners { l.event.free(); Socket.close(l.fd) }
        listeners.removeAll()
        acceptTimer?.free(); acceptTimer = nil
        if let path = settings.unixSocket { unlink(path) }
    }
}

extension Session {
    /// What this client has pending, for the drain's verdict.
    var drainActivity: DrainActivity {
        DrainActivity(
            requestsPending: !slots.isEmpty || waiting || login != nil || subscriptionMove != nil,
            outputPending: outbuf.readableCount > 0,
            pinnedState: relay != nil || subscribed
                || !pinReasons.isDisjoint(with: [.multi, .watch, .blocking, .subscribed, .monitor]))
    }
}

let proxyDrainReap: EventCallback = { _, _, ctx in
    Unmanaged<Proxy>.fromOpaque(ctx!).takeUnretainedValue().drainReap()
}
let proxyDrainSweep: EventCallback = { _, _, ctx in
    Unmanaged<Proxy>.fromOpaque(ctx!).takeUnretainedValue().drainSweepAll()
}
