// Session+Local: the commands Respite answers itself — HELLO, AUTH (checked here under
// `client-auth local`, by the upstream in pass-through: Session+Identity.swift), SELECT, CLIENT
// (ID, GETNAME, SETNAME, INFO, SETINFO, NO-EVICT, NO-TOUCH, REPLY, MAINT_NOTIFICATIONS), RESET,
// QUIT, ACL WHOAMI (local mode) — with Redis's reply shapes and error texts. Subcommands of
// CLIENT that are not local go upstream like any shared command.

import EventLoop
import RESP
import RespiteCommands
import RespiteUpstream

extension Session {
    /// Answers a local command. Returns false only when it must wait for in-flight replies.
    func handleLocal(frame: UnsafeRawBufferPointer, args: ArgList, command: Int32, shape: ReplyShape) -> Bool {
        let base = frame.baseAddress!
        func arg(_ i: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: base + Int(args[i].offset), count: Int(args[i].length))
        }
        func bytes(_ i: Int) -> [UInt8] { Array(arg(i)) }
        func text(_ i: Int) -> String { String(decoding: arg(i), as: UTF8.self) }
        let argc = args.count
        let name = arg(0)
        let reply = LocalReply(proto: proto)
        // An EXEC in flight will change this session's state (a queued CLIENT SETNAME): local
        // commands after it wait for it, so they see what Redis would show.
        if awaitingLocalEffect { return false }

        if command >= 0 && !proxy.commands.entries[Int(command)].accepts(argc: argc) {
            let full = proxy.commands.entries[Int(command)].name
            addLocalReply(reply.error("ERR wrong number of arguments for '\(full)' command"))
            return true
        }

        if matches(name, "quit") {
            addLocalReply(reply.ok(), honorReplyMode: false)
            closeAfterReply = true
            pauseReading()
            maybeFinishClose()
            return true
        }
        if matches(name, "reset") {
            if sharedInFlight > 0 || pinnedInFlight > 0 { return false }
            if let p = pinned {
                if pinReasons.contains(.redirectTarget) && p.acceptsRequests {
                    // Others' invalidations are redirected to this connection's server id,
                    // which RESET keeps on Redis: reset the connection instead of leaving it.
                    resetRedirectTargetConnection(p)
                } else {
                    pinned = nil
                    proxy.pool.release(p, reusable: false)
                }
            }
            pinReasons = pinned != nil ? [.redirectTarget, .dirty] : []
            multiShapes = []
            multiDB = nil
            multiRewrites = []
            multiFailure = nil
            multiAborted = false
            trackingOn = false
            trackingRedirect = nil
            channels.removeAll(); patterns.removeAll(); shardChannels.removeAll()
            proto = 2
            db = 0
            name_reset()
            replyMode = .on
            noEvict = false
            if proxy.settings.requirePass != nil { authenticated = false; scanner.authenticated = false }
            user = "default"
            // Pass-through: back to Respite's own identity, as Redis logs the client back in as
            // the default user (and if that one needs a password, the upstream says NOAUTH).
            dropIdentity()
            addLocalReply(Array("+RESET\r\n".utf8), honorReplyMode: false)
            return true
        }
        if matches(name, "auth") {
            if argc > 3 {
                addLocalReply(reply.error("ERR syntax error"))
                return true
            }
            let userText = argc == 3 ? text(1) : "default"
            let pass = argc == 3 ? text(2) : text(1)
            if proxy.settings.passthroughAuth {
                return startLogin(authArgs: (0..<argc).map(bytes), user: userText, password: pass, hello: nil)
            }
            if argc == 2 && proxy.settings.requirePass == nil {
                addLocalReply(reply.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"))
                return true
            }
            if checkCredentials(user: userText, password: pass) {
                authenticated = true
                scanner.authenticated = true
                user = userText
                addLocalReply(reply.ok())
            } else {
                addLocalReply(reply.error("WRONGPASS invalid username-password pair or user is disabled."))
            }
            return true
        }
        if matches(name, "hello") {
            return hello(argc: argc, arg: arg, text: text, shape: shape)
        }
        if matches(name, "select") {
            guard let n = Int(text(1)), n >= Int(Int32.min), n <= Int(Int32.max) else {
                addLocalReply(reply.error("ERR value is not an integer or out of range"))
                return true
            }
            if n < 0 || n >= proxy.databases {
                addLocalReply(reply.error("ERR DB index is out of range"))
                return true
            }
            if pinned != nil {
                // The pinned connection must follow; its reply answers the client.
                db = n
                pinReasons.insert(.dirty)
                return sendPinned(frame, shape: shape)
            }
            db = n
            addLocalReply(reply.ok())
            return true
        }
        if matches(name, "client") {
            return client(argc: argc, arg: arg, bytes: bytes, text: text, frame: frame, shape: shape)
        }
        if matches(name, "acl") && argc >= 2 && matches(arg(1), "whoami") && !proxy.settings.passthroughAuth {
            addLocalReply(reply.bulk(Array(user.utf8)))
            return true
        }
        // Anything else the table calls local but Respite does not emulate goes upstream.
        return pinned != nil ? sendPinned(frame, shape: shape) : sendShared(frame, shape: shape)
    }

