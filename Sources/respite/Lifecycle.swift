// Lifecycle: the running process after start — its signals, the drain, and what the service
// manager is told. SIGTERM and SIGINT begin the drain (Proxy+Drain.swift) and a second one
// during it ends the process at once; SIGHUP is caught and logged (reloading is not done yet)
// so it never kills the process. With `$NOTIFY_SOCKET` set it sends `READY=1` once Respite
// listens and the upstream is usable, `STATUS=` lines, `STOPPING=1` when the drain begins and
// `WATCHDOG=1` every half of `$WATCHDOG_USEC` (SystemdNotifier.swift). Signals and timers
// arrive through the loop; nothing runs in an async signal handler.

import EventLoop
import Observability
import RespiteProxy
import RespiteUpstream
#if canImport(Glibc)
import Glibc
#endif

/// Owned by `Main.run` for the life of the loop; the loop's signal and timer events hold it
/// (unretained) as their context.
final class Lifecycle {
    let loop: Loop
    let proxy: Proxy
    let notifier: SystemdNotifier?
    private var signals: [Event] = []
    private var watchdog: Event?
    private var statusTimer: Event?
    private var readinessTimer: Event?
    private var ready = false
    private var lastStatus = ""
    /// How often `STATUS=` is refreshed (sent only when its text changed).
    static let statusIntervalMs = 1000
    /// How often a start without a usable upstream checks again before `READY=1`.
    static let readinessIntervalMs = 250

    init(loop: Loop, proxy: Proxy, notifier: SystemdNotifier?) {
        self.loop = loop
        self.proxy = proxy
        self.notifier = notifier
    }

    private var ctx: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// Takes over SIGTERM, SIGINT and SIGHUP, and tells the service manager Respite is ready —
    /// now when `upstreamUsable`, else once a shared upstream connection is up.
    func start(upstreamUsable: Bool, probeError: String?) {
        for (signo, cb) in [(SIGTERM, lifecycleStop), (SIGINT, lifecycleStop), (SIGHUP, lifecycleHangup)] {
            let ev = loop.signal(signo, cb, ctx)
            ev.add()
            signals.append(ev)
        }
        guard let notifier else { return }
        Log.verbose("Notifying the service manager at \(notifier.address)")
        if let ms = SystemdNotifier.watchdogIntervalFromEnvironment() {
            let t = loop.timer(persist: true, lifecycleWatchdog, ctx)
            t.add(timeoutMs: ms)
            watchdog = t
            Log.verbose("Sending WATCHDOG=1 every \(ms) ms")
        }
        let t = loop.timer(persist: true, lifecycleStatus, ctx)
        t.add(timeoutMs: Lifecycle.statusIntervalMs)
        statusTimer = t
        if upstreamUsable {
            markReady()
        } else {
            sendStatus("starting: waiting for upstream \(proxy.pool.dialAddress) (\(probeError ?? "not reachable"))")
            let r = loop.timer(persist: true, lifecycleReadiness, ctx)
            r.add(timeoutMs: Lifecycle.readinessIntervalMs)
            readinessTimer = r
        }
    }

    /// Frees the loop events; called after the loop has stopped.
    func close() {
        for ev in signals { ev.free() }
        signals.removeAll()
        watchdog?.free(); watchdog = nil
        statusTimer?.free(); statusTimer = nil
        readinessTimer?.free(); readinessTimer = nil
    }

    // MARK: Readiness and status

    private func markReady() {
        guard !ready else { return }
        ready = true
        readinessTimer?.free(); readinessTimer = nil
        let status = statusText()
        lastStatus = status
        notifier?.send("READY=1\n" + SystemdNotifier.statusLine(status))
    }

    /// The probe at start failed: ready once a shared upstream connection has finished its
    /// handshake (the pool dials with its usual backoff).
    func checkReadiness() {
        guard !ready, !proxy.isDraining else { return }
        if let c = try? proxy.pool.sharedConnection(db: 0, affinity: 0), c.state == .ready { markReady() }
    }

    private func statusText() -> String {
        let clients = proxy.sessionCount
        let noun = clients == 1 ? "client" : "clients"
        if proxy.isDraining { return "draining: \(clients) \(noun) left, upstream \(proxy.pool.dialAddress)" }
        return "\(ready ? "ready" : "starting"): \(clients) \(noun), upstream \(proxy.pool.dialAddress)"
    }

    func refreshStatus() {
        guard ready || proxy.isDraining else { return }
        sendStatus(statusText())
    }

    private func sendStatus(_ text: String) {
        guard text != lastStatus else { return }
        lastStatus = text
        notifier?.send(SystemdNotifier.statusLine(text))
    }

    func pingWatchdog() { notifier?.send("WATCHDOG=1") }

    // MARK: Signals

    /// SIGTERM/SIGINT: begins the drain; during it, ends the process at once.
    func stopSignal(_ signo: Int32) {
        let name = signo == SIGINT ? "SIGINT" : "SIGTERM"
        if proxy.isDraining {
            Log.warning("Received \(name) during the drain: exiting now, closing \(proxy.sessionCount) clients")
            proxy.shutdown()
            loop.stop()
            return
        }
        let start = proxy.beginDrain { [unowned self] end in self.drainEnded(end) }
        let timeout = start.timeoutMs / 1000
        Log.notice("Received \(name): draining. Not accepting connections; closed \(start.closedIdle) idle clients; "
                   + "waiting up to \(timeout)s (shutdown-timeout) for \(start.waiting) (\(start.busy) busy, \(start.pinned) pinned)")
        readinessTimer?.free(); readinessTimer = nil
        let status = statusText()
        lastStatus = status
        notifier?.send("STOPPING=1\n" + SystemdNotifier.statusLine(status))
    }

    private func drainEnded(_ end: DrainEnd) {
        switch end {
        case .drained(let ms):
            Log.notice("Drain complete in \(ms) ms: every client finished")
        case let .timedOut(closed, pinned):
            Log.notice("Drain timed out (shutdown-timeout): closed \(closed) clients still connected (\(pinned) pinned, \(closed - pinned) busy)")
        }
        sendStatus("stopped")
        loop.stop()
    }

    /// SIGHUP: caught so that it no longer kills the process; the configuration stays as it is.
    func hangup() {
        Log.notice("Received SIGHUP: configuration reload is not supported yet; configuration unchanged, still serving")
    }
}

let lifecycleStop: EventCallback = { signo, _, ctx in
    Unmanaged<Lifecycle>.fromOpaque(ctx!).takeUnretainedValue().stopSignal(signo)
}
let lifecycleHangup: EventCallback = { _, _, ctx in
    Unmanaged<Lifecycle>.fromOpaque(ctx!).takeUnretainedValue().hangup()
}
let lifecycleWatchdog: EventCallback = { _, _, ctx in
    Unmanaged<Lifecycle>.fromOpaque(ctx!).takeUnretainedValue().pingWatchdog()
}
let lifecycleStatus: EventCallback = { _, _, ctx in
    Unmanaged<Lifecycle>.fromOpaque(ctx!).takeUnretainedValue().refreshStatus()
}
let lifecycleReadiness: EventCallback = { _, _, ctx in
    Unmanaged<Lifecycle>.fromOpaque(ctx!).takeUnretainedValue().checkReadiness()
}
