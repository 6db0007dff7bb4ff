// Session+Replication: a client that sends SYNC, PSYNC or their REPLCONF preamble is turning
// itself into a replica (`redis-cli --rdb`, `redis-cli --replica`, a backup tool). From that
// request on, the session is a raw byte relay to a fresh upstream connection of its own: the
// RDB payload and the replication stream that follow are no replies Respite could pair with
// requests. The connection is never pooled nor reused, and the session stays a relay until
// either side closes.

import Observability
import RESP
import RespiteUpstream

extension Session: RawRelayOwner {
    /// Above this much unread client output the relay stops reading the upstream.
    static let relayHighWater = 1 << 20
    static let relayLowWater = 256 << 10

    /// Starts the relay with `frame` (the first replication request) as its first bytes.
    func startReplicationRelay(_ frame: UnsafeRawBufferPointer) -> Bool {
        // Everything sent before goes first, in order; then the session changes nature.
        if sharedInFlight > 0 || pinnedInFlight > 0 || !slots.isEmpty { return false }
        // Its own upstream connection counts against upstream-pinned-max (the one it may hold
        // now is released below).
        let pool = proxy.pool
        if pool.pinnedCount + pool.relayCount - (pinned == nil ? 0 : 1) >= pool.settings.pinnedMax {
            replyUnavailable(.tooManyPinned(pool.settings.pinnedMax))
            return true
        }
        if let p = pinned {
            pinned = nil
            proxy.pool.release(p, reusable: false)
        }
        // Whatever the session held upstream ends with its connection.
        pinReasons = []
        channels.removeAll(); patterns.removeAll(); shardChannels.removeAll()
        trackingOn = false
        trackingRedirect = nil
        cachingArmed = false
        shared = nil
        let r = RawRelay(loop: proxy.loop, settings: proxy.pool.settings, address: proxy.pool.dialAddress, owner: self)
        relay = r
        pool.relayCount += 1
        Log.verbose("Client id=\(id) addr=\(peer) became a replica: relaying it to \(proxy.pool.dialAddress)")
        r.start()
        r.send(frame.baseAddress!, frame.count)
        return true
    }

    func relayReceived(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !closed else { return false }
        outbuf.append(bytes)
        flushOutput()
        return !closed && outbuf.readableCount < Session.relayHighWater
    }

    func relayClosed(_ reason: String) {
        if relay != nil { proxy.pool.relayCount -= 1 }
        relay = nil
        guard !closed else { return }
        Log.verbose("Closing replica client id=\(id) addr=\(peer): upstream relay closed (\(reason))")
        // Whatever the upstream sent goes out first.
        closeAfterReply = true
        pauseReading()
        flushOutput()
        maybeFinishClose()
    }
}
