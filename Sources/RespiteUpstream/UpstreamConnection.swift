// UpstreamConnection: one RESP3 socket to the upstream Redis, shared by many clients or pinned
// to one.
//
// Lifecycle: connecting → handshaking → ready → (draining →) closed. The handshake (`HELLO 3
// [AUTH user pass] SETNAME` — the user of the connection's identity, UpstreamIdentity.swift — `SELECT db`, `CLIENT ID`, then `CLIENT MAINT_NOTIFICATIONS ON …` unless
// maintenance is disabled) is pipelined as soon as the socket connects; client requests that
// arrive before it finishes wait in `held` and go out, in order, when it does. A handshake that
// meets `-BUSY`/`-LOADING` (a busy script, a loading dataset) is sent again after a backoff, on
// the pool's tick, while requests keep waiting. A one-shot connection (for SCRIPT KILL and
// friends) sends only `HELLO 3` and closes after its one reply. A draining
// connection (being handed off after MOVING) takes no new requests and closes once its
// in-flight replies are read. Every request
// written has a `Pending` entry in a FIFO; the reply scanner separates `>` pushes from replies
// on every read, so a push never consumes a reply slot. Writes are batched: requests are appended
// to `out` and flushed once per loop pass by the pool's deferred flush.

import EventLoop
import Observability
import RESP
import RespiteMaintenance
#if canImport(Glibc)
import Glibc
#endif

/// What a written request waits for. Plain value; no references.
public struct Pending: Sendable {
    /// Session table index, or -1 for Respite's own requests (handshake).
    public var session: Int32
    public var generation: UInt32
    /// The session's reply-slot sequence number.
    public var slot: UInt32
    /// Absolute deadline (ms, monotonic); 0 means none (blocking commands).
    public var deadline: Int64
    /// Bytes of the request (kept in `out` until its reply, on shared connections).
    public var length: Int32 = 0
    /// Times this request was sent again after a lost connection or a did-not-run error.
    public var attempts: UInt8 = 0
    /// A read-only command: safe to send again when its outcome is unknown.
    public var readOnly = false
    /// When it was handed to the connection (the pool's coarse clock, ms).
    public var since: Int64 = 0
    /// The session value of Respite's own one-shot commands.
    public static let control: Int32 = -2
    /// The session value of a `CLIENT ID` Respite sends on a leased connection to learn its
    /// upstream id again (`UpstreamConnection.refreshServerClientIDIfStale`).
    public static let idRefresh: Int32 = -3

    public init(session: Int32, generation: UInt32, slot: UInt32, deadline: Int64, readOnly: Bool = false, attempts: UInt8 = 0) {
        self.session = session; self.generation = generation; self.slot = slot; self.deadline = deadline
        self.readOnly = readOnly; self.attempts = attempts
    }
}

/// Why a request got no reply from a connection that closed.
public enum LostRequest {
    /// Never written to the socket: it did not run.
    case unsent
    /// Written, no reply: it may or may not have run.
    case outcomeUnknown
}

/// The proxy side of an upstream connection: where replies, pushes and failures go.
public protocol UpstreamDelegate: AnyObject {
    /// A reply to `pending`; `frame` and `request` (the request's bytes, when the connection
    /// keeps them) are valid only during the call.
    func upstreamReply(_ conn: UpstreamConnection, _ pending: Pending, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame,
                       request: UnsafeRawBufferPointer?)
    /// A push frame (pub/sub message, invalidation, maintenance notification).
    func upstreamPush(_ conn: UpstreamConnection, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame)
    /// One read's replies are delivered: a good moment to flush client output.
    func upstreamReadDone(_ conn: UpstreamConnection)
    /// The request will get no reply from this connection; `error` is the text after `-`.
    /// `request` holds its bytes when the connection kept them (shared connections), so it can
    /// be sent again when that is safe.
    func upstreamFailed(_ conn: UpstreamConnection, _ pending: Pending, error: String, lost: LostRequest,
                        request: UnsafeRawBufferPointer?)
    /// A pinned connection leased to a session closed.
    func upstreamPinnedClosed(_ conn: UpstreamConnection)
    /// A pinned connection leased to a session finished its handshake: its upstream client id
    /// is known and the requests held for it are written.
    func upstreamPinnedReady(_ conn: UpstreamConnection)
    /// A pinned connection leased to a session must be handed off (MOVING): the session moves
    /// its state to a new connection at a safe point.
    func upstreamPinnedRetiring(_ conn: UpstreamConnection)
    /// The reply to a client's AUTH sent by `UpstreamPool.checkLogin` (valid during the call).
    func upstreamLoginChecked(_ conn: UpstreamConnection, _ pending: Pending, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame)
    /// The upstream refused the login of a client identity in a handshake (user deleted or
    /// password changed).
    func upstreamIdentityRejected(_ identity: Int32)
}

