// Proxy: the server on one loop — listeners, the session table, the upstream pool and the
// command table. It is the upstream's delegate: replies are matched to sessions by (index,
// generation), so a reply for a client that has gone is dropped without touching freed state.
// After each upstream read it flushes the sessions that got output, then resumes sessions
// whose waiting requests may now run. Client ids come from the process-wide ClientIDSource
// (ClientIDs.swift); a client's command reaches other clients only through the Proxy as its
// loop's client registry (Proxy+ClientRegistry.swift), never through the session table.

import EventLoop
import Observability
import RESP
import RespiteCommands
import RespiteUpstream
#if canImport(Glibc)
import Glibc
#endif

/// What Respite knows of the upstream server, for HELLO replies.
public struct UpstreamInfo: Sendable {
    public var version = "7.0.0"
    public var role = "master"
    public init() {}
}

public final class Proxy: UpstreamDelegate {
    public let loop: Loop
    public let settings: ProxySettings
    public let pool: UpstreamPool
    public let commands: CommandTable
    /// The handler of each `.local` entry of `commands`, by `CommandID` (LocalCommands.swift).
    let localHandlers: [LocalHandler?]
    public var upstreamInfo = UpstreamInfo()
    public var databases: Int

    var sessions: [Session?] = []
    var generations: [UInt32] = []
    var freeIndexes: [Int32] = []
    public private(set) var sessionCount = 0
    /// Where client ids come from: the process's one source, shared by every loop's Proxy.
    let clientIDs: ClientIDSource
    var listeners: [(fd: Int32, event: Event, isUnix: Bool)] = []
    var idleTimer: Event?
    /// Re-enables the listeners after running out of file descriptors.
    var acceptTimer: Event?
    var lastOutOfFilesLog: Int64 = 0
    /// Sessions with output to flush after the current upstream read.
    var dirtySessions: [Session] = []
    /// Sessions whose waiting input may proceed.
    var resumeList: [Session] = []
    /// Sessions whose CLIENT TRACKING REDIRECT waits for the target's connection to be ready.
    var redirectWaiters: [Session] = []
    /// The SIGTERM/SIGINT drain, once it has begun (Proxy+Drain.swift).
    var drainShell: DrainShell?
    /// Scratch space for re-encoding inline commands.
    let scratch = ByteBuffer(capacity: 1024)
    public private(set) var totalConnections = 0

    public init(loop: Loop, settings: ProxySettings, commands: CommandTable, clientIDs: ClientIDSource = .process) {
        self.loop = loop
        self.clientIDs = clientIDs
        self.settings = settings
        self.commands = commands
        self.localHandlers = LocalCommands.byID(commands)
        self.databases = settings.databases
        self.pool = UpstreamPool(loop: loop, settings: settings.upstream)
        pool.delegate = self
    }

    /// Opens the configured listeners. Throws with a clear message when one cannot be opened.
    public func listen() throws {
        if settings.port > 0 {
            for host in settings.bind {
                let fd = try Socket.listenTCP(host: host, port: settings.port, backlog: settings.tcpBacklog)
                addListener(fd, isUnix: false)
                Log.notice("Ready to accept connections tcp \(host):\(settings.port)")
            }
        }
        if let path = settings.unixSocket {
            let fd = try Socket.listenUnix(path: path, permissions: settings.unixSocketPerm, backlog: settings.tcpBacklog)
            addListener(fd, isUnix: true)
            Log.notice("Ready to accept connections unix \(path)")
        }
        if settings.idleTimeoutSeconds > 0 {
            idleTimer = loop.timer(persist: true, proxyIdleSweep, Unmanaged.passUnretained(self).toOpaque())
            idleTimer!.add(timeoutMs: 1000)
        }
    }

    private func addListener(_ fd: Int32, isUnix: Bool) {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        let ev = loop.watch(fd: fd, EventFlags.read | EventFlags.persist, isUnix ? proxyAcceptUnix : proxyAcceptTCP, ctx)
        ev.add()
        listeners.append((fd, ev, isUnix))
    }

