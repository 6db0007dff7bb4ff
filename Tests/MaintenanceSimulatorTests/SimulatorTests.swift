// The simulator end to end, in process: real redis-server backends, raw sockets, the HTTP API.

import Foundation
import RESP
import XCTest
@testable import MaintenanceSimulator

final class SimulatorTests: XCTestCase {
    var sim: SimulatorHandle!

    override func setUpWithError() throws {
        var o = SimulatorOptions()
        o.seqStart = 1
        sim = try MaintenanceSimulator.startInBackground(o)
    }

    override func tearDown() {
        let pids = sim.simulator.allBackends.with { $0.map(\.pid) }
        sim.stop()
        for pid in pids { XCTAssertNotEqual(kill(pid, 0), 0, "backend \(pid) still running") }
        sim = nil
    }

    private func resp3OptedIn(port: Int? = nil, type: String? = "external-ip") throws -> RawClient {
        let c = try RawClient(port: port ?? sim.port)
        XCTAssertNotNil(c.call("HELLO", "3")?.mapPairs)
        let on = type.map { c.call("CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", $0) } ?? c.call("client", "maint_notifications", "on")
        XCTAssertEqual(on, .simpleString(bytes("OK")))
        return c
    }

    /// The next reply to PING, requiring that no push precedes it.
    private func assertNoPush(_ c: RawClient, file: StaticString = #filePath, line: UInt = #line) {
        c.send("PING")
        XCTAssertEqual(c.readFrame(), bytes("+PONG\r\n"), file: file, line: line)
    }

