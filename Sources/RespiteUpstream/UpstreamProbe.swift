// UpstreamProbe: a short, blocking conversation with the upstream at start, before the loop
// runs — `HELLO 3` (with AUTH), `COMMAND`, `CONFIG GET databases` — so the command table
// includes the server's own commands (modules too) and HELLO replies carry its version. A
// failure is not fatal: Respite starts on its built-in table and says so. Its socket is an
// `UpstreamTransport`; since no loop runs yet, a host name is looked up the blocking way
// (`Socket.lookUpBlocking`) and each address is tried in turn.

import EventLoop
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// What the probe learned.
public struct ProbeResult {
    public var hello: RESPValue?
    public var commands: RESPValue?
    public var databases: Int?
    public var error: String?
}

public enum UpstreamProbe {
    /// Asks the upstream, waiting at most `timeoutMs` for each step.
    public static func run(_ s: UpstreamSettings, timeoutMs: Int) -> ProbeResult {
        var result = ProbeResult()
        let deadline = monotonicMs() + Int64(timeoutMs)
        // Before the loop runs, so a name may be looked up the blocking way here.
        var endpoints = [s.address]
        if case .tcp(let host, let port) = s.address, !Socket.isAddressLiteral(host) {
            do {
                endpoints = try Socket.lookUpBlocking(host).map { .tcp(host: $0, port: port) }
            } catch {
                result.error = "\(error)"
                return result
            }
        }
        let transport: any UpstreamTransport = PlainTransport()
        defer { transport.close() }
        if let failure = connect(transport, to: endpoints, of: s.address, until: deadline) {
            result.error = failure
            return result
        }
        // The handshake's first step (HELLO 3, its AUTH and SETNAME, as every connection sends
        // it), then what the probe asks.
        let out = ByteBuffer(capacity: 256)
        var hello = HandshakeInput()
        if let pw = s.password { hello.ownLogin = UpstreamLogin(user: s.user ?? "default", password: pw) }
        hello.clientName = s.clientName
        hello.helloOnly = true
        for command in UpstreamHandshake.plan(hello).commands { InlineSplitter.encode(command, into: out) }
        InlineSplitter.encode([Array("COMMAND".utf8)], into: out)
        InlineSplitter.encode([Array("CONFIG".utf8), Array("GET".utf8), Array("databases".utf8)], into: out)
        var off = 0
        while off < out.readableCount {
            switch transport.write(out.readPointer + off, out.readableCount - off) {
            case .bytes(let n): off += n
            case .wouldBlock:
                guard wait(transport.fd, POLLOUT, until: deadline) else { result.error = "timed out"; return result }
            case .closed, .error:
                result.error = "write failed"
                return result
            }
        }
        let inbuf = ByteBuffer(capacity: 256 * 1024)
        var replies: [RESPValue] = []
        read: while replies.count < 3 {
            inbuf.reserve(64 * 1024)
            switch transport.read(inbuf.writePointer, inbuf.writableCount) {
            case .bytes(let n): inbuf.commit(n)
            case .wouldBlock:
                guard wait(transport.fd, POLLIN, until: deadline) else { result.error = "timed out"; break read }
                continue
            case .closed, .error:
                result.error = "connection closed"
                break read
            }
            while true {
                let avail = UnsafeRawBufferPointer(start: inbuf.readPointer, count: inbuf.readableCount)
                guard let decoded = try? RESPValue.decode(avail) else { break }
                replies.append(decoded.value)
                inbuf.consume(decoded.consumed)
                if inbuf.readableCount == 0 { break }
            }
        }
        if replies.count >= 1 {
            if case .error(let e) = replies[0] { result.error = "HELLO 3 refused: \(String(decoding: e, as: UTF8.self))" }
            else { result.hello = replies[0] }
        }
        if replies.count >= 2, result.hello != nil { result.commands = replies[1] }
        if replies.count >= 3 {
            switch replies[2] {
            case .map(let kv) where kv.count == 2:
                if case .bulkString(let b?) = kv[1], let n = Int(String(decoding: b, as: UTF8.self)) { result.databases = n }
            case .array(let a?) where a.count == 2:
                if case .bulkString(let b?) = a[1], let n = Int(String(decoding: b, as: UTF8.self)) { result.databases = n }
            default: break
            }
        }
        return result
    }

    /// Connects `transport` to the first of `endpoints` that takes the connect (and finishes the
    /// transport's own handshake) by `deadline`; nil when connected, else why not.
    private static func connect(_ transport: any UpstreamTransport, to endpoints: [UpstreamAddress],
                                of address: UpstreamAddress, until deadline: Int64) -> String? {
        var lastError = "connect to \(address) failed: no address to dial"
        for endpoint in endpoints {
            do {
                try transport.connect(to: endpoint)
            } catch {
                lastError = "\(error)"
                continue
            }
            var want = POLLOUT
            while true {
                guard wait(transport.fd, want, until: deadline) else { return "connect to \(address) failed: timed out" }
                let progress = transport.continueConnect()
                if progress == .connected { return nil }
                if progress == .wantRead { want = POLLIN; continue }
                if progress == .wantWrite { want = POLLOUT; continue }
                if case .failed(let why) = progress { lastError = "connect to \(address) failed: \(why)" }
                transport.close()
                break
            }
        }
        return lastError
    }

    /// Waits until `fd` is ready for `events` or `deadline` (ms, monotonic) passes.
    private static func wait(_ fd: Int32, _ events: Int32, until deadline: Int64) -> Bool {
        let left = deadline - monotonicMs()
        guard left > 0 else { return false }
        var p = pollfd(fd: fd, events: Int16(events), revents: 0)
        return poll(&p, 1, Int32(left)) > 0
    }
}