public enum UpstreamState: Sendable, Equatable {
    case connecting, handshaking, ready, draining, closed
}

/// One socket to the upstream.
public final class UpstreamConnection {
    public let id: Int
    public let db: Int
    /// Who the connection logs in as (UpstreamIdentity.swift); -1 for a login check.
    public let identity: Int32
    /// Its key in the pool's lists: (identity, db).
    let poolKey: Int
    public let pinned: Bool
    /// Where this connection dials (the configured upstream, or a MOVING target).
    public let address: UpstreamAddress
    public private(set) var state: UpstreamState = .connecting
    /// The upstream's id for this connection (`CLIENT ID`), once known.
    public private(set) var serverClientID: Int64 = -1
    /// When `serverClientID` was learnt (ms, monotonic): an endpoint may have moved the
    /// connection to another server under the same address since (`UpstreamPool.idsTrustedFrom`).
    private var idLearntAt: Int64 = 0
    /// A `CLIENT ID` sent to learn the id again is not answered yet.
    public private(set) var idRefreshing = false
    /// The upstream's `HELLO` reply, decoded (version, mode, …).
    public private(set) var helloReply: RESPValue?
    /// Why the connection closed, once it has.
    public private(set) var closeReason: String = ""
    /// The handshake's login was refused (WRONGPASS, NOAUTH): the endpoint is fine.
    public private(set) var authRejected = false
    /// A login check: no handshake, one AUTH, then closed (`UpstreamPool.checkLogin`).
    public internal(set) var loginCheck = false
    /// A short-lived connection counted against `upstream-control-max`, not `-pinned-max`.
    var control = false
    /// The control command it runs, when duplicates of it are not run again meanwhile.
    var controlKey: [UInt8]?

    unowned(unsafe) let pool: UpstreamPool
    var fd: Int32 = -1
    var readEvent: Event?
    var writeEvent: Event?
    var connectTimer: Event?
    let inbuf = ByteBuffer(capacity: 16 * 1024)
    /// Outgoing bytes. On shared connections the requests stay here until their replies arrive:
    /// `[readIndex, +written)` is written and awaits replies, the rest is not written yet.
    let out = ByteBuffer(capacity: 16 * 1024)
    /// Bytes of `out` past `readIndex` already written to the socket.
    var written = 0
    /// Shared connections keep request bytes until the reply, to resend what a close lost.
    let retainsRequests: Bool
    let held = ByteBuffer(capacity: 1024)
    var scanner: ReplyScanner
    public let fifo = Ring<Pending>(capacity: 64)
    var handshakeLeft = 0
    var heldCount = 0
    var writeArmed = false
    var flushQueued = false
    /// Index in the pool's lists (maintained by the pool).
    var slotInPool = -1
    /// Set while a pinned connection is leased to a session.
    public var leasedTo: Int32 = -1
    /// MONITOR: the server streams replies nobody asked for; they go out as pushes.
    public var streaming = false
    /// The handshake completed once: requests may have reached the server.
    public private(set) var everReady = false
    /// The server accepted `CLIENT MAINT_NOTIFICATIONS ON` on this connection.
    public private(set) var maintenanceEnabled = false
    /// Relaxed timeouts (MIGRATING, FAILING_OVER, after a handoff): the deadline the pool's
    /// MaintenanceCoordinator decided for this connection.
    public var relaxed = RelaxedWindow()
    /// A pinned connection that must not be reused: it will be handed off once released.
    public var retiring = false
    /// When a draining connection gives up waiting for its in-flight replies (ms).
    var drainDeadline: Int64 = 0
    var optInStep = -1
    /// The handshake step of a client's own login when it comes last (see `writeHandshake`).
    var loginStep = -1
    /// The handshake step of `CLIENT ID`.
    var clientIDStep = -1
    /// When to send again the setup steps that met a busy server (ms); 0 = none owed.
    var deferredSetupAt: Int64 = 0
    /// The refused login was Respite's own, sent ahead of a client's.
    public private(set) var ownLoginRejected = false
    /// A connection for one request (a command that ends a busy script): `HELLO 3` is its
    /// whole handshake, and it closes after the reply.
    public let oneShot: Bool
    /// The handshake met `-BUSY`/`-LOADING`: when it is sent again (ms), and how often it was.
    var handshakeRetryAt: Int64 = 0
    var handshakeRetries = 0
    private var handshakeBusy = ""

