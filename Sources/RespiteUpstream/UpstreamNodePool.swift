// NodePool: the connections Respite keeps to one upstream node, and that node's health — its
// shared connections keyed by (identity, db) (`upstream-pool-size` each, opened lazily; a client
// sticks to one while it has requests in flight, so its replies keep their order), its idle
// pinned connections, its backoff after a failed connect, and its liveness probe
// (UpstreamLiveness.swift). The directory (UpstreamPool.swift) owns the nodes, the loop's flush
// event and tick, identities, control connections and the maintenance coordinator; a
// standalone upstream is a directory of one node, whose address moves with a MOVING.
//
// Reachability changes only with dial outcomes (a connect failing before its handshake, a
// handshake completing), is logged once per change, and is what `/readyz` reports. The
// directory's tick dials the node again after each backoff while it is unreachable, and once
// after a connection past its handshake is lost, so that a loss and a recovery show without
// client traffic.

import EventLoop
import Observability

public final class NodePool {
    unowned(unsafe) let directory: UpstreamPool
    /// The node's index in its directory.
    public let node: Int

    /// Keyed by `UpstreamPool.key(identity:db:)`.
    var shared: [Int: [UpstreamConnection?]] = [:]
    var idlePinned: [Int: [UpstreamConnection]] = [:]
    public internal(set) var pinnedCount = 0

    // Backoff after a connect that failed before its handshake.
    var backoffMs = 0
    var downUntil: Int64 = 0
    public internal(set) var lastError = ""
    /// The last dial of this node completed its handshake (before any dial: the startup probe
    /// got through). Changed only by dial outcomes; logged once per change.
    public internal(set) var reachable = true
    /// When the node became unreachable (ms, monotonic).
    var unreachableSince: Int64 = 0
    /// A connection past its handshake was lost (closed by the upstream, a read or write
    /// error): the tick dials once to see whether the node still answers.
    var lossToVerify = false

    /// The liveness probe asking whether the node still answers, while one runs.
    var probe: LivenessProbe?
    /// Until when the node counts as alive: a probe was answered (ms).
    var aliveUntil: Int64 = 0

    init(directory: UpstreamPool, node: Int) {
        self.directory = directory
        self.node = node
    }

    /// Where this node's new connections dial (a standalone node's moves with a MOVING).
    var dialAddress: UpstreamAddress { directory.dialAddress }

    var settings: UpstreamSettings { directory.settings }

    /// The shared connection for `db` that a client with `affinity` uses.
    func sharedConnection(db: Int, identity: Int32, affinity: Int) throws(UpstreamUnavailable) -> UpstreamConnection {
        let key = UpstreamPool.key(identity: identity, db: db)
        var slots = shared[key] ?? Array(repeating: nil, count: settings.poolSize)
        let i = affinity % slots.count
        if let c = slots[i], c.state != .closed {
            if c.state != .ready && c.heldCount >= settings.queueLimit { throw .queueFull(settings.queueLimit) }
            return c
        }
        if downUntil > monotonicMs() { throw .down(lastError) }
        let c = directory.newConnection(db: db, identity: identity, pinned: false, address: dialAddress, node: self)
        c.slotInPool = i
        slots[i] = c
        shared[key] = slots
        directory.startConnection(c)
        if c.state == .closed { throw .down(lastError) }
        return c
    }

    /// Leases a dedicated connection on `db` to `session`.
    func leasePinned(db: Int, identity: Int32, session: Int32) throws(UpstreamUnavailable) -> UpstreamConnection {
        let key = UpstreamPool.key(identity: identity, db: db)
        if var idle = idlePinned[key] {
            while let c = idle.popLast() {
                if c.state == .ready && !c.retiring {
                    idlePinned[key] = idle
                    c.leasedTo = session
                    return c
                }
            }
            idlePinned[key] = idle
        }
        if downUntil > monotonicMs() { throw .down(lastError) }
        if directory.pinnedCount + directory.relayCount >= settings.pinnedMax { throw .tooManyPinned(settings.pinnedMax) }
        let c = directory.newConnection(db: db, identity: identity, pinned: true, address: dialAddress, node: self)
        pinnedCount += 1
        c.leasedTo = session
        directory.startConnection(c)
        if c.state == .closed { throw .down(lastError) }
        return c
    }