    func accept(listener: Int32, isUnix: Bool) {
        var n = 0
        while n < 256 {
            let fd: Int32, peer: String
            switch Socket.acceptOne(listener) {
            case .accepted(let f, let p): fd = f; peer = p
            case .none: return
            case .outOfFiles(let e): pauseAccepting(e); return
            }
            n += 1
            if sessionCount >= settings.maxClients {
                let msg: StaticString = "-ERR max number of clients reached\r\n"
                _ = Socket.write(fd, msg.utf8Start, msg.utf8CodeUnitCount)
                Socket.close(fd)
                continue
            }
            if !isUnix {
                Socket.setNoDelay(fd)
                Socket.setKeepAlive(fd, seconds: settings.tcpKeepaliveSeconds)
            }
            let index: Int32
            if let i = freeIndexes.popLast() {
                index = i
            } else {
                index = Int32(sessions.count)
                sessions.append(nil)
                generations.append(0)
            }
            generations[Int(index)] &+= 1
            let local = isUnix ? (settings.unixSocket ?? "") + ":0" : Socket.localAddress(fd)
            let s = Session(index: index, generation: generations[Int(index)], id: clientIDs.take(), fd: fd,
                            peer: isUnix ? (settings.unixSocket ?? "") + ":0" : peer, local: local, isUnix: isUnix, proxy: self)
            sessions[Int(index)] = s
            sessionCount += 1
            totalConnections += 1
            s.start()
        }
    }

    /// Out of file descriptors: the pending connection cannot be taken, and its listener would
    /// wake the loop again at once. Listening stops for `acceptPauseMs`, then resumes.
    func pauseAccepting(_ errno: Int32) {
        guard acceptTimer == nil else { return }
        let now = monotonicMs()
        if now - lastOutOfFilesLog >= 1000 {
            lastOutOfFilesLog = now
            Log.warning("Accepting client connection: \(Socket.errorText(errno)); not accepting for \(Proxy.acceptPauseMs) ms (\(sessionCount) clients connected)")
        }
        for l in listeners { l.event.remove() }
        let t = loop.timer(persist: false, proxyResumeAccepting, Unmanaged.passUnretained(self).toOpaque())
        t.add(timeoutMs: Proxy.acceptPauseMs)
        acceptTimer = t
    }

    func resumeAccepting() {
        acceptTimer?.free(); acceptTimer = nil
        for l in listeners { l.event.add() }
    }

    /// How long listening stops when the process is out of file descriptors.
    static let acceptPauseMs = 100

    func sessionClosed(_ s: Session) {
        guard Int(s.index) < sessions.count, sessions[Int(s.index)] === s else { return }
        sessions[Int(s.index)] = nil
        freeIndexes.append(s.index)
        sessionCount -= 1
    }

    @inline(__always) func session(_ p: Pending) -> Session? {
        let i = Int(p.session)
        guard i >= 0, i < sessions.count, generations[i] == p.generation, let s = sessions[i], !s.closed else { return nil }
        return s
    }

    // MARK: UpstreamDelegate

    public func upstreamReply(_ conn: UpstreamConnection, _ pending: Pending, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame,
                              request: UnsafeRawBufferPointer?) {
        guard let s = session(pending) else { return }
        if conn.pinned, let l = s.login, l.seq == pending.slot { s.pinnedLoginReply(conn, frame, info); return }
        if info.isError, let request, s.retryDidNotRun(conn, pending, frame, request) { return }
        s.upstreamReply(conn, seq: pending.slot, frame: frame, info: info)
    }

    public func upstreamPush(_ conn: UpstreamConnection, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        if conn.pinned, conn.leasedTo >= 0, Int(conn.leasedTo) < sessions.count, let s = sessions[Int(conn.leasedTo)], !s.closed {
            s.pinnedPush(conn, frame, info)
            return
        }
        // Pushes on shared connections (maintenance notifications, stray invalidations) never
        // reach a client.
        Log.debug("Dropped a push on shared upstream connection \(conn.id)")
    }

    public func upstreamReadDone(_ conn: UpstreamConnection) {
        flushDirty()
    }

    public func upstreamFailed(_ conn: UpstreamConnection, _ pending: Pending, error: String, lost: LostRequest,
                               request: UnsafeRawBufferPointer?) {
        if conn.loginCheck { session(pending)?.loginFailed(error); return }
        session(pending)?.requestLost(conn, pending, error: error, lost: lost, request: request)
    }

    public func upstreamPinnedClosed(_ conn: UpstreamConnection) {
        let i = Int(conn.leasedTo)
        if i >= 0 && i < sessions.count, let s = sessions[i], !s.closed { s.pinnedLost(conn) }
        flushDirty()
    }

    public func upstreamPinnedReady(_ conn: UpstreamConnection) {
        let i = Int(conn.leasedTo)
        if i >= 0 && i < sessions.count, let s = sessions[i], !s.closed { s.pinnedReady(conn) }
    }

    public func upstreamPinnedRetiring(_ conn: UpstreamConnection) {
        let i = Int(conn.leasedTo)
        if i >= 0 && i < sessions.count, let s = sessions[i], !s.closed { s.pinnedRetiring(conn) }
    }

    public func upstreamLoginChecked(_ conn: UpstreamConnection, _ pending: Pending, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        session(pending)?.loginChecked(frame, info)
    }