    func name_reset() { name = []; libName = []; libVersion = [] }

    func checkCredentials(user: String, password: String) -> Bool {
        guard let required = proxy.settings.requirePass else {
            // No password configured: the default user takes any password, as Redis's nopass.
            return user == "default"
        }
        return user == "default" && password == required
    }

    func hello(argc: Int, arg: (Int) -> UnsafeRawBufferPointer, text: (Int) -> String, shape: ReplyShape) -> Bool {
        var newProto = proto
        var i = 1
        if argc >= 2 {
            guard let v = Int(text(1)) else {
                addLocalReply(LocalReply(proto: proto).error("ERR Protocol version is not an integer or out of range"))
                return true
            }
            if v < 2 || v > 3 {
                addLocalReply(LocalReply(proto: proto).error("NOPROTO unsupported protocol version"))
                return true
            }
            newProto = v
            i = 2
        }
        var newName: [UInt8]? = nil
        var authUser: String? = nil, authPass: String? = nil
        // The HELLO as the client wrote it, less SETNAME: what the login check sends upstream.
        var checkArgs: [[UInt8]] = (0..<i).map { Array(arg($0)) }
        while i < argc {
            let more = argc - i - 1
            if matches(arg(i), "auth") && more >= 2 {
                authUser = text(i + 1); authPass = text(i + 2)
                checkArgs += (i..<i + 3).map { Array(arg($0)) }
                i += 3
            } else if matches(arg(i), "setname") && more >= 1 {
                newName = Array(arg(i + 1)); i += 2
            } else {
                addLocalReply(LocalReply(proto: proto).error("ERR Syntax error in HELLO option '\(text(i))'"))
                return true
            }
        }
        if proxy.settings.passthroughAuth, let u = authUser, let p = authPass {
            // The check connection is the client's alone and closed after: it is sent the HELLO
            // itself (as MONITOR and the ACL log show it direct); a pinned one gets AUTH, which
            // leaves its protocol alone.
            return startLogin(authArgs: [Array("AUTH".utf8), Array(u.utf8), Array(p.utf8)], user: u, password: p,
                              hello: (newProto, newName), checkArgs: checkArgs)
        }
        if let u = authUser, let p = authPass {
            if !checkCredentials(user: u, password: p) {
                addLocalReply(LocalReply(proto: proto).error("WRONGPASS invalid username-password pair or user is disabled."))
                return true
            }
            authenticated = true
            scanner.authenticated = true
            user = u
        }
        // Pass-through, Respite's own identity, and the upstream's default user needs a password
        // Respite does not have: not authenticated, as direct.
        let anonymousRefused = proxy.settings.passthroughAuth && identity == 0 && proxy.pool.anonymousRejected
        if !authenticated || anonymousRefused {
            addLocalReply(LocalReply(proto: proto).error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"))
            return true
        }
        addLocalReply(finishHello(newProto: newProto, newName: newName))
        return true
    }

    /// The rest of HELLO once the client is authenticated: SETNAME, the protocol, the map.
    func finishHello(newProto: Int, newName: [UInt8]?) -> [UInt8] {
        if let n = newName {
            if !validClientName(n) {
                return LocalReply(proto: proto).error("ERR Client names cannot contain spaces, newlines or special characters.")
            }
            name = n
        }
        proto = newProto
        let r = LocalReply(proto: proto)
        let info = proxy.upstreamInfo
        var b = r.mapHeader(7)
        b += r.bulk(Array("server".utf8)) + r.bulk(Array("redis".utf8))
        b += r.bulk(Array("version".utf8)) + r.bulk(Array(info.version.utf8))
        b += r.bulk(Array("proto".utf8)) + r.integer(proto)
        b += r.bulk(Array("id".utf8)) + r.integer(Int(id))
        b += r.bulk(Array("mode".utf8)) + r.bulk(Array("standalone".utf8))
        b += r.bulk(Array("role".utf8)) + r.bulk(Array(info.role.utf8))
        b += r.bulk(Array("modules".utf8)) + r.arrayHeader(0)
        return b
    }

    func validClientName(_ n: [UInt8]) -> Bool {
        for c in n where c < 33 || c > 126 { return false }
        return true
    }

    func client(argc: Int, arg: (Int) -> UnsafeRawBufferPointer, bytes: (Int) -> [UInt8], text: (Int) -> String,
                frame: UnsafeRawBufferPointer, shape: ReplyShape) -> Bool {
        let r = LocalReply(proto: proto)
        guard argc >= 2 else {
            addLocalReply(r.error("ERR wrong number of arguments for 'client' command"))
            return true
        }
        let sub = arg(1)
        if matches(sub, "id") {
            addLocalReply(r.integer(Int(id)))
        } else if matches(sub, "getname") {
            addLocalReply(name.isEmpty ? r.null() : r.bulk(name))
        } else if matches(sub, "setname") {
            let n = bytes(2)
            if !validClientName(n) {
                addLocalReply(r.error("ERR Client names cannot contain spaces, newlines or special characters."))
            } else {
                name = n
                addLocalReply(r.ok())
            }
        } else if matches(sub, "info") {
            addLocalReply(r.verbatim(Array(proxy.clientInfoLine(self).utf8)))
        } else if matches(sub, "setinfo") {
            let attr = arg(2)
            let value = bytes(3)
            if matches(attr, "lib-name") || matches(attr, "lib-ver") {
                for c in value where c < 33 || c > 126 {
                    addLocalReply(r.error("ERR \(text(2).uppercased()) cannot contain spaces, newlines or special characters."))
                    return true
                }
                if matches(attr, "lib-name") { libName = value } else { libVersion = value }
                addLocalReply(r.ok())
            } else {
                addLocalReply(r.error("ERR Unrecognized option '\(text(2))'"))
            }
        } else if matches(sub, "no-evict") || matches(sub, "no-touch") {
            if matches(arg(2), "on") { noEvict = true; addLocalReply(r.ok()) }
            else if matches(arg(2), "off") { noEvict = false; addLocalReply(r.ok()) }
            else { addLocalReply(r.error("ERR syntax error")) }
        } else if matches(sub, "reply") {
            if matches(arg(2), "on") {
                replyMode = .on
                addLocalReply(r.ok(), honorReplyMode: false)
            } else if matches(arg(2), "off") {
                replyMode = .off
            } else if matches(arg(2), "skip") {
                if replyMode != .off { replyMode = .skipNext }
            } else {
                addLocalReply(r.error("ERR syntax error"))
            }
        } else if matches(sub, "list") {
            return clientList(argc: argc, arg: arg, text: text)
        } else if matches(sub, "kill") {
            return clientKill(argc: argc, arg: arg, text: text)
        } else if matches(sub, "unblock") {
            guard let target = Int64(text(2)) else {
                addLocalReply(r.error("ERR value is not an integer or out of range"))
                return true
            }
            let mode = argc >= 4 ? text(3).uppercased() : "TIMEOUT"
            guard mode == "TIMEOUT" || mode == "ERROR" else {
                addLocalReply(r.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"))
                return true
            }
            // A Respite client id: its blocked command waits on its own upstream connection.
            if let s = proxy.session(clientID: target), s.unblockByClient(mode: mode) {
                addLocalReply(r.integer(1))
            } else {
                addLocalReply(r.integer(0))
            }
        } else if matches(sub, "maint_notifications") {
            // Respite hides maintenance from its clients: accept the opt-in, send nothing.
            let mode = argc >= 3 ? arg(2) : UnsafeRawBufferPointer(start: nil, count: 0)
            if matches(mode, "on") || matches(mode, "off") {
                addLocalReply(r.ok())
            } else {
                addLocalReply(r.error("ERR syntax error"))
            }
        } else {
            return pinned != nil ? sendPinned(frame, shape: shape) : sendShared(frame, shape: shape)
        }
        return true
    }
}

/// Builds small replies in the client's protocol with RESPWriter, as byte arrays a reply slot
/// can hold (cold path: allocates).
struct LocalReply {
    let proto: Int
    private func encode(_ body: (ByteBuffer) -> Void) -> [UInt8] {
        let b = ByteBuffer(capacity: 64)
        body(b)
        return b.readableBytes()
    }
    func ok() -> [UInt8] { encode { $0.appendSimpleString("OK" as StaticString) } }
    func error(_ text: String) -> [UInt8] { encode { $0.appendError(text) } }
    func integer(_ v: Int) -> [UInt8] { encode { $0.appendInteger(v) } }
    func null() -> [UInt8] { encode { $0.appendNull(proto: proto) } }
    func bulk(_ b: [UInt8]) -> [UInt8] { encode { $0.appendBulk(b) } }
    func arrayHeader(_ n: Int) -> [UInt8] { encode { $0.appendArrayHeader(n) } }
    func mapHeader(_ n: Int) -> [UInt8] { encode { $0.appendMapHeader(n, proto: proto) } }
    func verbatim(_ b: [UInt8]) -> [UInt8] {
        encode { $0.appendVerbatim(String(decoding: b, as: UTF8.self), proto: proto) }
    }
}

extension Session {
    /// `CLIENT LIST [TYPE normal|pubsub|master|replica] [ID id …]`: Respite's own clients.
    func clientList(argc: Int, arg: (Int) -> UnsafeRawBufferPointer, text: (Int) -> String) -> Bool {
        let r = LocalReply(proto: proto)
        var type: String? = nil
        var ids: Set<Int64>? = nil
        var i = 2
        while i < argc {
            if matches(arg(i), "type") && i + 1 < argc {
                guard let t = Session.clientType(named: text(i + 1)) else {
                    addLocalReply(r.error("ERR Unknown client type '\(text(i + 1))'"))
                    return true
                }
                type = t
                i += 2
            } else if matches(arg(i), "id") && i + 1 < argc {
                var set = Set<Int64>()
                i += 1
                while i < argc, let v = Int64(text(i)) { set.insert(v); i += 1 }
                if set.isEmpty {
                    addLocalReply(r.error("ERR Invalid client ID"))
                    return true
                }
                ids = set
            } else {
                addLocalReply(r.error("ERR syntax error"))
                return true
            }
        }
        var out = ""
        for s in proxy.liveSessions() {
            if let ids, !ids.contains(s.id) { continue }
            if let type, s.clientType != type { continue }
            out += proxy.clientInfoLine(s)
        }
        addLocalReply(r.verbatim(Array(out.utf8)))
        return true
    }

    /// Redis's client type of a session: `replica` for a replication relay, `pubsub` in pub/sub
    /// mode, `normal` otherwise (Respite has no master link).
    var clientType: String { relay != nil ? "replica" : (subscribed ? "pubsub" : "normal") }

    /// Redis's `getClientTypeByName`: `slave` is `replica`; nil for an unknown type.
    static func clientType(named n: String) -> String? {
        switch n.lowercased() {
        case "normal": return "normal"
        case "slave", "replica": return "replica"
        case "pubsub": return "pubsub"
        case "master": return "master"
        default: return nil
        }
    }

    /// `CLIENT KILL addr` and `CLIENT KILL [ID id] [ADDR a] [LADDR a] [TYPE t] [USER u]
    /// [SKIPME yes|no] [MAXAGE s]`: closes Respite's own clients (never Respite's upstream
    /// connections), with Redis 7's parsing order, replies and error texts.
    func clientKill(argc: Int, arg: (Int) -> UnsafeRawBufferPointer, text: (Int) -> String) -> Bool {
        let r = LocalReply(proto: proto)
        if argc == 3 {
            // The old form: one address, +OK or an error; a client may kill itself.
            let addr = text(2)
            let victims = proxy.liveSessions().filter { $0.peer == addr }
            guard !victims.isEmpty else {
                addLocalReply(r.error("ERR No such client"))
                return true
            }
            victims.forEach(kill)
            addLocalReply(r.ok())
            return true
        }
        var id: Int64? = nil, addr: String? = nil, laddr: String? = nil, type: String? = nil, user: String? = nil
        var maxAge: Int64? = nil
        var skipMe = true
        var i = 2
        while i < argc {
            guard i + 1 < argc else { addLocalReply(r.error("ERR syntax error")); return true }
            let v = text(i + 1)
            if matches(arg(i), "id") {
                guard let n = Int64(v), n > 0 else { addLocalReply(r.error("ERR client-id should be greater than 0")); return true }
                id = n
            } else if matches(arg(i), "type") {
                guard let t = Session.clientType(named: v) else {
                    addLocalReply(r.error("ERR Unknown client type '\(v)'"))
                    return true
                }
                type = t
            } else if matches(arg(i), "addr") { addr = v }
            else if matches(arg(i), "laddr") { laddr = v }
            else if matches(arg(i), "user") {
                guard proxy.knowsUser(v) else {
                    addLocalReply(r.error("ERR No such user '\(v)'"))
                    return true
                }
                user = v
            } else if matches(arg(i), "skipme") {
                if v.lowercased() == "yes" { skipMe = true } else if v.lowercased() == "no" { skipMe = false }
                else { addLocalReply(r.error("ERR syntax error")); return true }
            } else if matches(arg(i), "maxage") {
                guard let n = Int64(v) else { addLocalReply(r.error("ERR value is not an integer or out of range")); return true }
                maxAge = n
            } else {
                addLocalReply(r.error("ERR syntax error"))
                return true
            }
            i += 2
        }
        let now = monotonicMs()
        var killed = 0
        for s in proxy.liveSessions() {
            if skipMe && s === self { continue }
            if let id, s.id != id { continue }
            if let addr, s.peer != addr { continue }
            if let laddr, s.local != laddr { continue }
            if let user, s.user != user { continue }
            if let type, s.clientType != type { continue }
            if let maxAge, (now - s.created) / 1000 < maxAge { continue }
            kill(s)
            killed += 1
        }
        addLocalReply(r.integer(killed))
        return true
    }

    private func kill(_ s: Session) {
        if s === self {
            closeAfterReply = true
            pauseReading()
        } else {
            s.close()
        }
    }
}
