// Session: one client connection — its socket, buffers, protocol state and reply order.
//
// Request path: `onReadable` reads into `inbuf`; `processInput` frames requests in place with
// the RequestScanner and routes each one (Session+Routing.swift): answered locally, sent on the
// session's shared upstream connection, or sent on a pinned one. Every request takes a reply
// slot (ReplyOrder.swift) in `slots`, in arrival order; upstream replies always answer the oldest remote slot, and
// local replies that were produced behind a pending remote one wait in their slot, so replies
// leave in request order whatever their route (Session+Replies.swift). Owned by the Proxy, on
// the loop thread.

import EventLoop
import Observability
import RESP
import RespiteCommands
import RespiteConfig
import RespiteUpstream

/// Why a session holds a pinned upstream connection (several may hold at once).
struct PinReasons: OptionSet {
    let rawValue: UInt8
    static let multi = PinReasons(rawValue: 1)
    static let watch = PinReasons(rawValue: 2)
    static let blocking = PinReasons(rawValue: 4)
    static let subscribed = PinReasons(rawValue: 8)
    static let tracking = PinReasons(rawValue: 16)
    static let monitor = PinReasons(rawValue: 32)
    /// State that cannot be reset cheaply: close the connection instead of reusing it.
    static let dirty = PinReasons(rawValue: 64)
    /// Another client's (or this one's) CLIENT TRACKING … REDIRECT names this session: its
    /// connection is where the server sends those invalidations, for as long as it lives.
    static let redirectTarget = PinReasons(rawValue: 128)
}

enum ReplyMode { case on, off, skipNext }

/// A connected client.
final class Session {
    let index: Int32
    let generation: UInt32
    let id: Int64
    let fd: Int32
    let peer: String
    let local: String
    let isUnix: Bool
    unowned(unsafe) let proxy: Proxy
    var readEvent: Event?
    var writeEvent: Event?
    let inbuf = ByteBuffer(capacity: 16 * 1024)
    let outbuf = ByteBuffer(capacity: 16 * 1024)
    var scanner: RequestScanner
    let created: Int64
    var lastInteraction: Int64

    // Protocol state.
    var proto = 2
    var db = 0
    var authenticated: Bool
    var user = "default"
    /// Who this client's upstream connections log in as (UpstreamIdentity.swift): 0 is
    /// Respite's own identity; a client's pass-through login interns its own.
    var identity: Int32 = 0
    /// A pass-through login the upstream is checking; every later request waits for it.
    var login: PendingLogin?
    var name: [UInt8] = []
    var libName: [UInt8] = []
    var libVersion: [UInt8] = []
    var replyMode = ReplyMode.on
    var noEvict = false
    /// The command table index of the last command (for CLIENT LIST's `cmd=`), -1 for none.
    var lastCommand: Int32 = -1

    // Routing state.
    var shared: UpstreamConnection?
    var sharedInFlight = 0
    /// Running average of this client's reply sizes in bytes (1/8 weight per reply), starting
    /// pessimistic: with it, requests in flight are limited to about `client-output-high-water`
    /// bytes of expected replies, so a pipeline of big GETs cannot queue hundreds of megabytes
    /// ahead of other clients on a shared connection (32 requests before any reply is seen).
    var replyBytesAverage = Session.initialReplyBytesAverage
    static let initialReplyBytesAverage = 128 * 1024
    var pinned: UpstreamConnection?
    var pinnedInFlight = 0
    var pinReasons: PinReasons = []
    var multiShapes: [ReplyShape] = []
    /// A CLIENT SETNAME queued in the open transaction.
    var multiName: [UInt8]?
    /// The database of the last valid SELECT queued in the open transaction.
    var multiDB: Int?
    /// Queued commands of the open transaction whose replies Respite rewrites.
    var multiRewrites: [ExecRewrite] = []
    /// Why the client's open transaction could not start upstream (its MULTI, or the connection
    /// it was queued on, failed): until its EXEC or DISCARD no command of it may run.
    var multiFailure: String?
    /// The pinned connection on which a request failed for good: requests behind it there are
    /// not sent again.
    var failedPinnedID = -1
    /// The reply slot of the open transaction's MULTI: an error there (`-BUSY` while a script
    /// runs) means the transaction never started.
    var multiSeq: UInt32 = .max
    /// An EXEC that will change local state is in flight.
    var awaitingLocalEffect = false
    var channels: Set<[UInt8]> = []
    var patterns: Set<[UInt8]> = []
    var shardChannels: Set<[UInt8]> = []
    /// Subscriptions moving to a new connection (Session+SubscriptionMove.swift): wanted once
    /// nothing is in flight, in progress, and its tail (leaving the marker channel).
    var subscriptionMoveWanted = false
    var subscriptionMove: SubscriptionMove?
    var subscriptionMoveTail: SubscriptionMoveTail?
    var handoffCount = 0
    /// The blocking command waiting on the pinned connection, if any.
    var blocked: BlockedRequest?
    /// CLIENT TRACKING is on (as the server accepted it), and where it redirects.
    var trackingOn = false
    var trackingRedirect: RedirectIDs?
    /// CLIENT CACHING was sent and no command has consumed its flag on the server yet.
    var cachingArmed = false
    /// A command refused while queueing in MULTI: EXEC discards the transaction, as Redis.
    var multiAborted = false
    /// SYNC/PSYNC/REPLCONF turned this session into a raw relay to its own upstream socket.
    var relay: RawRelay?

