// The load engine against a live redis-server: each mode runs about a second and every
// acknowledged write must be found afterwards; then the failure counters are made to move —
// clients killed mid-run, error replies, and a paused server that forces timeouts.

import RespiteTestSupport
import XCTest
import RESP
@testable import RespiteLoad

final class LoadEngineTests: XCTestCase {
    private func options(port: UInt16, mode: LoadMode, clients: Int = 8, ms: Int = 1000, prefix: String) -> LoadOptions {
        var o = LoadOptions()
        o.port = Int(port)
        o.mode = mode
        o.clients = clients
        o.durationMs = ms
        o.keyPrefix = prefix
        o.quiet = true
        o.timeoutMs = 2000
        return o
    }

    /// Every acknowledged SET key holds itself; returns how many were checked.
    @discardableResult
    private func verifyAcknowledgedSets(_ report: LoadReport, _ client: TestRedisClient,
                                        file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        var checked = 0
        for c in report.clients {
            for r in c.setAcked {
                var n = r.first
                while n <= r.last {
                    let end = min(r.last, n + 499)
                    let keys = (n...end).map { report.setKey(client: c.id, $0) }
                    guard case .array(let values?) = try client.call(["MGET"] + keys) else {
                        XCTFail("MGET failed", file: file, line: line); return checked
                    }
                    for (k, v) in zip(keys, values) where v != .bulkString(Array(k.utf8)) {
                        XCTFail("acknowledged key \(k) missing or wrong: \(v)", file: file, line: line)
                        return checked
                    }
                    checked += keys.count
                    n = end + 1
                }
            }
        }
        XCTAssertEqual(checked, report.ackedSets, file: file, line: line)
        return checked
    }

    private func counter(_ report: LoadReport, _ id: Int, _ client: TestRedisClient) throws -> Int64 {
        switch try client.call(["GET", report.counterKey(client: id)]) {
        case .bulkString(let b?): return Int64(String(decoding: b, as: UTF8.self)) ?? -1
        case .bulkString(nil): return 0
        default: return -1
        }
    }

    private func assertCleanRun(_ report: LoadReport, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThan(report.ok, 0, file: file, line: line)
        XCTAssertEqual(report.failed, 0, "\(report.failureReasons)", file: file, line: line)
        XCTAssertEqual(report.timeouts, 0, file: file, line: line)
        XCTAssertEqual(report.connectionErrors, 0, file: file, line: line)
        XCTAssertEqual(report.abandoned, 0, file: file, line: line)
        XCTAssertTrue(report.isConsistent, file: file, line: line)
        XCTAssertEqual(report.requests, report.ok, file: file, line: line)
        XCTAssertGreaterThan(report.latencyMaxUs, 0, file: file, line: line)
        XCTAssertGreaterThanOrEqual(report.latencyMaxUs, report.latencyP99Us, file: file, line: line)
        XCTAssertGreaterThanOrEqual(report.latencyP99Us, report.latencyP50Us, file: file, line: line)
        XCTAssertGreaterThan(report.clientStallMaxUs, 0, file: file, line: line)
    }

