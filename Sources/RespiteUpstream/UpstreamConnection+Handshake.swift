// UpstreamConnection+Handshake: sending the handshake UpstreamHandshake plans, reading its
// replies (a busy server's `-BUSY`/`-LOADING` makes it go again later; a refused login closes
// with the user named; a refused `CLIENT ID` or opt-in leaves a usable connection), the setup
// steps sent again once the server is no longer busy, and becoming ready.

import EventLoop
import Observability
import RESP
import RespiteMaintenance
#if canImport(Glibc)
import Glibc
#endif

extension UpstreamConnection {
    /// What this connection's handshake is (UpstreamHandshake.swift decides the commands).
    var handshakeInput: HandshakeInput {
        let s = pool.settings
        return HandshakeInput(
            ownLogin: pool.credentials(0).map { UpstreamLogin(user: $0.user, password: $0.password) },
            clientIdentity: identity != 0,
            clientLogin: identity > 0 ? pool.credentials(identity).map { UpstreamLogin(user: $0.user, password: $0.password) } : nil,
            ownLoginRefused: pool.anonymousRejected,
            clientName: s.clientName, db: db,
            maintenanceEndpointType: s.maintenance.mode != .disabled ? s.resolvedEndpointType.rawValue : nil,
            helloOnly: oneShot)
    }

    /// Queues the handshake ahead of every held request.
    func writeHandshake() {
        writeHandshake(UpstreamHandshake.plan(handshakeInput))
    }

    func writeHandshake(_ plan: HandshakePlan) {
        let commands = plan.commands
        helloStep = plan.helloStep; clientIDStep = plan.clientIDStep
        optInStep = plan.optInStep; loginStep = plan.loginStep
        handshakeStep = 0
        // Handshake entries sit before every held request in the FIFO.
        var entries: [Pending] = []
        while let p = fifo.popFirst() { entries.append(p) }
        for command in commands {
            let before = out.readableCount
            InlineSplitter.encode(command, into: out)
            var p = Pending.own(.handshake)
            p.length = Int32(out.readableCount - before)
            fifo.append(p)
        }
        handshakeLeft = commands.count
        for p in entries { fifo.append(p) }
    }

    func handshakeReply(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) {
        handshakeLeft -= 1
        let step = handshakeStep
        handshakeStep += 1
        if info.isError {
            let text = String(decoding: frame.prefix(max(0, frame.count - 2)).dropFirst(), as: UTF8.self)
            if step == clientIDStep && !(text.hasPrefix("BUSY ") || text.hasPrefix("LOADING ")) {
                // Respite's own bookkeeping refused (a user without CLIENT ID permission, once
                // logged in): the connection works without its server id.
            } else if (text.hasPrefix("BUSY ") || text.hasPrefix("LOADING ")) && (step == clientIDStep || step == optInStep) {
                // Respite's own bookkeeping met a busy server: the connection is usable (Redis
                // answers each client's command as it would direct: -BUSY, or the result of
                // one allowed while busy); the step is sent again later (`deferredSetupAt`).
                deferredSetupAt = monotonicMs() + Int64(pool.settings.reconnectMaxMs)
            } else if text.hasPrefix("BUSY ") || text.hasPrefix("LOADING ") {
                // A busy script or a loading dataset before the connection is usable (login,
                // database): the server is alive and will answer later. The whole handshake
                // is sent again once this one is answered.
                handshakeBusy = text
            } else if step == optInStep && pool.settings.maintenance.mode == .auto {
                // Auto stays fail-open on every connection: "not supported here", carry on.
                pool.maintenanceRefused(self, text)
            } else if step == optInStep {
                close(reason: "maintenance notifications refused (maint-notifications enabled): \(text)")
                return
            } else if step == helloStep && text.hasPrefix("NOPROTO") {
                close(reason: "upstream does not speak RESP3 (HELLO 3 refused: \(text))")
                return
            } else if (step == helloStep || step == loginStep) && (text.hasPrefix("WRONGPASS") || text.hasPrefix("NOAUTH") || text.hasPrefix("NOPERM")) {
                // Redis's texts name no password; the user is named, never the password.
                authRejected = true
                // Respite's own login, ahead of a client's, was refused (its password changed):
                // not the client's fault; its requests go again on a connection that logs in
                // as the client first.
                ownLoginRejected = step == helloStep && loginStep >= 0
                close(reason: "upstream refused the login of user '\(pool.userName(ownLoginRejected ? 0 : identity))': \(text)")
                return
            } else {
                close(reason: "upstream handshake failed: \(text)")
                return
            }
        } else if step == optInStep {
            maintenanceEnabled = true
        } else if step == clientIDStep {
            if case .integer(let id)? = (try? RESPValue.decode(frame))?.value { serverClientID = id; idLearntAt = monotonicMs() }
            // Learnt by a deferred setup after the connection went ready.
            if state == .ready && pinned && leasedTo >= 0 { pool.delegate?.upstreamPinnedReady(self) }
        } else if step == helloStep {
            helloReply = (try? RESPValue.decode(frame))?.value
        }
        if handshakeLeft == 0 && !handshakeBusy.isEmpty {
            handshakeRetries += 1
            let s = pool.settings
            let delay = min(s.reconnectMinMs << min(handshakeRetries - 1, 20), s.reconnectMaxMs)
            handshakeRetryAt = monotonicMs() + Int64(max(delay, 1))
            if handshakeRetries == 1 {
                Log.notice("upstream connection \(id) to \(address): handshake met \(handshakeBusy.prefix(60))…; retrying every ≤\(s.reconnectMaxMs) ms")
            }
            if heldBytesAllAwaitReplies { answerHeld(with: handshakeBusy) }
            handshakeBusy = ""
            return
        }
        if handshakeLeft == 0 {
            handshakeRetries = 0
            if state == .handshaking { becomeReady() }
        }
    }

