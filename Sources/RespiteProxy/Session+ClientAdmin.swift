// Session+ClientAdmin: CLIENT LIST and CLIENT KILL over Respite's own clients (never its
// upstream connections), with Redis 7's parsing, reply shapes and error texts. The options
// parse into a `ClientFilter` (ClientRegistry.swift); the client registry (`proxy.clients`)
// finds, lists and closes the clients it names.

import RESP
import RespiteCommands

extension Session {
    /// `CLIENT LIST [TYPE normal|pubsub|master|replica] [ID id …]`: Respite's own clients.
    func clientListCommand(_ req: LocalRequest) -> Bool {
        let r = LocalReply(proto: proto)
        switch ClientFilter.parseList((2..<max(req.argc, 2)).map(req.text)) {
        case .failure(let e):
            addLocalReply(r.error(e.message))
        case .success(let filter):
            addLocalReply(r.verbatim(Array(proxy.clients.listClients(matching: filter).utf8)))
        }
        return true
    }

    /// `CLIENT KILL addr` and `CLIENT KILL [ID id] [ADDR a] [LADDR a] [TYPE t] [USER u]
    /// [SKIPME yes|no] [MAXAGE s]`: closes Respite's own clients (never Respite's upstream
    /// connections), with Redis 7's parsing order, replies and error texts.
    func clientKillCommand(_ req: LocalRequest) -> Bool {
        let r = LocalReply(proto: proto)
        let registry = proxy.clients
        if req.argc == 3 {
            // The old form: one address, +OK or an error; a client may kill itself.
            let outcome = registry.killClients(matching: ClientFilter(addr: req.text(2)), caller: id)
            guard outcome.killed > 0 else {
                addLocalReply(r.error("ERR No such client"))
                return true
            }
            if outcome.caller { closeAfterThisReply() }
            addLocalReply(r.ok())
            return true
        }
        switch ClientFilter.parseKill((2..<max(req.argc, 2)).map(req.text), caller: id, knowsUser: registry.knowsUser) {
        case .failure(let e):
            addLocalReply(r.error(e.message))
        case .success(let filter):
            let outcome = registry.killClients(matching: filter, caller: id)
            if outcome.caller { closeAfterThisReply() }
            addLocalReply(r.integer(outcome.killed))
        }
        return true
    }

    /// This client killed itself: it reads nothing more and closes once its reply is out.
    private func closeAfterThisReply() {
        closeAfterReply = true
        pauseReading()
    }
}
