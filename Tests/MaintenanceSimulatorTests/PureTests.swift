// Pure pieces: notification bytes, JSON, base64, the command line.

import XCTest
@testable import MaintenanceSimulator

final class PureTests: XCTestCase {
    func testNoticeBytesMatchTheRealServer() {
        XCTAssertEqual(MaintenanceNotice.moving(seq: 0, time: 15, endpoint: nil).encode(),
                       bytes(">4\r\n$6\r\nMOVING\r\n:0\r\n:15\r\n_\r\n"))
        XCTAssertEqual(MaintenanceNotice.moving(seq: 1, time: 15, endpoint: "10.0.0.12:12000").encode(),
                       bytes(">4\r\n$6\r\nMOVING\r\n:1\r\n:15\r\n$15\r\n10.0.0.12:12000\r\n"))
        XCTAssertEqual(MaintenanceNotice.migrating(seq: 2, time: 15, shards: "1").encode(),
                       bytes(">4\r\n$9\r\nMIGRATING\r\n:2\r\n:15\r\n$1\r\n1\r\n"))
        XCTAssertEqual(MaintenanceNotice.migrated(seq: 3, shards: "1").encode(), bytes(">3\r\n$8\r\nMIGRATED\r\n:3\r\n$1\r\n1\r\n"))
        XCTAssertEqual(MaintenanceNotice.failingOver(seq: 4, time: 15, shards: "1").encode(),
                       bytes(">4\r\n$12\r\nFAILING_OVER\r\n:4\r\n:15\r\n$1\r\n1\r\n"))
        XCTAssertEqual(MaintenanceNotice.failedOver(seq: 5, shards: "1").encode(), bytes(">3\r\n$11\r\nFAILED_OVER\r\n:5\r\n$1\r\n1\r\n"))
    }

    func testLenientForms() {
        XCTAssertEqual(MaintenanceNotice.moving(seq: 17, time: 15, endpoint: nil).encode(lenient: true),
                       bytes(">4\r\n+MOVING\r\n$2\r\n17\r\n$2\r\n15\r\n$-1\r\n"))
        XCTAssertEqual(MaintenanceNotice.migrated(seq: 9, shards: "1").encode(lenient: true),
                       bytes(">3\r\n+MIGRATED\r\n$1\r\n9\r\n$1\r\n1\r\n"))
    }

    func testJSON() {
        let j = JSON.parse(bytes(#"{"type":"bind","parameters":{"time":2.5,"new_port":true,"s":"a\"b\u0041"},"l":[1,null]}"#))
        XCTAssertEqual(j?["type"]?.string, "bind")
        XCTAssertEqual(j?["parameters"]?["time"]?.double, 2.5)
        XCTAssertEqual(j?["parameters"]?["new_port"]?.bool, true)
        XCTAssertEqual(j?["parameters"]?["s"]?.string, "a\"bA")
        XCTAssertEqual(j?["l"], .array([.number(1), .null]))
        XCTAssertNil(JSON.parse(bytes("{\"a\":}")))
        XCTAssertNil(JSON.parse(bytes("{} x")))
        XCTAssertEqual(JSON.object(["b": .string("x\n"), "a": .number(3)]).text, #"{"a":3,"b":"x\n"}"#)
    }

    func testBase64() {
        XCTAssertEqual(base64Decode(bytes("Pj4yDQo=")), bytes(">>2\r\n"))
        XCTAssertNil(base64Decode(bytes("!!")))
    }

    func testArguments() throws {
        let o = try XCTUnwrap(MaintenanceSimulator.parseArguments(["--port", "7000", "--api-port", "0", "--seq-start", "0", "--bind", "127.0.0.1"]))
        XCTAssertEqual(o.port, 7000)
        XCTAssertEqual(o.seqStart, 0)
        XCTAssertNil(try MaintenanceSimulator.parseArguments(["--help"]))
        XCTAssertThrowsError(try MaintenanceSimulator.parseArguments(["--port", "x"]))
        XCTAssertThrowsError(try MaintenanceSimulator.parseArguments(["--nope"]))
    }
}