    init(id: Int, db: Int, identity: Int32, pinned: Bool, address: UpstreamAddress, pool: UpstreamPool, oneShot: Bool = false) {
        self.id = id
        self.db = db
        self.identity = identity
        self.poolKey = UpstreamPool.key(identity: identity, db: db)
        self.pinned = pinned
        self.oneShot = oneShot
        self.address = address
        self.pool = pool
        self.retainsRequests = !pinned
        self.scanner = ReplyScanner(limits: .serverReplies)
    }

    /// The address this connection actually reached (its peer), once connected.
    public var peer: (host: String, port: Int)? { fd >= 0 ? Socket.peer(fd) : nil }

    /// Requests waiting for a reply (written or held).
    public var inFlight: Int { fifo.count - handshakeLeft }

    /// Whether new requests may be queued here.
    public var acceptsRequests: Bool { state == .connecting || state == .handshaking || state == .ready }

    /// Starts the connect after `afterMs` (a handoff retry's delay); requests queue meanwhile.
    func start(afterMs: Int) {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        connectTimer = pool.loop.timer(persist: false, upstreamDelayedStart, ctx)
        connectTimer!.add(timeoutMs: afterMs)
    }

    /// Starts the non-blocking connect; failures surface through `close`.
    func start() {
        connectTimer?.free(); connectTimer = nil
        let s = pool.settings
        do {
            switch address {
            case .tcp(let host, let port): fd = try Socket.connectTCP(host: host, port: port)
            case .unix(let path): fd = try Socket.connectUnix(path: path)
            }
        } catch {
            close(reason: "\(error)")
            return
        }
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        readEvent = pool.loop.watch(fd: fd, EventFlags.read | EventFlags.persist, upstreamReadable, ctx)
        writeEvent = pool.loop.watch(fd: fd, EventFlags.write, upstreamWritable, ctx)
        writeEvent!.add()
        writeArmed = true
        if s.connectTimeoutMs > 0 {
            connectTimer = pool.loop.timer(persist: false, upstreamConnectTimeout, ctx)
            connectTimer!.add(timeoutMs: s.connectTimeoutMs)
        }
    }

    /// Queues a request (complete RESP bytes) for `pending`.
    public func send(_ bytes: UnsafeRawPointer, _ count: Int, _ pending: Pending) {
        var pending = pending
        pending.length = Int32(truncatingIfNeeded: count)
        // The clock itself, not the tick's cached one: up to a tick stale, it would make every
        // request in flight at a tick look as old as the stall guard's limit.
        pending.since = monotonicMs()
        fifo.append(pending)
        if state == .ready {
            out.append(bytes, count: count)
            scheduleFlush()
        } else {
            held.append(bytes, count: count)
            heldCount += 1
        }
    }

