// UpstreamConnection: one RESP3 socket to the upstream Redis, shared by many clients or pinned
// to one.
//
// Lifecycle: connecting → handshaking → ready → (draining →) closed, changed only by `enter`
// (`UpstreamState.canMove` lists the moves). The handshake (UpstreamHandshake.swift plans it:
// `HELLO 3 [AUTH] SETNAME`, `SELECT db`, `CLIENT ID`, the maintenance opt-in, a client's own
// login last) is pipelined as soon as the transport connects; client requests that arrive
// before it finishes wait in `held` and go out, in order, when it does. A handshake that meets
// `-BUSY`/`-LOADING` is sent again after a backoff, on the pool's tick, while requests keep
// waiting. A one-shot connection (for SCRIPT KILL and friends) sends only `HELLO 3` and closes
// after its one reply. A draining connection (being handed off after MOVING) takes no new
// requests and closes once its in-flight replies are read. Every request written has a
// `Pending` entry in a FIFO; the reply scanner separates `>` pushes from replies on every read,
// so a push never consumes a reply slot. Writes are batched: requests are appended to `out`
// and flushed once per loop pass by the pool's deferred flush.
//
// This file holds the state, queueing and close; UpstreamConnection+IO.swift dialing and the
// socket (through `transport`), +Handshake.swift the handshake's replies, +Delivery.swift what
// each reply becomes and the deadline checks.

import EventLoop
import Observability
import RESP
import RespiteMaintenance
#if canImport(Glibc)
import Glibc
#endif

/// Whose answer a written request waits for.
public enum PendingKind: UInt8, Sendable {
    /// A client's request: `session`, `generation` and `slot` say where its reply goes.
    case client
    /// A step of the connection's own handshake.
    case handshake
    /// Respite's own one-shot command on a control connection (CLIENT UNBLOCK).
    case control
    /// `CLIENT ID` sent on a leased connection to learn its upstream id again
    /// (`UpstreamConnection.refreshServerClientIDIfStale`).
    case idRefresh
    /// A request answered by pushes (SUBSCRIBE and friends); `slot` counts the confirmations
    /// still owed. Redis answers it with pushes, or with one error reply (`-NOPERM`), which then
    /// takes its place in the reply order and reaches the delegate as `upstreamPush`.
    case pushAnswered
    /// Respite's own request on a leased connection (the PUBLISH of a subscription move's
    /// marker): its reply reaches the delegate as `upstreamPush`, in order.
    case ownRequest
}

/// What a written request waits for. Plain value; no references.
public struct Pending: Sendable {
    /// Session table index (for a client's request; -1 otherwise).
    public var session: Int32
    public var generation: UInt32
    /// The session's reply-slot sequence number (for `pushAnswered`: confirmations owed).
    public var slot: UInt32
    /// Absolute deadline (ms, monotonic); 0 means none (blocking commands).
    public var deadline: Int64
    /// Bytes of the request (kept in `out` until its reply, on shared connections).
    public var length: Int32 = 0
    /// Times this request was sent again after a lost connection or a did-not-run error.
    public var attempts: UInt8 = 0
    /// A read-only command: safe to send again when its outcome is unknown.
    public var readOnly = false
    public var kind = PendingKind.client
    /// When it was handed to the connection (the pool's coarse clock, ms).
    public var since: Int64 = 0

    /// Respite's own request of `kind` (not a client's).
    public static func own(_ kind: PendingKind, slot: UInt32 = 0) -> Pending {
        var p = Pending(session: -1, generation: 0, slot: slot, deadline: 0)
        p.kind = kind
        return p
    }

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

    /// The lifecycle's moves: connecting → handshaking → ready → draining, and any state but
    /// closed to closed.
    public func canMove(to next: UpstreamState) -> Bool {
        switch (self, next) {
        case (.closed, _): return false
        case (_, .closed): return true
        case (.connecting, .handshaking), (.handshaking, .ready), (.ready, .draining): return true
        default: return false
        }
    }
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
    public internal(set) var serverClientID: Int64 = -1
    /// When `serverClientID` was learnt (ms, monotonic): an endpoint may have moved the
    /// connection to another server under the same address since (`UpstreamPool.idsTrustedFrom`).
    var idLearntAt: Int64 = 0
    /// A `CLIENT ID` sent to learn the id again is not answered yet.
    public internal(set) var idRefreshing = false
    /// The upstream's `HELLO` reply, decoded (version, mode, …).
    public internal(set) var helloReply: RESPValue?
    /// Why the connection closed, once it has.
    public internal(set) var closeReason: String = ""
    /// The handshake's login was refused (WRONGPASS, NOAUTH): the endpoint is fine.
    public internal(set) var authRejected = false
    /// A login check: no handshake, one AUTH, then closed (`UpstreamPool.checkLogin`).
    public internal(set) var loginCheck = false
    /// A short-lived connection counted against `upstream-control-max`, not `-pinned-max`.
    var control = false
    /// The control command it runs, when duplicates of it are not run again meanwhile.
    var controlKey: [UInt8]?

