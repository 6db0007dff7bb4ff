// LoadEngine: runs one load test on a single event loop. It creates the clients (all connecting
// in the same loop pass: the herd), ticks every 10 ms to enforce deadlines and free retired
// events, prints the live line each second, sends detect mode's bursts, and ends the run when
// the duration or request budget is spent — new batches stop, outstanding ones drain (bounded
// by the timeout), then the report is built.

import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// Drives `options.clients` simulated clients against one endpoint and reports what they saw.
/// Create, optionally set `onTick`, call `run()` once on the thread that owns it.
public final class LoadEngine {
    public let options: LoadOptions
    public let loop = Loop()
    public let stats = LoadStats()
    /// Called on the loop thread every 10 ms tick (tests use it to act mid-run).
    public var onTick: ((LoadEngine) -> Void)?

    private let output: (String) -> Void
    private var clients: [LoadClient] = []
    private(set) var stopping = false
    private var finished = 0
    private var budget: Int
    private var graveyard: [Event] = []
    private var ownEvents: [Event] = []
    private var stopSoon: Event?
    private var hardDeadline: Event?
    private var startUs: Int64 = 0
    private var stopUs: Int64 = 0
    private var seconds = 0
    private var ran = false

    /// `output` receives each live line and nothing else; the default prints to stdout.
    public init(options: LoadOptions, output: @escaping (String) -> Void = LoadEngine.printLine) {
        self.options = options
        self.output = output
        self.budget = options.requests ?? Int.max
    }

    /// Writes a line to standard output, unbuffered.
    public static func printLine(_ s: String) {
        var line = s + "\n"
        line.withUTF8 { b in
            var off = 0
            while off < b.count {
                let n = write(1, b.baseAddress! + off, b.count - off)
                if n <= 0 { return }
                off += n
            }
        }
    }

    /// Milliseconds since `run()` started.
    public var elapsedMs: Int { Int((monotonicUs() - startUs) / 1000) }

    /// Runs the whole test and returns its report. Call once.
    public func run() -> LoadReport {
        precondition(!ran, "LoadEngine.run() is single-use")
        ran = true
        Socket.ignoreSigpipe()
        _ = Socket.raiseFileLimit(to: options.clients * 2 + 256)
        startUs = monotonicUs()
        stats.lastSuccessUs = startUs
        let ctx = Unmanaged.passUnretained(self).toOpaque()

        let tick = loop.timer(persist: true, engineTickCallback, ctx)
        tick.add(timeoutMs: 10)
        let second = loop.timer(persist: true, engineSecondCallback, ctx)
        second.add(timeoutMs: 1000)
        ownEvents += [tick, second]
        if options.mode == .detect {
            let burst = loop.timer(persist: true, engineBurstCallback, ctx)
            burst.add(timeoutMs: 500)
            ownEvents.append(burst)
        }
        if let ms = options.effectiveDurationMs {
            let end = loop.timer(persist: false, engineStopCallback, ctx)
            end.add(timeoutMs: ms)
            ownEvents.append(end)
        }
        if options.handleSignals {
            let a = loop.signal(SIGINT, engineStopCallback, ctx)
            let b = loop.signal(SIGTERM, engineStopCallback, ctx)
            a.add(); b.add()
            ownEvents += [a, b]
        }
        let soon = loop.deferred(engineStopCallback, ctx)
        stopSoon = soon
        ownEvents.append(soon)

        for i in 0..<options.clients {
            clients.append(LoadClient(engine: self, id: i, role: LoadEngine.role(for: i, mode: options.mode)))
        }
        for c in clients { c.start() }  // every connect in one pass: the thundering herd
        if finished < clients.count { loop.run() }

        if stopUs == 0 { stopUs = monotonicUs() }
        let endUs = monotonicUs()
        for c in clients where !c.isDone { c.abandon() }
        for e in ownEvents { e.free() }
        if let h = hardDeadline { h.free() }
        ownEvents.removeAll()
        freeRetired()
        return LoadReport(options: options, stats: stats, runUs: stopUs - startUs, totalUs: endUs - startUs,
                          clients: clients.map { $0.result() })
    }

