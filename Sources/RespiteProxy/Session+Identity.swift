// Session+Identity: identity pass-through (`client-auth passthrough`). A client's `AUTH [user]
// pass` or `HELLO … AUTH user pass` is checked by the upstream on a connection of its own
// (`UpstreamPool.checkLogin`), Redis's exact reply is relayed, and on success the client's
// commands run on upstream connections that log in as that user (pools keyed by identity and
// db), so Redis's ACLs apply to it as they would direct. A client that never logs in, or
// RESETs, uses Respite's own upstream identity. Requests after a login wait until the upstream
// has answered it. Passwords live only in the login being checked and the interned identity.

import RESP
import RespiteUpstream

/// A login the upstream is checking for a session.
struct PendingLogin {
    var seq: UInt32
    var user: String
    var password: String
    /// For `HELLO … AUTH`: the protocol and name to apply once the login is accepted.
    var hello: (proto: Int, name: [UInt8]?)?
}

extension Session {
    /// Sends `AUTH` (the client's arguments) to the upstream for checking. False: wait.
    func startLogin(authArgs: [[UInt8]], user: String, password: String, hello: (proto: Int, name: [UInt8]?)?,
                    checkArgs: [[UInt8]]? = nil) -> Bool {
        if sharedInFlight > 0 || pinnedInFlight > 0 { return false }
        if let conn = pinned, conn.state != .closed, conn.state != .draining {
            // A pinned connection (WATCH, subscriptions, tracking) is this client's own: the
            // login happens on it, as on Redis, and keeps its state. It is never reused after.
            let bytes = ByteBuffer(capacity: 64)
            InlineSplitter.encode(authArgs, into: bytes)
            pinReasons.insert(.dirty)
            let seq = nextSeq
            _ = sendPinned(UnsafeRawBufferPointer(start: bytes.readPointer, count: bytes.readableCount), shape: .plain)
            login = PendingLogin(seq: seq, user: user, password: password, hello: hello)
            return true
        }
        let seq = takeSlot(shape: .plain)
        let timeout = proxy.pool.settings.timeoutMs
        let deadline: Int64 = timeout > 0 ? proxy.pool.now + Int64(timeout) : 0
        do {
            try proxy.pool.checkLogin(checkArgs ?? authArgs, pending: Pending(session: index, generation: generation, slot: seq, deadline: deadline))
        } catch {
            popLastSlot(seq)
            replyUnavailable(error)
            return true
        }
        login = PendingLogin(seq: seq, user: user, password: password, hello: hello)
        return true
    }

    /// The upstream's reply to the login: adopt the identity on success, relay errors verbatim.
    func loginChecked(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        guard let l = login else { return }
        login = nil
        var reply: [UInt8]
        if info.isError {
            reply = Array(frame)
        } else {
            adoptIdentity(proxy.pool.holdIdentity(user: l.user, password: l.password), user: l.user)
            if let h = l.hello {
                reply = finishHello(newProto: h.proto, newName: h.name)
            } else {
                reply = Array("+OK\r\n".utf8)
            }
        }
        completeLogin(l.seq, reply)
    }

    /// The reply to a login sent on the pinned connection.
    func pinnedLoginReply(_ conn: UpstreamConnection, _ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        pinnedInFlight -= 1
        loginChecked(frame, info)
        afterRemoteReply(conn, frame: frame, info: info)
    }

    /// The login check's connection failed before an answer.
    func loginFailed(_ error: String) {
        guard let l = login else { return }
        login = nil
        completeLogin(l.seq, Array("-\(error)\r\n".utf8))
    }

    private func completeLogin(_ seq: UInt32, _ reply: [UInt8]) {
        if let i = slotIndex(seq) {
            setExtras(at: i) { $0.local = reply }
            slots[i].ready = true
        }
        drainReadySlots()
        markDirty()
        noteProgress()
    }

    /// Removes the slot just taken for a login that could not be sent.
    func popLastSlot(_ seq: UInt32) {
        if let i = slotIndex(seq) {
            slots[i].ready = true
            setExtras(at: i) { $0.local = [] }
        }
        drainReadySlots()
    }

    /// Switches the session to `newIdentity` (already held for it).
    func adoptIdentity(_ newIdentity: Int32, user newUser: String) {
        dropIdentity()
        identity = newIdentity
        user = newUser
        authenticated = true
        scanner.authenticated = true
        // The shared connection of the old identity is not this client's any more; nothing is
        // in flight on it (a login waits for that).
        shared = nil
    }

    /// Back to Respite's own identity (RESET, close).
    func dropIdentity() {
        if identity != 0 { proxy.pool.releaseIdentity(identity) }
        identity = 0
        if proxy.settings.passthroughAuth {
            user = proxy.pool.userName(0)
            // Redis's smaller request limits apply before a login the upstream requires.
            scanner.authenticated = !proxy.pool.anonymousRejected
        }
        shared = nil
    }
}
