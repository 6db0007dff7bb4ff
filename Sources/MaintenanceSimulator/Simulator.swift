// MaintenanceSimulator: a maintenance-capable Redis endpoint built from real redis-server
// processes. It listens for clients, relays each connection to the current backend, answers
// the maintenance opt-in itself, and — driven by an HTTP fault-injector API — pushes MOVING,
// MIGRATING/MIGRATED and FAILING_OVER/FAILED_OVER while it really moves the data between
// backends (replica sync, write pause, promotion).
//
// Threads: everything here runs on one loop thread, except action scripts, which run on worker
// threads and reach the loop through `mailbox.sync { … }`. Backends are spawned on the loop
// thread, so `--pdeathsig` ties them to its lifetime.

import EventLoop
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Start-up settings (the command line of `respite-maintsim`).
public struct SimulatorOptions: Sendable {
    /// Client port (0 picks a free one).
    public var port: Int = 0
    public var bind: String = "127.0.0.1"
    /// HTTP API port on 127.0.0.1 (0 picks a free one).
    public var apiPort: Int = 0
    public var redisServer: String = "redis-server"
    /// Where backends keep their files; default `/tmp/respite-maintsim-<pid>-<n>`.
    public var workdir: String?
    /// First sequence id (shared by all notification types).
    public var seqStart: Int = 1
    public init() {}
}

/// One client listener and the backend its new connections relay to.
final class Listener {
    let id: Int
    let fd: Int32
    let host: String
    let port: Int
    var backend: Backend
    var event: Event?
    unowned let sim: MaintenanceSimulator
    init(id: Int, fd: Int32, host: String, port: Int, backend: Backend, sim: MaintenanceSimulator) {
        self.id = id; self.fd = fd; self.host = host; self.port = port; self.backend = backend; self.sim = sim
    }
    var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A MOVING whose window is still open: re-sent to connections that opt in during it.
struct OpenMoving {
    var seq: Int
    var from: Backend
    var deadlineMs: Int64
    /// nil: each connection's requested type picks the form; otherwise the same for all.
    var fixedEndpoint: String??
    var target: (host: String, port: Int)?
    var lenient: Bool
}

/// The simulator. Create it on the thread that runs `loop`; see `startInBackground` for tests.
public final class MaintenanceSimulator: @unchecked Sendable {
    let loop: Loop
    let options: SimulatorOptions
    let workdir: String
    let ownsWorkdir: Bool
    let allBackends = Locked<[Backend]>([])
    private(set) var current: Backend
    var listeners: [Int: Listener] = [:]
    var connections: [Int: RelayConnection] = [:]
    private var nextConnectionID = 1
    private var nextListenerID = 1
    private var nextBackendID = 1
    /// The next sequence id to hand out.
    var nextSeq: Int
    var lastEvent: JSON = .null
    var retained: (notice: MaintenanceNotice, lenient: Bool)?
    var openMoving: OpenMoving?
    /// Added to every backend → client frame while a migration runs.
    var replyLatencyMs = 0
    private var http: HTTPServer?
    var mailbox: Mailbox!
    private var delayTimer: Event?
    private var delayTimerDue: Int64 = 0
    let stopping = Locked(false)
    let actions = ActionBook()

    /// The client port of the first listener.
    public private(set) var port: Int = 0
    /// The HTTP API port.
    public var apiPort: Int { http?.port ?? 0 }
    /// The backend new connections go to, as `host:port`.
    public var backendAddress: String { current.address }

    /// Starts the first backend, the client listener and the HTTP API. Call on the loop's thread.
    public init(loop: Loop, options: SimulatorOptions) throws {
        self.loop = loop
        self.options = options
        self.nextSeq = options.seqStart
        if let w = options.workdir { workdir = w; ownsWorkdir = false } else {
            workdir = "/tmp/respite-maintsim-\(getpid())-\(simulatorCounter.with { n -> Int in n += 1; return n })"
            ownsWorkdir = true
        }
        Socket.ignoreSigpipe()
        let first = try Backend.spawn(id: 1, redisServer: options.redisServer, workdir: workdir, replicaOf: nil)
        nextBackendID = 2
        allBackends.with { $0.append(first) }
        current = first
        do {
            try first.waitReady(timeoutMs: 10_000)
            mailbox = Mailbox(loop: loop)
            delayTimer = loop.timer(persist: false, simDelayTimer, Unmanaged.passUnretained(self).toOpaque())
            let l = try openListener(host: options.bind, port: options.port, backend: first)
            port = l.port
            http = try HTTPServer(loop: loop, host: "127.0.0.1", port: options.apiPort) { [unowned self] in self.route($0) }
        } catch {
            shutdown()
            throw error
        }
    }

