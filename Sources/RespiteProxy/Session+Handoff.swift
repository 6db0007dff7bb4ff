// Session+Handoff: moving a session's pinned state to a new upstream connection when the old
// one must be handed off (MOVING). Subscriptions move at once (Session+SubscriptionMove.swift,
// exactly once by a marker: SubscriptionHandoff.swift). A blocked command is released with
// `CLIENT UNBLOCK … TIMEOUT` and re-issued on a new connection with the time it has left. A
// transaction hands off when it ends (the pool closes a retiring connection when the session
// releases it).

import EventLoop
import Observability
import RESP
import RespiteCommands
import RespiteUpstream

extension Session {
    /// The pool retires `conn`, this session's pinned connection.
    func pinnedRetiring(_ conn: UpstreamConnection) {
        guard pinned === conn, !subscriptionsMoving else { return }
        if subscribed && !inMulti {
            subscriptionMoveWanted = true
            startSubscriptionMoveIfReady()
        } else if blocked != nil && !inMulti {
            unblockForHandoff(conn)
        }
    }
}

/// A blocking command in flight on a pinned connection, kept so a handoff can re-issue it.
struct BlockedRequest {
    var bytes: [UInt8]
    var args: [ArgRange]
    /// Argument holding the timeout, and whether it is in milliseconds (XREAD BLOCK, WAIT).
    var timeoutArg: Int
    var millis: Bool
    var startedAt: Int64
    var seq: UInt32
    var shape: ReplyShape
    /// CLIENT UNBLOCK was sent for it; a null reply means "re-issue", a value is delivered.
    var unblocking = false
    /// A client's CLIENT UNBLOCK was relayed for it: it is no longer blocked as far as other
    /// clients can tell (a second CLIENT UNBLOCK answers 0, as Redis does), and its reply is
    /// delivered, never re-issued by a handoff.
    var unblockedByClient = false
    /// The client's CLIENT UNBLOCK came while the pinned connection was still in its handshake
    /// (its upstream id unknown): the mode to relay once the connection is ready.
    var unblockRelayMode: [UInt8]?
}

extension Session {
    /// Sends a blocking command on the pinned connection and remembers it for a handoff.
    /// `call` (from `BlockingSyntax`) says where the timeout is, for a re-issue.
    func sendBlocking(_ frame: UnsafeRawBufferPointer, args: ArgList, shape: ReplyShape, call: BlockingCall?) -> Bool {
        let seqBefore = nextSeq
        guard sendPinned(frame, shape: shape, blocking: true) else { return false }
        if let i = slotIndex(seqBefore), !slots[i].ready, let call, let arg = call.timeoutIndex {
            blocked = BlockedRequest(bytes: Array(frame), args: Array(args), timeoutArg: arg, millis: call.millis,
                                     startedAt: monotonicMs(), seq: seqBefore, shape: shape)
        }
        return true
    }

    /// Another client's CLIENT UNBLOCK of this one: answered 1 while the blocking command waits
    /// (sent or held behind the pinned connection's handshake) and relayed to its upstream
    /// connection as soon as that connection's id is known — so an unblock that arrives right
    /// after the command, before the connection is set up, is not lost. False when not blocked.
    func unblockByClient(mode: String) -> Bool {
        guard var b = blocked, !b.unblockedByClient, let conn = pinned, conn.state != .closed else { return false }
        // No id to relay by, and none coming (the upstream refused CLIENT ID): as before.
        if conn.serverClientID < 0 && conn.state == .ready && !conn.idRefreshing { return false }
        b.unblockedByClient = true
        if conn.serverClientID < 0 {
            b.unblockRelayMode = Array(mode.utf8)
            blocked = b
            return true
        }
        blocked = b
        relayUnblock(on: conn, mode: Array(mode.utf8))
        return true
    }

    /// The pinned connection is set up: an unblock that waited for its id goes out now (after
    /// the blocking command, which was written as the connection went ready).
    func pinnedReady(_ conn: UpstreamConnection) {
        guard conn === pinned, var b = blocked, let mode = b.unblockRelayMode, conn.serverClientID >= 0 else { return }
        b.unblockRelayMode = nil
        blocked = b
        relayUnblock(on: conn, mode: mode)
    }

