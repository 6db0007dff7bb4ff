// Session+Retry: what happens to a request whose connection failed it. A request that never
// reached the server, or a read-only one whose outcome is unknown, is sent again (a few
// times) on the connection the pool gives now, keeping its reply slot. A write whose outcome is
// unknown fails with an error that says so. A reply that proves the command did not run
// (LOADING, TRYAGAIN, MASTERDOWN, READONLY) while maintenance relaxed the connection's timeouts
// is not shown: the command is sent again.

import EventLoop
import Observability
import RESP
import RespiteUpstream

extension Session {
    /// Sends per request: covers a handoff target's retries and the fallback after them.
    static let maxAttempts: UInt8 = 4

    /// The connection closed before `p` was answered.
    func requestLost(_ conn: UpstreamConnection, _ p: Pending, error: String, lost: LostRequest, request: UnsafeRawBufferPointer?) {
        // A login sent on the pinned connection: the client sees the failure; never resent.
        if conn.pinned, let l = login, l.seq == p.slot {
            pinnedInFlight -= 1
            loginFailed(error)
            return
        }
        // The login was refused: sending again would be refused too (unless it was Respite's
        // own, sent ahead of the client's: the next connection logs in as the client first).
        if conn.authRejected && !conn.ownLoginRejected {
            upstreamFailed(conn, seq: p.slot, error: error)
            return
        }
        if let request, !conn.pinned, p.attempts < Self.maxAttempts, lost == .unsent || p.readOnly {
            if resend(request, p, from: conn) { return }
        }
        if let request, conn.pinned, !conn.oneShot, p.attempts < Self.maxAttempts, lost == .unsent, failedPinnedID != conn.id {
            if resendPinned(request, p) { return }
        }
        if conn.pinned {
            // Requests on a pinned connection build on each other (MULTI, WATCH): once one of
            // them fails for good, the ones behind it on that connection fail too, never run
            // without it; and a transaction the client has not ended yet is refused up to its
            // EXEC or DISCARD.
            failedPinnedID = conn.id
            if inMulti { transactionFailed(conn.closeReason) }
        }
        if lost == .outcomeUnknown && !p.readOnly {
            proxy.pool.countUnknownOutcome()
            upstreamFailed(conn, seq: p.slot, error: "ERR Respite: the upstream connection closed after the command was sent; its outcome is unknown (\(conn.closeReason))")
        } else {
            upstreamFailed(conn, seq: p.slot, error: error)
        }
    }

    /// An error reply that proves the command did not run, inside a maintenance window: send
    /// the command again instead of showing the error. True when it was sent again.
    func retryDidNotRun(_ conn: UpstreamConnection, _ p: Pending, _ frame: UnsafeRawBufferPointer, _ request: UnsafeRawBufferPointer) -> Bool {
        guard !conn.pinned, p.attempts < Self.maxAttempts, conn.relaxed.isRelaxed(now: proxy.pool.now),
              Self.provesNotRun(frame) else { return false }
        sharedInFlight -= 1
        if frame.count > 9 && frame[1] == UInt8(ascii: "R") { proxy.pool.readOnlyDuringMaintenance(conn) }
        if resend(request, p, from: conn) {
            Log.verbose("Client id=\(id): \(String(decoding: frame.prefix(24), as: UTF8.self).split(separator: " ").first ?? "") during maintenance; sent the command again")
            return true
        }
        sharedInFlight += 1
        return false
    }

    /// `-LOADING`, `-TRYAGAIN`, `-MASTERDOWN`, `-READONLY`: the server did not run the command.
    static func provesNotRun(_ frame: UnsafeRawBufferPointer) -> Bool {
        func starts(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard frame.count > n + 1, frame[0] == UInt8(ascii: "-") else { return false }
            for i in 0..<n where frame[i + 1] != s.utf8Start[i] { return false }
            return frame[n + 1] == 32 || frame[n + 1] == 13
        }
        return starts("LOADING") || starts("TRYAGAIN") || starts("MASTERDOWN") || starts("READONLY")
    }

    /// Sends an unsent request again on the session's pinned connection (leasing a new one when
    /// the old never got going), keeping its reply slot and its place in line.
    private func resendPinned(_ request: UnsafeRawBufferPointer, _ p: Pending) -> Bool {
        guard !closed else { return false }
        if pinned == nil || pinned!.state == .closed {
            do {
                pinned = try proxy.pool.leasePinned(db: db, identity: identity, session: index)
            } catch {
                return false
            }
        }
        var again = p
        again.attempts += 1
        pinned!.send(request.baseAddress!, request.count, again)
        proxy.pool.countRetry()
        return true
    }

    /// Sends `request` again for the same reply slot on the pool's current shared connection.
    private func resend(_ request: UnsafeRawBufferPointer, _ p: Pending, from old: UpstreamConnection) -> Bool {
        guard !closed else { return false }
        let conn: UpstreamConnection
        do {
            conn = try proxy.pool.sharedConnection(db: old.db, identity: old.identity, affinity: Int(index))
        } catch {
            return false
        }
        if conn.db == db && conn.identity == identity { shared = conn }
        var again = p
        again.attempts += 1
        let timeout = proxy.pool.settings.timeoutMs
        again.deadline = timeout > 0 ? proxy.pool.now + Int64(timeout) : 0
        conn.send(request.baseAddress!, request.count, again)
        proxy.pool.countRetry()
        return true
    }
}