    // Reply order.
    let replies = ReplyOrder()
    @inline(__always) var slots: Ring<ReplySlot> { replies.slots }
    var slotExtras: [UInt32: SlotExtras] {
        get { replies.extras }
        _modify { yield &replies.extras }
    }
    var nextSeq: UInt32 {
        get { replies.nextSeq }
        set { replies.nextSeq = newValue }
    }

    // Flow control. `waiting`: input stopped until replies arrive or output drains (a route
    // switch, `client-max-inflight` requests in flight, or unread output above the high-water
    // mark). `readPaused`: the socket is not read (a backlog while waiting, or closing).
    var waiting = false
    var resumeQueued = false
    var readPaused = false
    /// When unread output went past the class's soft limit (0 = it is not past it).
    var softLimitSince: Int64 = 0
    /// Output once grew past a megabyte: its memory is handed back to the system at close.
    var heldLarge = false

    // Lifecycle.
    var closeAfterReply = false
    var closed = false
    var writeArmed = false
    var dirty = false

    init(index: Int32, generation: UInt32, id: Int64, fd: Int32, peer: String, local: String, isUnix: Bool, proxy: Proxy) {
        self.index = index
        self.generation = generation
        self.id = id
        self.fd = fd
        self.peer = peer
        self.local = local
        self.isUnix = isUnix
        self.proxy = proxy
        self.authenticated = proxy.settings.requirePass == nil
        self.scanner = RequestScanner(limits: proxy.settings.clientLimits)
        self.scanner.authenticated = authenticated
        if proxy.settings.passthroughAuth {
            self.user = proxy.pool.userName(0)
            self.scanner.authenticated = !proxy.pool.anonymousRejected
        }
        self.created = monotonicMs()
        self.lastInteraction = created
    }

    var subscribed: Bool { !channels.isEmpty || !patterns.isEmpty || !shardChannels.isEmpty }
    var inMulti: Bool { pinReasons.contains(.multi) }

    func start() {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        readEvent = proxy.loop.watch(fd: fd, EventFlags.read | EventFlags.persist, sessionReadable, ctx)
        writeEvent = proxy.loop.watch(fd: fd, EventFlags.write, sessionWritable, ctx)
        readEvent!.add()
    }

    // MARK: Input

    func onReadable() {
        guard !closed else { return }
        var total = 0
        while true {
            inbuf.reserve(16 * 1024)
            switch Socket.read(fd, inbuf.writePointer, inbuf.writableCount) {
            case .bytes(let n):
                inbuf.commit(n)
                total += n
                if inbuf.writableCount == 0 && total < 1024 * 1024 { continue }
            case .wouldBlock: break
            case .closed: close(); return
            case .error: close(); return
            }
            break
        }
        lastInteraction = proxy.pool.now
        processInput()
        if waiting && inbuf.readableCount > 1024 * 1024 { pauseReading() }
        if inbuf.readableCount > proxy.settings.queryBufferLimit {
            Log.warning("Closing client id=\(id) addr=\(peer): query buffer of \(inbuf.readableCount) bytes exceeds client-query-buffer-limit")
            close()
            return
        }
        flushOutput()
    }

