// Maintenance push parsing against the observed server frames, the test tools' frames and the
// lenient forms (reference §2 and §9, items 7, 8, 22, 28, 29).

import XCTest
@testable import RespiteMaintenance

private func parse(_ s: String) -> MaintenanceEvent? {
    Array(s.utf8).withUnsafeBytes { MaintenanceEvent.parse($0) }
}

final class MaintenanceEventTests: XCTestCase {
    func testObservedEnterpriseMovingWithNullEndpoint() {
        XCTAssertEqual(parse(">4\r\n$6\r\nMOVING\r\n:0\r\n:15\r\n_\r\n"), .moving(seq: 0, seconds: 15, endpoint: nil))
    }

    func testMovingWithEndpointInEveryStringForm() {
        let want = MaintenanceEvent.moving(seq: 1, seconds: 15, endpoint: Endpoint(host: "10.0.0.12", port: 12000))
        XCTAssertEqual(parse(">4\r\n$6\r\nMOVING\r\n:1\r\n:15\r\n$15\r\n10.0.0.12:12000\r\n"), want)
        XCTAssertEqual(parse(">4\r\n+MOVING\r\n$1\r\n1\r\n$2\r\n15\r\n+10.0.0.12:12000\r\n"), want)
        XCTAssertEqual(parse(">5\r\n$6\r\nmoving\r\n:1\r\n:15\r\n$15\r\n10.0.0.12:12000\r\n:99\r\n"), want)
    }

    func testEndpointFormsThatMeanNoAddress() {
        for s in ["null", "<nil>", "?", "", ":6379", "host:0", "host"] { XCTAssertNil(Endpoint.parse(s), s) }
        // A blank host inside brackets is no host either (found by fuzzing: `[ ]:7000` gave " ").
        for s in ["[]:7000", "[ ]:7000", "[  ]:7000"] { XCTAssertNil(Endpoint.parse(s), s) }
        XCTAssertEqual(Endpoint.parse("[::1]:6380"), Endpoint(host: "::1", port: 6380))
        XCTAssertEqual(Endpoint.parse("fe80::1:6380"), Endpoint(host: "fe80::1", port: 6380))
        XCTAssertEqual(parse(">4\r\n$6\r\nMOVING\r\n:2\r\n:5\r\n$4\r\nnull\r\n"), .moving(seq: 2, seconds: 5, endpoint: nil))
        XCTAssertEqual(parse(">4\r\n$6\r\nMOVING\r\n:2\r\n:5\r\n$-1\r\n"), .moving(seq: 2, seconds: 5, endpoint: nil))
        XCTAssertEqual(parse(">3\r\n$6\r\nMOVING\r\n:2\r\n:5\r\n"), .moving(seq: 2, seconds: 5, endpoint: nil))
    }

    func testShardEventsFullAndShort() {
        XCTAssertEqual(parse(">4\r\n$9\r\nMIGRATING\r\n:2\r\n:15\r\n$1\r\n1\r\n"), .migrating(seq: 2, seconds: 15))
        XCTAssertEqual(parse(">3\r\n$8\r\nMIGRATED\r\n:3\r\n$1\r\n1\r\n"), .migrated(seq: 3))
        XCTAssertEqual(parse(">4\r\n$12\r\nFAILING_OVER\r\n:4\r\n:15\r\n$1\r\n1\r\n"), .failingOver(seq: 4, seconds: 15))
        XCTAssertEqual(parse(">3\r\n$11\r\nFAILED_OVER\r\n:5\r\n$1\r\n1\r\n"), .failedOver(seq: 5))
        XCTAssertEqual(parse(">2\r\n+FAILING_OVER\r\n:1001\r\n"), .failingOver(seq: 1001, seconds: nil))
        XCTAssertEqual(parse(">1\r\n$8\r\nMIGRATED\r\n"), .migrated(seq: nil))
        XCTAssertEqual(parse(">3\r\n$10\r\nSMIGRATING\r\n:16\r\n$12\r\n123,789-1000\r\n"), .slotsMigrating(seq: 16, slots: "123,789-1000"))
    }

