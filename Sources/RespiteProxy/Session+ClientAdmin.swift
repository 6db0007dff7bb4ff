// Session+ClientAdmin: CLIENT LIST and CLIENT KILL over Respite's own clients (never its
// upstream connections), with Redis 7's parsing, reply shapes and error texts.

import EventLoop
import RESP
import RespiteCommands

extension Session {
    /// `CLIENT LIST [TYPE normal|pubsub|master|replica] [ID id …]`: Respite's own clients.
    func clientListCommand(_ req: LocalRequest) -> Bool {
        let r = LocalReply(proto: proto)
        let argc = req.argc, arg = req.arg, text = req.text
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
    func clientKillCommand(_ req: LocalRequest) -> Bool {
        let r = LocalReply(proto: proto)
        let argc = req.argc, arg = req.arg, text = req.text
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
