// Session+Handoff: moving a session's pinned state to a new upstream connection when the old
// one must be handed off (MOVING). Subscriptions move at once: a new connection subscribes to
// every channel, pattern and shard channel, its confirmations are swallowed, and only then does
// the session switch and close the old one — so messages keep flowing; in the overlap a message
// may arrive twice, never not at all. A transaction or a blocked command hands off when it ends
// (the pool closes a retiring connection when the session releases it).

import Observability
import RESP
import RespiteUpstream

extension Session {
    /// The pool retires `conn`, this session's pinned connection.
    func pinnedRetiring(_ conn: UpstreamConnection) {
        guard pinned === conn, resubscribing == nil else { return }
        if subscribed && !inMulti { moveSubscriptions(from: conn) }
    }

    private func moveSubscriptions(from old: UpstreamConnection) {
        let fresh: UpstreamConnection
        do {
            fresh = try proxy.pool.leasePinned(db: db, session: index)
        } catch {
            Log.warning("Client id=\(id): cannot open a connection to move its subscriptions (\(error)); they end when the old connection closes")
            return
        }
        let out = proxy.scratch
        out.clear()
        var count = 0
        for (name, set) in [("SUBSCRIBE", channels), ("PSUBSCRIBE", patterns), ("SSUBSCRIBE", shardChannels)] where !set.isEmpty {
            InlineSplitter.encode([Array(name.utf8)] + set.sorted { $0.lexicographicallyPrecedes($1) }, into: out)
            count += set.count
        }
        fresh.sendWithoutReply(out.readPointer, out.readableCount)
        resubscribing = fresh
        resubscribeLeft = count
        Log.verbose("Client id=\(id): moving \(count) subscriptions from upstream connection \(old.id) to \(fresh.id)")
    }

    /// A subscription confirmation on the connection being prepared; true when swallowed.
    func resubscribeConfirmed(on conn: UpstreamConnection) -> Bool {
        guard let fresh = resubscribing, fresh === conn else { return false }
        resubscribeLeft -= 1
        if resubscribeLeft <= 0 {
            let old = pinned
            pinned = fresh
            resubscribing = nil
            if let old, old !== fresh { proxy.pool.release(old, reusable: false) }
            Log.verbose("Client id=\(id): subscriptions moved to upstream connection \(fresh.id)")
        }
        return true
    }
}
