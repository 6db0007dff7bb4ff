// Session+Tracking: client-side caching (CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO) in
// Respite's client ids.
//
// Tracking lives on the client's pinned connection, which is never reused afterwards. A
// REDIRECT names a Respite client id, which the client registry resolves (ClientRegistry.swift);
// the server needs the id of that client's own upstream connection, so a target without a
// pinned connection gets one leased (and keeps it for life: invalidations may arrive there at
// any time), and the tracking request waits until that connection knows its server id. Ids the server reports back (GETREDIR, TRACKINGINFO's
// redirect, `tracking-redir-broken` pushes) are shown as the Respite id they stand for.
// Invalidations reach a client only as Redis would send them: a push to a RESP3 client, a
// `__redis__:invalidate` message to a RESP2 client in pub/sub mode, and nothing otherwise —
// never an unexpected frame in a RESP2 reply stream.

import RESP
import RespiteCommands
import RespiteUpstream

extension Session {
    /// `CLIENT TRACKING on|off [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`.
    func clientTracking(frame: UnsafeRawBufferPointer, args: ArgList, command: Int32, shape: ReplyShape) -> Bool {
        if sharedInFlight > 0 { return false }
        let base = frame.baseAddress!
        let r = LocalReply(proto: proto)
        if command >= 0 && !proxy.commands.entries[Int(command)].accepts(argc: args.count) {
            addLocalReply(r.error("ERR wrong number of arguments for '\(proxy.commands.entries[Int(command)].name)' command"))
            return true
        }
        let mode = UnsafeRawBufferPointer(start: base + Int(args[2].offset), count: Int(args[2].length))
        let on = matches(mode, "on")
        if !on && matches(mode, "off") && pinned == nil && !trackingOn {
            // Nothing to turn off; the server would answer the same.
            addLocalReply(r.ok())
            return true
        }
        var change = TrackingChange(on: on, redirect: nil)
        guard on, let redirect = redirectArgument(base, args) else {
            return sendTracking(frame, shape: shape, change: change)
        }
        guard let redirectID = redirect.id else {
            addLocalReply(r.error("ERR value is not an integer or out of range"))
            return true
        }
        let ids: RedirectIDs
        switch proxy.clients.redirectTarget(id: redirectID, waiter: self) {
        case .ready(let found): ids = found
        case .pending: return false
        case .noSuchClient:
            addLocalReply(r.error("ERR The client ID you want redirect to does not exist"))
            return true
        }
        let serverID = ids.server
        change.redirect = ids
        var parts: [[UInt8]] = args.map { Array(UnsafeRawBufferPointer(start: base + Int($0.offset), count: Int($0.length))) }
        parts[redirect.index] = Array(String(serverID).utf8)
        let scratch = ByteBuffer(capacity: frame.count + 32)
        InlineSplitter.encode(parts, into: scratch)
        return sendTracking(UnsafeRawBufferPointer(start: scratch.readPointer, count: scratch.readableCount), shape: shape, change: change)
    }

    /// `CLIENT TRACKING … REDIRECT <id> …`: the id (nil when not an integer) and its index.
    func redirectArgument(_ base: UnsafeRawPointer, _ args: ArgList) -> (id: Int64?, index: Int)? {
        var i = 3
        while i + 1 < args.count {
            let a = UnsafeRawBufferPointer(start: base + Int(args[i].offset), count: Int(args[i].length))
            if matches(a, "redirect") {
                let v = UnsafeRawBufferPointer(start: base + Int(args[i + 1].offset), count: Int(args[i + 1].length))
                return (Int64(String(decoding: v, as: UTF8.self)), i + 1)
            }
            // Options with a value: their value is never an option name.
            i += (matches(a, "prefix") ? 2 : 1)
        }
        return nil
    }

    private func sendTracking(_ frame: UnsafeRawBufferPointer, shape: ReplyShape, change: TrackingChange) -> Bool {
        pinReasons.insert(.tracking)
        pinReasons.insert(.dirty)
        let seq = nextSeq
        let sent = sendPinned(frame, shape: shape)
        if sent, let i = slotIndex(seq), !slots[i].ready {
            setExtras(at: i) { $0.tracking = change }
        }
        return sent
    }

    /// This session as a redirect target (asked by the client registry, on this session's
    /// loop): the server id of its own connection, leasing one when it has none. Nil while that
    /// is not known yet (`waiter` is woken to try again).
    func redirectableConnection(waiter: Session) -> Int64? {
        if pinned == nil || pinned!.state == .closed || pinned!.state == .draining {
            // Its requests in flight on the shared connection must come back first, or its
            // next ones (now on the pinned connection) could overtake them.
            if sharedInFlight > 0 {
                proxy.redirectWaiters.append(waiter)
                return nil
            }
            do {
                pinned = try proxy.pool.leasePinned(db: db, session: index)
            } catch {
                return nil
            }
        }
        pinReasons.insert(.redirectTarget)
        pinReasons.insert(.dirty)
        let id = pinned!.serverClientID
        if id < 0 {
            proxy.redirectWaiters.append(waiter)
            return nil
        }
        return id
    }

    /// The server accepted (or refused) a CLIENT TRACKING request.
    func applyTrackingChange(_ change: TrackingChange, accepted: Bool) {
        if accepted {
            trackingOn = change.on
            trackingRedirect = change.on ? change.redirect : nil
        }
        if !trackingOn { pinReasons.remove(.tracking) }
    }