    /// Before a blocking command on this (pinned, ready) connection: when its upstream id was
    /// learnt before a maintenance could have moved it (`UpstreamPool.idsTrustedFrom`), a
    /// `CLIENT ID` goes ahead of the command, so a `CLIENT UNBLOCK` relayed for it names the
    /// server it is really on. The id reads unknown until the reply, then `upstreamPinnedReady`
    /// says it is known again. Outside maintenance nothing is sent.
    public func refreshServerClientIDIfStale() {
        guard pinned, state == .ready, !idRefreshing, serverClientID >= 0, idLearntAt < pool.idsTrustedFrom else { return }
        idLearntAt = monotonicMs()
        idRefreshing = true
        serverClientID = -1
        let before = out.readableCount
        InlineSplitter.encode([Array("CLIENT".utf8), Array("ID".utf8)], into: out)
        var p = Pending(session: Pending.idRefresh, generation: 0, slot: 0, deadline: 0)
        p.length = Int32(out.readableCount - before)
        p.since = monotonicMs()
        fifo.append(p)
        scheduleFlush()
    }

    /// Queues a request answered only by pushes (SUBSCRIBE and friends): no FIFO entry.
    public func sendWithoutReply(_ bytes: UnsafeRawPointer, _ count: Int) {
        if state == .ready {
            out.append(bytes, count: count)
            scheduleFlush()
        } else {
            held.append(bytes, count: count)
        }
    }

    func scheduleFlush() {
        if !flushQueued && !writeArmed {
            flushQueued = true
            pool.queueFlush(self)
        }
    }

    /// Writes as much of `out` as the socket takes; arms write readiness on a short write.
    func flush() {
        flushQueued = false
        guard fd >= 0, state == .ready || state == .handshaking || state == .draining else { return }
        while out.readableCount > written {
            switch Socket.write(fd, out.readPointer + written, out.readableCount - written) {
            case .bytes(let n):
                if retainsRequests { written += n } else { out.consume(n) }
            case .wouldBlock:
                if !writeArmed { writeArmed = true; writeEvent?.add() }
                return
            case .closed: close(reason: "connection closed by upstream"); return
            case .error(let e): close(reason: "write error: \(String(cString: strerror(e)))"); return
            }
        }
        if out.capacity > 4 * 1024 * 1024 { out.shrinkIfIdle(to: 16 * 1024) }
    }

    /// The bytes of the oldest request (shared connections keep them until its reply).
    @inline(__always) private func requestBytes(_ p: Pending) -> UnsafeRawBufferPointer? {
        guard retainsRequests else { return nil }
        return UnsafeRawBufferPointer(start: out.readPointer, count: Int(p.length))
    }

    /// The oldest request is answered: its bytes are no longer needed.
    @inline(__always) private func drop(_ p: Pending) {
        guard retainsRequests else { return }
        let n = Int(p.length)
        out.consume(n)
        written -= n
    }

    func onWritable() {
        writeArmed = false
        if state == .connecting {
            connectTimer?.free(); connectTimer = nil
            let err = Socket.connectResult(fd)
            if err != 0 { close(reason: "connect to \(address): \(String(cString: strerror(err)))"); return }
            Socket.setNoDelay(fd)
            state = .handshaking
            readEvent?.add()
            if loginCheck { becomeReady() } else { writeHandshake() }
        }
        flush()
    }

    private func writeHandshake() {
        let s = pool.settings
        // A client's own login comes last, after Respite's steps run as Respite's identity (as a
        // direct client selects its db and then logs in): a user need not be allowed SELECT,
        // CLIENT ID or the maintenance opt-in. Only when Respite's identity cannot log in at all
        // does the user's login come first, as it would have to direct.
        let loginLast = identity != 0 && !oneShot && !pool.anonymousRejected
        loginStep = -1; clientIDStep = -1; optInStep = -1
        func auth(_ login: (user: String, password: String)) -> [[UInt8]] {
            [Array("AUTH".utf8), Array(login.user.utf8), Array(login.password.utf8)]
        }
        var args: [[UInt8]] = [Array("HELLO".utf8), Array("3".utf8)]
        if let login = pool.credentials(loginLast ? 0 : identity) { args += auth(login) }
        if !s.clientName.isEmpty { args.append(Array("SETNAME".utf8)); args.append(Array(s.clientName.utf8)) }
        var commands = [args]
        if oneShot {
            writeHandshake(commands)
            return
        }
        if db != 0 { commands.append([Array("SELECT".utf8), Array(String(db).utf8)]) }
        clientIDStep = commands.count
        commands.append([Array("CLIENT".utf8), Array("ID".utf8)])
        if s.maintenance.mode != .disabled {
            optInStep = commands.count
            commands.append([Array("CLIENT".utf8), Array("MAINT_NOTIFICATIONS".utf8), Array("ON".utf8),
                             Array("moving-endpoint-type".utf8), Array(s.resolvedEndpointType.rawValue.utf8)])
        }
        if loginLast, let login = pool.credentials(identity) {
            loginStep = commands.count
            commands.append(auth(login))
        }
        writeHandshake(commands)
    }

