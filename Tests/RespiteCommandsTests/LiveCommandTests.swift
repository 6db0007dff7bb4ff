// The built-in table against a live redis-server: learning the whole `COMMAND` reply from an
// empty table must reproduce the generated table exactly, in RESP3 and in RESP2.

import RespiteTestSupport
import XCTest
import RESP
@testable import RespiteCommands

final class LiveCommandTests: XCTestCase {
    func testLiveCommandReplyReproducesTheBuiltinTable() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        let client = try TestRedisClient(port: server.port)
        guard case .bulkString(let info?) = try client.call(["INFO", "server"]) else { return XCTFail("INFO") }
        let version = String(decoding: info, as: UTF8.self)
        guard version.contains("redis_version:\(BuiltinCommands.serverVersion)\r\n") else {
            throw XCTSkip("server version differs from the generated table's \(BuiltinCommands.serverVersion)")
        }
        let builtin = CommandTable.builtin
        var replies = [try client.call(["COMMAND"])]
        _ = try client.call(["HELLO", "3"])
        replies.append(try client.call(["COMMAND"]))
        for reply in replies {
            let learned = CommandTable(commands: []).merging(commandReply: reply)
            XCTAssertEqual(learned.entries.map(\.name), builtin.entries.map(\.name))
            for (a, b) in zip(learned.entries, builtin.entries) {
                XCTAssertEqual(a.arity, b.arity, a.name)
                XCTAssertEqual(a.flags, b.flags, a.name)
                XCTAssertEqual([a.firstKey, a.lastKey, a.keyStep], [b.firstKey, b.lastKey, b.keyStep], a.name)
                XCTAssertEqual(a.aclCategories, b.aclCategories, a.name)
                XCTAssertEqual(a.tips, b.tips, a.name)
                XCTAssertEqual(a.route, b.route, a.name)
            }
        }
    }
}
