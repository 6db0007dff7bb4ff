// A real redis-server on a free 127.0.0.1 port for unit tests that need one, with a blocking
// RESP client for side commands and checks. Started per test, stopped by PID; every wait has a
// deadline. Shared by the test targets through the RespiteTestSupport target.

import Foundation
import Glibc
import RESP

public final class TestRedisServer {
    public struct Failure: Error, CustomStringConvertible { public let description: String }

    public let port: UInt16
    private let process: Process
    private let dir: URL

    public init(deadline: TimeInterval = 10) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("respite-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        port = try Self.freePort()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", dir.path, "--daemonize", "no"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let until = Date().addingTimeInterval(deadline)
        while true {
            if let client = try? TestRedisClient(port: port),
               case .simpleString(let s)? = try? client.call(["PING"]), s == Array("PONG".utf8) { return }
            guard process.isRunning else { throw Failure(description: "redis-server exited early") }
            guard Date() < until else { stop(); throw Failure(description: "redis-server did not answer PING") }
            usleep(20_000)  // poll interval while waiting on the readiness condition above
        }
    }

    /// Terminates the server by PID and waits (bounded) for it to exit.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let until = Date().addingTimeInterval(5)
            while process.isRunning && Date() < until { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
        try? FileManager.default.removeItem(at: dir)
    }

    deinit { stop() }

    private static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw Failure(description: "bind failed") }
        return UInt16(bigEndian: addr.sin_port)
    }
}

/// A blocking RESP client with a receive timeout, for tests only.
public final class TestRedisClient {
    private let fd: Int32
    private var buffer: [UInt8] = []

    public init(port: UInt16, timeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestRedisServer.Failure(description: "socket failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { close(fd); throw TestRedisServer.Failure(description: "connect failed") }
    }

    deinit { close(fd) }

    public func call(_ args: [String]) throws -> RESPValue {
        var out = Array("*\(args.count)\r\n".utf8)
        for a in args { out += Array("$\(a.utf8.count)\r\n\(a)\r\n".utf8) }
        let sent = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == out.count else { throw TestRedisServer.Failure(description: "short send") }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if let (value, end) = try RESPValue.decode(buffer) {
                buffer.removeFirst(end)
                return value
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw TestRedisServer.Failure(description: "recv failed or timed out") }
            buffer += chunk[0..<n]
        }
    }
}
