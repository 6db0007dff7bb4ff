// UpstreamConnection+Delivery: what a read's bytes become — each complete frame goes to its
// place (a maintenance push to the pool, other pushes and replies to the delegate, Respite's
// own replies to the handshake or to the control and id-refresh bookkeeping) — and the
// deadline checks the pool's tick runs.

import EventLoop
import Observability
import RESP
import RespiteMaintenance
#if canImport(Glibc)
import Glibc
#endif

extension UpstreamConnection {
    /// Frames and dispatches every complete reply in `inbuf`. False when the connection closed.
    func deliver() -> Bool {
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
                        if let head = fifo.first, head.kind == .pushAnswered,
                           UpstreamConnection.isSubscriptionConfirmation(frame, info.valueOffset) {
                            if head.slot <= 1 { fifo.popFirst() } else { fifo[0].slot = head.slot - 1 }
                        }
                        pool.delegate?.upstreamPush(self, frame, info)
                    }
                } else if dropMiscountedPushAnswers(info, frame), let head = fifo.first, head.kind == .pushAnswered {
                    // A request answered by pushes got its error instead.
                    fifo.popFirst()
                    pool.delegate?.upstreamPush(self, frame, info)
                } else if streaming && fifo.count == handshakeLeft && handshakeLeft == 0 {
                    pool.delegate?.upstreamPush(self, frame, info)
                } else if let p = fifo.popFirst() {
                    if loginCheck && p.kind == .client {
                        pool.delegate?.upstreamLoginChecked(self, p, frame, info)
                        close(reason: "released")
                        return false
                    } else if p.kind == .control {
                        // Respite's own one-shot command (CLIENT UNBLOCK): done, close.
                        drop(p)
                        if info.isError { Log.verbose("control command on \(address) failed: \(String(decoding: frame.prefix(80), as: UTF8.self))") }
                        close(reason: "released")
                        return false
                    } else if p.kind == .ownRequest {
                        pool.delegate?.upstreamPush(self, frame, info)
                        if state == .closed { return false }
                    } else if p.kind == .idRefresh {
                        drop(p)
                        idRefreshing = false
                        if case .integer(let id)? = (try? RESPValue.decode(frame))?.value { serverClientID = id }
                        if leasedTo >= 0 { pool.delegate?.upstreamPinnedReady(self) }
                        if state == .closed { return false }
                    } else if p.kind == .handshake {
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
        if let effective = overdueTimeout(now: now) { node.requestOverdue(self, now: now, timeoutMs: effective) }
    }

    /// Whether the oldest request has waited past its timeout by `now`.
    func headOverdue(now: Int64) -> Bool { overdueTimeout(now: now) != nil }

    /// The timeout (ms, stretched while timeouts are relaxed) the oldest request has outwaited.
    /// While the handshake runs, that is the oldest client request held behind it: a server that
    /// never answers the handshake fails them too, one that answers `-BUSY` keeps them waiting.
    func overdueTimeout(now: Int64) -> Int? {
        guard state == .ready || state == .draining || state == .handshaking else { return nil }
        let i = state == .handshaking ? handshakeLeft : 0
        guard i < fifo.count else { return nil }
        let head = fifo[i]
        guard head.deadline > 0 else { return nil }
        let normal = pool.settings.timeoutMs
        let effective = relaxed.timeout(normal: normal, relaxed: pool.settings.maintenance.relaxedTimeoutMs, now: now)
        return head.deadline + Int64(effective - normal) <= now ? effective : nil
    }
}

extension UpstreamConnection {
    /// Before a reply: an entry for a request answered by pushes can only take an error (Redis
    /// sends nothing else there); ahead of any other reply, its confirmations were miscounted
    /// and it goes. Always true (a condition step).
    func dropMiscountedPushAnswers(_ info: ReplyFrame, _ frame: UnsafeRawBufferPointer) -> Bool {
        guard !info.isError else { return true }
        while let head = fifo.first, head.kind == .pushAnswered {
            fifo.popFirst()
            Log.warning("upstream connection \(id): a reply where subscription confirmations were expected: \(String(decoding: frame.prefix(60), as: UTF8.self).debugDescription)")
        }
        return true
    }

    /// Whether a push is a (un)subscribe confirmation: its first element is `subscribe`,
    /// `psubscribe`, `ssubscribe`, `unsubscribe`, `punsubscribe` or `sunsubscribe`.
    static func isSubscriptionConfirmation(_ frame: UnsafeRawBufferPointer, _ valueOffset: Int) -> Bool {
        // `>N\r\n` then `$len\r\n<name>\r\n` (or `+<name>\r\n`).
        var i = valueOffset
        while i + 1 < frame.count && !(frame[i] == 13 && frame[i + 1] == 10) { i += 1 }
        i += 2
        guard i < frame.count else { return false }
        let type = frame[i]
        var start = i + 1, end = start
        while end + 1 < frame.count && !(frame[end] == 13 && frame[end + 1] == 10) { end += 1 }
        if type == UInt8(ascii: "$") {
            var n = 0
            for k in start..<end {
                let d = Int(frame[k]) - 48
                guard d >= 0 && d <= 9 else { return false }
                n = n * 10 + d
            }
            start = end + 2
            end = start + n
            guard end <= frame.count else { return false }
        } else if type != UInt8(ascii: "+") {
            return false
        }
        let name = UnsafeRawBufferPointer(rebasing: frame[start..<end])
        func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c + 32 : c }
        return confirmationNames.contains { word in
            word.count == name.count && zip(word, name).allSatisfy { $0 == lower($1) }
        }
    }

    static let confirmationNames: [[UInt8]] = ["subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"].map { Array($0.utf8) }
}
