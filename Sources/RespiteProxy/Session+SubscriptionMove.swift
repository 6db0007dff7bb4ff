// Session+SubscriptionMove: the shell around SubscriptionHandoff. When the pool retires a
// subscriber's pinned connection, a new one subscribes to every channel, pattern and shard
// channel, and both subscribe to a private marker channel; the marker is published on the new
// one, and the client hears the old connection up to the marker and the new one after it. The
// old connection closes at its marker; the new one then leaves the marker channel. While the
// subscriptions move, the client's further requests wait (they must run on the connection that
// ends up holding its subscriptions), for at most `maint-relaxed-timeout`.

import EventLoop
import Observability
import RESP
import RespiteUpstream

/// The move in progress: the state machine and the two connections.
struct SubscriptionMove {
    var machine: SubscriptionHandoff
    var old: UpstreamConnection?
    let new: UpstreamConnection
    var timer: Event?
}

/// After the move: the new connection leaves the marker channel; until it has, pushes about the
/// marker and late subscription confirmations are Respite's, not the client's.
struct SubscriptionMoveTail {
    let marker: [UInt8]
}

enum HandoffMarker {
    /// Every marker's channel starts so; a pattern message on such a channel is never a client's.
    static let channelPrefix: StaticString = "__respite:handoff:"
    /// Per process, so that no client's channel can be taken for a marker.
    static let prefix = "\(channelPrefix)\(String(UInt64.random(in: 1...UInt64.max), radix: 16)):"
}

extension Session {
    /// Input waits while subscriptions move.
    var subscriptionsMoving: Bool { subscriptionMoveWanted || subscriptionMove != nil || subscriptionMoveTail != nil }

    /// Starts the move once nothing of the client's is in flight on the old connection (a
    /// SUBSCRIBE still being confirmed there would be missed).
    func startSubscriptionMoveIfReady() {
        guard subscriptionMoveWanted, subscriptionMove == nil, pinnedInFlight == 0 else { return }
        subscriptionMoveWanted = false
        guard let old = pinned, old.state != .closed, subscribed else { noteProgress(); return }
        let fresh: UpstreamConnection
        do {
            fresh = try proxy.pool.leasePinned(db: db, identity: identity, session: index)
        } catch {
            Log.warning("Client id=\(id): cannot open a connection to move its subscriptions (\(error)); they end when the old connection closes")
            noteProgress()
            return
        }
        handoffCount += 1
        let marker = Array("\(HandoffMarker.prefix)\(id):\(handoffCount)".utf8)
        let out = ByteBuffer(capacity: 256)
        var count = 0
        for (name, set) in [("SUBSCRIBE", channels), ("PSUBSCRIBE", patterns), ("SSUBSCRIBE", shardChannels)] where !set.isEmpty {
            out.clear()
            InlineSplitter.encode([Array(name.utf8)] + set.sorted { $0.lexicographicallyPrecedes($1) }, into: out)
            fresh.sendPushAnswered(out.readPointer, out.readableCount, confirmations: set.count)
            count += set.count
        }
        out.clear()
        InlineSplitter.encode([Array("SUBSCRIBE".utf8), marker], into: out)
        fresh.sendPushAnswered(out.readPointer, out.readableCount, confirmations: 1)
        old.sendPushAnswered(out.readPointer, out.readableCount, confirmations: 1)
        let hard = proxy.settings.outputLimits[.pubsub].hard
        var move = SubscriptionMove(machine: SubscriptionHandoff(marker: marker, newSubscriptions: count,
                                                                 heldLimit: hard > 0 ? hard : 32 * 1024 * 1024),
                                    old: old, new: fresh)
        let t = proxy.loop.timer(persist: false, sessionMoveDeadline, Unmanaged.passUnretained(self).toOpaque())
        t.add(timeoutMs: max(1000, proxy.pool.settings.maintenance.relaxedTimeoutMs))
        move.timer = t
        subscriptionMove = move
        Log.verbose("Client id=\(id): moving \(count) subscriptions from upstream connection \(old.id) to \(fresh.id)")
    }

    /// A push (or an error answering a subscription request) on a connection of the move or its
    /// tail. True when handled here.
    func subscriptionMovePush(_ conn: UpstreamConnection, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) -> Bool {
        if subscriptionMove == nil, let tail = subscriptionMoveTail {
            guard conn === pinned else { return false }
            return tailPush(tail, frame, info)
        }
        guard var move = subscriptionMove else { return false }
        let side: SubscriptionHandoff.Side
        if conn === move.new { side = .new } else if conn === move.old { side = .old } else { return false }
        guard info.isPush else {
            // A subscription refused (-NOPERM): no seam to find.
            Log.notice("Client id=\(id): a subscription was refused while moving its subscriptions: \(String(decoding: frame.prefix(120), as: UTF8.self))")
            let step = move.machine.giveUp()
            subscriptionMove = move
            actOnMove(step)
            return true
        }
        switch PushKind.classify(frame, info) {
        case .subscribe:
            let step = move.machine.confirmed(side)
            subscriptionMove = move
            actOnMove(step)
            return true
        case .unsubscribe(_, let name):
            return name == move.machine.marker
        case .message:
            let isMarker = PushKind.messageChannelIs(frame, info, move.machine.marker)
            // Another session's marker, matched by a pattern: never the client's.
            if !isMarker && !patterns.isEmpty && PushKind.patternMessageChannelHasPrefix(frame, info, HandoffMarker.channelPrefix) { return true }
            let (decision, step) = move.machine.message(side, isMarker: isMarker, bytes: frame.count)
            if decision == .hold { move.machine.hold(Array(frame)) }
            subscriptionMove = move
            actOnMove(step)
            if decision == .deliver { writePush(frame, info); markDirty() }
            return true
        default:
            return false
        }
    }