    private func writeHandshake(_ commands: [[[UInt8]]]) {
        handshakeStep = 0
        // Handshake entries sit before every held request in the FIFO.
        var entries: [Pending] = []
        while let p = fifo.popFirst() { entries.append(p) }
        for command in commands {
            let before = out.readableCount
            InlineSplitter.encode(command, into: out)
            var p = Pending(session: -1, generation: 0, slot: 0, deadline: 0)
            p.length = Int32(out.readableCount - before)
            fifo.append(p)
        }
        handshakeLeft = commands.count
        for p in entries { fifo.append(p) }
    }

    private func handshakeReply(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        handshakeLeft -= 1
        let step = handshakeStep
        handshakeStep += 1
        if info.isError {
            let text = String(decoding: frame.prefix(max(0, frame.count - 2)).dropFirst(), as: UTF8.self)
            if step == clientIDStep && !(text.hasPrefix("BUSY ") || text.hasPrefix("LOADING ")) {
                // Respite's own bookkeeping refused (a user without CLIENT ID permission, once
                // logged in): the connection works without its server id.
            } else if (text.hasPrefix("BUSY ") || text.hasPrefix("LOADING ")) && (step == clientIDStep || step == optInStep) {
                // Respite's own bookkeeping met a busy server: the connection is usable (Redis
                // answers each client's command as it would direct: -BUSY, or the result of
                // one allowed while busy); the step is sent again later (`deferredSetupAt`).
                deferredSetupAt = monotonicMs() + Int64(pool.settings.reconnectMaxMs)
            } else if text.hasPrefix("BUSY ") || text.hasPrefix("LOADING ") {
                // A busy script or a loading dataset before the connection is usable (login,
                // database): the server is alive and will answer later. The whole handshake
                // is sent again once this one is answered.
                handshakeBusy = text
            } else if step == optInStep && pool.settings.maintenance.mode == .auto {
                // Auto stays fail-open on every connection: "not supported here", carry on.
                pool.maintenanceRefused(self, text)
            } else if step == optInStep {
                close(reason: "maintenance notifications refused (maint-notifications enabled): \(text)")
                return
            } else if step == 0 && text.hasPrefix("NOPROTO") {
                close(reason: "upstream does not speak RESP3 (HELLO 3 refused: \(text))")
                return
            } else if (step == 0 || step == loginStep) && (text.hasPrefix("WRONGPASS") || text.hasPrefix("NOAUTH") || text.hasPrefix("NOPERM")) {
                // Redis's texts name no password; the user is named, never the password.
                authRejected = true
                // Respite's own login, ahead of a client's, was refused (its password changed):
                // not the client's fault; its requests go again on a connection that logs in
                // as the client first.
                ownLoginRejected = step == 0 && loginStep >= 0
                close(reason: "upstream refused the login of user '\(pool.userName(ownLoginRejected ? 0 : identity))': \(text)")
                return
            } else {
                close(reason: "upstream handshake failed: \(text)")
                return
            }
        } else if step == optInStep {
            maintenanceEnabled = true
        } else if step == clientIDStep {
            if case .integer(let id)? = (try? RESPValue.decode(frame))?.value { serverClientID = id; idLearntAt = monotonicMs() }
            // Learnt by a deferred setup after the connection went ready.
            if state == .ready && pinned && leasedTo >= 0 { pool.delegate?.upstreamPinnedReady(self) }
        } else if step == 0 {
            helloReply = (try? RESPValue.decode(frame))?.value
        }
        if handshakeLeft == 0 && !handshakeBusy.isEmpty {
            handshakeRetries += 1
            let s = pool.settings
            let delay = min(s.reconnectMinMs << min(handshakeRetries - 1, 20), s.reconnectMaxMs)
            handshakeRetryAt = monotonicMs() + Int64(max(delay, 1))
            if handshakeRetries == 1 {
                Log.notice("upstream connection \(id) to \(address): handshake met \(handshakeBusy.prefix(60))…; retrying every ≤\(s.reconnectMaxMs) ms")
            }
            if heldBytesAllAwaitReplies { answerHeld(with: handshakeBusy) }
            handshakeBusy = ""
            return
        }
        if handshakeLeft == 0 {
            handshakeRetries = 0
            if state != .ready { becomeReady() }
        }
    }

