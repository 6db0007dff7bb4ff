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
    var fd: Int32 = -1
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

    /// Starts the non-blocking connect. Failure is reported through `relayClosed`.
    public func start() {
        do {
            switch address {
            case .tcp(let host, let port): fd = try Socket.connectTCP(host: host, port: port)
            case .unix(let path): fd = try Socket.connectUnix(path: path)
            }
        } catch {
            close("connect to \(address): \(error)")
            return
        }
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        readEvent = loop.watch(fd: fd, EventFlags.read | EventFlags.persist, relayReadable, ctx)
        writeEvent = loop.watch(fd: fd, EventFlags.write, relayWritable, ctx)
        writeArmed = true
        writeEvent!.add()
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
            let err = Socket.connectResult(fd)
            if err != 0 { close("connect to \(address): \(String(cString: strerror(err)))"); return }
            Socket.setNoDelay(fd)
            connected = true
            readEvent?.add()
        }
        flush()
    }

    func flush() {
        while out.readableCount > 0 {
            switch Socket.write(fd, out.readPointer, out.readableCount) {
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
        // The owner may drop this relay while it delivers (the client went away).
        withExtendedLifetime(self) { readLoop() }
    }

    private func readLoop() {
        while !closed && !readPaused {
            inbuf.reserve(64 * 1024)
            switch Socket.read(fd, inbuf.writePointer, inbuf.writableCount) {
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
        if fd >= 0 { Socket.close(fd); fd = -1 }
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