    /// The line a harness waits for.
    public var readyLine: String { "READY port=\(port) api=\(apiPort) backend=\(current.address)" }

    // MARK: - Listeners and connections

    func openListener(host: String, port: Int, backend: Backend) throws -> Listener {
        let fd = try Socket.listenTCP(host: host, port: port, backlog: 511)
        let local = Socket.localAddress(fd)
        let boundPort = local.lastIndex(of: ":").flatMap { Int(local[local.index(after: $0)...]) } ?? port
        let l = Listener(id: nextListenerID, fd: fd, host: host, port: boundPort, backend: backend, sim: self)
        nextListenerID += 1
        let ev = loop.watch(fd: fd, EventFlags.read | EventFlags.persist, simAccept, Unmanaged.passUnretained(l).toOpaque())
        ev.add()
        l.event = ev
        listeners[l.id] = l
        return l
    }

    func closeListener(_ l: Listener) {
        l.event?.free(); l.event = nil
        Socket.close(l.fd)
        listeners[l.id] = nil
    }

    fileprivate func accept(on l: Listener) {
        for _ in 0..<64 {
            guard let (fd, peer) = Socket.accept(l.fd) else { return }
            Socket.setNoDelay(fd)
            let c = RelayConnection(id: nextConnectionID, sim: self, fd: fd, peer: peer, listenerID: l.id, backend: l.backend)
            nextConnectionID += 1
            connections[c.id] = c
            do { try c.start() } catch { c.close(reason: "backend connect failed") }
        }
    }

    func connectionClosed(_ c: RelayConnection, reason: String) {
        connections[c.id] = nil
    }

    /// Closes every client connection (optionally only those relaying to `backend`).
    @discardableResult
    func dropConnections(relayingTo backend: Backend? = nil, reason: String) -> Int {
        let victims = connections.values.filter { backend == nil || $0.backend === backend! }
        for c in victims { c.close(reason: reason) }
        return victims.count
    }

    // MARK: - Backends (loop thread; the spawner's lifetime bounds theirs)

    func spawnBackend(replicaOf master: Backend?) throws -> Backend {
        let b = try Backend.spawn(id: nextBackendID, redisServer: options.redisServer, workdir: workdir, replicaOf: master)
        nextBackendID += 1
        allBackends.with { $0.append(b) }
        return b
    }

    /// Makes `b` the backend for new connections on every listener that fronted `old`.
    func promote(_ b: Backend, replacing old: Backend) {
        current = b
        for l in listeners.values where l.backend === old { l.backend = b }
    }

    // MARK: - Notifications

    /// Hands out the next sequence id.
    func takeSeq() -> Int { let s = nextSeq; nextSeq += 1; return s }

    /// Pushes `make(conn)` to every RESP3 connection that opted in; returns how many got one.
    @discardableResult
    func broadcast(lenient: Bool, where filter: (RelayConnection) -> Bool = { _ in true },
                   _ make: (RelayConnection) -> MaintenanceNotice?) -> Int {
        var n = 0
        for c in connections.values where c.pushCapable && filter(c) {
            guard let notice = make(c) else { continue }
            if case .moving(let s, _, _) = notice { c.movingSent.insert(s) }
            c.inject(notice.encode(lenient: lenient))
            n += 1
        }
        return n
    }

    /// The MOVING `c` should get for the open window (time left, endpoint in its requested form).
    func movingNotice(_ m: OpenMoving, for c: RelayConnection) -> MaintenanceNotice {
        let left = max(0, Int((m.deadlineMs - monotonicMs() + 999) / 1000))
        let endpoint: String?
        if let fixed = m.fixedEndpoint { endpoint = fixed } else if let t = m.target, let type = c.endpointType {
            endpoint = type.endpoint(host: t.host, port: t.port)
        } else { endpoint = nil }
        return .moving(seq: m.seq, time: left, endpoint: endpoint)
    }

