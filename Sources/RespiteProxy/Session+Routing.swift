// Session+Routing: the router. Each framed request is answered locally, sent on the session's
// shared upstream connection, or sent on a pinned one (MULTI/WATCH, blocking commands, pub/sub,
// tracking, MONITOR). A request that needs a different route than the requests still in flight
// waits until they are answered, so a client's commands run upstream in the order it sent them.

import EventLoop
import Observability
import RESP
import RespiteCommands
import RespiteUpstream

extension Session {
    /// Routes one request. False means "not now": it must wait for in-flight replies.
    func handle(frame: UnsafeRawBufferPointer, args: ArgList) -> Bool {
        // A login being checked upstream, or subscriptions moving to a new connection, decide
        // where what follows runs (the router says so too; this spares the lookup).
        if login != nil || subscriptionsMoving { return false }
        let base = frame.baseAddress!
        let argc = args.count
        let nameRange = args[0]
        let nameBytes = UnsafeRawBufferPointer(start: base + Int(nameRange.offset), count: Int(nameRange.length))
        let table = proxy.commands
        var cmdID: Int32 = -1
        var shape = ReplyShape.plain
        var readOnly = false
        var command = RouteCommand()
        if let id = table.lookupID(nameBytes) {
            cmdID = id.rawValue
            if !table.entries[Int(cmdID)].subcommands.isEmpty && argc >= 2 {
                let subRange = args[1]
                let sub = UnsafeRawBufferPointer(start: base + Int(subRange.offset), count: Int(subRange.length))
                if let sid = table.lookupSubcommandID(table.entries[Int(cmdID)], sub) { cmdID = sid.rawValue }
            }
            // Field by field: a copy of the whole entry would retain its strings and arrays.
            let i = Int(cmdID)
            shape = table.entries[i].shape.resolved(argumentCount: argc)
            readOnly = table.entries[i].flags.contains(.readonly)
            command.route = table.entries[i].route
            command.kind = table.entries[i].kind
            command.interruptsBusy = table.entries[i].interruptsBusy
            command.runsScript = table.entries[i].runsScript
            command.heldByWritePause = table.entries[i].heldByWritePause
            command.hasSecrets = table.entries[i].secretMask != nil
        }
        command.hasArguments = argc > 1
        let kind = command.kind
        lastCommand = cmdID
        if cachingArmed && !(cmdID >= 0 && table.entries[Int(cmdID)].isClientCommand) {
            // The next command consumes CLIENT CACHING's flag (a CLIENT one keeps it, as Redis).
            if command.route == .local { consumeCachingFlag() } else { cachingArmed = false }
        }
        var call: BlockingCall?
        switch command.route {
        case .blockingWithArg, .blocking:
            call = blockingCall(cmdID, base, args)
            command.blocksNow = call != nil
        default:
            break
        }
        if cmdID >= 0 && table.entries[Int(cmdID)].pauseControl != 0 && (authenticated || Router.isAuthExempt(kind)) {
            notePause(base, args, table.entries[Int(cmdID)].pauseControl)
        }
        let decision = Router.decide(routeState, command)
        switch decision {
        case .wait:
            return false
        case .noAuth:
            addLocalReply(Array("-NOAUTH Authentication required.\r\n".utf8))
        case .endFailedTransaction(let exec):
            // A transaction whose MULTI failed: its commands never ran, whatever the client sent
            // before it read the error; EXEC and DISCARD end it.
            multiFailure = nil
            addLocalReply(Array((exec ? "-EXECABORT Transaction discarded because of previous errors.\r\n" : "+OK\r\n").utf8))
        case .refuseInFailedTransaction:
            addLocalReply(Array("-ERR Respite: command not queued: the transaction could not start upstream (\(multiFailure ?? ""))\r\n".utf8))
        case .queueInMulti:
            return handleInMulti(frame: frame, args: args, kind: kind, command: cmdID, route: command.route, shape: shape)
        case .pingWhileSubscribed:
            return pingInSubscribedRESP2(frame: frame, args: args)
        case .refuseWhileSubscribed:
            let shown = String(decoding: nameBytes, as: UTF8.self).lowercased()
            addLocalReply(Array("-ERR Can't execute '\(shown)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n".utf8))
        case .local:
            return handleLocal(frame: frame, args: args, command: cmdID, shape: shape)
        case .masked:
            return sendMasked(frame, shape: shape, mask: table.entries[Int(cmdID)].secretMask!)
        case .interrupt:
            return sendInterrupt(frame, shape: shape)
        case .pinned:
            return sendPinned(frame, shape: shape)
        case .own:
            return sendOwn(frame, shape: shape, readOnly: readOnly)
        case .shared:
            return sendShared(frame, shape: shape, readOnly: readOnly)
        case .blocking:
            pinReasons.insert(.blocking)
            return sendBlocking(frame, args: args, shape: shape, call: call)
        case .beginMulti:
            pinReasons.insert(.multi)
            multiShapes.removeAll()
            multiDB = nil
            multiRewrites.removeAll()
            multiAborted = false
            multiSeq = nextSeq
            return sendPinned(frame, shape: shape)
        case .watch:
            pinReasons.insert(.watch)
            return sendPinned(frame, shape: shape)
        case .unwatch, .endTransaction:
            pinReasons.remove(.watch)
            return sendPinned(frame, shape: shape)
        case .unwatchNothing:
            addLocalReply(Array("+OK\r\n".utf8))
        case .withoutMulti(let exec):
            // The error text is Redis's.
            addLocalReply(Array("-ERR \(exec ? "EXEC" : "DISCARD") without MULTI\r\n".utf8))
        case .subscribe:
            pinReasons.insert(.subscribed)
            return sendPinned(frame, shape: shape, pushes: Int32(max(1, argc - 1)))
        case .unsubscribe:
            var expected = argc - 1
            if expected == 0 {
                if kind == .unsubscribe { expected = max(1, channels.count) }
                else if kind == .punsubscribe { expected = max(1, patterns.count) }
                else { expected = max(1, shardChannels.count) }
            }
            return sendPinned(frame, shape: shape, pushes: Int32(expected))
        case .unsubscribeNotSubscribed:
            return unsubscribeWhenNotSubscribed(nameBytes, base, args)
        case .tracking:
            return clientTracking(frame: frame, args: args, command: cmdID, shape: shape)
        case .trackingState:
            return trackingState(frame: frame, args: args, command: cmdID, shape: shape)
        case .replication:
            return startReplicationRelay(frame)
        case .monitor:
            pinReasons.insert(.monitor)
            pinReasons.insert(.dirty)
            let ok = sendPinned(frame, shape: shape)
            pinned?.streaming = true
            return ok
        case .unsupported(let reason):
            addLocalReply(Array("-ERR \(reason)\r\n".utf8))
        }
        return true
    }