    /// CLIENT CACHING, GETREDIR, TRACKINGINFO: the tracking connection answers; without one,
    /// tracking is off and Respite answers as Redis would.
    func trackingState(frame: UnsafeRawBufferPointer, args: ArgList, command: Int32, shape: ReplyShape) -> Bool {
        let r = LocalReply(proto: proto)
        if command >= 0 && !proxy.commands.entries[Int(command)].accepts(argc: args.count) {
            addLocalReply(r.error("ERR wrong number of arguments for '\(proxy.commands.entries[Int(command)].name)' command"))
            return true
        }
        let kind = command >= 0 ? proxy.commands.entries[Int(command)].kind : .other
        if let p = pinned, p.state != .closed {
            let seq = nextSeq
            let sent = sendPinned(frame, shape: shape)
            if sent && kind == .clientCaching && !inMulti { cachingArmed = true }
            if sent, let ids = trackingRedirect, kind != .clientCaching, let i = slotIndex(seq), !slots[i].ready {
                setExtras(at: i) { $0.redirectRewrite = ids }
            }
            return sent
        }
        if kind == .clientGetredir {
            addLocalReply(r.integer(-1))
        } else if kind == .clientTrackinginfo {
            var b = r.mapHeader(3)
            b += r.bulk(Array("flags".utf8)) + Array((proto == 3 ? "~1\r\n" : "*1\r\n").utf8) + r.bulk(Array("off".utf8))
            b += r.bulk(Array("redirect".utf8)) + r.integer(-1)
            b += r.bulk(Array("prefixes".utf8)) + r.arrayHeader(0)
            addLocalReply(b)
        } else {
            addLocalReply(r.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"))
        }
        return true
    }

    /// A GETREDIR or TRACKINGINFO reply with the server's id of the redirect target replaced
    /// by the target's Respite id (`:<server id>` as the whole reply or after `redirect`).
    static func rewriteRedirect(_ frame: UnsafeRawBufferPointer, _ ids: RedirectIDs) -> [UInt8] {
        let bytes = Array(frame)
        let needle = Array(":\(ids.server)\r\n".utf8)
        let replacement = Array(":\(ids.client)\r\n".utf8)
        if bytes == needle { return replacement }
        let key = Array("redirect\r\n".utf8) + needle
        guard bytes.count >= key.count else { return bytes }
        var i = 0
        while i + key.count <= bytes.count {
            if bytes[i] == key[0] && Array(bytes[i..<(i + key.count)]) == key {
                let at = i + key.count - needle.count
                return Array(bytes[..<at]) + replacement + Array(bytes[(at + needle.count)...])
            }
            i += 1
        }
        return bytes
    }

    /// `>2 tracking-redir-broken <server id>`: Redis tells a RESP3 tracking client its redirect
    /// target went away; shown with the target's Respite id. RESP2 clients get nothing.
    func writeRedirectBroken() {
        guard proto == 3 else { return }
        let shown = trackingRedirect?.client ?? 0
        outbuf.append(Array(">2\r\n$21\r\ntracking-redir-broken\r\n:\(shown)\r\n".utf8))
    }

    /// RESET of a redirect target: the connection keeps its server id (as the client keeps its
    /// id on Redis) and gets the server's own RESET, then `HELLO 3` (with the handshake's AUTH
    /// and name, which RESET drops) so pushes keep arriving as pushes. Neither reply reaches
    /// the client, which gets Respite's `+RESET` after them.
    func resetRedirectTargetConnection(_ conn: UpstreamConnection) {
        let settings = proxy.pool.settings
        var hello: [[UInt8]] = [Array("HELLO".utf8), Array("3".utf8)]
        if let pw = settings.password {
            hello += [Array("AUTH".utf8), Array((settings.user ?? "default").utf8), Array(pw.utf8)]
        }
        if !settings.clientName.isEmpty { hello += [Array("SETNAME".utf8), Array(settings.clientName.utf8)] }
        sendUnanswered([Array("RESET".utf8)], on: conn)
        sendUnanswered(hello, on: conn)
    }

    /// Sends Respite's own command on `conn` in this session's order; its reply is dropped.
    func sendUnanswered(_ command: [[UInt8]], on conn: UpstreamConnection) {
        let out = ByteBuffer(capacity: 128)
        InlineSplitter.encode(command, into: out)
        let seq = takeSlot(shape: .plain)
        slots[slots.count - 1].suppress = true
        let timeout = proxy.pool.settings.timeoutMs
        let deadline: Int64 = timeout > 0 ? proxy.pool.now + Int64(timeout) : 0
        conn.send(out.readPointer, out.readableCount, Pending(session: index, generation: generation, slot: seq, deadline: deadline))
        pinnedInFlight += 1
    }

    /// A command Respite answers itself follows CLIENT CACHING. On Redis any command but a
    /// CLIENT one consumes the CACHING flag; this one never reaches the server, so a PING
    /// consumes it there, and the read after it is tracked (or not) as on Redis.
    func consumeCachingFlag() {
        cachingArmed = false
        guard let p = pinned, p.acceptsRequests else { return }
        sendUnanswered([Array("PING".utf8)], on: p)
    }
}
