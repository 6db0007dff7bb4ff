// Session+SubscriptionMove: the shell around SubscriptionHandoff. When the pool retires a
// subscriber's pinned connection, a new one subscribes to every channel, pattern and shard
// channel, and both subscribe to a private marker channel; the marker is published on the new
// one, and the client hears the old connection up to the marker and the new one after it. The
// old connection closes at its marker; the new one then leaves the marker channel. While the
// subscriptions move, the client's further requests wait (they must run on the connection that
// ends up holding its subscriptions), the move's deadline being `maint-relaxed-timeout`.
//
// Each side's own requests are kept in order (`MoveRequest`), so every answer — confirmations,
// an error instead of them (`-NOPERM`, `-BUSY`), the PUBLISH's count — is matched to the request
// that asked: a refused marker only ends the search for the seam, a refused subscription of the
// client's abandons the move (the subscriptions stay where they are).

import EventLoop
import Observability
import RESP
import RespiteUpstream

/// A request of the move's own on one of its connections, answered in order.
enum MoveRequest: Equatable {
    /// The client's channels, patterns or shard channels: this many confirmations owed.
    case client(Int)
    case marker
    /// The marker's PUBLISH: answered by how many connections heard it.
    case publish
    /// The tail's UNSUBSCRIBE of the marker.
    case leave
}

/// The move in progress: the state machine, the two connections and their own requests.
struct SubscriptionMove {
    var machine: SubscriptionHandoff
    var old: UpstreamConnection?
    let new: UpstreamConnection
    var oldRequests: [MoveRequest] = [.marker]
    var newRequests: [MoveRequest]
    var timer: Event?
}

/// After the move: the connection holding the subscriptions leaves the marker channel; until it
/// has, pushes about the marker and late answers to the move's requests are Respite's.
struct SubscriptionMoveTail {
    let marker: [UInt8]
    var requests: [MoveRequest]
    var timer: Event?
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
    /// SUBSCRIBE still being confirmed there would be missed), and no transaction or blocked
    /// command holds it (the move waits for them to end).
    func startSubscriptionMoveIfReady() {
        if !subscriptionMoveWanted, subscriptionMove == nil, subscriptionMoveTail == nil, let p = pinned, p.retiring,
           subscribed, !inMulti, blocked == nil {
            // Retired while a transaction or a blocked command held it: move now it has ended.
            subscriptionMoveWanted = true
        }
        guard subscriptionMoveWanted, subscriptionMove == nil, pinnedInFlight == 0, !inMulti, blocked == nil else { return }
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
        var newRequests: [MoveRequest] = []
        for (name, set) in [("SUBSCRIBE", channels), ("PSUBSCRIBE", patterns), ("SSUBSCRIBE", shardChannels)] where !set.isEmpty {
            out.clear()
            InlineSplitter.encode([Array(name.utf8)] + set.sorted { $0.lexicographicallyPrecedes($1) }, into: out)
            fresh.sendPushAnswered(out.readPointer, out.readableCount, confirmations: set.count)
            newRequests.append(.client(set.count))
            count += set.count
        }
        out.clear()
        InlineSplitter.encode([Array("SUBSCRIBE".utf8), marker], into: out)
        fresh.sendPushAnswered(out.readPointer, out.readableCount, confirmations: 1)
        newRequests.append(.marker)
        old.sendPushAnswered(out.readPointer, out.readableCount, confirmations: 1)
        let hard = proxy.settings.outputLimits[.pubsub].hard
        var move = SubscriptionMove(machine: SubscriptionHandoff(marker: marker, newSubscriptions: count,
                                                                 heldLimit: hard > 0 ? hard : 32 * 1024 * 1024),
                                    old: old, new: fresh, newRequests: newRequests)
        move.timer = armMoveTimer()
        subscriptionMove = move
        Log.verbose("Client id=\(id): moving \(count) subscriptions from upstream connection \(old.id) to \(fresh.id)")
    }

    private func armMoveTimer() -> Event {
        let t = proxy.loop.timer(persist: false, sessionMoveDeadline, Unmanaged.passUnretained(self).toOpaque())
        t.add(timeoutMs: moveDeadlineMs)
        return t
    }

    /// How long the move waits for an answer: `maint-relaxed-timeout`, at least a second.
    private var moveDeadlineMs: Int { max(1000, proxy.pool.settings.maintenance.relaxedTimeoutMs) }