    /// The session as the router sees it.
    var routeState: RouteState {
        var s = RouteState()
        s.proto = proto
        s.authenticated = authenticated
        s.loginPending = login != nil
        s.subscriptionsMoving = subscriptionsMoving
        s.transactionFailed = multiFailure != nil
        s.inMulti = inMulti
        s.subscribed = subscribed
        s.pinnedForSubscriptions = pinReasons.contains(.subscribed)
        s.subscriptionPending = s.pinnedForSubscriptions && hasPushAnsweredSlots
        s.hasPinned = pinned != nil
        s.sharedInFlight = sharedInFlight
        s.ownIdentity = identity == 0
        s.writesPaused = proxy.pool.writesPausedUntil > proxy.pool.now
        return s
    }

    /// `CLIENT PAUSE timeout [WRITE|ALL]` / `CLIENT UNPAUSE` passing through: until when Redis
    /// holds writes. Noted before Redis answers; a refused pause only costs some commands a
    /// dedicated connection until its time is up.
    func notePause(_ base: UnsafeRawPointer, _ args: ArgList, _ control: Int8) {
        if control < 0 { proxy.pool.writesPausedUntil = 0; return }
        guard args.count >= 3 else { return }
        let t = UnsafeRawBufferPointer(start: base + Int(args[2].offset), count: Int(args[2].length))
        guard let ms = Int64(String(decoding: t, as: UTF8.self)), ms > 0 else { return }
        proxy.pool.writesPausedUntil = max(proxy.pool.writesPausedUntil, monotonicMs() + ms)
    }

