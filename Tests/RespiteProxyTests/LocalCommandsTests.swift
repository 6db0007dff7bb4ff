// The local command table: every command the command table routes `.local` has a handler, and
// the command kinds it is keyed by name real commands.

import XCTest
import RESP
import RespiteCommands
@testable import RespiteProxy

final class LocalCommandsTests: XCTestCase {
    func testEveryLocalEntryOfTheBuiltinTableHasAHandler() {
        let table = CommandTable.builtin
        let byID = LocalCommands.byID(table)
        XCTAssertEqual(byID.count, table.entries.count)
        var local: [String] = []
        for (i, entry) in table.entries.enumerated() {
            if entry.route == .local {
                local.append(entry.name)
                XCTAssertNotEqual(entry.kind, .other, "\(entry.name) is routed .local without a CommandKind")
                XCTAssertNotNil(byID[i], "\(entry.name) is routed .local without a handler")
            } else {
                XCTAssertNil(byID[i], "\(entry.name) is not routed .local, yet has a local handler")
            }
        }
        for name in ["readonly", "readwrite", "hello", "auth", "select", "reset", "quit", "acl|whoami",
                     "client", "client|id", "client|kill", "client|unblock"] {
            XCTAssertTrue(local.contains(name), "\(name) should be routed .local")
        }
    }

    /// The route table names CLIENT subcommands newer than the built-in (7.0) table; they reach
    /// the CLIENT container's handler, which must find theirs.
    func testEveryExplicitLocalRouteHasAHandler() {
        for (name, route) in RoutePolicy.explicit where route == .local {
            let kind = CommandKind(name: name)
            XCTAssertNotEqual(kind, .other, "\(name) is routed .local without a CommandKind")
            XCTAssertNotNil(LocalCommands.handlers[kind], "\(name) is routed .local without a handler")
        }
        for name in ["client|setinfo", "client|no-touch", "client|maint_notifications"]
        where CommandTable.builtin.lookup(name: name) == nil {
            let kind = CommandKind(name: name)
            XCTAssertNotNil(LocalCommands.handlers[kind], name)
            if kind != .clientMaintNotifications {
                XCTAssertNotNil(CommandKind.arityWhenUnlisted[kind], "\(name) is read without an arity check")
            }
        }
    }

    func testReadonlyAndReadwriteAnswerAsAStandaloneServer() {
        XCTAssertNotNil(LocalCommands.handlers[.readonly])
        XCTAssertNotNil(LocalCommands.handlers[.readwrite])
        XCTAssertEqual(CommandTable.builtin.lookup(name: "readonly")?.kind, .readonly)
        XCTAssertEqual(CommandTable.builtin.lookup(name: "readwrite")?.kind, .readwrite)
        // redis-server 7.0 without cluster-enabled answers exactly this.
        XCTAssertEqual(Session.clusterDisabledError, "ERR This instance has cluster support disabled")
    }

    func testKindsNameRealCommandsAndResolveInTheTable() {
        let newer: Set<String> = ["client|setinfo", "client|no-touch", "client|maint_notifications"]
        XCTAssertEqual(Set(CommandKind.names.keys), Set(CommandKind.allCases).subtracting([.other]))
        for (kind, name) in CommandKind.names {
            XCTAssertEqual(CommandKind(name: name), kind)
            if newer.contains(name) { continue }
            XCTAssertEqual(CommandTable.builtin.lookup(name: name)?.kind, kind, name)
        }
        XCTAssertEqual(CommandTable.builtin.lookup(name: "get")?.kind, .other)
        XCTAssertEqual(CommandTable.builtin.lookup(name: "client|pause")?.kind, .other)
        XCTAssertEqual(CommandTable.builtin.lookup(name: "client|pause")?.isClientCommand, true)
        XCTAssertEqual(CommandTable.builtin.lookup(name: "config|get")?.isClientCommand, false)
        let word = Array("SetInfo".utf8)
        XCTAssertEqual(word.withUnsafeBytes { CommandKind.subcommand(of: "client", $0) }, .clientSetinfo)
    }

    /// A table merged with a newer server's `COMMAND` reply lists CLIENT SETINFO itself: its
    /// entry gets the handler directly.
    func testMergedTableEntriesGetTheirHandlers() throws {
        func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }
        let sub = RESPValue.array([bulk("client|setinfo"), .integer(4), .set([]), .integer(0), .integer(0),
                                   .integer(0), .set([]), .array([]), .array([]), .array([])])
        let client = RESPValue.array([bulk("client"), .integer(-2), .set([]), .integer(0), .integer(0),
                                      .integer(0), .set([]), .array([]), .array([]), .array([sub])])
        let table = CommandTable.builtin.merging(commandReply: .array([client]))
        let byID = LocalCommands.byID(table)
        let i = try XCTUnwrap(table.entries.firstIndex { $0.name == "client|setinfo" })
        XCTAssertEqual(table.entries[i].kind, .clientSetinfo)
        XCTAssertNotNil(byID[i])
    }
}