    /// The server, busy, could not finish this connection's setup: each request held for it gets
    /// the answer Redis gives a client's command while busy (`-BUSY …`, `-LOADING …`), as it
    /// would direct. None of them ran. Only client requests remain in the FIFO here: the
    /// handshake's entries are all answered.
    private var heldBytesAllAwaitReplies: Bool {
        // Requests sent without a FIFO entry (SUBSCRIBE and friends, answered by pushes) have
        // no reply to stand in for: then every held request waits for the retry instead.
        var tracked = 0
        var i = 0
        while i < fifo.count { tracked += Int(fifo[i].length); i += 1 }
        return tracked == held.readableCount
    }

    private func answerHeld(with text: String) {
        let frame = Array("-\(text)\r\n".utf8)
        held.clear()
        heldCount = 0
        while let p = fifo.popFirst() {
            frame.withUnsafeBytes { raw in
                let info = ReplyFrame(length: raw.count, type: UInt8(ascii: "-"), hasRESP3: false, valueOffset: 0)
                pool.delegate?.upstreamReply(self, p, raw, info, request: nil)
            }
            if state == .closed { return }
        }
    }

    /// Sends the setup steps that met a busy server (`CLIENT ID`, the maintenance opt-in) again,
    /// once nothing is in flight; their replies are read as handshake replies.
    private func sendDeferredSetup() {
        deferredSetupAt = 0
        let s = pool.settings
        var commands: [[[UInt8]]] = []
        clientIDStep = -1; optInStep = -1; loginStep = -1
        if serverClientID < 0 {
            clientIDStep = commands.count
            commands.append([Array("CLIENT".utf8), Array("ID".utf8)])
        }
        if s.maintenance.mode != .disabled && !maintenanceEnabled {
            optInStep = commands.count
            commands.append([Array("CLIENT".utf8), Array("MAINT_NOTIFICATIONS".utf8), Array("ON".utf8),
                             Array("moving-endpoint-type".utf8), Array(s.resolvedEndpointType.rawValue.utf8)])
        }
        guard !commands.isEmpty else { return }
        writeHandshake(commands)
        scheduleFlush()
    }

    /// The handshake is done: held requests go out.
    private func becomeReady() {
        state = .ready
        everReady = true
        pool.connectionReady(self)
        if held.readableCount > 0 {
            out.append(held.readPointer, count: held.readableCount)
            held.clear()
            heldCount = 0
        }
        if !retainsRequests { written = 0 }
        flush()
        if pinned && leasedTo >= 0 && state == .ready { pool.delegate?.upstreamPinnedReady(self) }
    }
    private var handshakeStep = 0

    func onReadable() {
        guard fd >= 0 else { return }
        var reads = 0
        while true {
            inbuf.reserve(16 * 1024)
            switch Socket.read(fd, inbuf.writePointer, inbuf.writableCount) {
            case .bytes(let n):
                inbuf.commit(n)
                reads += 1
                if !deliver() {
                    // Closed while delivering (a released pin, a bad reply): whatever the
                    // replies it delivered made ready still goes out in this pass.
                    pool.delegate?.upstreamReadDone(self)
                    return
                }
                if n < inbuf.writableCount + n || reads >= 16 { break }
                continue
            case .wouldBlock: break
            case .closed: close(reason: "connection closed by upstream"); return
            case .error(let e): close(reason: "read error: \(String(cString: strerror(e)))"); return
            }
            break
        }
        pool.delegate?.upstreamReadDone(self)
    }

