// UpstreamConnection+IO: the connection's I/O shell — dialing (a name looked up on the loop,
// each address tried in turn), the transport's connect, batched writes and the read loop —
// and the C callbacks the loop calls it through. Everything that touches the socket goes
// through `transport` (UpstreamTransport.swift).

import EventLoop
import Observability
import RESP
import RespiteMaintenance
#if canImport(Glibc)
import Glibc
#endif

extension UpstreamConnection {
    /// Starts the connect after `afterMs` (a handoff retry's delay); requests queue meanwhile.
    func start(afterMs: Int) {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        connectTimer = pool.loop.timer(persist: false, upstreamDelayedStart, ctx)
        connectTimer!.add(timeoutMs: afterMs)
    }

    /// Starts the connect; failures surface through `close`. A host name is looked up on the
    /// loop (evdns, /etc/hosts included) and each address it gives is tried in turn; an
    /// address literal or a unix path is dialed at once. The connect timeout covers the lookup.
    func start() {
        connectTimer?.free(); connectTimer = nil
        guard state == .connecting, !dialStarted else { return }
        dialStarted = true
        let s = pool.settings
        if s.connectTimeoutMs > 0 {
            connectTimer = pool.loop.timer(persist: false, upstreamConnectTimeout, Unmanaged.passUnretained(self).toOpaque())
            connectTimer!.add(timeoutMs: s.connectTimeoutMs)
        }
        // The lookup may answer before `endpoints` returns (an address literal, a hosts-file
        // name). The connection is found again by its id, not held weakly: a weak reference
        // would give it a side table and slow every retain and release of it on the request path.
        let id = self.id
        pool.resolver.endpoints(for: address) { [pool] found in
            guard let c = pool.all[id], c.state == .connecting else { return }
            if found.isEmpty {
                c.close(reason: "cannot resolve \(c.address)")
                return
            }
            c.candidates = found
            c.dialNext(lastError: nil)
        }
    }

    /// Dials the next address the lookup gave; when none is left, closes with the last error.
    func dialNext(lastError: String?) {
        readEvent?.free(); readEvent = nil
        writeEvent?.free(); writeEvent = nil
        writeArmed = false
        transport.close()
        while !candidates.isEmpty {
            let endpoint = candidates.removeFirst()
            do {
                try transport.connect(to: endpoint)
            } catch {
                if candidates.isEmpty { close(reason: "\(error)"); return }
                continue
            }
            let ctx = Unmanaged.passUnretained(self).toOpaque()
            let fd = transport.fd
            readEvent = pool.loop.watch(fd: fd, EventFlags.read | EventFlags.persist, upstreamReadable, ctx)
            writeEvent = pool.loop.watch(fd: fd, EventFlags.write, upstreamWritable, ctx)
            writeEvent!.add()
            writeArmed = true
            return
        }
        close(reason: lastError ?? "connect to \(address): no address to dial")
    }

    /// The socket is ready while connecting: the transport says whether its connect is done.
    func continueConnect() {
        switch transport.continueConnect() {
        case .connected:
            connectTimer?.free(); connectTimer = nil
            enter(.handshaking)
            readEvent?.add()
            if loginCheck { becomeReady() } else { writeHandshake() }
        case .wantWrite:
            if !writeArmed { writeArmed = true; writeEvent?.add() }
        case .wantRead:
            readEvent?.add()
        case .failed(let why):
            dialNext(lastError: "connect to \(address): \(why)")
        }
    }

    func scheduleFlush() {
        if !flushQueued && !writeArmed {
            flushQueued = true
            pool.queueFlush(self)
        }
    }

    /// Writes as much of `out` as the socket takes; arms write readiness on a short write.
    func flush() {
        flushQueued = false
        guard transport.fd >= 0, state == .ready || state == .handshaking || state == .draining else { return }
        while out.readableCount > written {
            switch transport.write(out.readPointer + written, out.readableCount - written) {
            case .bytes(let n):
                if retainsRequests { written += n } else { out.consume(n) }
            case .wouldBlock:
                if !writeArmed { writeArmed = true; writeEvent?.add() }
                return
            case .closed: close(reason: "connection closed by upstream"); return
            case .error(let e): close(reason: "write error: \(String(cString: strerror(e)))"); return
            }
        }
        if out.capacity > 4 * 1024 * 1024 { out.shrinkIfIdle(to: 16 * 1024) }
    }

    /// The bytes of the oldest request (shared connections keep them until its reply).
    @inline(__always) func requestBytes(_ p: Pending) -> UnsafeRawBufferPointer? {
        guard retainsRequests else { return nil }
        return UnsafeRawBufferPointer(start: out.readPointer, count: Int(p.length))
    }

    /// The oldest request is answered: its bytes are no longer needed.
    @inline(__always) func drop(_ p: Pending) {
        guard retainsRequests else { return }
        let n = Int(p.length)
        out.consume(n)
        written -= n
    }

    func onWritable() {
        writeArmed = false
        if state == .connecting {
            continueConnect()
            guard state == .handshaking || state == .ready else { return }
        }
        flush()
    }

    func onReadable() {
        guard transport.fd >= 0 else { return }
        if state == .connecting { continueConnect(); return }
        var reads = 0
        while true {
            inbuf.reserve(16 * 1024)
            switch transport.read(inbuf.writePointer, inbuf.writableCount) {
            case .bytes(let n):
                inbuf.commit(n)
                reads += 1
                if !deliver() {
                    // Closed while delivering (a released pin, a bad reply): whatever the
                    // replies it delivered made ready still goes out in this pass.
                    pool.delegate?.upstreamReadDone(self)
                    return
                }
                if n < inbuf.writableCount + n || reads >= 16 { break }
                continue
            case .wouldBlock: break
            case .closed: close(reason: "connection closed by upstream"); return
            case .error(let e): close(reason: "read error: \(String(cString: strerror(e)))"); return
            }
            break
        }
        pool.delegate?.upstreamReadDone(self)
    }
}

let upstreamReadable: EventCallback = { _, _, ctx in
    Unmanaged<UpstreamConnection>.fromOpaque(ctx!).takeUnretainedValue().onReadable()
}
let upstreamWritable: EventCallback = { _, _, ctx in
    Unmanaged<UpstreamConnection>.fromOpaque(ctx!).takeUnretainedValue().onWritable()
}
let upstreamDelayedStart: EventCallback = { _, _, ctx in
    let c = Unmanaged<UpstreamConnection>.fromOpaque(ctx!).takeUnretainedValue()
    if c.state == .connecting { c.start() }
}
let upstreamConnectTimeout: EventCallback = { _, _, ctx in
    let c = Unmanaged<UpstreamConnection>.fromOpaque(ctx!).takeUnretainedValue()
    if c.state == .connecting { c.close(reason: "connect timeout after \(c.pool.settings.connectTimeoutMs) ms") }
}
