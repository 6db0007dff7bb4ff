// Proxy+ClientRegistry: the Proxy as the client registry of its own loop (ClientRegistry.swift)
// — the only code that looks other clients up in the session table on a client's behalf.
// Everything here is cold path: a scan of the table per command.

import EventLoop

extension Proxy: ClientRegistry {
    /// Where sessions reach other clients. Today this loop's Proxy; a registry spanning loops
    /// would be returned here instead.
    var clients: any ClientRegistry { self }

    func listClients(matching filter: ClientFilter) -> String {
        let now = monotonicMs()
        var out = ""
        for s in liveSessions() where filter.matches(s.clientDescription, nowMs: now) {
            out += clientInfoLine(s)
        }
        return out
    }

    func killClients(matching filter: ClientFilter, caller: Int64) -> (killed: Int, caller: Bool) {
        let now = monotonicMs()
        var killed = 0
        var callerMatched = false
        for s in liveSessions() where filter.matches(s.clientDescription, nowMs: now) {
            killed += 1
            if s.id == caller { callerMatched = true } else { s.close() }
        }
        return (killed, callerMatched)
    }

    func knowsUser(_ name: String) -> Bool {
        if name == "default" || name == pool.settings.user { return true }
        for case let s? in sessions where !s.closed && s.user == name { return true }
        return false
    }

    func unblockClient(id: Int64, mode: String) -> Bool {
        session(clientID: id)?.unblockByClient(mode: mode) ?? false
    }

    func redirectTarget(id: Int64, waiter: Session) -> RedirectTarget {
        guard let target = session(clientID: id), target.relay == nil else { return .noSuchClient }
        guard let serverID = target.redirectableConnection(waiter: waiter) else {
            // Leasing failed (the target got the error); so does the redirect.
            if target.closed || target.pinned == nil { return .noSuchClient }
            return .pending
        }
        return .ready(RedirectIDs(server: serverID, client: target.id))
    }

    /// Every connected client, oldest first.
    private func liveSessions() -> [Session] {
        sessions.compactMap { $0 }.filter { !$0.closed }.sorted { $0.id < $1.id }
    }

    /// The live session with client id `id` (a scan).
    private func session(clientID id: Int64) -> Session? {
        for case let s? in sessions where s.id == id && !s.closed { return s }
        return nil
    }
}

extension Session {
    /// This client as the registry's filters see it.
    var clientDescription: ClientDescription {
        ClientDescription(id: id, addr: peer, laddr: local, user: user, type: clientType, createdMs: created)
    }

    /// Redis's client type of a session: `replica` for a replication relay, `pubsub` in pub/sub
    /// mode, `normal` otherwise (Respite has no master link).
    var clientType: ClientType { relay != nil ? .replica : (subscribed ? .pubsub : .normal) }
}
