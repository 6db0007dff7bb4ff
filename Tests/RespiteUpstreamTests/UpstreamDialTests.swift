// How upstream sockets find their server: the transport's TCP connect takes address literals
// only (a name fails it at once instead of blocking the loop on getaddrinfo), and the sockets
// opened on the loop outside the pool — the replication relay and the liveness probe — reach a
// real redis-server by address and by name, the name going through the loop's resolver.
// "resolver only" names are known to that resolver alone (a hosts file loaded into it): a
// socket that looked its name up any other way could not reach the server.

import XCTest
import EventLoop
import RespiteTestSupport
@testable import RespiteUpstream
#if canImport(Glibc)
import Glibc
#endif

/// A relay's owner that keeps what it is given.
private final class RelayOwner: RawRelayOwner {
    var received: [UInt8] = []
    var closedReason: String?
    func relayReceived(_ bytes: UnsafeRawBufferPointer) -> Bool {
        received.append(contentsOf: bytes)
        return true
    }
    func relayClosed(_ reason: String) { closedReason = reason }
}

/// A name only `loop`'s resolver knows, for 127.0.0.1.
private func resolverOnlyName(_ loop: Loop) throws -> String {
    let name = "respite-upstream-\(getpid()).test"
    let path = NSTemporaryDirectory() + "respite-hosts-\(getpid())-\(UUID().uuidString)"
    try "127.0.0.1 \(name)\n".write(toFile: path, atomically: true, encoding: .utf8)
    defer { unlink(path) }
    XCTAssertTrue(loop.resolver.addHosts(fromFile: path))
    XCTAssertThrowsError(try Socket.lookUpBlocking(name), "getaddrinfo knows \(name): the test would prove nothing")
    return name
}

final class UpstreamDialTests: XCTestCase {
    func testNumericConnectRefusesANameInsteadOfLookingItUp() throws {
        let listener = try Socket.listenTCP(host: "127.0.0.1", port: 0, backlog: 4)
        defer { Socket.close(listener) }
        let port = Int(Socket.localAddress(listener).split(separator: ":").last!)!
        XCTAssertThrowsError(try Socket.connectNumericTCP(host: "localhost", port: port)) { error in
            XCTAssertTrue("\(error)".contains("not an IP address"), "\(error)")
        }
        let t = PlainTransport()
        defer { t.close() }
        XCTAssertThrowsError(try t.connect(to: .tcp(host: "localhost", port: port)))
        XCTAssertEqual(t.fd, -1)
        // An address literal still connects.
        try t.connect(to: .tcp(host: "127.0.0.1", port: port))
        XCTAssertGreaterThanOrEqual(t.fd, 0)
    }

    func testNumericConnectTakesAnIPv6Literal() throws {
        let listener: Int32
        do { listener = try Socket.listenTCP(host: "::1", port: 0, backlog: 4) } catch {
            throw XCTSkip("no IPv6 loopback here: \(error)")
        }
        defer { Socket.close(listener) }
        let port = Int(Socket.localAddress(listener).split(separator: ":").last!)!
        let t = PlainTransport()
        defer { t.close() }
        try t.connect(to: .tcp(host: "::1", port: port))
        var p = pollfd(fd: t.fd, events: Int16(POLLOUT), revents: 0)
        XCTAssertEqual(poll(&p, 1, 5000), 1)
        XCTAssertEqual(t.continueConnect(), .connected)
    }

    func testRawRelayReachesRedisByAddressAndByName() throws {
        let redis = try TestRedisServer()
        defer { redis.stop() }
        for name in ["127.0.0.1", "localhost", nil] {
            let loop = Loop()
            let host = try name ?? resolverOnlyName(loop)
            let owner = RelayOwner()
            let relay = RawRelay(loop: loop, settings: UpstreamSettings(), address: .tcp(host: host, port: Int(redis.port)), owner: owner)
            relay.start()
            let ping = Array("*1\r\n$4\r\nPING\r\n".utf8)
            ping.withUnsafeBytes { relay.send($0.baseAddress!, $0.count) }
            let pong = Array("+PONG\r\n".utf8)
            let answered = runLoop(loop, until: { owner.received == pong || owner.closedReason != nil })
            XCTAssertTrue(answered, "\(host): no answer within 5 s")
            XCTAssertEqual(String(decoding: owner.received, as: UTF8.self), "+PONG\r\n", "\(host): \(owner.closedReason ?? "")")
            relay.close("done", notify: false)
        }
    }

    func testLivenessProbeReachesRedisByAddressAndByName() throws {
        let redis = try TestRedisServer()
        defer { redis.stop() }
        for name in ["127.0.0.1", "localhost", nil] {
            let loop = Loop()
            let host = try name ?? resolverOnlyName(loop)
            let pool = UpstreamPool(loop: loop, settings: UpstreamSettings())
            withExtendedLifetime(pool) {
                let probe = LivenessProbe(node: pool.node, address: .tcp(host: host, port: Int(redis.port)), now: monotonicMs(), timeoutMs: 5000)
                pool.node.probe = probe
                probe.start()
                XCTAssertTrue(runLoop(loop, until: { pool.node.probe == nil }), "\(host): the probe got no answer within 5 s")
                XCTAssertGreaterThan(pool.node.aliveUntil, 0, "\(host): the probe did not reach the server")
                probe.stop()
            }
        }
    }
}