    /// A push (or a reply to one of the move's requests) on a connection of the move or its
    /// tail. True when handled here.
    func subscriptionMovePush(_ conn: UpstreamConnection, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) -> Bool {
        if subscriptionMove == nil, subscriptionMoveTail != nil {
            guard conn === pinned else { return false }
            return tailPush(frame, info)
        }
        guard var move = subscriptionMove else { return false }
        let side: SubscriptionHandoff.Side
        if conn === move.new { side = .new } else if conn === move.old { side = .old } else { return false }
        guard info.isPush else {
            let head = side == .new ? move.newRequests.first : move.oldRequests.first
            guard let head else { return true }
            if side == .new { move.newRequests.removeFirst() } else { move.oldRequests.removeFirst() }
            switch head {
            case .publish:
                // How many connections heard the marker: fewer than both means `old` is not on
                // the server `new` published on, and no seam will come.
                let heard = ReplyMerge.integer(Array(frame)) ?? 0
                if heard < 2 {
                    Log.notice("Client id=\(id): the subscription move's marker reached \(heard) connection(s), not both; no seam to find")
                    commit(&move, move.machine.giveUp())
                } else {
                    subscriptionMove = move
                }
            case .marker:
                Log.notice("Client id=\(id): the subscription move's marker channel was refused (\(Session.lineText(frame))); moving without a seam")
                commit(&move, move.machine.giveUp())
            case .client:
                // The new connection refused one of the client's subscriptions (-BUSY while a
                // script runs, an ACL changed): it cannot take over; they stay where they are.
                Log.warning("Client id=\(id): the connection taking over its subscriptions refused them (\(Session.lineText(frame))); they stay on upstream connection \(move.old?.id ?? -1)")
                abandonMove(move)
            case .leave:
                subscriptionMove = move
            }
            return true
        }
        switch PushKind.classify(frame, info) {
        case .subscribe(_, let name):
            let isMarker = name == move.machine.marker
            if side == .new { Session.countConfirmation(&move.newRequests, isMarker: isMarker) }
            else { Session.countConfirmation(&move.oldRequests, isMarker: isMarker) }
            commit(&move, move.machine.confirmed(side, marker: isMarker))
            return true
        case .unsubscribe(_, let name):
            return name == move.machine.marker
        case .message:
            let isMarker = PushKind.messageChannelIs(frame, info, move.machine.marker)
            // Another session's marker, matched by a pattern: never the client's.
            if !isMarker && !patterns.isEmpty && PushKind.patternMessageChannelHasPrefix(frame, info, HandoffMarker.channelPrefix) { return true }
            let (decision, s) = move.machine.message(side, isMarker: isMarker, bytes: frame.count)
            if decision == .hold { move.machine.hold(Array(frame)) }
            commit(&move, s)
            if decision == .deliver { writePush(frame, info); markDirty() }
            return true
        default:
            return false
        }
    }

    /// A confirmation counted against the oldest of the move's requests it answers.
    static func countConfirmation(_ requests: inout [MoveRequest], isMarker: Bool) {
        guard let head = requests.first else { return }
        if case .client(let n) = head, !isMarker {
            if n <= 1 { requests.removeFirst() } else { requests[0] = .client(n - 1) }
        } else if head == .marker && isMarker {
            requests.removeFirst()
        }
    }

    /// An error line's text, for the log.
    static func lineText(_ frame: UnsafeRawBufferPointer) -> String {
        String(decoding: frame.prefix(120).prefix { $0 != 13 }, as: UTF8.self)
    }

    /// Stores the move's new state, then carries out the machine's step.
    private func commit(_ move: inout SubscriptionMove, _ s: SubscriptionHandoff.Step) {
        subscriptionMove = move
        actOnMove(s)
    }

    private func tailPush(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) -> Bool {
        guard var tail = subscriptionMoveTail else { return false }
        guard info.isPush else {
            // An answer to one of the move's requests: the tail's own UNSUBSCRIBE ends it.
            let head = tail.requests.isEmpty ? nil : tail.requests.removeFirst()
            if case .client? = head {
                Log.warning("Client id=\(id): after its old connection ended, the new one refused some of its subscriptions (\(Session.lineText(frame)))")
            }
            if head == .leave { endTail() } else { subscriptionMoveTail = tail }
            return true
        }
        switch PushKind.classify(frame, info) {
        case .subscribe(_, let name):
            // A late confirmation of the move's own requests (the client waits for the tail).
            Session.countConfirmation(&tail.requests, isMarker: name == tail.marker)
            subscriptionMoveTail = tail
            return true
        case .unsubscribe(_, let name):
            guard name == tail.marker else { return false }
            endTail()
            return true
        case .message:
            return PushKind.messageChannelIs(frame, info, tail.marker)
        default:
            return false
        }
    }

