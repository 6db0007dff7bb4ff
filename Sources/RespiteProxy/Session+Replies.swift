// Session+Replies: reply slots and how replies reach the client in request order, shaped for
// the client's protocol.

import Observability
import RESP
import RespiteCommands
import RespiteUpstream

extension Session {
    /// Takes the next reply slot for a request routed upstream.
    func takeSlot(shape: ReplyShape, pushes: Int32 = 0, execShapes: [ReplyShape]? = nil) -> UInt32 {
        replies.take(shape: shape, suppress: consumeReplyMode(), pushes: pushes, execShapes: execShapes)
    }

    /// Whether the next reply is suppressed (CLIENT REPLY OFF / SKIP); SKIP lasts one reply.
    private func consumeReplyMode() -> Bool {
        switch replyMode {
        case .on: return false
        case .off: return true
        case .skipNext: replyMode = .on; return true
        }
    }

    /// Queues a locally produced reply; it goes out once every earlier reply has.
    func addLocalReply(_ bytes: [UInt8], honorReplyMode: Bool = true) {
        let suppress = honorReplyMode && consumeReplyMode()
        if replies.addReady(bytes, suppress: suppress) && !suppress { outbuf.append(bytes) }
    }

    /// Writes every ready slot at the head.
    func drainReadySlots() {
        replies.drainReady { outbuf.append($0) }
    }

    /// Drops the oldest slot, and whatever it kept beside the ring.
    func popSlot() { replies.pop() }

    /// The extras of the slot at `i`, created on first use.
    func setExtras(at i: Int, _ update: (inout SlotExtras) -> Void) { replies.setExtras(at: i, update) }

    /// An upstream reply for slot `seq`. Usually the oldest owed slot; a request sent again
    /// after a lost connection or a did-not-run error can be overtaken by later ones, and then
    /// its reply waits in its slot like a local one.
    func upstreamReply(_ conn: UpstreamConnection, seq: UInt32, frame: UnsafeRawBufferPointer, info: ReplyFrame) {
        if conn.pinned && blocked != nil && reissueIfUnblocked(conn, seq: seq, info: info, frame: frame) { return }
        if let masked = maskedReply(seq: seq, frame: frame, info: info) {
            masked.bytes.withUnsafeBytes { upstreamReply(conn, seq: seq, frame: $0, info: masked.info) }
            return
        }
        if conn.pinned { pinnedInFlight -= 1 } else { sharedInFlight -= 1 }
        replyBytesAverage &+= (frame.count &- replyBytesAverage) >> 3
        if seq == multiSeq {
            multiSeq = .max
            if info.isError && inMulti {
                transactionFailed(String(decoding: frame.dropFirst().prefix(max(0, frame.count - 3)), as: UTF8.self))
            }
        }
        if let head = slots.first, head.seq == seq, !head.ready {
            if head.hasExtras, let extras = slotExtras[seq] {
                if extras.nameOnSuccess != nil || extras.dbOnSuccess != nil {
                    if info.type == UInt8(ascii: "*"), frame.count > 1, frame[1] != UInt8(ascii: "-") {
                        if let n = extras.nameOnSuccess { name = n }
                        if let n = extras.dbOnSuccess { db = n }
                    }
                    awaitingLocalEffect = false
                    noteProgress()
                }
                if let change = extras.tracking { applyTrackingChange(change, accepted: !info.isError) }
                if let override = extras.replyOverride {
                    if !head.suppress { outbuf.append(override) }
                    popSlot(); drainReadySlots(); markDirty()
                    afterRemoteReply(conn, frame: frame, info: info)
                    return
                }
                if let ids = extras.redirectRewrite, !info.isError {
                    let rewritten = Session.rewriteRedirect(frame, ids)
                    rewritten.withUnsafeBytes { raw in
                        let shown = ReplyFrame(length: raw.count, type: info.type, hasRESP3: info.hasRESP3, valueOffset: info.valueOffset)
                        if !head.suppress { writeReply(raw, shown, head, into: outbuf) }
                    }
                    popSlot(); drainReadySlots(); markDirty()
                    afterRemoteReply(conn, frame: frame, info: info)
                    return
                }
            }
            if !head.suppress { writeReply(frame, info, head, into: outbuf) }
            popSlot()
            drainReadySlots()
        } else if let i = slotIndex(seq), !slots[i].ready {
            let held = proxy.scratch
            held.clear()
            if !slots[i].suppress { writeReply(frame, info, slots[i], into: held) }
            let bytes = held.readableBytes()
            setExtras(at: i) { $0.local = bytes }
            slots[i].ready = true
        } else {
            Log.warning("Reply order broken for client id=\(id) (slot \(seq)); closing it")
            close()
            return
        }
        // Marked before the pin may be released: releasing closes a dirty connection, and a
        // connection that closes while delivering flushes the sessions marked by then.
        markDirty()
        afterRemoteReply(conn, frame: frame, info: info)
        // Past the hard limit on a shared connection's delivery the client goes at once, as
        // Redis closes it when the reply is queued: one read pass of big replies cannot pile
        // up far past the limit before the flush would check it.
        if !conn.pinned { checkHardOutputLimit() }
    }

    /// Index of the slot with sequence number `seq`.
    func slotIndex(_ seq: UInt32) -> Int? { replies.index(of: seq) }

    /// The upstream could not answer slot `seq`.
    func upstreamFailed(_ conn: UpstreamConnection, seq: UInt32, error: String) {
        var b: [UInt8] = [UInt8(ascii: "-")]
        b.append(contentsOf: Array(error.utf8))
        b.append(13); b.append(10)
        b.withUnsafeBytes { raw in
            upstreamReply(conn, seq: seq, frame: raw, info: ReplyFrame(length: raw.count, type: UInt8(ascii: "-"), hasRESP3: false, valueOffset: 0))
        }
    }

