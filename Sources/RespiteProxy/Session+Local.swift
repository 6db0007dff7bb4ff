// Session+Local: the commands Respite answers itself, dispatched through the handler table
// (LocalCommands.swift) — HELLO, AUTH (checked here under `client-auth local`, by the upstream
// in pass-through: Session+Identity.swift), SELECT, RESET, QUIT, READONLY/READWRITE, ACL WHOAMI
// (local mode) — with Redis's reply shapes and error texts. CLIENT's are in Session+Client.swift.

import EventLoop
import RESP
import RespiteCommands
import RespiteUpstream

extension Session {
    /// Answers a local command. Returns false only when it must wait for in-flight replies.
    func handleLocal(frame: UnsafeRawBufferPointer, args: ArgList, command: Int32, shape: ReplyShape) -> Bool {
        // An EXEC in flight will change this session's state (a queued CLIENT SETNAME): local
        // commands after it wait for it, so they see what Redis would show.
        if awaitingLocalEffect { return false }
        let request = LocalRequest(frame: frame, args: args, command: command, shape: shape)
        guard command >= 0 else { return forwardLocal(request) }
        if !proxy.commands.entries[Int(command)].accepts(argc: args.count) {
            wrongArity(proxy.commands.entries[Int(command)].name)
            return true
        }
        guard let handler = proxy.localHandlers[Int(command)] else { return forwardLocal(request) }
        return handler(self, request)
    }

    /// A local command Respite does not answer in this case goes upstream.
    func forwardLocal(_ r: LocalRequest) -> Bool {
        pinned != nil ? sendPinned(r.frame, shape: r.shape) : sendShared(r.frame, shape: r.shape)
    }

    func wrongArity(_ name: String) {
        addLocalReply(LocalReply(proto: proto).error("ERR wrong number of arguments for '\(name)' command"))
    }

    func quitCommand(_ r: LocalRequest) -> Bool {
        addLocalReply(LocalReply(proto: proto).ok(), honorReplyMode: false)
        closeAfterReply = true
        pauseReading()
        maybeFinishClose()
        return true
    }

    func resetCommand(_ r: LocalRequest) -> Bool {
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

    func authCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        let argc = r.argc
        if argc > 3 {
            addLocalReply(reply.error("ERR syntax error"))
            return true
        }
        let userText = argc == 3 ? r.text(1) : "default"
        let pass = argc == 3 ? r.text(2) : r.text(1)
        if proxy.settings.passthroughAuth {
            return startLogin(authArgs: (0..<argc).map(r.bytes), user: userText, password: pass, hello: nil)
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

    func selectCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        guard let n = Int(r.text(1)), n >= Int(Int32.min), n <= Int(Int32.max) else {
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
            return sendPinned(r.frame, shape: r.shape)
        }
        db = n
        addLocalReply(reply.ok())
        return true
    }

    /// READONLY and READWRITE: Respite is a standalone server to its clients, and answers as
    /// one with cluster support disabled does (redis-server 7.0's text).
    func clusterDisabledCommand(_ r: LocalRequest) -> Bool {
        addLocalReply(LocalReply(proto: proto).error(Session.clusterDisabledError))
        return true
    }

    static let clusterDisabledError = "ERR This instance has cluster support disabled"

    /// ACL WHOAMI: the client's own user under `client-auth local`; in pass-through the
    /// upstream knows who the client logged in as.
    func aclWhoamiCommand(_ r: LocalRequest) -> Bool {
        if proxy.settings.passthroughAuth { return forwardLocal(r) }
        addLocalReply(LocalReply(proto: proto).bulk(Array(user.utf8)))
        return true
    }

    func name_reset() { name = []; libName = []; libVersion = [] }

    func checkCredentials(user: String, password: String) -> Bool {
        guard let required = proxy.settings.requirePass else {
            // No password configured: the default user takes any password, as Redis's nopass.
            return user == "default"
        }
        return user == "default" && password == required
    }

    func helloCommand(_ r: LocalRequest) -> Bool {
        let argc = r.argc
        var newProto = proto
        var i = 1
        if argc >= 2 {
            guard let v = Int(r.text(1)) else {
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
        var checkArgs: [[UInt8]] = (0..<i).map(r.bytes)
        while i < argc {
            let more = argc - i - 1
            if matches(r.arg(i), "auth") && more >= 2 {
                authUser = r.text(i + 1); authPass = r.text(i + 2)
                checkArgs += (i..<i + 3).map(r.bytes)
                i += 3
            } else if matches(r.arg(i), "setname") && more >= 1 {
                newName = r.bytes(i + 1); i += 2
            } else {
                addLocalReply(LocalReply(proto: proto).error("ERR Syntax error in HELLO option '\(r.text(i))'"))
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
}
