// The command line and the report's hand-made formatting: flags, defaults, bad input, JSON quoting.

import XCTest
import Observability
@testable import RespiteLoad

final class LoadOptionsTests: XCTestCase {
    func testParsesEveryFlag() throws {
        let o = try XCTUnwrap(LoadOptions.parse([
            "--host", "10.0.0.1", "--port", "7000", "--mode", "detect", "--clients", "12", "--duration", "2.5",
            "--pipeline", "8", "--resp", "3", "--key-prefix", "pfx", "--timeout-ms", "250", "--json", "/tmp/x.json", "--quiet",
        ]))
        XCTAssertEqual(o.host, "10.0.0.1")
        XCTAssertEqual(o.port, 7000)
        XCTAssertEqual(o.mode, .detect)
        XCTAssertEqual(o.clients, 12)
        XCTAssertEqual(o.durationMs, 2500)
        XCTAssertEqual(o.pipeline, 8)
        XCTAssertEqual(o.resp, 3)
        XCTAssertEqual(o.keyPrefix, "pfx")
        XCTAssertEqual(o.timeoutMs, 250)
        XCTAssertEqual(o.jsonPath, "/tmp/x.json")
        XCTAssertTrue(o.quiet)
        XCTAssertEqual(o.target, "10.0.0.1:7000")
    }

    func testDefaultsAndUnixTarget() throws {
        let o = try XCTUnwrap(LoadOptions.parse(["--unix", "/tmp/r.sock"]))
        XCTAssertEqual(o.mode, .basic)
        XCTAssertEqual(o.timeoutMs, 5000)
        XCTAssertEqual(o.effectiveDurationMs, 10_000)
        XCTAssertEqual(o.target, "unix:/tmp/r.sock")
        let r = try XCTUnwrap(LoadOptions.parse(["--requests", "100"]))
        XCTAssertNil(r.effectiveDurationMs)
        XCTAssertNil(try LoadOptions.parse(["--help"]))
    }

    func testRejectsBadInput() {
        for args in [["--mode", "fast"], ["--clients", "0"], ["--port", "70000"], ["--resp", "4"], ["--duration"],
                     ["--duration", "1", "--requests", "5"], ["--bogus"], ["--key-prefix", "a b"], ["--pipeline", "-1"]] {
            XCTAssertThrowsError(try LoadOptions.parse(args), "\(args)")
        }
    }

    func testFormatting() {
        XCTAssertEqual(LoadReport.ms(0), "0.00")
        XCTAssertEqual(LoadReport.ms(1234), "1.23")
        XCTAssertEqual(LoadReport.ms(100_050), "100.05")
        XCTAssertEqual(LoadReport.seconds(2_000_000), "2.00")
        XCTAssertEqual(JSONString.quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"")
    }
}
