// UpstreamPool+Control: short-lived upstream connections — one request each, closed after
// its reply: commands that end a busy script (SCRIPT KILL, FUNCTION KILL, SHUTDOWN, FUNCTION
// STATS), a client's AUTH checked by the upstream, and Respite's own CLIENT UNBLOCK relayed to
// a blocked client's connection. At most `upstream-control-max` are open at once; the others
// wait in a queue bounded by `upstream-queue-limit` (past it they fail with -ERR), and a
// control command already queued or running is not run twice.

import EventLoop
import Observability
import RESP

/// A request waiting for a short-lived connection.
struct ControlJob {
    enum Kind { case interrupt, loginCheck, control }
    var kind: Kind
    var identity: Int32
    var address: UpstreamAddress
    var request: [UInt8]
    var pending: Pending
}

extension UpstreamPool {
    /// Sends one request of `session` on a connection of its own, closed after the reply, with
    /// the shortest handshake (`HELLO 3` only, which Redis answers even while a script is
    /// busy): for the commands that end a busy script, which must not queue behind it on a
    /// shared connection. Tried even in backoff: it is how a stuck server is freed. Waits for a
    /// free slot when `upstream-control-max` are open.
    public func sendInterrupt(_ request: UnsafeRawBufferPointer, identity: Int32, pending: Pending) throws(UpstreamUnavailable) {
        // The client's own identity: Redis checks its permission to end the script.
        try runControl(ControlJob(kind: .interrupt, identity: identity, address: dialAddress, request: Array(request), pending: pending))
    }

    /// Runs one command of Respite's own on a short-lived connection to `address` (`CLIENT
    /// UNBLOCK` of a blocked client's connection). The same command queued or running already
    /// is not run again. False when the queue is full.
    @discardableResult
    public func runControlCommand(_ args: [[UInt8]], on address: UpstreamAddress) -> Bool {
        let bytes = ByteBuffer(capacity: 64)
        InlineSplitter.encode(args, into: bytes)
        let request = bytes.readableBytes()
        let key = Array("\(address)".utf8) + request
        if controlKeys.contains(key) { return true }
        do {
            try runControl(ControlJob(kind: .control, identity: 0, address: address, request: request,
                                      pending: Pending.own(.control)), key: key)
        } catch .down {
            return true
        } catch {
            Log.warning("Control command to \(address) dropped: \(controlMaxText) open and the queue is full (upstream-queue-limit \(settings.queueLimit))")
            return false
        }
        return true
    }

    var controlMaxText: String { "upstream-control-max \(settings.controlMax)" }

    /// Starts `job` now when a slot is free, else queues it (bounded). Throws when it cannot
    /// start at all (the connect failed at once) or the queue is full.
    func runControl(_ job: ControlJob, key: [UInt8]? = nil) throws(UpstreamUnavailable) {
        if controlCount < settings.controlMax && controlQueue.isEmpty {
            guard startControl(job, key: key) != nil else { throw .down(lastError) }
            return
        }
        guard controlQueue.count < settings.queueLimit else { throw .queueFull(settings.queueLimit) }
        if let key { controlKeys.insert(key) }
        controlQueue.append(job)
    }

    /// Starts queued requests while slots are free (from the pool's deferred flush). One that
    /// cannot start fails to its client as a request that was never sent.
    func startQueuedControl() {
        var budget = controlQueue.count
        while budget > 0, controlCount < settings.controlMax, let job = controlQueue.popFirst() {
            budget -= 1
            var key: [UInt8]?
            if job.kind == .control {
                key = Array("\(job.address)".utf8) + job.request
                controlKeys.remove(key!)
            }
            if startControl(job, key: key) == nil, job.pending.kind == .client {
                let failed = UpstreamConnection(id: -1, db: 0, identity: job.identity, pinned: true, address: job.address,
                                                pool: self, node: node, oneShot: job.kind == .interrupt)
                failed.loginCheck = job.kind == .loginCheck
                let text = lastError.isEmpty ? "connecting" : lastError
                delegate?.upstreamFailed(failed, job.pending, error: "ERR Respite: upstream \(job.address) unavailable (\(text))",
                                         lost: .unsent, request: nil)
            }
        }
    }

    /// Opens the connection for `job` and sends its request; nil when the connect failed at once.
    private func startControl(_ job: ControlJob, key: [UInt8]?) -> UpstreamConnection? {
        let c = newConnection(db: 0, identity: job.identity, pinned: true, address: job.address, node: node,
                              oneShot: job.kind == .interrupt)
        c.control = true
        c.loginCheck = job.kind == .loginCheck
        controlCount += 1
        _ = maintenanceStarting(c, joinsWindow: false, now: monotonicMs())
        c.start()
        if c.state == .closed { return nil }
        if let key { c.controlKey = key; controlKeys.insert(key) }
        job.request.withUnsafeBytes { raw in
            c.send(raw.baseAddress!, raw.count, job.pending)
        }
        return c
    }
}
