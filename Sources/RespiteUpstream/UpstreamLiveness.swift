// UpstreamLiveness: a slow server is not a dead server.
//
// When a connection's oldest request has waited `upstream-timeout`, its own socket says nothing
// about why: a Lua script or function running long, `CLIENT PAUSE`, a long `KEYS`, or a server
// that stopped answering. The pool then asks on a sibling socket: one `PING` on a short-lived
// connection, at most one at a time per node. Any answer at all (`+PONG`, `-BUSY`, `-LOADING`,
// `-NOAUTH`) means the server is alive: requests keep waiting, as they would on Redis, and the
// question is asked again one timeout later. Only when the probe gets no answer within the
// timeout (`DEBUG SLEEP`, a hung or partitioned server) are the overdue connections closed, and
// their written requests fail with the outcome-unknown error. A connection still in its
// handshake counts too, by its oldest held request: a server that never answers the handshake
// fails them, one that answers `-BUSY` keeps them waiting. The probe needs no handshake:
// any reply counts, `-NOAUTH` included. Its deadline is checked by the pool's coarse tick and
// covers the name lookup: the probe's socket is an `UpstreamTransport`, dialed as a pooled
// connection dials (a host name looked up with the loop's resolver, each address in turn).

import EventLoop
import Observability
import RESP

/// One `PING` on its own socket.
final class LivenessProbe {
    unowned(unsafe) let node: NodePool
    let address: UpstreamAddress
    let started: Int64
    let deadline: Int64
    let transport: any UpstreamTransport = PlainTransport()
    /// The addresses still to try (a name's lookup may give several).
    var candidates: [UpstreamAddress] = []
    var event: Event?
    var stopped = false

    init(node: NodePool, address: UpstreamAddress, now: Int64, timeoutMs: Int) {
        self.node = node
        self.address = address
        self.started = now
        self.deadline = now + Int64(timeoutMs)
    }

    /// Starts the lookup and the connect; a failure is reported to the pool (at once when it is
    /// known at once).
    func start() {
        node.directory.resolver.endpoints(for: address) { [weak self] found in
            guard let self, !self.stopped else { return }
            if found.isEmpty { self.node.livenessAnswered(self, alive: false, what: "cannot resolve"); return }
            self.candidates = found
            self.dialNext(lastError: "connect failed")
        }
    }

    /// Dials the next address; when none is left, the server did not answer.
    func dialNext(lastError: String) {
        event?.free(); event = nil
        transport.close()
        while !candidates.isEmpty {
            do {
                try transport.connect(to: candidates.removeFirst())
            } catch {
                continue
            }
            watch(EventFlags.write, livenessWritable)
            return
        }
        node.livenessAnswered(self, alive: false, what: lastError)
    }

    func watch(_ what: Int16, _ cb: EventCallback) {
        event?.free()
        event = node.directory.loop.watch(fd: transport.fd, what, cb, Unmanaged.passUnretained(self).toOpaque())
        event!.add()
    }

    /// Ready while connecting: once connected, send the PING and wait for any byte back.
    func onConnectReady() {
        switch transport.continueConnect() {
        case .connected: break
        case .wantWrite: watch(EventFlags.write, livenessWritable); return
        case .wantRead: watch(EventFlags.read, livenessWritable); return
        case .failed(let why): dialNext(lastError: "connect failed (\(why))"); return
        }
        event?.free(); event = nil
        let ping: StaticString = "*1\r\n$4\r\nPING\r\n"
        guard case .bytes(ping.utf8CodeUnitCount) = transport.write(ping.utf8Start, ping.utf8CodeUnitCount) else {
            node.livenessAnswered(self, alive: false, what: "write failed")
            return
        }
        watch(EventFlags.read | EventFlags.persist, livenessReadable)
    }

    func onReadable() {
        var byte = [UInt8](repeating: 0, count: 64)
        let r = byte.withUnsafeMutableBytes { transport.read($0.baseAddress!, $0.count) }
        switch r {
        case .bytes(let n):
            let line = String(decoding: byte.prefix(n).prefix { $0 != 13 }, as: UTF8.self)
            node.livenessAnswered(self, alive: true, what: line)
        case .wouldBlock: return
        case .closed: node.livenessAnswered(self, alive: false, what: "closed")
        case .error: node.livenessAnswered(self, alive: false, what: "read error")
        }
    }