    private func relayUnblock(on conn: UpstreamConnection, mode: [UInt8]) {
        proxy.pool.runControlCommand([Array("CLIENT".utf8), Array("UNBLOCK".utf8), Array(String(conn.serverClientID).utf8), mode],
                                     on: conn.address)
    }

    /// The pinned connection is retiring while a blocking command waits on it: release it with
    /// `CLIENT UNBLOCK … TIMEOUT` from a sibling connection to the old endpoint; its null reply
    /// then re-issues the command on a new connection with the time it has left.
    func unblockForHandoff(_ conn: UpstreamConnection) {
        guard var b = blocked, !b.unblocking, pinnedInFlight == 1, conn.serverClientID >= 0 else { return }
        b.unblocking = true
        blocked = b
        proxy.pool.runControlCommand([Array("CLIENT".utf8), Array("UNBLOCK".utf8), Array(String(conn.serverClientID).utf8),
                                      Array("TIMEOUT".utf8)], on: conn.address)
        Log.verbose("Client id=\(id): unblocking its blocked command on upstream connection \(conn.id) to move it")
    }

    /// A reply for the blocked command. True when it was re-issued instead of delivered.
    func reissueIfUnblocked(_ conn: UpstreamConnection, seq: UInt32, info: ReplyFrame, frame: UnsafeRawBufferPointer) -> Bool {
        guard let b = blocked, b.seq == seq else { return false }
        blocked = nil
        guard b.unblocking, !b.unblockedByClient else { return false }
        let isNull = frame.count >= 3 && (frame[0] == UInt8(ascii: "_") || (frame[1] == UInt8(ascii: "-") && frame[2] == UInt8(ascii: "1")))
        guard isNull else { return false }   // it got a value before the unblock: deliver it
        // Time left of the original timeout (0 = forever stays 0).
        var parts: [[UInt8]] = b.args.map { a in Array(b.bytes[Int(a.offset)..<Int(a.offset + a.length)]) }
        guard let original = Double(String(decoding: parts[b.timeoutArg], as: UTF8.self)) else { return false }
        let elapsedMs = Double(monotonicMs() - b.startedAt)
        var left = original
        if original > 0 {
            left = b.millis ? original - elapsedMs : original - elapsedMs / 1000
            if left <= 0 { return false }   // it really timed out
            if b.millis { left = left.rounded(.up) }
        }
        parts[b.timeoutArg] = Array((b.millis ? String(Int(left)) : String(left)).utf8)
        // The old connection goes (it is retiring); the command goes to a new one, same slot.
        pinnedInFlight -= 1
        if let old = pinned { pinned = nil; proxy.pool.release(old, reusable: false) }
        let fresh: UpstreamConnection
        do {
            fresh = try proxy.pool.leasePinned(db: db, identity: identity, session: index)
        } catch {
            pinnedInFlight += 1
            return false
        }
        pinned = fresh
        let out = ByteBuffer(capacity: b.bytes.count + 16)
        InlineSplitter.encode(parts, into: out)
        fresh.send(out.readPointer, out.readableCount, Pending(session: index, generation: generation, slot: seq, deadline: 0))
        pinnedInFlight += 1
        let reencoded = Array(UnsafeRawBufferPointer(start: out.readPointer, count: out.readableCount))
        var ranges = RequestScanner(limits: RESPLimits())
        reencoded.withUnsafeBufferPointer { p in _ = ranges.scan(p.baseAddress!, p.count) }
        blocked = BlockedRequest(bytes: reencoded, args: Array(ranges.args), timeoutArg: b.timeoutArg, millis: b.millis,
                                 startedAt: monotonicMs(), seq: seq, shape: b.shape)
        Log.verbose("Client id=\(id): re-issued its blocking command on upstream connection \(fresh.id) with timeout \(left)")
        return true
    }
}