    /// Ends the run: no new batches; outstanding requests drain, bounded by the timeout.
    public func stop() {
        guard !stopping else { return }
        stopping = true
        let now = monotonicUs()
        stopUs = now
        stats.closeGlobalStall(now: now)
        for c in clients where !c.isDone {
            switch c.state {
            case .ready: if c.inflight == 0 { c.finish() }
            case .handshaking: break
            default: c.finish()
            }
        }
        if finished < clients.count {
            let h = loop.timer(persist: false, engineForceCallback, Unmanaged.passUnretained(self).toOpaque())
            h.add(timeoutMs: options.timeoutMs + 1000)
            hardDeadline = h
        }
    }

    static func role(for i: Int, mode: LoadMode) -> LoadClient.Role {
        switch mode {
        case .basic: return .steady
        case .advanced: return i % 4 == 0 ? .steady : .cycling
        case .detect: return i % 3 == 0 ? .steady : (i % 3 == 1 ? .bursty : .churn)
        }
    }

    // MARK: - Called by clients

    /// Takes one request from the budget; false when it is spent (the run then ends).
    func takeRequest() -> Bool {
        if stopping || budget == 0 { return false }
        budget -= 1
        stats.requests += 1
        if budget == 0 { stopSoon?.activate() }
        return true
    }

    func clientFinished() {
        finished += 1
        if finished == clients.count { loop.stop() }
    }

    /// Frees `event` at the next tick, outside any callback that may still be running for it.
    func retire(_ event: Event) { graveyard.append(event) }

    // MARK: - Timers

    private func freeRetired() {
        for e in graveyard { e.free() }
        graveyard.removeAll(keepingCapacity: true)
    }

    fileprivate func handleTick() {
        let now = monotonicUs()
        let timeoutUs = Int64(options.timeoutMs) * 1000
        for c in clients where !c.isDone { c.checkDeadlines(now: now, timeoutUs: timeoutUs) }
        freeRetired()
        onTick?(self)
    }

    fileprivate func onSecond() {
        seconds += 1
        let s = stats
        if !options.quiet {
            var line = "t=\(seconds)s ok=\(s.ok) fail=\(s.failed) timeouts=\(s.timeouts) conn_err=\(s.connectionErrors)"
            line += " rate=\(s.intervalOk)/s"
            if s.interval.totalCount > 0 {
                line += " p99=" + LoadReport.ms(Int64(s.interval.valueAtPercentile(99.0)))
                line += "ms max=" + LoadReport.ms(Int64(s.interval.max)) + "ms"
            } else {
                line += " p99=-ms max=-ms"
            }
            output(line)
        }
        s.interval.reset()
        s.intervalOk = 0
    }

    fileprivate func onBurst() {
        for c in clients where c.role == .bursty && !c.isDone { c.burst() }
    }

    fileprivate func onForce() {
        for c in clients where !c.isDone { c.abandon() }
        loop.stop()
    }
}

private let engineTickCallback: EventCallback = { _, _, ctx in
    Unmanaged<LoadEngine>.fromOpaque(ctx!).takeUnretainedValue().handleTick()
}

private let engineSecondCallback: EventCallback = { _, _, ctx in
    Unmanaged<LoadEngine>.fromOpaque(ctx!).takeUnretainedValue().onSecond()
}

private let engineBurstCallback: EventCallback = { _, _, ctx in
    Unmanaged<LoadEngine>.fromOpaque(ctx!).takeUnretainedValue().onBurst()
}

private let engineStopCallback: EventCallback = { _, _, ctx in
    Unmanaged<LoadEngine>.fromOpaque(ctx!).takeUnretainedValue().stop()
}

private let engineForceCallback: EventCallback = { _, _, ctx in
    Unmanaged<LoadEngine>.fromOpaque(ctx!).takeUnretainedValue().onForce()
}
