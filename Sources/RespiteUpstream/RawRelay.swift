// RawRelay: a dedicated upstream socket that relays bytes both ways without framing them, for
// a client that turned itself into a replica (SYNC/PSYNC and the REPLCONF preamble — how
// `redis-cli --rdb` and `redis-cli --replica` take a backup through a sidecar).
//
// It never joins the pool's lists and is never reused: after SYNC the server streams an RDB
// payload and then the replication stream, which are no RESP replies Respite could pair with
// requests. The only bytes Respite reads itself are the reply to its own `AUTH` (when the
// upstream needs a password), sent first; everything after goes to the owner untouched. The
// connection speaks RESP2 (no HELLO 3, no maintenance opt-in): a push in the middle of the
// replication stream would corrupt it.
//
// Its socket is an `UpstreamTransport` like every upstream socket's. A host name is looked up
// with the loop's resolver and each address it gives is tried in turn, as a pooled connection
// dials; client bytes queue meanwhile.

import EventLoop
import Observability
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// The side a relay hands its upstream bytes to (the client session).
public protocol RawRelayOwner: AnyObject {
    /// Bytes from the upstream, valid only during the call. Returns false to pause reading
    /// (the client's output is backed up); the owner calls `resumeReading()` later.
    func relayReceived(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// The upstream side closed (or never connected).
    func relayClosed(_ reason: String)
}

public final class RawRelay {
    let loop: Loop
    let address: UpstreamAddress
    unowned(unsafe) let owner: any RawRelayOwner
    let transport: any UpstreamTransport = PlainTransport()
    /// The addresses still to try while connecting (a name's lookup may give several).
    var candidates: [UpstreamAddress] = []
    var readEvent: Event?
    var writeEvent: Event?
    var connected = false
    var writeArmed = false
    var readPaused = false
    /// Bytes of the reply to Respite's own AUTH still to skip (the reply is one line).
    var skippingAuthReply = false
    let out = ByteBuffer(capacity: 16 * 1024)
    let inbuf = ByteBuffer(capacity: 64 * 1024)
    public private(set) var closed = false

    /// Dials `address`; with a password, `AUTH` goes first and its reply is consumed here.
    public init(loop: Loop, settings: UpstreamSettings, address: UpstreamAddress, owner: any RawRelayOwner) {
        self.loop = loop
        self.address = address
        self.owner = owner
        if let pw = settings.password {
            var args: [[UInt8]] = [Array("AUTH".utf8)]
            if let u = settings.user { args.append(Array(u.utf8)) }
            args.append(Array(pw.utf8))
            InlineSplitter.encode(args, into: out)
            skippingAuthReply = true
        }
    }

    /// Starts the lookup and the non-blocking connect. Failure is reported through `relayClosed`
    /// (at once when it is known at once).
    public func start() {
        loop.resolver.endpoints(for: address) { [weak self] found in
            guard let self, !self.closed else { return }
            if found.isEmpty { self.close("cannot resolve \(self.address)"); return }
            self.candidates = found
            self.dialNext(lastError: nil)
        }
    }

    /// Dials the next address; when none is left, closes with the last error.
    func dialNext(lastError: String?) {
        readEvent?.free(); readEvent = nil
        writeEvent?.free(); writeEvent = nil
        writeArmed = false
        transport.close()
        var lastError = lastError
        while !candidates.isEmpty {
            let endpoint = candidates.removeFirst()
            do {
                try transport.connect(to: endpoint)
            } catch {
                lastError = "connect to \(address): \(error)"
                continue
            }
            let ctx = Unmanaged.passUnretained(self).toOpaque()
            readEvent = loop.watch(fd: transport.fd, EventFlags.read | EventFlags.persist, relayReadable, ctx)
            writeEvent = loop.watch(fd: transport.fd, EventFlags.write, relayWritable, ctx)
            writeArmed = true
            writeEvent!.add()
            return
        }
        close(lastError ?? "connect to \(address): no address to dial")
    }

    /// Queues client bytes for the upstream.
    public func send(_ p: UnsafeRawPointer, _ n: Int) {
        guard !closed else { return }
        out.append(p, count: n)
        if connected { flush() }
    }

    public func resumeReading() {
        guard readPaused, !closed else { return }
        readPaused = false
        readEvent?.add()
        onReadable()
    }

    func onWritable() {
        writeArmed = false
        if !connected {
            switch transport.continueConnect() {
            case .connected:
                connected = true
                readEvent?.add()
            case .wantWrite:
                writeArmed = true
                writeEvent?.add()
                return
            case .wantRead:
                readEvent?.add()
                return
            case .failed(let why):
                dialNext(lastError: "connect to \(address): \(why)")
                return
            }
        }
        flush()
    }

    func flush() {
        while out.readableCount > 0 {
            switch transport.write(out.readPointer, out.readableCount) {
            case .bytes(let n): out.consume(n)
            case .wouldBlock:
                if !writeArmed { writeArmed = true; writeEvent?.add() }
                return
            case .closed: close("connection closed by upstream"); return
            case .error(let e): close("write error: \(String(cString: strerror(e)))"); return
            }
        }
    }

    func onReadable() {
        // A transport that needs to read to finish its connect (TLS) is answered here.
        if !connected { onWritable(); return }
        // The owner may drop this relay while it delivers (the client went away).
        withExtendedLifetime(self) { readLoop() }
    }

    private func readLoop() {
        while !closed && !readPaused {
            inbuf.reserve(64 * 1024)
            switch transport.read(inbuf.writePointer, inbuf.writableCount) {
            case .bytes(let n):
                inbuf.commit(n)
                if skippingAuthReply {
                    let p = inbuf.readPointer
                    var i = 0
                    while i < inbuf.readableCount && p[i] != 10 { i += 1 }
                    if i == inbuf.readableCount { continue }
                    if p[0] == UInt8(ascii: "-") {
                        close("upstream refused AUTH: \(String(decoding: UnsafeRawBufferPointer(start: p, count: i), as: UTF8.self))")
                        return
                    }
                    inbuf.consume(i + 1)
                    skippingAuthReply = false
                }
                if inbuf.readableCount > 0 {
                    let more = owner.relayReceived(UnsafeRawBufferPointer(start: inbuf.readPointer, count: inbuf.readableCount))
                    inbuf.clear()
                    if !more {
                        readPaused = true
                        readEvent?.remove()
                        return
                    }
                }
            case .wouldBlock: return
            case .closed: close("connection closed by upstream"); return
            case .error(let e): close("read error: \(String(cString: strerror(e)))"); return
            }
        }
    }

    /// Closes the socket; reports to the owner unless the owner asked for it.
    public func close(_ reason: String, notify: Bool = true) {
        guard !closed else { return }
        closed = true
        readEvent?.free(); readEvent = nil
        writeEvent?.free(); writeEvent = nil
        transport.close()
        Log.verbose("Replication relay to \(address) closed: \(reason)")
        if notify { owner.relayClosed(reason) }
    }
}

let relayReadable: EventCallback = { _, _, ctx in
    Unmanaged<RawRelay>.fromOpaque(ctx!).takeUnretainedValue().onReadable()
}
let relayWritable: EventCallback = { _, _, ctx in
    Unmanaged<RawRelay>.fromOpaque(ctx!).takeUnretainedValue().onWritable()
}
