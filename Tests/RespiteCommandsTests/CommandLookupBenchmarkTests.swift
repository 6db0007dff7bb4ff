// Rough cost of a command lookup: one million case-mixed lookups over raw bytes. The bound is
// loose (debug builds are slow); the printed figure is what to compare between changes.

import XCTest
@testable import RespiteCommands

final class CommandLookupBenchmarkTests: XCTestCase {
    func testOneMillionLookups() throws {
        let table = CommandTable.builtin
        let names = ["GET", "set", "HgetAll", "zrangebyscore", "EXPIRE", "mget", "xreadgroup", "nosuch"]
        let buffers = names.map { Array($0.utf8) }
        let config = try XCTUnwrap(table.lookup(name: "config"))
        let get = Array("GET".utf8)
        let iterations = 1_000_000
        var found = 0
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for i in 0..<iterations {
                buffers[i & 7].withUnsafeBytes { if table.lookupID($0) != nil { found &+= 1 } }
            }
        }
        let subElapsed = clock.measure {
            for _ in 0..<(iterations / 10) {
                get.withUnsafeBytes { if table.lookupSubcommandID(config, $0) != nil { found &+= 1 } }
            }
        }
        XCTAssertEqual(found, iterations / 8 * 7 + iterations / 10)
        let ns = Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9
        let subNs = Double(subElapsed.components.attoseconds) / 1e9 + Double(subElapsed.components.seconds) * 1e9
        print("command lookup: \(ns / Double(iterations)) ns/lookup; subcommand: \(subNs / Double(iterations / 10)) ns")
        XCTAssertLessThan(ns / Double(iterations), 20_000, "lookup is far slower than expected")
    }
}
