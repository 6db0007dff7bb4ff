// UpstreamProbe: a short, blocking conversation with the upstream at start, before the loop
// runs — `HELLO 3` (with AUTH), `COMMAND`, `CONFIG GET databases` — so the command table
// includes the server's own commands (modules too) and HELLO replies carry its version. A
// failure is not fatal: Respite starts on its built-in table and says so.

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
        let fd: Int32
        do {
            switch s.address {
            case .tcp(let host, let port): fd = try Socket.connectTCP(host: host, port: port)
            case .unix(let path): fd = try Socket.connectUnix(path: path)
            }
        } catch {
            result.error = "\(error)"
            return result
        }
        defer { Socket.close(fd) }
        let deadline = monotonicMs() + Int64(timeoutMs)
        // Wait for the connect to finish.
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        if poll(&pfd, 1, Int32(timeoutMs)) <= 0 || Socket.connectResult(fd) != 0 {
            result.error = "connect to \(s.address) failed: \(String(cString: strerror(Socket.connectResult(fd))))"
            return result
        }
        let out = ByteBuffer(capacity: 256)
        var hello: [[UInt8]] = [Array("HELLO".utf8), Array("3".utf8)]
        if let pw = s.password { hello += [Array("AUTH".utf8), Array((s.user ?? "default").utf8), Array(pw.utf8)] }
        InlineSplitter.encode(hello, into: out)
        InlineSplitter.encode([Array("COMMAND".utf8)], into: out)
        InlineSplitter.encode([Array("CONFIG".utf8), Array("GET".utf8), Array("databases".utf8)], into: out)
        var off = 0
        while off < out.readableCount {
            let n = write(fd, out.readPointer + off, out.readableCount - off)
            if n > 0 { off += n; continue }
            if errno == EAGAIN { var w = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0); _ = poll(&w, 1, 100); continue }
            result.error = "write failed"
            return result
        }
        let inbuf = ByteBuffer(capacity: 256 * 1024)
        var replies: [RESPValue] = []
        while replies.count < 3 {
            let left = deadline - monotonicMs()
            if left <= 0 { result.error = "timed out"; break }
            var r = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&r, 1, Int32(left)) <= 0 { result.error = "timed out"; break }
            inbuf.reserve(64 * 1024)
            let n = read(fd, inbuf.writePointer, inbuf.writableCount)
            if n <= 0 { result.error = "connection closed"; break }
            inbuf.commit(n)
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
}