    unowned(unsafe) let pool: UpstreamPool
    /// The node this connection belongs to (its slot, backoff and liveness).
    unowned(unsafe) let node: NodePool
    /// The socket and its bytes (plain TCP or unix now; UpstreamTransport.swift).
    let transport: any UpstreamTransport = PlainTransport()
    /// The addresses left to try (a name's lookup gives several).
    var candidates: [UpstreamAddress] = []
    /// `start` ran: a lookup or a connect is under way, or was.
    var dialStarted = false
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
    public internal(set) var everReady = false
    /// The server accepted `CLIENT MAINT_NOTIFICATIONS ON` on this connection.
    public internal(set) var maintenanceEnabled = false
    /// Relaxed timeouts (MIGRATING, FAILING_OVER, after a handoff): the deadline the pool's
    /// MaintenanceCoordinator decided for this connection.
    public var relaxed = RelaxedWindow()
    /// A pinned connection that must not be reused: it will be handed off once released.
    public var retiring = false
    /// When a draining connection gives up waiting for its in-flight replies (ms).
    var drainDeadline: Int64 = 0
    /// The handshake steps whose replies are read specially (UpstreamHandshake.swift).
    var helloStep = -1
    var optInStep = -1
    /// The handshake step of a client's own login when it comes last (see `writeHandshake`).
    var loginStep = -1
    /// The handshake step of `CLIENT ID`.
    var clientIDStep = -1
    /// When to send again the setup steps that met a busy server (ms); 0 = none owed.
    var deferredSetupAt: Int64 = 0
    /// The refused login was Respite's own, sent ahead of a client's.
    public internal(set) var ownLoginRejected = false
    /// A connection for one request (a command that ends a busy script): `HELLO 3` is its
    /// whole handshake, and it closes after the reply.
    public let oneShot: Bool
    /// The handshake met `-BUSY`/`-LOADING`: when it is sent again (ms), and how often it was.
    var handshakeRetryAt: Int64 = 0
    var handshakeRetries = 0
    var handshakeBusy = ""
    var handshakeStep = 0

    init(id: Int, db: Int, identity: Int32, pinned: Bool, address: UpstreamAddress, pool: UpstreamPool, node: NodePool,
         oneShot: Bool = false) {
        self.node = node
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
    public var peer: (host: String, port: Int)? { transport.fd >= 0 ? Socket.peer(transport.fd) : nil }

    /// Requests waiting for a reply (written or held).
    public var inFlight: Int { fifo.count - handshakeLeft }

    /// Whether new requests may be queued here.
    public var acceptsRequests: Bool { state == .connecting || state == .handshaking || state == .ready }

    /// The one place the state changes.
    func enter(_ next: UpstreamState) {
        assert(state.canMove(to: next), "upstream connection \(id): \(state) → \(next)")
        state = next
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
        var p = Pending.own(.idRefresh)
        p.length = Int32(out.readableCount - before)
        p.since = monotonicMs()
        fifo.append(p)
        scheduleFlush()
    }

    /// Queues a request answered by `confirmations` pushes (SUBSCRIBE and friends), or by an
    /// error reply, which reaches the delegate as a push (`upstreamPush` with a non-push frame).
    public func sendPushAnswered(_ bytes: UnsafeRawPointer, _ count: Int, confirmations: Int) {
        send(bytes, count, Pending.own(.pushAnswered, slot: UInt32(max(1, confirmations))))
    }

    /// Queues Respite's own request on a leased connection; its reply goes to the delegate.
    public func sendOwnRequest(_ args: [[UInt8]]) {
        let b = ByteBuffer(capacity: 64)
        InlineSplitter.encode(args, into: b)
        send(b.readPointer, b.readableCount, Pending.own(.ownRequest))
    }

    /// Queues bytes nothing answers: no FIFO entry.
    public func sendWithoutReply(_ bytes: UnsafeRawPointer, _ count: Int) {
        if state == .ready {
            out.append(bytes, count: count)
            scheduleFlush()
        } else {
            held.append(bytes, count: count)
        }
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
        enter(.draining)
        drainDeadline = deadline
    }

    /// Closes the socket and fails every pending request. Safe to call more than once.
    public func close(reason: String) {
        guard state != .closed else { return }
        enter(.closed)
        closeReason = reason
        readEvent?.free(); readEvent = nil
        writeEvent?.free(); writeEvent = nil
        connectTimer?.free(); connectTimer = nil
        transport.close()
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
            if p.kind == .handshake {
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
            if p.kind == .client { pool.delegate?.upstreamFailed(self, p, error: error, lost: lost, request: bytes) }
        }
        fifo.removeAll()
        out.clear(); held.clear(); heldCount = 0; written = 0
        pool.delegate?.upstreamReadDone(self)
    }
}