    /// Frames and routes every complete request in `inbuf`, until one must wait.
    func processInput() {
        let maxInFlight = proxy.settings.maxInFlightPerClient
        let highWater = proxy.settings.outputHighWater
        while !closed && !closeAfterReply && !waiting && inbuf.readableCount > 0 {
            if let relay {
                // A replica's bytes (REPLCONF ACK …) go upstream as they are.
                relay.send(inbuf.readPointer, inbuf.readableCount)
                inbuf.clear()
                return
            }
            // Pending work is bounded: requests in flight, and replies (local ones included)
            // waiting behind an older one, at most `client-max-inflight`; unread output at
            // most the high-water mark, and so are the replies expected for the requests in
            // flight (their number × the average reply so far). Past any of these, input is
            // not read until replies leave.
            let inFlight = sharedInFlight + pinnedInFlight
            if inFlight >= maxInFlight || slots.count >= maxInFlight || outbuf.readableCount >= highWater
                || (inFlight > 0 && inFlight &* replyBytesAverage >= highWater) {
                waiting = true
                return
            }
            let r = scanner.scan(inbuf.readPointer, inbuf.readableCount)
            switch r {
            case .incomplete:
                return
            case .empty(let len):
                inbuf.consume(len)
            case .frame(let len):
                let p = UnsafeRawPointer(inbuf.readPointer)
                if handle(frame: UnsafeRawBufferPointer(start: p, count: len), args: scanner.args) {
                    inbuf.consume(len)
                } else {
                    // Must wait for in-flight replies on another route; rescanned later.
                    waiting = true
                    return
                }
            case .inline(let len):
                let line = UnsafeRawBufferPointer(start: inbuf.readPointer, count: len)
                var end = len - 1
                if end > 0 && line[end - 1] == 13 { end -= 1 }
                guard let parts = InlineSplitter.split(UnsafeRawBufferPointer(rebasing: line[0..<end])) else {
                    protocolError("Protocol error: unbalanced quotes in request")
                    return
                }
                // Re-encode as multibulk in scratch space and route that copy.
                let scratch = proxy.scratch
                scratch.clear()
                InlineSplitter.encode(parts, into: scratch)
                var sub = RequestScanner(limits: RESPLimits())
                guard case .frame = sub.scan(scratch.readPointer, scratch.readableCount) else { inbuf.consume(len); continue }
                // `args` points into `sub`'s storage: keep it alive until the request is routed.
                let routed = withExtendedLifetime(sub) {
                    handle(frame: UnsafeRawBufferPointer(start: scratch.readPointer, count: scratch.readableCount), args: sub.args)
                }
                if routed {
                    inbuf.consume(len)
                } else {
                    waiting = true
                    return
                }
            case .error(let e):
                protocolError(wire: e.wire)
                return
            }
        }
    }

    /// Replies with a protocol error and closes after the reply, as Redis does.
    func protocolError(_ message: String) { protocolError(wire: Array(message.utf8)) }

    func protocolError(wire message: [UInt8]) {
        Log.verbose("Protocol error from client id=\(id) addr=\(peer): \(String(decoding: message, as: UTF8.self))")
        var b: [UInt8] = [UInt8(ascii: "-")]
        b.append(contentsOf: Array("ERR ".utf8))
        b.append(contentsOf: message)
        b.append(13); b.append(10)
        addLocalReply(b)
        closeAfterReply = true
        inbuf.clear()
        pauseReading()
        maybeFinishClose()
    }

    func pauseReading() {
        if !readPaused { readPaused = true; readEvent?.remove() }
    }

    /// Replies arrived or output drained: a waiting session may go on (at the end of the pass).
    func noteProgress() {
        if waiting && !resumeQueued {
            resumeQueued = true
            proxy.resumeList.append(self)
        }
    }

    /// Continues input that had to wait, and reads the socket again once the backlog is gone.
    func resume() {
        resumeQueued = false
        guard !closed else { return }
        if waiting {
            waiting = false
            processInput()
        }
        if readPaused && !waiting && !closeAfterReply {
            readPaused = false
            readEvent?.add()
        }
        flushOutput()
    }

    // MARK: Output

    func onWritable() {
        writeArmed = false
        flushOutput()
        // Output drained: a session waiting on it (unread output past the high-water mark)
        // resumes now, not at the next upstream read, which may never come.
        if resumeQueued { proxy.flushDirty() }
    }

