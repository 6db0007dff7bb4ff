// One node's pool against a real redis-server: shared connections per (identity, db) and
// affinity slot, pinned connections leased, reused only when clean, and counted against
// `upstream-pinned-max` across the directory, and the node's backoff after a failed connect.

import XCTest
import EventLoop
import RespiteTestSupport
@testable import RespiteUpstream

final class NodePoolTests: XCTestCase {
    private func directory(_ loop: Loop, port: Int, _ edit: (inout UpstreamSettings) -> Void = { _ in }) -> UpstreamPool {
        var s = UpstreamSettings()
        s.address = .tcp(host: "127.0.0.1", port: port)
        s.poolSize = 2
        s.maintenance.mode = .disabled
        edit(&s)
        return UpstreamPool(loop: loop, settings: s)
    }

    func testSharedConnectionsByIdentityDbAndAffinity() throws {
        let redis = try TestRedisServer()
        defer { redis.stop() }
        let loop = Loop()
        let d = directory(loop, port: Int(redis.port))
        defer { d.closeAll(reason: "test over") }
        let node = d.node
        let a = try node.sharedConnection(db: 0, identity: 0, affinity: 0)
        XCTAssertTrue(a === (try node.sharedConnection(db: 0, identity: 0, affinity: 2)), "same slot of upstream-pool-size 2")
        let b = try node.sharedConnection(db: 0, identity: 0, affinity: 1)
        XCTAssertFalse(a === b)
        let c = try node.sharedConnection(db: 3, identity: 0, affinity: 0)
        XCTAssertFalse(a === c)
        XCTAssertEqual(c.db, 3)
        XCTAssertTrue(a.node === node && c.node === node)
        XCTAssertTrue(runLoop(loop, until: { [a, b, c].allSatisfy { $0.state == .ready } }), "the connections did not get ready")
        XCTAssertEqual(d.connectionCount, 3)
        // A closed connection leaves its slot; the next request opens a fresh one there.
        a.close(reason: "test")
        let a2 = try node.sharedConnection(db: 0, identity: 0, affinity: 0)
        XCTAssertFalse(a === a2)
        XCTAssertEqual(node.lastError, "test")
    }

    func testPinnedLeasesAreReusedOnlyWhenCleanAndCountedAgainstTheMax() throws {
        let redis = try TestRedisServer()
        defer { redis.stop() }
        let loop = Loop()
        let d = directory(loop, port: Int(redis.port)) { $0.pinnedMax = 2 }
        defer { d.closeAll(reason: "test over") }
        let node = d.node
        let p1 = try d.leasePinned(db: 0, session: 1)
        let p2 = try d.leasePinned(db: 0, session: 2)
        XCTAssertEqual(d.pinnedCount, 2)
        XCTAssertThrowsError(try d.leasePinned(db: 0, session: 3)) { e in
            guard case UpstreamUnavailable.tooManyPinned(2) = e else { return XCTFail("\(e)") }
        }
        XCTAssertTrue(runLoop(loop, until: { p1.state == .ready && p2.state == .ready }))
        d.release(p1, reusable: true)
        XCTAssertEqual(p1.leasedTo, -1)
        XCTAssertTrue(try d.leasePinned(db: 0, session: 4) === p1, "a clean connection is leased again")
        d.release(p2, reusable: false)
        XCTAssertEqual(p2.state, .closed)
        XCTAssertEqual(node.pinnedCount, 1)
        let p3 = try d.leasePinned(db: 1, session: 5)
        XCTAssertFalse(p3 === p1, "another db never reuses it")
    }

    func testAFailedConnectPutsTheNodeInBackoff() throws {
        // A port nothing listens on: the connect is refused before any handshake.
        let listener = try Socket.listenTCP(host: "127.0.0.1", port: 0, backlog: 1)
        let port = Int(Socket.localAddress(listener).split(separator: ":").last!)!
        Socket.close(listener)
        let loop = Loop()
        let d = directory(loop, port: port) { $0.reconnectMinMs = 300; $0.reconnectMaxMs = 1000 }
        defer { d.closeAll(reason: "test over") }
        let node = d.node
        let c = try? node.sharedConnection(db: 0, identity: 0, affinity: 0)
        XCTAssertTrue(runLoop(loop, until: { c == nil || c!.state == .closed }), "the connect did not fail")
        XCTAssertEqual(node.backoffMs, 300)
        XCTAssertGreaterThan(node.downUntil, monotonicMs())
        XCTAssertThrowsError(try node.sharedConnection(db: 0, identity: 0, affinity: 0), "requests fail fast in backoff") { e in
            guard case UpstreamUnavailable.down = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try d.leasePinned(db: 0, session: 1))
        XCTAssertFalse(node.lastError.isEmpty)
    }
}
