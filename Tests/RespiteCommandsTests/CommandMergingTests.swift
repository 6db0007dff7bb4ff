// Merging `COMMAND` replies: captured fixtures (RESP2 and RESP3), hand-built module entries,
// and malformed input.

import XCTest
import RESP
@testable import RespiteCommands

final class CommandMergingTests: XCTestCase {
    private func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }
    private func status(_ s: String) -> RESPValue { .simpleString(Array(s.utf8)) }

    /// A RESP3-shaped entry: [name, arity, flags, first, last, step, acl, tips, key-specs, subs].
    private func entry(_ name: String, _ arity: Int64, _ flags: [String], _ keys: (Int64, Int64, Int64),
                       acl: [String] = [], subs: [RESPValue] = []) -> RESPValue {
        .array([bulk(name), .integer(arity), .set(flags.map(status)), .integer(keys.0), .integer(keys.1),
                .integer(keys.2), .set(acl.map(status)), .array([]), .array([]), .array(subs)])
    }

    /// Compares everything Redis reports about an entry.
    private func assertSameMetadata(_ a: CommandInfo, _ b: CommandInfo, line: UInt = #line) {
        XCTAssertEqual(a.name, b.name, line: line)
        XCTAssertEqual(a.arity, b.arity, a.name, line: line)
        XCTAssertEqual(a.flags, b.flags, a.name, line: line)
        XCTAssertEqual([a.firstKey, a.lastKey, a.keyStep], [b.firstKey, b.lastKey, b.keyStep], a.name, line: line)
        XCTAssertEqual(a.aclCategories, b.aclCategories, a.name, line: line)
        XCTAssertEqual(a.tips, b.tips, a.name, line: line)
        XCTAssertEqual(a.route, b.route, a.name, line: line)
        XCTAssertEqual(a.shape, b.shape, a.name, line: line)
        XCTAssertEqual(a.subcommands.map(\.name), b.subcommands.map(\.name), a.name, line: line)
        for (x, y) in zip(a.subcommands, b.subcommands) { assertSameMetadata(x, y, line: line) }
    }

    func testCapturedRepliesInBothProtocolsMatchTheBuiltinTable() throws {
        for text in [CommandReplyFixture.resp2, CommandReplyFixture.resp3] {
            let bytes = Array(text.utf8)
            let (reply, consumed) = try XCTUnwrap(RESPValue.decode(bytes))
            XCTAssertEqual(consumed, bytes.count)
            let learned = CommandTable(commands: []).merging(commandReply: reply)
            XCTAssertEqual(learned.commands.map(\.name), CommandReplyFixture.commands.sorted())
            for c in learned.commands {
                XCTAssertFalse(c.isBuiltin, "learned into an empty table")
                assertSameMetadata(c, try XCTUnwrap(CommandTable.builtin.lookup(name: c.name)))
            }
            let merged = CommandTable.builtin.merging(commandReply: reply)
            XCTAssertEqual(merged.count, CommandTable.builtin.count)
            XCTAssertEqual(merged.entries.count, CommandTable.builtin.entries.count)
            XCTAssertTrue(merged.entries.allSatisfy(\.isBuiltin))
        }
    }

    func testModuleCommandsGetRoutesFromTheirFlags() throws {
        let reply = RESPValue.array([
            entry("JSON.GET", -2, ["readonly", "module"], (1, 1, 1)),
            entry("mod.bpop", 3, ["write", "module", "blocking"], (1, 1, 1)),
            entry("mod.publish", 3, ["pubsub", "module"], (0, 0, 0)),
            entry("newcore.subscribe", -2, ["pubsub", "noscript"], (0, 0, 0)),
            entry("mod.nomulti", 1, ["module", "no_multi"], (0, 0, 0)),
            entry("mod.cfg", -2, ["module"], (0, 0, 0), subs: [
                entry("mod.cfg|get", 3, ["module", "readonly"], (0, 0, 0)),
                entry("mod.cfg|wait", 3, ["module", "blocking"], (0, 0, 0)),
                entry("other|stray", 3, ["module"], (0, 0, 0)),
            ]),
        ])
        let table = CommandTable.builtin.merging(commandReply: reply)
        XCTAssertEqual(table.count, CommandTable.builtin.count + 6)

        let json = try XCTUnwrap(Array("json.get".utf8).withUnsafeBytes { table.lookup($0) })
        XCTAssertEqual(json.name, "json.get")
        XCTAssertEqual(json.route, .shared)
        XCTAssertFalse(json.isBuiltin)
        XCTAssertEqual(json.flags, [.readonly, .module])
        XCTAssertEqual(table.lookup(name: "Mod.Publish")?.route, .shared, "module pubsub means publishing")
        for name in ["mod.bpop", "newcore.subscribe", "mod.nomulti", "mod.cfg|wait"] {
            guard case .unsupported(let reason)? = table.lookup(name: name)?.route else {
                return XCTFail("\(name) should be refused")
            }
            XCTAssertTrue(reason.contains("connection state"), reason)
        }
        XCTAssertEqual(table.lookup(name: "mod.cfg|get")?.route, .shared)
        XCTAssertNil(table.lookup(name: "mod.cfg|stray"), "a subcommand of another container is dropped")
        // Built-in entries are untouched.
        XCTAssertEqual(table.lookup(name: "get")?.route, .shared)
        XCTAssertEqual(table.lookup(name: "client|setname")?.route, .local)
    }

    func testUpstreamMetadataReplacesBuiltinButKeepsPolicyAndSubcommands() throws {
        let reply = RESPValue.array([
            entry("GET", 2, ["readonly"], (1, 1, 1), acl: ["@read"]),
            entry("client", -2, [], (0, 0, 0), subs: [
                entry("client|setinfo", -4, ["noscript", "loading", "stale"], (0, 0, 0)),
                entry("client|no-touch", 3, ["noscript", "loading", "stale"], (0, 0, 0)),
            ]),
            entry("waitaof", 4, ["noscript"], (0, 0, 0)),
        ])
        let table = CommandTable.builtin.merging(commandReply: reply)
        let get = try XCTUnwrap(table.lookup(name: "get"))
        XCTAssertEqual(get.flags, [.readonly])
        XCTAssertEqual(get.aclCategories, [.read])
        XCTAssertTrue(get.isBuiltin)
        XCTAssertEqual(table.lookup(name: "client|setinfo")?.route, .local)
        XCTAssertEqual(table.lookup(name: "client|no-touch")?.route, .local)
        XCTAssertEqual(table.lookup(name: "client|tracking")?.route, .tracking, "kept from the built-in table")
        XCTAssertEqual(table.lookup(name: "waitaof")?.route, .blocking)
        XCTAssertEqual(table.count, CommandTable.builtin.count + 1)
    }

    func testMalformedRepliesAndEntriesAreIgnored() {
        let builtin = CommandTable.builtin
        for reply: RESPValue in [.error(Array("ERR unknown command".utf8)), .array(nil), .null, .integer(3)] {
            XCTAssertEqual(builtin.merging(commandReply: reply).entries.count, builtin.entries.count)
        }
        let reply = RESPValue.array([
            .integer(1),
            .array([bulk("short"), .integer(2)]),
            .array([bulk(""), .integer(1), .array([]), .integer(0), .integer(0), .integer(0)]),
            .array([bulk("badarity"), bulk("2"), .array([]), .integer(0), .integer(0), .integer(0)]),
            // RESP2 with Redis 6-era length (7 elements) is fine.
            .array([bulk("old.cmd"), .integer(2), .array([status("readonly")]), .integer(1), .integer(1),
                    .integer(1), .array([status("@read")])]),
        ])
        let table = builtin.merging(commandReply: reply)
        XCTAssertEqual(table.count, builtin.count + 1)
        XCTAssertEqual(table.lookup(name: "old.cmd")?.aclCategories, [.read])
    }
}