    func writeReply(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame, _ slot: ReplySlot, into out: ByteBuffer) {
        if proto == 3 || (!info.hasRESP3 && !(slot.shape.flattenPairs && RESP2Shaper.needsShaping(frame, shape: slot.shape))) {
            out.append(frame)
        } else if slot.hasExtras, let shapes = slotExtras[slot.seq]?.execShapes {
            if !RESP2Shaper.shapeExec(frame: frame, elementShapes: shapes, into: out) { out.append(frame) }
        } else {
            if !RESP2Shaper.shape(frame: frame, shape: slot.shape, into: out) { out.append(frame) }
        }
    }

    /// A push on this session's pinned connection: pub/sub traffic, invalidations, MONITOR lines.
    func pinnedPush(_ conn: UpstreamConnection, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        if (subscriptionMove != nil || subscriptionMoveTail != nil) && subscriptionMovePush(conn, frame, info) { return }
        if !info.isPush {
            if pinReasons.contains(.monitor) {
                // A MONITOR line: the server streams them as plain replies nobody asked for.
                outbuf.append(frame)
                markDirty()
            } else {
                // The error answering a SUBSCRIBE-like request (`-NOPERM`).
                pushRequestFailed(frame)
            }
            return
        }
        let pushKind = PushKind.classify(frame, info)
        switch pushKind {
        case .subscribe(let kind, let name):
            if let name { insertSubscription(kind, name) }
            confirmSubscriptionPush(frame, info)
        case .unsubscribe(let kind, let name):
            if let name { removeSubscription(kind, name) }
            confirmSubscriptionPush(frame, info)
        case .invalidate where proto == 2:
            // Redis sends a RESP2 client invalidations only as a pub/sub message, only in
            // pub/sub mode, and only those redirected to it (its own tracking without REDIRECT
            // gets nothing); anything else would land in its reply stream.
            guard subscribed && pinReasons.contains(.redirectTarget) else { return }
            writeInvalidationAsMessage(frame, info)
        case .message:
            // A pattern may match the marker of another session's subscription move.
            if !patterns.isEmpty && PushKind.patternMessageChannelHasPrefix(frame, info, HandoffMarker.channelPrefix) { return }
            writePush(frame, info)
        case .invalidate:
            writePush(frame, info)
        case .redirectBroken:
            writeRedirectBroken()
        case .maintenance, .other:
            // Pushes of the maintenance family (known or not) arrive because Respite opted in;
            // they are never the client's.
            Log.debug("Client id=\(id): dropped a push that is not the client's")
            return
        }
        markDirty()
    }

    /// Forwards a (un)subscribe confirmation and counts it against the request that asked.
    private func confirmSubscriptionPush(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        writePush(frame, info)
        guard var head = slots.first, !head.ready, head.pushesExpected > 0 else { return }
        head.pushesExpected -= 1
        if head.pushesExpected > 0 { slots[0] = head; return }
        pushRequestDone()
    }

    /// A SUBSCRIBE-like request was refused (an ACL without the channel): its error is its
    /// reply, as Redis sends it, and the connection goes on.
    private func pushRequestFailed(_ frame: UnsafeRawBufferPointer) {
        guard let head = slots.first, !head.ready, head.pushesExpected > 0 else {
            Log.warning("Client id=\(id): dropped a reply nobody asked for: \(String(decoding: frame.prefix(80), as: UTF8.self))")
            return
        }
        writePush(frame)
        markDirty()
        if !subscribed { pinReasons.remove(.subscribed) }
        pushRequestDone()
    }

    private func pushRequestDone() {
        popSlot()
        pinnedInFlight -= 1
        drainReadySlots()
        releasePinnedIfIdle()
        startSubscriptionMoveIfReady()
        noteProgress()
    }

    /// RESP2 clients get invalidations (REDIRECT) the way Redis sends them to a RESP2 subscriber:
    /// a message on `__redis__:invalidate` whose payload is the key array (or a null bulk).
    func writeInvalidationAsMessage(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        // Skip `>2\r\n` and the `invalidate` element; what remains is the payload.
        var i = info.valueOffset
        var lines = 0
        while i + 1 < frame.count && lines < 3 {
            if frame[i] == 13 && frame[i + 1] == 10 { lines += 1 }
            i += 1
        }
        i += 1
        guard i <= frame.count else { return }
        outbuf.append("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n" as StaticString)
        let payload = UnsafeRawBufferPointer(rebasing: frame[i...])
        if payload.first == UInt8(ascii: "_") {
            outbuf.append("$-1\r\n" as StaticString)
        } else {
            RESP2Shaper.shape(frame: payload, shape: .plain, into: outbuf)
        }
    }

    func writePush(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) { writePush(frame) }

    func writePush(_ frame: UnsafeRawBufferPointer) {
        if proto == 3 {
            outbuf.append(frame)
        } else {
            RESP2Shaper.shape(frame: frame, shape: .plain, into: outbuf)
        }
    }

    func insertSubscription(_ k: SubscriptionKind, _ name: [UInt8]) {
        switch k {
        case .channel: channels.insert(name)
        case .pattern: patterns.insert(name)
        case .shard: shardChannels.insert(name)
        }
        pinReasons.insert(.subscribed)
    }

    func removeSubscription(_ k: SubscriptionKind, _ name: [UInt8]) {
        switch k {
        case .channel: channels.remove(name)
        case .pattern: patterns.remove(name)
        case .shard: shardChannels.remove(name)
        }
        if !subscribed { pinReasons.remove(.subscribed) }
    }
}