    private func tailPush(_ tail: SubscriptionMoveTail, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) -> Bool {
        guard info.isPush else { return true }   // a late refusal of a subscription request
        switch PushKind.classify(frame, info) {
        case .subscribe:
            return true   // late confirmations (the client's own requests wait until the tail ends)
        case .unsubscribe(_, let name):
            guard name == tail.marker else { return false }
            subscriptionMoveTail = nil
            noteProgress()
            return true
        case .message:
            return PushKind.messageChannelIs(frame, info, tail.marker)
        default:
            return false
        }
    }

    private func actOnMove(_ step: SubscriptionHandoff.Step) {
        guard var move = subscriptionMove else { return }
        switch step {
        case .none:
            return
        case .publishMarker:
            move.new.sendDiscarding([Array("PUBLISH".utf8), move.machine.marker, Array("handoff".utf8)])
        case .switchOver(let held, let exact):
            if let old = move.old {
                move.old = nil
                subscriptionMove = move
                if pinned === old { pinned = nil }
                proxy.pool.release(old, reusable: false)
            }
            pinned = move.new
            for f in held { f.withUnsafeBytes { writePush($0) } }
            if !held.isEmpty { markDirty() }
            if exact {
                Log.verbose("Client id=\(id): subscriptions moved to upstream connection \(move.new.id)")
            } else {
                Log.notice("Client id=\(id): subscriptions moved to upstream connection \(move.new.id) without a seam (\(held.count) messages held): a message may repeat")
            }
            if move.machine.phase == .done { finishSubscriptionMove() }
        case .finished:
            finishSubscriptionMove()
        }
    }

    /// The move is over: the connection holding the subscriptions leaves the marker channel.
    private func finishSubscriptionMove() {
        guard let move = subscriptionMove else { return }
        move.timer?.free()
        subscriptionMove = nil
        guard let conn = pinned, conn.state != .closed else { noteProgress(); return }
        let out = ByteBuffer(capacity: 96)
        InlineSplitter.encode([Array("UNSUBSCRIBE".utf8), move.machine.marker], into: out)
        conn.sendPushAnswered(out.readPointer, out.readableCount, confirmations: 1)
        subscriptionMoveTail = SubscriptionMoveTail(marker: move.machine.marker)
    }

    /// The move's deadline passed without the seam: the new connection takes over.
    func subscriptionMoveDeadline() {
        guard var move = subscriptionMove else { return }
        Log.notice("Client id=\(id): the subscription move's marker did not come back in time")
        let step = move.machine.giveUp()
        subscriptionMove = move
        actOnMove(step)
        proxy.flushDirty()
    }

    /// A connection of the move closed. True when it was one (the caller then does no more).
    func subscriptionMoveLost(_ conn: UpstreamConnection) -> Bool {
        if subscriptionMoveWanted && conn === pinned {
            subscriptionMoveWanted = false
            noteProgress()
        }
        if subscriptionMove == nil, subscriptionMoveTail != nil, conn === pinned {
            subscriptionMoveTail = nil
            noteProgress()
            return false
        }
        guard var move = subscriptionMove else { return false }
        if conn === move.old {
            // The old connection ended first: the new one takes over with what it holds.
            move.old = nil
            if pinned === conn { pinned = nil }
            let step = move.machine.giveUp()
            subscriptionMove = move
            actOnMove(step)
            return true
        }
        guard conn === move.new else { return false }
        move.timer?.free()
        subscriptionMove = nil
        if pinned === conn {
            // The old one is gone already: the session lost its subscriptions' connection.
            noteProgress()
            return false
        }
        // The subscriptions stay on the old connection, which leaves the marker channel.
        Log.warning("Client id=\(id): the connection taking over its subscriptions closed; they stay where they are")
        subscriptionMove = SubscriptionMove(machine: move.machine, old: nil, new: pinned ?? conn, timer: nil)
        finishSubscriptionMove()
        return true
    }

    /// Releases what a move holds (the client closed).
    func dropSubscriptionMove() {
        subscriptionMoveWanted = false
        subscriptionMoveTail = nil
        guard let move = subscriptionMove else { return }
        subscriptionMove = nil
        move.timer?.free()
        if let old = move.old, old !== pinned { proxy.pool.release(old, reusable: false) }
        if move.new !== pinned { proxy.pool.release(move.new, reusable: false) }
    }
}

let sessionMoveDeadline: EventCallback = { _, _, ctx in
    Unmanaged<Session>.fromOpaque(ctx!).takeUnretainedValue().subscriptionMoveDeadline()
}