    /// Writes pending output; arms write readiness on a short write.
    func flushOutput() {
        dirty = false
        guard !closed else { return }
        var wrote = false
        while outbuf.readableCount > 0 {
            switch Socket.write(fd, outbuf.readPointer, outbuf.readableCount) {
            case .bytes(let n): outbuf.consume(n); wrote = true
            case .wouldBlock:
                if !writeArmed { writeArmed = true; writeEvent?.add() }
                checkOutputLimits()
                return
            case .closed, .error:
                close()
                return
            }
        }
        softLimitSince = 0
        if outbuf.capacity > 1024 * 1024 { heldLarge = true; outbuf.shrinkIfIdle(to: 16 * 1024) }
        if inbuf.capacity > 1024 * 1024 && inbuf.readableCount == 0 { inbuf.shrinkIfIdle(to: 16 * 1024) }
        // Output drained: a session that waited on its unread output may go on.
        if wrote { noteProgress() }
        if let relay, outbuf.readableCount < Session.relayLowWater { relay.resumeReading() }
        maybeFinishClose()
    }

    /// The class whose `client-output-buffer-limit` applies, as Redis classes its clients.
    var clientClass: ClientClass {
        if relay != nil { return .replica }
        return subscribed ? .pubsub : .normal
    }

    /// Closes the client when its unread output is past its class's limits, as Redis does.
    func checkOutputLimits() {
        let limit = proxy.settings.outputLimits[clientClass]
        guard limit.exceeded(used: outbuf.readableCount, softSince: &softLimitSince, nowMs: monotonicMs()) else { return }
        Log.warning("Client \(proxy.clientInfoLine(self).dropLast()) scheduled to be closed ASAP for overcoming of output buffer limits.")
        close()
    }

    /// `checkOutputLimits` when the unread output has reached the hard limit (cheap enough for
    /// every reply).
    @inline(__always) func checkHardOutputLimit() {
        let hard = proxy.settings.outputLimits[clientClass].hard
        if hard > 0 && outbuf.readableCount >= hard { checkOutputLimits() }
    }

    /// Marks output pending; the proxy flushes dirty sessions after each upstream read.
    func markDirty() {
        if !dirty { dirty = true; proxy.dirtySessions.append(self) }
    }

    func maybeFinishClose() {
        if closeAfterReply && slots.isEmpty && outbuf.readableCount == 0 { close() }
        // Draining: a client whose last reply just left may be closed at the end of the pass.
        else if proxy.drainShell != nil { proxy.drainNote(self) }
    }

    // MARK: Close

    /// Closes the client: drops its events and socket, returns or closes its pinned connection.
    func close() {
        guard !closed else { return }
        closed = true
        readEvent?.free(); readEvent = nil
        writeEvent?.free(); writeEvent = nil
        Socket.close(fd)
        if let r = relay {
            relay = nil
            proxy.pool.relayCount -= 1
            r.close("client closed", notify: false)
        }
        dropSubscriptionMove()
        if let p = pinned {
            pinned = nil
            // Whatever state the connection holds belongs to this client; never reuse it.
            proxy.pool.release(p, reusable: false)
        }
        shared = nil
        dropIdentity()
        login = nil
        releaseMemory()
        proxy.sessionClosed(self)
    }
}

extension Session {
    /// Frees what a closed client held at once (the session object itself may live a little
    /// longer in the proxy's lists), and gives a large amount back to the system.
    func releaseMemory() {
        let held = inbuf.capacity + outbuf.capacity
        inbuf.clear(); outbuf.clear()
        inbuf.shrinkIfIdle(to: 64); outbuf.shrinkIfIdle(to: 64)
        replies.clear()
        if heldLarge || held >= Session.trimAfterBytes { returnFreedMemory() }
    }

    /// Buffers this large, freed at close, are handed back to the system (malloc_trim).
    static let trimAfterBytes = 8 * 1024 * 1024
}

let sessionReadable: EventCallback = { _, _, ctx in
    Unmanaged<Session>.fromOpaque(ctx!).takeUnretainedValue().onReadable()
}
let sessionWritable: EventCallback = { _, _, ctx in
    Unmanaged<Session>.fromOpaque(ctx!).takeUnretainedValue().onWritable()
}