    /// Returns a pinned connection; it is kept for reuse only when its state is clean.
    func release(_ c: UpstreamConnection, reusable: Bool) {
        c.leasedTo = -1
        guard c.state != .closed else { return }
        if c.retiring {
            c.close(reason: "handed off")
        } else if reusable && c.state == .ready && c.inFlight == 0 && (idlePinned[c.poolKey]?.count ?? 0) < settings.idlePinnedMax {
            idlePinned[c.poolKey, default: []].append(c)
        } else {
            c.close(reason: "released")
        }
    }

    /// A connection of this node finished its handshake: the node is reachable.
    func connectionReady(_ c: UpstreamConnection) {
        markReachable(c.address)
        backoffMs = 0
        downUntil = 0
        lastError = ""
    }

    /// A connection of this node closed: it leaves its slot.
    func forget(_ c: UpstreamConnection) {
        if c.pinned && !c.control {
            pinnedCount -= 1
        }
        if c.pinned {
            if var idle = idlePinned[c.poolKey], let k = idle.firstIndex(where: { $0 === c }) {
                idle.remove(at: k)
                idlePinned[c.poolKey] = idle
            }
        } else if var slots = shared[c.poolKey], c.slotInPool >= 0, c.slotInPool < slots.count, slots[c.slotInPool] === c {
            slots[c.slotInPool] = nil
            shared[c.poolKey] = slots
        }
    }

    /// What a closed connection says of the node: a connect that failed before its handshake
    /// puts the node in backoff. True when it was a handoff target's dial that failed (the
    /// directory retries or abandons it there; the node is not down for it).
    func noteClosed(_ c: UpstreamConnection) -> Bool {
        guard !c.authRejected else {
            // It answered: reachable, though the login was refused (the directory says so).
            markReachable(c.address)
            lastError = c.closeReason
            return false
        }
        guard c.closeReason != "released" && c.closeReason != "handed off" else { return false }
        lastError = c.closeReason
        guard c.serverClientID < 0 && c.helloReply == nil else {
            let reason = c.closeReason
            if !c.control && (reason.hasPrefix("connection closed by upstream") || reason.hasPrefix("read error")
                              || reason.hasPrefix("write error")) {
                lossToVerify = true
            }
            return false
        }
        if c.address != settings.address { return true }
        // Never got through the handshake: back off before the next attempt.
        backoffMs = backoffMs == 0 ? settings.reconnectMinMs : min(backoffMs * 2, settings.reconnectMaxMs)
        downUntil = monotonicMs() + Int64(backoffMs)
        lossToVerify = false
        markUnreachable(c.closeReason, address: c.address)
        return false
    }

    /// The node answered a dial: logged when it was unreachable.
    func markReachable(_ address: UpstreamAddress) {
        lossToVerify = false
        guard !reachable else { return }
        reachable = true
        Log.notice("Upstream \(address) reachable again after \(monotonicMs() - unreachableSince) ms")
    }

    /// A dial failed (or the startup probe did): logged at the change, quieter on each retry.
    func markUnreachable(_ error: String, address: UpstreamAddress) {
        let next = backoffMs > 0 ? "; next connect attempt in \(backoffMs) ms" : ""
        if reachable {
            reachable = false
            unreachableSince = monotonicMs()
            Log.warning("Upstream \(address) unavailable: \(error)\(next)")
        } else {
            Log.verbose("Upstream \(address) still unavailable: \(error)\(next)")
        }
    }

    /// While the node is unreachable and nobody is dialing it, dials it again once its backoff
    /// is over (a shared connection, as a client's first request would open), so that it is
    /// found again without client traffic; after a lost connection, dials once to see whether
    /// the node still answers (a dial that fails makes it unreachable).
    func redialIfUnreachable(now: Int64) {
        guard !reachable || lossToVerify, downUntil <= now else { return }
        lossToVerify = false
        let key = UpstreamPool.key(identity: 0, db: 0)
        if let c = shared[key]?.first ?? nil, c.state != .closed { return }
        _ = try? sharedConnection(db: 0, identity: 0, affinity: 0)
    }

    /// Every connection of this node in a shared slot or idle, for the handoff and the tick.
    var sharedConnections: [(key: Int, slot: Int, connection: UpstreamConnection)] {
        var out: [(Int, Int, UpstreamConnection)] = []
        for (key, slots) in shared {
            for (i, c) in slots.enumerated() { if let c { out.append((key, i, c)) } }
        }
        return out
    }
}