    /// Sends on the session's shared connection for its db.
    func sendShared(_ frame: UnsafeRawBufferPointer, shape: ReplyShape, readOnly: Bool = false) -> Bool {
        if pinnedInFlight > 0 { return false }
        var conn = shared
        if conn == nil || !conn!.acceptsRequests || conn!.db != db || conn!.identity != identity {
            // A connection that is draining (handed off) or of another db still owes replies:
            // wait for them, so this client's commands keep their order.
            if sharedInFlight > 0, let c = conn, c.state != .closed { return false }
            do {
                conn = try proxy.pool.sharedConnection(db: db, identity: identity, affinity: Int(index))
            } catch {
                replyUnavailable(error)
                return true
            }
            shared = conn
        }
        let seq = takeSlot(shape: shape)
        let timeout = proxy.pool.settings.timeoutMs
        let deadline: Int64 = timeout > 0 ? proxy.pool.now + Int64(timeout) : 0
        conn!.send(frame.baseAddress!, frame.count, Pending(session: index, generation: generation, slot: seq,
                                                              deadline: deadline, readOnly: readOnly))
        sharedInFlight += 1
        return true
    }

    /// A request that may hold its connection (a script may keep Redis busy; a write is held
    /// while a pause lasts): on a dedicated connection leased for it and released after the
    /// reply, so it holds up no other client. When none can be had (`upstream-pinned-max`), on
    /// the shared one as before: a stall for the others, never an error.
    func sendOwn(_ frame: UnsafeRawBufferPointer, shape: ReplyShape, readOnly: Bool) -> Bool {
        if pinned == nil {
            if sharedInFlight > 0 { return false }
            do {
                pinned = try proxy.pool.leasePinned(db: db, identity: identity, session: index)
            } catch {
                return sendShared(frame, shape: shape, readOnly: readOnly)
            }
        }
        return sendPinned(frame, shape: shape)
    }

    /// SCRIPT KILL, FUNCTION KILL, SHUTDOWN, FUNCTION STATS: on a connection of their own, so a
    /// shared connection stuck behind the busy script does not hold them back. Like any change
    /// of route, it waits for this client's own earlier requests (Redis runs a connection's
    /// commands in order).
    func sendInterrupt(_ frame: UnsafeRawBufferPointer, shape: ReplyShape) -> Bool {
        if sharedInFlight > 0 || pinnedInFlight > 0 { return false }
        let seq = takeSlot(shape: shape)
        let timeout = proxy.pool.settings.timeoutMs
        let deadline: Int64 = timeout > 0 ? proxy.pool.now + Int64(timeout) : 0
        do {
            try proxy.pool.sendInterrupt(frame, identity: identity,
                                         pending: Pending(session: index, generation: generation, slot: seq, deadline: deadline))
        } catch {
            popLastSlot(seq)
            replyUnavailable(error)
            return true
        }
        pinnedInFlight += 1
        return true
    }