    /// The upstream refused a client identity's login (ACL DELUSER, a changed password): its
    /// clients are closed, as Redis closes a deleted user's connections.
    public func upstreamIdentityRejected(_ identity: Int32) {
        for case let s? in sessions where !s.closed && s.identity == identity {
            Log.notice("Closing client id=\(s.id) addr=\(s.peer): the upstream no longer accepts the login of user '\(s.user)'")
            s.close()
        }
    }

    /// Flushes every session that got output, then lets waiting sessions continue.
    func flushDirty() {
        var i = 0
        while i < dirtySessions.count {
            let s = dirtySessions[i]
            if !s.closed { s.flushOutput() }
            i += 1
        }
        dirtySessions.removeAll(keepingCapacity: true)
        if !redirectWaiters.isEmpty {
            let waiters = redirectWaiters
            redirectWaiters.removeAll()
            for s in waiters where !s.closed { s.noteProgress() }
        }
        // One round: a session that must wait again is queued again only by new progress.
        if !resumeList.isEmpty {
            let list = resumeList
            resumeList.removeAll(keepingCapacity: true)
            for s in list where !s.closed { s.resume() }
        }
    }

    /// Closes idle clients (the `timeout` directive), sparing subscribers and blocked clients.
    func idleSweep() {
        let limit = Int64(settings.idleTimeoutSeconds) * 1000
        let now = monotonicMs()
        for case let s? in sessions where !s.closed && s.pinned == nil && s.relay == nil && s.slots.isEmpty {
            if now - s.lastInteraction > limit {
                Log.verbose("Closing idle client id=\(s.id) addr=\(s.peer)")
                s.close()
            }
        }
    }

    /// `CLIENT INFO` line, in Redis's format.
    func clientInfoLine(_ s: Session) -> String {
        let now = monotonicMs()
        let age = (now - s.created) / 1000
        let idle = (now - s.lastInteraction) / 1000
        var flags = ""
        if s.subscribed { flags += "P" }
        if s.inMulti { flags += "x" }
        if s.pinReasons.contains(.blocking) { flags += "b" }
        if s.trackingOn { flags += "t" }
        if s.relay != nil { flags += "S" }
        if flags.isEmpty { flags = "N" }
        let name = String(decoding: s.name, as: UTF8.self)
        let multi = s.inMulti ? s.multiShapes.count : -1
        return "id=\(s.id) addr=\(s.peer) laddr=\(s.local) fd=\(s.fd) name=\(name) age=\(age) idle=\(idle) flags=\(flags) db=\(s.db) sub=\(s.channels.count) psub=\(s.patterns.count) ssub=\(s.shardChannels.count) multi=\(multi) qbuf=\(s.inbuf.readableCount) qbuf-free=\(s.inbuf.writableCount) argv-mem=0 multi-mem=0 rbs=\(s.outbuf.capacity) rbp=0 obl=0 oll=0 omem=\(s.outbuf.readableCount) tot-mem=\(s.inbuf.capacity + s.outbuf.capacity) events=r cmd=\(s.lastCommand >= 0 ? commands.entries[Int(s.lastCommand)].name : "NULL") user=\(s.user) redir=\(s.trackingOn ? (s.trackingRedirect?.client ?? 0) : -1) resp=\(s.proto) lib-name=\(String(decoding: s.libName, as: UTF8.self)) lib-ver=\(String(decoding: s.libVersion, as: UTF8.self))\n"
    }

    /// Stops accepting, closes every client and upstream connection (at once: the graceful
    /// way is `beginDrain`, Proxy+Drain.swift).
    public func shutdown() {
        closeListeners()
        for case let s? in sessions { s.close() }
        idleTimer?.free(); idleTimer = nil
        acceptTimer?.free(); acceptTimer = nil
        drainShell?.free()
        pool.closeAll(reason: "shutdown")
    }
}

let proxyAcceptTCP: EventCallback = { fd, _, ctx in
    Unmanaged<Proxy>.fromOpaque(ctx!).takeUnretainedValue().accept(listener: fd, isUnix: false)
}
let proxyAcceptUnix: EventCallback = { fd, _, ctx in
    Unmanaged<Proxy>.fromOpaque(ctx!).takeUnretainedValue().accept(listener: fd, isUnix: true)
}
let proxyResumeAccepting: EventCallback = { _, _, ctx in
    Unmanaged<Proxy>.fromOpaque(ctx!).takeUnretainedValue().resumeAccepting()
}
let proxyIdleSweep: EventCallback = { _, _, ctx in
    Unmanaged<Proxy>.fromOpaque(ctx!).takeUnretainedValue().idleSweep()
}