    /// Frames and dispatches every complete reply in `inbuf`. False when the connection closed.
    private func deliver() -> Bool {
        while inbuf.readableCount > 0 {
            switch scanner.scan(inbuf.readPointer, inbuf.readableCount) {
            case .incomplete:
                return true
            case .error(let e):
                close(reason: "bad reply from upstream: \(e.message)")
                return false
            case .frame(let info):
                let frame = UnsafeRawBufferPointer(start: inbuf.readPointer, count: info.length)
                if info.isPush {
                    if MaintenanceEvent.isMaintenancePush(frame, info.valueOffset) {
                        pool.maintenancePush(self, frame)
                    } else {
                        pool.delegate?.upstreamPush(self, frame, info)
                    }
                } else if streaming && fifo.count == handshakeLeft && handshakeLeft == 0 {
                    pool.delegate?.upstreamPush(self, frame, info)
                } else if let p = fifo.popFirst() {
                    if loginCheck && p.session >= 0 {
                        pool.delegate?.upstreamLoginChecked(self, p, frame, info)
                        close(reason: "released")
                        return false
                    } else if p.session == Pending.control {
                        // Respite's own one-shot command (CLIENT UNBLOCK): done, close.
                        drop(p)
                        if info.isError { Log.verbose("control command on \(address) failed: \(String(decoding: frame.prefix(80), as: UTF8.self))") }
                        close(reason: "released")
                        return false
                    } else if p.session == Pending.idRefresh {
                        drop(p)
                        idRefreshing = false
                        if case .integer(let id)? = (try? RESPValue.decode(frame))?.value { serverClientID = id }
                        if leasedTo >= 0 { pool.delegate?.upstreamPinnedReady(self) }
                        if state == .closed { return false }
                    } else if p.session < 0 {
                        drop(p)
                        handshakeReply(frame, info)
                        if state == .closed { return false }
                    } else {
                        pool.delegate?.upstreamReply(self, p, frame, info, request: requestBytes(p))
                        if state != .closed { drop(p) }
                        if oneShot && state != .closed {
                            close(reason: "released")
                            return false
                        }
                    }
                } else {
                    close(reason: "unexpected reply from upstream with nothing in flight")
                    return false
                }
                if state == .closed { return false }
                inbuf.consume(info.length)
                if state == .draining && fifo.isEmpty {
                    close(reason: "handed off")
                    return false
                }
            }
        }
        if inbuf.capacity > 4 * 1024 * 1024 { inbuf.shrinkIfIdle(to: 16 * 1024) }
        return true
    }

    /// The oldest request's deadline has passed (stretched while timeouts are relaxed), or a
    /// draining connection's in-flight replies never came.
    func checkDeadline(now: Int64) {
        guard state != .closed else { return }
        if state == .handshaking && handshakeRetryAt > 0 && now >= handshakeRetryAt {
            handshakeRetryAt = 0
            writeHandshake()
            flush()
            return
        }
        // Shared connections only: a pinned one belongs to its client's state (a transaction,
        // MONITOR), where Respite's own commands must not land; it goes without them.
        if state == .ready && !pinned && deferredSetupAt > 0 && now >= deferredSetupAt && fifo.isEmpty {
            sendDeferredSetup()
        }
        if state == .draining && drainDeadline > 0 && now >= drainDeadline {
            close(reason: "handoff: in-flight replies did not arrive before the old endpoint's deadline")
            return
        }
        // A reply late past the timeout does not make the server dead: the pool asks a sibling
        // socket whether it still answers (see UpstreamLiveness).
        if let effective = overdueTimeout(now: now) { pool.requestOverdue(self, now: now, timeoutMs: effective) }
    }

    /// Whether the oldest request has waited past its timeout by `now`.
    func headOverdue(now: Int64) -> Bool { overdueTimeout(now: now) != nil }