    /// Sends on the session's pinned connection, leasing one first when needed.
    func sendPinned(_ frame: UnsafeRawBufferPointer, shape: ReplyShape, blocking: Bool = false,
                    pushes: Int32 = 0, execShapes: [ReplyShape]? = nil) -> Bool {
        if pinned == nil || pinned!.state == .closed || pinned!.state == .draining {
            if sharedInFlight > 0 { return false }
            do {
                pinned = try proxy.pool.leasePinned(db: db, identity: identity, session: index)
            } catch {
                if inMulti { transactionFailed(unavailableText(error)) }
                pinReasons = []
                replyUnavailable(error)
                return true
            }
        }
        let conn = pinned!
        if pushes > 0 {
            _ = takeSlot(shape: shape, pushes: pushes)
            conn.sendPushAnswered(frame.baseAddress!, frame.count, confirmations: Int(pushes))
            pinnedInFlight += 1
            return true
        }
        if blocking { conn.refreshServerClientIDIfStale() }
        let seq = takeSlot(shape: shape, execShapes: execShapes)
        let timeout = proxy.pool.settings.timeoutMs
        let deadline: Int64 = (blocking || timeout == 0) ? 0 : proxy.pool.now + Int64(timeout)
        conn.send(frame.baseAddress!, frame.count, Pending(session: index, generation: generation, slot: seq, deadline: deadline))
        pinnedInFlight += 1
        return true
    }

    /// After a remote reply: end one-shot pins and wake input that waited for this route.
    func afterRemoteReply(_ conn: UpstreamConnection, frame: UnsafeRawBufferPointer, info: ReplyFrame) {
        if conn.pinned {
            if pinnedInFlight == 0 { pinReasons.remove(.blocking) }
            releasePinnedIfIdle()
            startSubscriptionMoveIfReady()
        }
        noteProgress()
    }

    /// Returns the pinned connection once no state and no request holds it.
    func releasePinnedIfIdle() {
        guard let p = pinned, pinnedInFlight == 0 else { return }
        let holding = pinReasons.subtracting(.dirty)
        if holding.isEmpty {
            let reusable = !pinReasons.contains(.dirty) && p.db == db && p.identity == identity
            pinned = nil
            pinReasons = []
            proxy.pool.release(p, reusable: reusable)
            noteProgress()
        }
    }

    /// Whether a (un)subscribe still waits for its confirmations.
    var hasPushAnsweredSlots: Bool {
        var i = 0
        while i < slots.count { if slots[i].pushesExpected > 0 { return true }; i += 1 }
        return false
    }

    /// The pinned connection closed under the session.
    func pinnedLost(_ conn: UpstreamConnection) {
        if subscriptionMoveLost(conn) { return }
        guard pinned === conn else { return }
        if !conn.everReady && !hasPushAnsweredSlots {
            // It never got going: nothing reached the server, and the requests waiting on it
            // come back unsent and go out on a new connection, state and all.
            pinned = nil
            return
        }
        pinned = nil
        // Push-answered slots will never complete; fail them.
        while let head = slots.first, !head.ready, head.pushesExpected > 0 {
            popSlot()
            pinnedInFlight -= 1
            addLocalReply(Array("-ERR Respite: upstream connection lost (\(conn.closeReason))\r\n".utf8))
        }
        drainReadySlots()
        let hadState = !pinReasons.subtracting([.blocking, .dirty]).isEmpty
        pinReasons = []
        channels.removeAll(); patterns.removeAll(); shardChannels.removeAll()
        if hadState {
            // The connection's state (transaction, subscriptions, tracking) is gone; a client
            // must not go on believing it holds it.
            Log.notice("Closing client id=\(id) addr=\(peer): its pinned upstream connection closed (\(conn.closeReason))")
            closeAfterReply = true
            maybeFinishClose()
        }
        markDirty()
    }

    func replyUnavailable(_ error: UpstreamUnavailable) {
        addLocalReply(Array("-ERR Respite: \(unavailableText(error))\r\n".utf8))
    }

    func unavailableText(_ error: UpstreamUnavailable) -> String {
        switch error {
        case .down(let why):
            return "upstream \(proxy.pool.settings.address) unavailable (\(why.isEmpty ? "connecting" : why))"
        case .tooManyPinned(let max):
            return "too many dedicated upstream connections (upstream-pinned-max \(max))"
        case .queueFull(let max):
            return "upstream queue full (upstream-queue-limit \(max))"
        }
    }