    func testUnknownAndMalformedPushesAreNotErrors() {
        XCTAssertEqual(parse(">2\r\n+FUTURE_EVENT\r\n:1\r\n"), .unknown(type: "FUTURE_EVENT"))
        XCTAssertNil(parse(">0\r\n"))
        XCTAssertNil(parse(">1\r\n:5\r\n"))
        XCTAssertNil(parse("*1\r\n$6\r\nMOVING\r\n"))
        XCTAssertEqual(parse(">2\r\n$6\r\nMOVING\r\n:1\r\n"), .unknown(type: "MOVING(malformed)"))
        XCTAssertNil(parse(">4\r\n$6\r\nMOV"))
    }

    func testEndpointTypeAuto() {
        XCTAssertEqual(MovingEndpointType.auto.resolved(upstreamHost: "127.0.0.1"), .internalIP)
        XCTAssertEqual(MovingEndpointType.auto.resolved(upstreamHost: "54.1.2.3"), .externalIP)
        XCTAssertEqual(MovingEndpointType.auto.resolved(upstreamHost: "redis.example.com"), .externalFQDN)
        XCTAssertEqual(MovingEndpointType.auto.resolved(upstreamHost: nil), .none)
        XCTAssertEqual(MovingEndpointType.none.resolved(upstreamHost: "127.0.0.1"), .none)
    }
}

final class CircuitBreakerTests: XCTestCase {
    func testOpensAfterThresholdAndHalfOpensByTimeAlone() {
        var b = CircuitBreaker(threshold: 3, resetMs: 1000, probes: 2)
        for t in 0..<3 { XCTAssertTrue(b.allow(now: Int64(t))); b.recordFailure(now: Int64(t)) }
        XCTAssertEqual(b.state, .open)
        XCTAssertFalse(b.allow(now: 500))
        XCTAssertFalse(b.allow(now: 999))
        // Refused attempts do not push the reset back: time alone half-opens it.
        XCTAssertTrue(b.allow(now: 1002))
        XCTAssertEqual(b.state, .halfOpen)
        XCTAssertTrue(b.allow(now: 1003))
        XCTAssertFalse(b.allow(now: 1004), "only `probes` attempts in half-open")
        b.recordSuccess(); b.recordSuccess()
        XCTAssertEqual(b.state, .closed)
    }

    func testHalfOpenFailureReopens() {
        var b = CircuitBreaker(threshold: 1, resetMs: 100, probes: 1)
        _ = b.allow(now: 0); b.recordFailure(now: 0)
        XCTAssertTrue(b.allow(now: 150))
        b.recordFailure(now: 150)
        XCTAssertEqual(b.state, .open)
        XCTAssertFalse(b.allow(now: 200))
        XCTAssertTrue(b.allow(now: 251))
    }

    func testSuccessResetsTheCountWhileClosed() {
        var b = CircuitBreaker(threshold: 2, resetMs: 100, probes: 1)
        b.recordFailure(now: 0); b.recordSuccess(); b.recordFailure(now: 1)
        XCTAssertEqual(b.state, .closed)
    }
}

final class RelaxedWindowTests: XCTestCase {
    func testRelaxedUntilCompletionPlusPostWindow() {
        var w = RelaxedWindow()
        XCTAssertEqual(w.timeout(normal: 1000, relaxed: 10_000, now: 0), 1000)
        w.start(now: 0, capMs: 30_000)
        XCTAssertEqual(w.timeout(normal: 1000, relaxed: 10_000, now: 5000), 10_000)
        w.complete(now: 6000, postMs: 2000)
        XCTAssertTrue(w.isRelaxed(now: 7999))
        XCTAssertFalse(w.isRelaxed(now: 8000))
    }

    func testNeverShorterThanNormalAndCappedWithoutCompletion() {
        var w = RelaxedWindow()
        w.start(now: 0, capMs: 3000)
        XCTAssertEqual(w.timeout(normal: 20_000, relaxed: 10_000, now: 1), 20_000)
        XCTAssertFalse(w.isRelaxed(now: 3000), "the cap ends a window whose completion never comes")
    }

    func testCompletionWithoutStartIsIgnored() {
        var w = RelaxedWindow()
        w.complete(now: 0, postMs: 5000)
        XCTAssertFalse(w.isRelaxed(now: 1))
        w.start(now: 0, capMs: 10_000); w.start(now: 1, capMs: 10_000)
        w.complete(now: 2, postMs: 100)
        XCTAssertTrue(w.isRelaxed(now: 5000), "one of two starts is still open")
    }
}