    /// The server, busy, could not finish this connection's setup: each request held for it gets
    /// the answer Redis gives a client's command while busy (`-BUSY …`, `-LOADING …`), as it
    /// would direct. None of them ran. Only client requests remain in the FIFO here: the
    /// handshake's entries are all answered.
    var heldBytesAllAwaitReplies: Bool {
        // Bytes sent without a FIFO entry have no reply to stand in for: then every held
        // request waits for the retry instead.
        var tracked = 0
        var i = 0
        while i < fifo.count { tracked += Int(fifo[i].length); i += 1 }
        return tracked == held.readableCount
    }

    func answerHeld(with text: String) {
        let frame = Array("-\(text)\r\n".utf8)
        held.clear()
        heldCount = 0
        while let p = fifo.popFirst() {
            frame.withUnsafeBytes { raw in
                let info = ReplyFrame(length: raw.count, type: UInt8(ascii: "-"), hasRESP3: false, valueOffset: 0)
                if p.kind == .pushAnswered {
                    // A SUBSCRIBE's error reaches its session as it would from the server.
                    pool.delegate?.upstreamPush(self, raw, info)
                } else {
                    pool.delegate?.upstreamReply(self, p, raw, info, request: nil)
                }
            }
            if state == .closed { return }
        }
    }

    /// Sends the setup steps that met a busy server (`CLIENT ID`, the maintenance opt-in) again,
    /// once nothing is in flight; their replies are read as handshake replies.
    func sendDeferredSetup() {
        deferredSetupAt = 0
        let s = pool.settings
        let plan = UpstreamHandshake.deferredSetup(
            needsClientID: serverClientID < 0,
            maintenanceEndpointType: s.maintenance.mode != .disabled && !maintenanceEnabled ? s.resolvedEndpointType.rawValue : nil)
        guard !plan.commands.isEmpty else { return }
        writeHandshake(plan)
        scheduleFlush()
    }

    /// The handshake is done: held requests go out.
    func becomeReady() {
        enter(.ready)
        everReady = true
        pool.connectionReady(self)
        if held.readableCount > 0 {
            out.append(held.readPointer, count: held.readableCount)
            held.clear()
            heldCount = 0
        }
        if !retainsRequests { written = 0 }
        flush()
        if pinned && leasedTo >= 0 && state == .ready { pool.delegate?.upstreamPinnedReady(self) }
    }
}
