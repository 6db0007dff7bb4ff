// PlainTransport over real loopback sockets: a connect that completes, bytes both ways, a
// refused connect reported as failed, a unix socket, and close being safe twice.

import XCTest
import EventLoop
@testable import RespiteUpstream
#if canImport(Glibc)
import Glibc
#endif

private func waitReady(_ fd: Int32, _ events: Int32) -> Bool {
    var p = pollfd(fd: fd, events: Int16(events), revents: 0)
    return poll(&p, 1, 5000) > 0
}

/// Connects `t` to `endpoint` and waits until the transport reports the connect's outcome.
private func connect(_ t: PlainTransport, _ endpoint: UpstreamAddress) throws -> TransportProgress {
    try t.connect(to: endpoint)
    guard waitReady(t.fd, POLLOUT) else { return .failed("no readiness within 5 s") }
    return t.continueConnect()
}

final class PlainTransportTests: XCTestCase {
    func testTCPBytesBothWays() throws {
        let listener = try Socket.listenTCP(host: "127.0.0.1", port: 0, backlog: 4)
        defer { Socket.close(listener) }
        let local = Socket.localAddress(listener)
        let port = Int(local.split(separator: ":").last!)!
        let t = PlainTransport()
        XCTAssertEqual(try connect(t, .tcp(host: "127.0.0.1", port: port)), .connected)
        XCTAssertTrue(waitReady(listener, POLLIN))
        let server = try XCTUnwrap(Socket.accept(listener)).fd
        defer { Socket.close(server) }

        let ping: [UInt8] = Array("*1\r\n$4\r\nPING\r\n".utf8)
        guard case .bytes(ping.count) = ping.withUnsafeBytes({ t.write($0.baseAddress!, $0.count) }) else { return XCTFail("write") }
        XCTAssertTrue(waitReady(server, POLLIN))
        var got = [UInt8](repeating: 0, count: 64)
        let n = got.withUnsafeMutableBytes { Glibc.read(server, $0.baseAddress!, $0.count) }
        XCTAssertEqual(Array(got.prefix(max(n, 0))), ping)

        let pong: [UInt8] = Array("+PONG\r\n".utf8)
        _ = pong.withUnsafeBytes { Glibc.write(server, $0.baseAddress!, $0.count) }
        XCTAssertTrue(waitReady(t.fd, POLLIN))
        var back = [UInt8](repeating: 0, count: 64)
        guard case .bytes(let m) = back.withUnsafeMutableBytes({ t.read($0.baseAddress!, $0.count) }) else { return XCTFail("read") }
        XCTAssertEqual(Array(back.prefix(m)), pong)

        Socket.close(server)
        XCTAssertTrue(waitReady(t.fd, POLLIN))
        guard case .closed = back.withUnsafeMutableBytes({ t.read($0.baseAddress!, $0.count) }) else { return XCTFail("EOF") }
        t.close()
        XCTAssertEqual(t.fd, -1)
        t.close()
        XCTAssertEqual(t.fd, -1)
    }

    func testRefusedConnectIsReportedAsFailed() throws {
        // A port that was just listened on and closed: nothing accepts there.
        let listener = try Socket.listenTCP(host: "127.0.0.1", port: 0, backlog: 1)
        let port = Int(Socket.localAddress(listener).split(separator: ":").last!)!
        Socket.close(listener)
        let t = PlainTransport()
        defer { t.close() }
        do {
            let progress = try connect(t, .tcp(host: "127.0.0.1", port: port))
            guard case .failed(let why) = progress else { return XCTFail("connected to a closed port: \(progress)") }
            XCTAssertTrue(why.lowercased().contains("refused"), why)
        } catch {
            // Refused before the connect could even start: also a failure, reported at once.
            XCTAssertTrue("\(error)".lowercased().contains("refused"), "\(error)")
        }
    }

    func testUnixSocket() throws {
        let path = NSTemporaryDirectory() + "respite-transport-\(getpid()).sock"
        let listener = try Socket.listenUnix(path: path, permissions: 0o600, backlog: 2)
        defer { Socket.close(listener); unlink(path) }
        let t = PlainTransport()
        defer { t.close() }
        XCTAssertEqual(try connect(t, .unix(path: path)), .connected)
        XCTAssertTrue(waitReady(listener, POLLIN))
        XCTAssertNotNil(Socket.accept(listener))
    }
}