    /// The open transaction cannot run upstream: the rest of it, up to EXEC or DISCARD, is
    /// refused rather than run outside any transaction.
    func transactionFailed(_ why: String) {
        multiFailure = why
        endTransactionState()
    }

    /// Forgets the open transaction's queued shapes and rewrites; the connection is no longer
    /// held for MULTI or WATCH.
    func endTransactionState() {
        multiShapes.removeAll()
        multiName = nil
        multiDB = nil
        multiRewrites.removeAll()
        pinReasons.remove(.multi)
        pinReasons.remove(.watch)
    }

    /// Whether this call of command `cmdID` can block, from its syntax (`BlockingSyntax`).
    func blockingCall(_ cmdID: Int32, _ base: UnsafeRawPointer, _ args: ArgList) -> BlockingCall? {
        guard cmdID >= 0, let rule = proxy.commands.entries[Int(cmdID)].blocking else { return nil }
        return BlockingSyntax.call(rule, argc: args.count) { i in
            UnsafeRawBufferPointer(start: base + Int(args[i].offset), count: Int(args[i].length))
        }
    }

    /// AUTH, HELLO, QUIT and RESET run before the client has logged in, as on Redis.
    /// RESP2 PING while subscribed: `*2 pong <arg or "">`, as Redis answers it.
    func pingInSubscribedRESP2(frame: UnsafeRawBufferPointer, args: ArgList) -> Bool {
        if args.count > 2 {
            addLocalReply(Array("-ERR wrong number of arguments for 'ping' command\r\n".utf8))
            return true
        }
        var b = Array("*2\r\n$4\r\npong\r\n".utf8)
        if args.count == 2 {
            let a = UnsafeRawBufferPointer(start: frame.baseAddress! + Int(args[1].offset), count: Int(args[1].length))
            b += Array("$\(a.count)\r\n".utf8); b += Array(a); b += [13, 10]
        } else {
            b += Array("$0\r\n\r\n".utf8)
        }
        addLocalReply(b)
        return true
    }

    /// UNSUBSCRIBE and friends with no subscriptions: answered as Redis does, count 0.
    func unsubscribeWhenNotSubscribed(_ name: UnsafeRawBufferPointer, _ base: UnsafeRawPointer, _ args: ArgList) -> Bool {
        let kind = String(decoding: name, as: UTF8.self).lowercased()
        let header = proto == 3 ? ">3\r\n" : "*3\r\n"
        var b: [UInt8] = []
        if args.count == 1 {
            b += Array("\(header)$\(kind.utf8.count)\r\n\(kind)\r\n".utf8)
            b += Array((proto == 3 ? "_\r\n" : "$-1\r\n").utf8)
            b += Array(":0\r\n".utf8)
        } else {
            for k in 1..<args.count {
                let a = UnsafeRawBufferPointer(start: base + Int(args[k].offset), count: Int(args[k].length))
                b += Array("\(header)$\(kind.utf8.count)\r\n\(kind)\r\n$\(a.count)\r\n".utf8)
                b += Array(a); b += [13, 10]
                b += Array(":0\r\n".utf8)
            }
        }
        addLocalReply(b)
        return true
    }
}

/// Case-insensitive comparison of raw bytes with a lowercase ASCII literal: for option and
/// argument words (ON, OFF, REDIRECT…), never for command names, which the command table
/// resolves (`CommandInfo.kind`).
@inline(__always) func matches(_ a: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
    let n = s.utf8CodeUnitCount
    guard a.count == n else { return false }
    let p = s.utf8Start
    var i = 0
    while i < n {
        var c = a[i]
        if c >= 65 && c <= 90 { c += 32 }
        if c != p[i] { return false }
        i += 1
    }
    return true
}
