// Blocking RESP and HTTP clients for the simulator tests: raw sockets, bounded by timeouts.

import Foundation
import RESP
import XCTest
@testable import MaintenanceSimulator

/// A blocking RESP connection that returns whole decoded frames (pushes included).
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, host: String = "127.0.0.1", timeoutMs: Int = 5000) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); throw SimulatorError("connect \(host):\(port) failed") }
        setTimeout(ms: timeoutMs)
    }

    deinit { Glibc.close(fd) }

    func setTimeout(ms: Int) {
        var tv = timeval(tv_sec: ms / 1000, tv_usec: (ms % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ args: String...) { sendBytes(encodeCommand(args)) }
    func sendBytes(_ b: [UInt8]) { _ = b.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    /// Reads exactly the next frame's bytes; nil on timeout or close.
    func readFrame() -> [UInt8]? {
        var scanner = ReplyScanner()
        while true {
            if !buffer.isEmpty {
                let r = buffer.withUnsafeBufferPointer { scanner.scan($0.baseAddress!, $0.count) }
                if case .frame(let f) = r {
                    let out = Array(buffer[0..<f.length])
                    buffer.removeFirst(f.length)
                    return out
                }
                scanner.reset()
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }

    func read() -> RESPValue? { readFrame().flatMap { try? RESPValue.decode($0)?.value } }

    /// Sends a command and returns its reply, collecting any pushes that came first.
    func call(_ args: String..., pushes: inout [RESPValue]) -> RESPValue? {
        sendBytes(encodeCommand(args))
        while let v = read() {
            if case .push = v { pushes.append(v); continue }
            return v
        }
        return nil
    }

    func call(_ args: String...) -> RESPValue? {
        sendBytes(encodeCommand(args))
        while let v = read() {
            if case .push = v { continue }
            return v
        }
        return nil
    }

    /// True when the server closes the connection within `ms`.
    func closedWithin(ms: Int) -> Bool {
        setTimeout(ms: ms)
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(Double(ms) / 1000)
        while Date() < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
        return false
    }
}

/// One HTTP/1.1 request on a fresh connection; returns status and JSON body.
func http(_ method: String, port: Int, path: String, body: [UInt8] = []) throws -> (Int, JSON?) {
    let c = try RawClient(port: port)
    var req = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
    req += body
    c.sendBytes(req)
    var all: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        all += chunk[0..<n]
    }
    let text = String(decoding: all, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw SimulatorError("bad HTTP answer: \(text)") }
    let statusLine = text[..<split.lowerBound].split(separator: " ")
    let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
    return (status, JSON.parse(Array(text[split.upperBound...].utf8)))
}

/// Posts an action and waits (bounded) for it to finish; returns its final record.
@discardableResult
func runAction(_ api: Int, _ json: String, timeoutMs: Int = 20_000) throws -> JSON {
    let id = try startAction(api, json)
    return try waitAction(api, id, timeoutMs: timeoutMs)
}

func startAction(_ api: Int, _ json: String) throws -> String {
    let (status, body) = try http("POST", port: api, path: "/action", body: Array(json.utf8))
    guard status == 200, let id = body?["action_id"]?.string else { throw SimulatorError("POST /action: \(status) \(body?.text ?? "")") }
    return id
}

func waitAction(_ api: Int, _ id: String, timeoutMs: Int = 20_000) throws -> JSON {
    let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
    while Date() < deadline {
        let (_, body) = try http("GET", port: api, path: "/action/\(id)")
        if let b = body, let s = b["status"]?.string, s == "success" || s == "failed" { return b }
        usleep(20_000)
    }
    throw SimulatorError("action \(id) did not finish")
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