    private func endTail() {
        subscriptionMoveTail?.timer?.free()
        subscriptionMoveTail = nil
        noteProgress()
    }

    private func actOnMove(_ step: SubscriptionHandoff.Step) {
        guard !closed, var move = subscriptionMove else { return }
        switch step {
        case .none:
            return
        case .publishMarker:
            move.new.sendOwnRequest([Array("PUBLISH".utf8), move.machine.marker, Array("handoff".utf8)])
            move.newRequests.append(.publish)
            subscriptionMove = move
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

    /// The move is over: the connection holding the subscriptions leaves the marker channel;
    /// the client's requests wait until it has (or the deadline passes).
    private func finishSubscriptionMove() {
        guard let move = subscriptionMove else { return }
        subscriptionMove = nil
        guard let conn = pinned, conn.state != .closed else { move.timer?.free(); noteProgress(); return }
        let out = ByteBuffer(capacity: 96)
        InlineSplitter.encode([Array("UNSUBSCRIBE".utf8), move.machine.marker], into: out)
        conn.sendPushAnswered(out.readPointer, out.readableCount, confirmations: 1)
        let owed = conn === move.new ? move.newRequests : move.oldRequests
        move.timer?.add(timeoutMs: moveDeadlineMs)
        subscriptionMoveTail = SubscriptionMoveTail(marker: move.machine.marker, requests: owed + [.leave], timer: move.timer)
    }

    /// The new connection cannot take over: it goes, and the old one leaves the marker channel.
    private func abandonMove(_ move: SubscriptionMove) {
        subscriptionMove = nil
        if move.new !== pinned { proxy.pool.release(move.new, reusable: false) }
        guard let old = move.old, old === pinned, old.state != .closed else { move.timer?.free(); noteProgress(); return }
        // Finished on the old connection, as if it were the one that took over.
        subscriptionMove = SubscriptionMove(machine: move.machine, old: nil, new: old, oldRequests: [],
                                            newRequests: move.oldRequests, timer: move.timer)
        finishSubscriptionMove()
    }

    /// The move's deadline passed (or its tail's): stop waiting for the seam, or for an answer.
    func subscriptionMoveDeadline() {
        if var move = subscriptionMove {
            if move.machine.phase == .givingUp {
                // Even the new connection's subscriptions did not come: it cannot take over.
                Log.warning("Client id=\(id): the connection taking over its subscriptions did not confirm them in time; they stay where they are")
                abandonMove(move)
            } else {
                Log.notice("Client id=\(id): the subscription move's marker did not come back in time")
                // Armed again: giving up may still wait for the new connection's confirmations.
                move.timer?.add(timeoutMs: moveDeadlineMs)
                commit(&move, move.machine.giveUp())
            }
        } else if subscriptionMoveTail != nil {
            Log.notice("Client id=\(id): the subscription move's last answer did not come in time")
            endTail()
        }
        proxy.flushDirty()
    }

    /// A connection of the move closed. True when it was one (the caller then does no more).
    func subscriptionMoveLost(_ conn: UpstreamConnection) -> Bool {
        if subscriptionMoveWanted && conn === pinned {
            subscriptionMoveWanted = false
            noteProgress()
        }
        if subscriptionMove == nil, subscriptionMoveTail != nil, conn === pinned {
            endTail()
            return false
        }
        guard var move = subscriptionMove else { return false }
        if conn === move.old {
            // The old connection ended first: the new one takes over with what it holds.
            move.old = nil
            if pinned === conn { pinned = nil }
            commit(&move, move.machine.oldEnded())
            if pinned == nil { pinned = move.new }
            return true
        }
        guard conn === move.new else { return false }
        if pinned === conn {
            // The old one is gone already: the session lost its subscriptions' connection.
            move.timer?.free()
            subscriptionMove = nil
            noteProgress()
            return false
        }
        Log.warning("Client id=\(id): the connection taking over its subscriptions closed; they stay where they are")
        abandonMove(move)
        return true
    }

    /// Releases what a move holds (the client closed).
    func dropSubscriptionMove() {
        subscriptionMoveWanted = false
        subscriptionMoveTail?.timer?.free()
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