    func stop() {
        stopped = true
        event?.free(); event = nil
        transport.close()
    }
}

let livenessWritable: EventCallback = { _, _, ctx in
    Unmanaged<LivenessProbe>.fromOpaque(ctx!).takeUnretainedValue().onConnectReady()
}
let livenessReadable: EventCallback = { _, _, ctx in
    Unmanaged<LivenessProbe>.fromOpaque(ctx!).takeUnretainedValue().onReadable()
}

extension NodePool {
    /// `c`'s oldest request has waited its timeout (`timeoutMs`, relaxed or not). Keeps waiting
    /// while the server answered a probe recently; otherwise asks, once, on a sibling socket.
    func requestOverdue(_ c: UpstreamConnection, now: Int64, timeoutMs: Int) {
        if aliveUntil > now || probe != nil { return }
        let p = LivenessProbe(node: self, address: c.address, now: now, timeoutMs: timeoutMs)
        probe = p
        p.start()
    }

    /// The server answers, but these shared connections wait behind one slow request (a long
    /// script, a write held by `CLIENT PAUSE WRITE`, a long `KEYS`): one client's request must
    /// not stall every other client. Each stops taking requests and drains (its requests are
    /// answered when the server gets to them, as they would be direct); the next request of
    /// another client opens a fresh connection in its slot, where Redis answers it as it would
    /// answer that client direct (at once, or `-BUSY` while a script runs). A client with
    /// requests still owed on the old connection waits for them first, keeping its order.
    func setAsideStuckShared(address: UpstreamAddress, since: Int64) {
        setAsideShared { $0.address == address && $0.headOverdue(now: since) }
    }

    /// The same, sooner: by the tick, for a shared connection whose oldest request has waited
    /// `upstream-stall-timeout`, so that another client's next command does not queue behind
    /// a script that may run for seconds (direct, it would get `-BUSY` at once).
    func setAsideStalledShared(now: Int64) {
        let limit = Int64(settings.stallTimeoutMs)
        setAsideShared { c in
            // Inside a maintenance window slow replies are expected, and a fresh connection
            // would be no faster.
            guard let head = c.fifo.first, head.since > 0, !c.relaxed.isRelaxed(now: now) else { return false }
            return now - head.since >= limit
        }
    }

    private func setAsideShared(_ stuck: (UpstreamConnection) -> Bool) {
        for (key, slots) in shared {
            for (i, c) in slots.enumerated() {
                guard let c, c.state == .ready, stuck(c) else { continue }
                shared[key]![i] = nil
                Log.verbose("upstream connection \(c.id): waits behind a slow request; new requests go on a fresh connection while it drains")
                c.startDraining(deadline: 0)
            }
        }
    }

    /// The probe's deadline passed without an answer (checked by the tick).
    func checkLiveness(now: Int64) {
        if let p = probe, now >= p.deadline { livenessAnswered(p, alive: false, what: "no answer") }
    }

    func livenessAnswered(_ p: LivenessProbe, alive: Bool, what: String) {
        guard probe === p else { return }
        probe = nil
        p.stop()
        let now = monotonicMs()
        let waited = now - p.started
        if alive {
            aliveUntil = now + Int64(settings.timeoutMs)
            Log.notice("upstream \(p.address) is slow but alive: a request waited past upstream-timeout (\(settings.timeoutMs) ms), and a liveness probe was answered in \(waited) ms (\(what)); requests keep waiting")
            setAsideStuckShared(address: p.address, since: p.started)
            return
        }
        Log.warning("upstream \(p.address) is not answering: a request waited past upstream-timeout (\(settings.timeoutMs) ms), and a liveness probe got \(what) within \(waited) ms; closing the connections that wait")
        for c in Array(directory.all.values) where c.node === self && c.address == p.address && c.headOverdue(now: p.started) {
            c.close(reason: "upstream timeout: no reply within \(settings.timeoutMs) ms, and the server did not answer a liveness probe")
        }
    }
}