    func testOptInIsAnsweredLocallyInOrder() throws {
        let c = try RawClient(port: sim.port)
        // Pipelined: the local answer must come after the forwarded reply before it.
        c.sendBytes(encodeCommand(["SET", "k", "v"]) + encodeCommand(["CLIENT", "MAINT_NOTIFICATIONS", "ON"])
                    + encodeCommand(["GET", "k"]) + encodeCommand(["CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "nope"])
                    + encodeCommand(["CLIENT", "MAINT_NOTIFICATIONS", "OFF"]))
        XCTAssertEqual(c.readFrame(), bytes("+OK\r\n"))
        XCTAssertEqual(c.readFrame(), bytes("+OK\r\n"))
        XCTAssertEqual(c.readFrame(), bytes("$1\r\nv\r\n"))
        XCTAssertEqual(c.readFrame().map { $0.starts(with: bytes("-ERR")) }, true)
        XCTAssertEqual(c.readFrame(), bytes("+OK\r\n"))
        let (_, status) = try http("GET", port: sim.apiPort, path: "/status")
        XCTAssertEqual(status?["connections"]?.int, 1)
        XCTAssertEqual(status?["opted_in"]?.int, 0)
    }

    func testBindPushesMovingAndMovesTheData() throws {
        let a = try resp3OptedIn()
        let resp2 = try RawClient(port: sim.port)
        XCTAssertEqual(resp2.call("CLIENT", "MAINT_NOTIFICATIONS", "ON"), .simpleString(bytes("OK")))
        let silent = try RawClient(port: sim.port)
        XCTAssertNotNil(silent.call("HELLO", "3"))
        XCTAssertEqual(a.call("SET", "before", "1"), .simpleString(bytes("OK")))

        let id = try startAction(sim.apiPort, #"{"type":"bind","parameters":{"time":1,"new_port":true}}"#)
        let push = try XCTUnwrap(a.readFrame())
        let text = String(decoding: push, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(">4\r\n$6\r\nMOVING\r\n:1\r\n:1\r\n$"), text)
        let endpoint = try XCTUnwrap(try RESPValue.decode(push)?.value.arrayElements?[3].stringValue)
        XCTAssertEqual(a.call("SET", "during", "2"), .simpleString(bytes("OK")))
        XCTAssertEqual(a.call("GET", "before"), .bulkString(bytes("1")))
        assertNoPush(resp2)
        assertNoPush(silent)

        let colon = try XCTUnwrap(endpoint.lastIndex(of: ":"))
        let moved = try RawClient(port: Int(endpoint[endpoint.index(after: colon)...])!, host: String(endpoint[..<colon]))
        XCTAssertEqual(moved.call("SET", "after", "3"), .simpleString(bytes("OK")))

        // After the promotion a straggler on the old endpoint sees its writes refused.
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline, try http("GET", port: sim.apiPort, path: "/status").1?["backend"]?.string == sim.backendAddress {
            usleep(10_000)
        }
        XCTAssertEqual(a.call("SET", "straggler", "x")?.errorMessage?.hasPrefix("READONLY"), true)
        XCTAssertEqual(moved.call("SET", "after-promotion", "4"), .simpleString(bytes("OK")))

        let result = try waitAction(sim.apiPort, id)
        XCTAssertEqual(result["status"]?.string, "success", result.text)
        XCTAssertTrue(a.closedWithin(ms: 2000))
        XCTAssertTrue(resp2.closedWithin(ms: 2000))
        XCTAssertTrue(silent.closedWithin(ms: 2000))
        XCTAssertEqual(moved.call("GET", "during"), .bulkString(bytes("2")))

        let fresh = try RawClient(port: sim.port)
        for (k, v) in [("before", "1"), ("during", "2"), ("after", "3"), ("after-promotion", "4")] {
            XCTAssertEqual(fresh.call("GET", k), .bulkString(bytes(v)), k)
        }
        let (_, status) = try http("GET", port: sim.apiPort, path: "/status")
        XCTAssertNotEqual(status?["backend"]?.string, sim.backendAddress)
    }

    func testNullEndpointBindKeepsTheAddress() throws {
        let a = try resp3OptedIn(type: "none")
        let id = try startAction(sim.apiPort, #"{"type":"bind","parameters":{"time":1,"endpoint_type":"none"}}"#)
        XCTAssertEqual(a.readFrame(), bytes(">4\r\n$6\r\nMOVING\r\n:1\r\n:1\r\n_\r\n"))
        XCTAssertEqual(try waitAction(sim.apiPort, id)["status"]?.string, "success")
        XCTAssertTrue(a.closedWithin(ms: 2000))
        let b = try RawClient(port: sim.port)
        XCTAssertEqual(b.call("SET", "x", "1"), .simpleString(bytes("OK")))
    }

    func testMovingIsResentToConnectionsOptingInDuringTheWindow() throws {
        let id = try startAction(sim.apiPort, #"{"type":"bind","parameters":{"time":2,"new_port":true}}"#)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, try http("GET", port: sim.apiPort, path: "/status").1?["moving_open"]?.bool != true { usleep(10_000) }
        let late = try RawClient(port: sim.port)
        XCTAssertNotNil(late.call("HELLO", "3"))
        late.send("CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "internal-ip")
        XCTAssertEqual(late.readFrame(), bytes("+OK\r\n"))
        let push = try XCTUnwrap(late.read()?.arrayElements)
        XCTAssertEqual(push.first?.stringValue, "MOVING")
        XCTAssertEqual(push[1], .integer(1))
        XCTAssertLessThanOrEqual(push[2].intValue ?? 99, 2)
        XCTAssertTrue(push[3].stringValue?.hasPrefix("127.0.0.1:") ?? false)
        // Opting in again in the same window does not repeat it.
        late.send("CLIENT", "MAINT_NOTIFICATIONS", "ON")
        XCTAssertEqual(late.readFrame(), bytes("+OK\r\n"))
        assertNoPush(late)
        XCTAssertEqual(try waitAction(sim.apiPort, id)["status"]?.string, "success")
    }

    func testFailoverMovesConnectionsWithTheirState() throws {
        let c = try resp3OptedIn()
        XCTAssertEqual(c.call("SELECT", "3"), .simpleString(bytes("OK")))
        XCTAssertEqual(c.call("CLIENT", "SETNAME", "kept"), .simpleString(bytes("OK")))
        XCTAssertEqual(c.call("SET", "k", "v"), .simpleString(bytes("OK")))
        let plain = try RawClient(port: sim.port)
        XCTAssertEqual(plain.call("SET", "p", "1"), .simpleString(bytes("OK")))
        let id = try startAction(sim.apiPort, #"{"type":"failover","parameters":{"time":1}}"#)
        XCTAssertEqual(c.readFrame(), bytes(">4\r\n$12\r\nFAILING_OVER\r\n:1\r\n:1\r\n$1\r\n1\r\n"))
        c.setTimeout(ms: 10_000)
        XCTAssertEqual(c.readFrame(), bytes(">3\r\n$11\r\nFAILED_OVER\r\n:2\r\n$1\r\n1\r\n"))
        XCTAssertEqual(try waitAction(sim.apiPort, id)["status"]?.string, "success")
        XCTAssertEqual(c.call("GET", "k"), .bulkString(bytes("v")))
        XCTAssertEqual(c.call("CLIENT", "GETNAME"), .bulkString(bytes("kept")))
        XCTAssertEqual(c.call("SET", "k2", "w"), .simpleString(bytes("OK")))
        XCTAssertEqual(plain.call("GET", "p"), .bulkString(bytes("1")))
        let (_, status) = try http("GET", port: sim.apiPort, path: "/status")
        XCTAssertNotEqual(status?["backend"]?.string, sim.backendAddress)
        XCTAssertEqual(status?["backends"]?.text.contains(sim.backendAddress), false)
    }

    func testMigratedIsReplayedOnLateOptIn() throws {
        let early = try resp3OptedIn()
        let id = try startAction(sim.apiPort, #"{"type":"migrate","parameters":{"time":1,"duration_ms":100}}"#)
        XCTAssertEqual(early.readFrame(), bytes(">4\r\n$9\r\nMIGRATING\r\n:1\r\n:1\r\n$1\r\n1\r\n"))
        XCTAssertEqual(early.readFrame(), bytes(">3\r\n$8\r\nMIGRATED\r\n:2\r\n$1\r\n1\r\n"))
        XCTAssertEqual(try waitAction(sim.apiPort, id)["status"]?.string, "success")
        let late = try RawClient(port: sim.port)
        XCTAssertNotNil(late.call("HELLO", "3"))
        late.send("CLIENT", "MAINT_NOTIFICATIONS", "ON")
        XCTAssertEqual(late.readFrame(), bytes("+OK\r\n"))
        XCTAssertEqual(late.readFrame(), bytes(">3\r\n$8\r\nMIGRATED\r\n:2\r\n$1\r\n1\r\n"))
        // RESP2 opt-in: still +OK, never a push.
        let resp2 = try RawClient(port: sim.port)
        resp2.send("CLIENT", "MAINT_NOTIFICATIONS", "ON")
        XCTAssertEqual(resp2.readFrame(), bytes("+OK\r\n"))
        assertNoPush(resp2)
    }

    func testRawLandsBetweenFrames() throws {
        let c = try RawClient(port: sim.port)
        let big = String(repeating: "x", count: 20_000)
        XCTAssertEqual(c.call("SET", "big", big), .simpleString(bytes("OK")))
        var pipeline: [UInt8] = []
        for _ in 0..<100 { pipeline += encodeCommand(["GET", "big"]) }
        c.sendBytes(pipeline)
        let (status, body) = try http("POST", port: sim.apiPort, path: "/send-to-all-clients?encoding=raw",
                                      body: bytes(">2\r\n$4\r\nTEST\r\n:7\r\n"))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body?["results"]?.text.contains("\"success\":true"), true)
        // The push lands between two replies, or after the last one when the relay had already
        // passed them all on: either way a whole frame, never inside a reply.
        var replies = 0, pushes = 0
        while replies < 100 || pushes == 0, let f = c.readFrame() {
            if f.first == UInt8(ascii: ">") {
                XCTAssertEqual(f, bytes(">2\r\n$4\r\nTEST\r\n:7\r\n")); pushes += 1
            } else {
                XCTAssertEqual(f.count, 20_000 + 10); replies += 1
            }
        }
        XCTAssertEqual(replies, 100)
        XCTAssertEqual(pushes, 1)
    }

    func testKillDropsEveryConnection() throws {
        let a = try RawClient(port: sim.port), b = try resp3OptedIn()
        XCTAssertEqual(a.call("PING"), .simpleString(bytes("PONG")))
        let r = try runAction(sim.apiPort, #"{"type":"kill"}"#)
        XCTAssertEqual(r["result"]?["closed"]?.int, 2)
        XCTAssertTrue(a.closedWithin(ms: 2000))
        XCTAssertTrue(b.closedWithin(ms: 2000))
    }

    func testBadActionsAreRefused() throws {
        XCTAssertEqual(try http("POST", port: sim.apiPort, path: "/action", body: bytes("{nope")).0, 400)
        XCTAssertEqual(try http("POST", port: sim.apiPort, path: "/action", body: bytes(#"{"type":"explode"}"#)).0, 400)
        XCTAssertEqual(try http("POST", port: sim.apiPort, path: "/action",
                                body: bytes(#"{"type":"bind","parameters":{"endpoint_type":"moon"}}"#)).0, 400)
        XCTAssertEqual(try http("GET", port: sim.apiPort, path: "/action/none-1").0, 404)
    }
}