    /// What a connection gets right after its opt-in `+OK`: an open MOVING (once per seq, only
    /// while it still relays to the retiring backend) and the retained completion.
    func replaysOnOptIn(for c: RelayConnection) -> [UInt8] {
        var out: [UInt8] = []
        if let m = openMoving, monotonicMs() < m.deadlineMs, c.backend === m.from, !c.movingSent.contains(m.seq) {
            c.movingSent.insert(m.seq)
            out += movingNotice(m, for: c).encode(lenient: m.lenient)
        }
        if let r = retained { out += r.notice.encode(lenient: r.lenient) }
        return out
    }

    func noteEvent(_ notice: MaintenanceNotice, delivered: Int) {
        lastEvent = .object(["type": .string(notice.name), "seq": .number(Double(notice.seq)),
                             "delivered": .number(Double(delivered)), "at_ms": .number(Double(monotonicMs()))])
    }

    // MARK: - Injected latency

    func scheduleDelayed(atMs due: Int64) {
        guard let t = delayTimer else { return }
        if t.isPending && delayTimerDue <= due { return }
        delayTimerDue = due
        t.add(timeoutMs: Int(max(0, due - monotonicMs())))
    }

    fileprivate func delayTimerFired() {
        let now = monotonicMs()
        var next: Int64?
        for c in connections.values {
            if let d = c.releaseDelayed(now: now) { next = min(next ?? d, d) }
        }
        if let n = next { delayTimerDue = n; delayTimer?.add(timeoutMs: Int(max(1, n - now))) }
    }

    // MARK: - Status and shutdown

    func statusJSON() -> JSON {
        let conns = Array(connections.values)
        let ls = listeners.values.sorted { $0.id < $1.id }.map {
            JSON.object(["address": .string($0.address), "backend": .string($0.backend.address), "id": .number(Double($0.id))])
        }
        let bs = allBackends.with { $0 }.filter { !$0.isStopped }.map {
            JSON.object(["address": .string($0.address), "pid": .number(Double($0.pid)), "id": .number(Double($0.id))])
        }
        var o: [String: JSON] = [:]
        o["backend"] = .string(current.address)
        o["backend_pid"] = .number(Double(current.pid))
        o["backends"] = .array(bs)
        o["listeners"] = .array(ls)
        o["connections"] = .number(Double(conns.count))
        o["resp3"] = .number(Double(conns.filter(\.resp3).count))
        o["opted_in"] = .number(Double(conns.filter(\.optedIn).count))
        o["next_seq"] = .number(Double(nextSeq))
        o["last_event"] = lastEvent
        let open: Bool = openMoving.map { monotonicMs() < $0.deadlineMs } ?? false
        o["moving_open"] = .bool(open)
        o["reply_latency_ms"] = .number(Double(replyLatencyMs))
        return .object(o)
    }

    /// Closes everything and stops every backend by PID. Loop thread; idempotent.
    public func shutdown() {
        let first = stopping.with { s -> Bool in let was = s; s = true; return !was }
        guard first else { return }
        http?.close(); http = nil
        for l in Array(listeners.values) { closeListener(l) }
        dropConnections(reason: "shutdown")
        delayTimer?.free(); delayTimer = nil
        mailbox?.close()
        stopAllBackends()
        if ownsWorkdir { rmdir(workdir) }
        loop.stop()
    }

    /// Stops every backend this simulator started (any thread).
    public func stopAllBackends() {
        for b in allBackends.with({ $0 }) { b.stop() }
    }

    var isStopping: Bool { stopping.with { $0 } }
}

private let simulatorCounter = Locked(0)

private let simAccept: EventCallback = { _, _, ctx in
    let l = Unmanaged<Listener>.fromOpaque(ctx!).takeUnretainedValue()
    l.sim.accept(on: l)
}

private let simDelayTimer: EventCallback = { _, _, ctx in
    Unmanaged<MaintenanceSimulator>.fromOpaque(ctx!).takeUnretainedValue().delayTimerFired()
}
