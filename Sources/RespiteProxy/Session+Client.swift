// Session+Client: the CLIENT subcommands Respite answers for its own clients — ID, GETNAME,
// SETNAME, INFO, SETINFO, NO-EVICT, NO-TOUCH, REPLY, UNBLOCK, MAINT_NOTIFICATIONS (LIST and KILL:
// Session+ClientAdmin.swift) — as handlers of the local command table. CLIENT subcommands that
// are not local go upstream like any shared command; one the command table does not list is
// looked up by its word (`clientUnlistedCommand`).

import RESP
import RespiteCommands

extension Session {
    /// CLIENT with a subcommand the table does not list: one Respite answers that is newer than
    /// the table (SETINFO, NO-TOUCH, MAINT_NOTIFICATIONS on a 7.0 table) goes to its handler,
    /// after its arity check; any other goes upstream, which answers it.
    func clientUnlistedCommand(_ r: LocalRequest) -> Bool {
        let kind = CommandKind.subcommand(of: "client", r.arg(1))
        guard kind != .client, let handler = LocalCommands.handlers[kind] else { return forwardLocal(r) }
        if let arity = CommandKind.arityWhenUnlisted[kind], arity >= 0 ? r.argc != arity : r.argc < -arity {
            wrongArity(CommandKind.names[kind] ?? "client")
            return true
        }
        return handler(self, r)
    }

    func clientIDCommand(_ r: LocalRequest) -> Bool {
        addLocalReply(LocalReply(proto: proto).integer(Int(id)))
        return true
    }

    func clientGetnameCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        addLocalReply(name.isEmpty ? reply.null() : reply.bulk(name))
        return true
    }

    func clientSetnameCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        let n = r.bytes(2)
        if !validClientName(n) {
            addLocalReply(reply.error("ERR Client names cannot contain spaces, newlines or special characters."))
        } else {
            name = n
            addLocalReply(reply.ok())
        }
        return true
    }

    func clientInfoCommand(_ r: LocalRequest) -> Bool {
        addLocalReply(LocalReply(proto: proto).verbatim(Array(proxy.clientInfoLine(self).utf8)))
        return true
    }

    func clientSetinfoCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        let attr = r.arg(2)
        let value = r.bytes(3)
        guard matches(attr, "lib-name") || matches(attr, "lib-ver") else {
            addLocalReply(reply.error("ERR Unrecognized option '\(r.text(2))'"))
            return true
        }
        for c in value where c < 33 || c > 126 {
            addLocalReply(reply.error("ERR \(r.text(2).uppercased()) cannot contain spaces, newlines or special characters."))
            return true
        }
        if matches(attr, "lib-name") { libName = value } else { libVersion = value }
        addLocalReply(reply.ok())
        return true
    }

    /// CLIENT NO-EVICT and CLIENT NO-TOUCH (both noted as the one flag Respite shows).
    func clientNoEvictCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        if matches(r.arg(2), "on") { noEvict = true; addLocalReply(reply.ok()) }
        else if matches(r.arg(2), "off") { noEvict = false; addLocalReply(reply.ok()) }
        else { addLocalReply(reply.error("ERR syntax error")) }
        return true
    }

    func clientReplyCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        if matches(r.arg(2), "on") {
            replyMode = .on
            addLocalReply(reply.ok(), honorReplyMode: false)
        } else if matches(r.arg(2), "off") {
            replyMode = .off
        } else if matches(r.arg(2), "skip") {
            if replyMode != .off { replyMode = .skipNext }
        } else {
            addLocalReply(reply.error("ERR syntax error"))
        }
        return true
    }

    /// CLIENT UNBLOCK names a Respite client id, found through the client registry: its blocked
    /// command waits on its own upstream connection.
    func clientUnblockCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        guard let target = Int64(r.text(2)) else {
            addLocalReply(reply.error("ERR value is not an integer or out of range"))
            return true
        }
        let mode = r.argc >= 4 ? r.text(3).uppercased() : "TIMEOUT"
        guard mode == "TIMEOUT" || mode == "ERROR" else {
            addLocalReply(reply.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"))
            return true
        }
        addLocalReply(reply.integer(proxy.clients.unblockClient(id: target, mode: mode) ? 1 : 0))
        return true
    }

    /// Respite hides maintenance from its clients: it accepts the opt-in and sends nothing.
    func clientMaintNotificationsCommand(_ r: LocalRequest) -> Bool {
        let reply = LocalReply(proto: proto)
        let mode = r.arg(2)
        if matches(mode, "on") || matches(mode, "off") {
            addLocalReply(reply.ok())
        } else {
            addLocalReply(reply.error("ERR syntax error"))
        }
        return true
    }
}