    func testBasicModeKeepsEveryAcknowledgedWrite() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        var o = options(port: server.port, mode: .basic, prefix: "basic")
        o.pipeline = 4
        var lines: [String] = []
        o.quiet = false
        let report = LoadEngine(options: o, output: { lines.append($0) }).run()
        assertCleanRun(report)
        XCTAssertEqual(report.connects, 8)
        XCTAssertTrue(lines.first?.hasPrefix("t=1s ok=") ?? false, "\(lines)")
        XCTAssertGreaterThan(report.ackedSets, 0)
        XCTAssertGreaterThan(report.ackedIncrs, 0)
        let client = try TestRedisClient(port: server.port)
        try verifyAcknowledgedSets(report, client)
        for c in report.clients {
            XCTAssertEqual(c.setAcked.count, 1, "one contiguous range when nothing failed")
            XCTAssertEqual(try counter(report, c.id, client), Int64(c.incrAcked))
            XCTAssertEqual(c.incrLast, Int64(c.incrAcked))
        }
        XCTAssertTrue(report.json().contains("\"set_acked\": [[0, "))
    }

    func testAdvancedModeCyclesConnectionsOverRESP3() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        var o = options(port: server.port, mode: .advanced, prefix: "adv")
        o.resp = 3
        o.pipeline = 5
        let report = LoadEngine(options: o).run()
        assertCleanRun(report)
        XCTAssertGreaterThan(report.connects, 8 * 3, "cycling clients reconnect many times")
        XCTAssertGreaterThan(report.plannedDisconnects, 8)
        let client = try TestRedisClient(port: server.port)
        try verifyAcknowledgedSets(report, client)
        for c in report.clients { XCTAssertEqual(try counter(report, c.id, client), Int64(c.incrAcked)) }
    }

    func testDetectModeHerdBurstsAndChurn() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        let report = LoadEngine(options: options(port: server.port, mode: .detect, clients: 30, prefix: "det")).run()
        assertCleanRun(report)
        XCTAssertGreaterThan(report.connects, 30, "churn clients reconnect")
        XCTAssertEqual(Set(report.clients.map(\.role)), ["steady", "bursty", "churn"])
        let bursty = report.clients.filter { $0.role == "bursty" }
        XCTAssertTrue(bursty.allSatisfy { $0.setAckedCount > 0 }, "every bursty client burst at least once")
        let client = try TestRedisClient(port: server.port)
        try verifyAcknowledgedSets(report, client)
        for c in report.clients { XCTAssertEqual(try counter(report, c.id, client), Int64(c.incrAcked)) }
    }

    func testKilledClientsAreCountedAndReconnect() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        let side = try TestRedisClient(port: server.port)
        var o = options(port: server.port, mode: .basic, ms: 1200, prefix: "kill")
        o.pipeline = 2
        let engine = LoadEngine(options: o)
        var kills = 0
        var lastKillMs = 0
        var okAtLastKill = 0
        engine.onTick = { e in
            guard kills < 2, e.stats.ok >= 1000, e.elapsedMs - lastKillMs >= 300 else { return }
            if case .integer(let n) = try? side.call(["CLIENT", "KILL", "TYPE", "normal"]), n > 0 {
                kills += 1
                lastKillMs = e.elapsedMs
                okAtLastKill = e.stats.ok
            }
        }
        let report = engine.run()
        XCTAssertEqual(kills, 2)
        XCTAssertGreaterThanOrEqual(report.connectionErrors, 8 * 2, "every client dropped at each kill")
        XCTAssertGreaterThanOrEqual(report.reconnects, 8 * 2)
        XCTAssertGreaterThan(report.failureReasons["connection lost"] ?? 0, 0, "requests written to a killed connection")
        XCTAssertEqual(report.failed, report.failureReasons.values.reduce(0, +))
        XCTAssertGreaterThan(report.poolWaits, 0)
        XCTAssertGreaterThan(report.ok, okAtLastKill + 100, "traffic resumed after the kill")
        XCTAssertGreaterThan(report.connects, 8 * 2)
        XCTAssertTrue(report.isConsistent)
        XCTAssertGreaterThan(report.clients.map(\.setUnknown).reduce(0, +) + report.clients.map(\.incrUnknown).reduce(0, +), 0)
        let client = try TestRedisClient(port: server.port)
        try verifyAcknowledgedSets(report, client)
        for c in report.clients {
            let value = try counter(report, c.id, client)
            XCTAssertGreaterThanOrEqual(value, Int64(c.incrAcked))
            XCTAssertLessThanOrEqual(value, Int64(c.incrAcked + c.incrUnknown))
        }
    }

    func testErrorRepliesAreCountedByPrefix() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        let side = try TestRedisClient(port: server.port)
        for id in 0..<4 { _ = try side.call(["SET", "err:\(id):counter", "not-a-number"]) }
        let report = LoadEngine(options: options(port: server.port, mode: .basic, clients: 4, ms: 300, prefix: "err")).run()
        XCTAssertGreaterThan(report.failed, 0)
        XCTAssertEqual(report.failureReasons, ["ERR": report.failed])
        XCTAssertEqual(report.ackedIncrs, 0)
        XCTAssertGreaterThan(report.ackedSets, 0)
        XCTAssertTrue(report.isConsistent)
        XCTAssertTrue(report.json().contains("\"failures\": {\"ERR\": \(report.failed)}"))
    }

    func testPausedServerProducesTimeouts() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        let side = try TestRedisClient(port: server.port)
        var o = options(port: server.port, mode: .basic, clients: 4, ms: 1200, prefix: "pause")
        o.timeoutMs = 150
        let engine = LoadEngine(options: o)
        var pausedAtOk = -1
        engine.onTick = { e in
            guard pausedAtOk < 0, e.stats.ok >= 500 else { return }
            if case .simpleString? = try? side.call(["CLIENT", "PAUSE", "400", "WRITE"]) { pausedAtOk = e.stats.ok }
        }
        let report = engine.run()
        XCTAssertGreaterThanOrEqual(pausedAtOk, 500)
        XCTAssertGreaterThanOrEqual(report.timeouts, 4, "every client's write waited past 150 ms")
        XCTAssertGreaterThanOrEqual(report.reconnects, 4)
        XCTAssertGreaterThan(report.ok, pausedAtOk + 100, "traffic resumed after the pause")
        XCTAssertGreaterThanOrEqual(report.clientStallMaxUs, 150_000)
        XCTAssertGreaterThanOrEqual(report.globalStallMaxUs, 150_000)
        XCTAssertTrue(report.isConsistent)
        let client = try TestRedisClient(port: server.port)
        try verifyAcknowledgedSets(report, client)
    }

    func testRequestBudgetEndsTheRun() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        var o = options(port: server.port, mode: .advanced, clients: 6, prefix: "budget")
        o.durationMs = nil
        o.requests = 777
        let report = LoadEngine(options: o).run()
        XCTAssertEqual(report.requests, 777)
        XCTAssertEqual(report.ok, 777)
        XCTAssertTrue(report.isConsistent)
    }

    func testUnreachableServerCountsConnectionErrors() throws {
        var o = options(port: 1, mode: .basic, clients: 3, ms: 300, prefix: "none")
        o.port = 1  // nothing listens on port 1
        let report = LoadEngine(options: o).run()
        XCTAssertEqual(report.ok, 0)
        XCTAssertGreaterThanOrEqual(report.connectionErrors, 3)
        XCTAssertEqual(report.requests, 0)
        XCTAssertGreaterThanOrEqual(report.clientStallMaxUs, 200_000)
    }
}