    /// The timeout (ms, stretched while timeouts are relaxed) the oldest request has outwaited.
    /// While the handshake runs, that is the oldest client request held behind it: a server that
    /// never answers the handshake fails them too, one that answers `-BUSY` keeps them waiting.
    private func overdueTimeout(now: Int64) -> Int? {
        guard state == .ready || state == .draining || state == .handshaking else { return nil }
        let i = state == .handshaking ? handshakeLeft : 0
        guard i < fifo.count else { return nil }
        let head = fifo[i]
        guard head.deadline > 0 else { return nil }
        let normal = pool.settings.timeoutMs
        let effective = relaxed.timeout(normal: normal, relaxed: pool.settings.maintenance.relaxedTimeoutMs, now: now)
        return head.deadline + Int64(effective - normal) <= now ? effective : nil
    }

    /// Stops taking requests; closes once the in-flight ones are answered (or at `deadline`).
    func startDraining(deadline: Int64) {
        guard state == .ready || state == .handshaking || state == .connecting else { return }
        if inFlight == 0 || state != .ready {
            // Nothing awaits a reply here (requests still held for the handshake go back to
            // their sessions, unsent, and are sent again on the replacement).
            close(reason: "handed off")
            return
        }
        state = .draining
        drainDeadline = deadline
    }

    /// Closes the socket and fails every pending request. Safe to call more than once.
    public func close(reason: String) {
        guard state != .closed else { return }
        state = .closed
        closeReason = reason
        readEvent?.free(); readEvent = nil
        writeEvent?.free(); writeEvent = nil
        connectTimer?.free(); connectTimer = nil
        if fd >= 0 { Socket.close(fd); fd = -1 }
        // The pool forgets this connection (and starts a backoff) before the requests are
        // handed back, so a request sent again goes to a fresh connection or fails fast.
        pool.connectionClosed(self)
        // Respite's own identity refused: what a client that has not logged in sees direct.
        let error = authRejected && identity == 0 ? "NOAUTH Authentication required."
            : "ERR Respite: upstream \(address) unavailable (\(reason))"
        // Walk the FIFO with the bytes each request had. On a shared connection they are, in
        // order, in `out` (handshake and requests; the first `written` bytes reached the socket)
        // and then in `held` (requests that waited for the handshake). A request only partly
        // written never ran: Redis executes complete commands only.
        var offset = 0
        var heldOffset = 0
        // Before the handshake completed nothing of the clients' reached the server: their
        // requests are in `held`, on every kind of connection.
        while let p = fifo.popFirst() {
            let n = Int(p.length)
            var bytes: UnsafeRawBufferPointer? = nil
            var lost = LostRequest.outcomeUnknown
            if p.session == -1 {
                if retainsRequests { offset += n }   // handshake bytes, still at the front of `out`
                continue
            }
            if retainsRequests && offset + n <= out.readableCount {
                bytes = UnsafeRawBufferPointer(start: out.readPointer + offset, count: n)
                lost = offset + n <= written ? .outcomeUnknown : .unsent
                offset += n
            } else if !everReady && heldOffset + n <= held.readableCount {
                bytes = UnsafeRawBufferPointer(start: held.readPointer + heldOffset, count: n)
                lost = .unsent
                heldOffset += n
            }
            if p.session >= 0 { pool.delegate?.upstreamFailed(self, p, error: error, lost: lost, request: bytes) }
        }
        fifo.removeAll()
        out.clear(); held.clear(); heldCount = 0; written = 0
        pool.delegate?.upstreamReadDone(self)
    }
}

let upstreamReadable: EventCallback = { _, _, ctx in
    Unmanaged<UpstreamConnection>.fromOpaque(ctx!).takeUnretainedValue().onReadable()
}
let upstreamWritable: EventCallback = { _, _, ctx in
    Unmanaged<UpstreamConnection>.fromOpaque(ctx!).takeUnretainedValue().onWritable()
}
let upstreamDelayedStart: EventCallback = { _, _, ctx in
    let c = Unmanaged<UpstreamConnection>.fromOpaque(ctx!).takeUnretainedValue()
    if c.state == .connecting && c.fd < 0 { c.start() }
}
let upstreamConnectTimeout: EventCallback = { _, _, ctx in
    let c = Unmanaged<UpstreamConnection>.fromOpaque(ctx!).takeUnretainedValue()
    if c.state == .connecting { c.close(reason: "connect timeout after \(c.pool.settings.connectTimeoutMs) ms") }
}
