// Lookups, subcommands, key positions and the built-in table's completeness.

import XCTest
import RESP
@testable import RespiteCommands

final class CommandTableTests: XCTestCase {
    let table = CommandTable.builtin

    private func find(_ name: String) -> CommandInfo? {
        Array(name.utf8).withUnsafeBytes { table.lookup($0) }
    }

    private func sub(_ command: CommandInfo, _ name: String) -> CommandInfo? {
        Array(name.utf8).withUnsafeBytes { table.lookupSubcommand(command, $0) }
    }

    func testLookupIsCaseInsensitiveOverRawBytes() throws {
        for spelling in ["get", "GET", "GeT", "gEt"] {
            let info = try XCTUnwrap(find(spelling), spelling)
            XCTAssertEqual(info.name, "get")
            XCTAssertEqual(info.arity, 2)
            XCTAssertEqual(info.flags, [.readonly, .fast])
            XCTAssertEqual(info.aclCategories, [.read, .string, .fast])
        }
        XCTAssertEqual(find("ZRANGEBYSCORE")?.name, "zrangebyscore")
        XCTAssertEqual(find("restore-asking")?.name, "restore-asking")
    }

    func testUnknownNamesAndNearMissesAreNotFound() {
        for name in ["", "ge", "gett", "g\u{0}t", "nosuchcommand", "GET ", "config|get", "CONFIG|GET", "get\u{7f}"] {
            XCTAssertNil(find(name), "'\(name)' must not match")
        }
        XCTAssertEqual(CommandTable.unknownRoute, .shared)
    }

    func testSubcommandsAreCaseInsensitive() throws {
        let config = try XCTUnwrap(find("CONFIG"))
        let get = try XCTUnwrap(sub(config, "GeT"))
        XCTAssertEqual(get.name, "config|get")
        XCTAssertTrue(get.isSubcommand)
        XCTAssertEqual(get.containerName, "config")
        XCTAssertEqual(get.arity, -3)

        let client = try XCTUnwrap(find("client"))
        XCTAssertEqual(try XCTUnwrap(sub(client, "setname")).name, "client|setname")
        XCTAssertEqual(try XCTUnwrap(sub(client, "SETNAME")).route, .local)
        let xinfo = try XCTUnwrap(find("xinfo"))
        let stream = try XCTUnwrap(sub(xinfo, "Stream"))
        XCTAssertEqual(stream.name, "xinfo|stream")
        XCTAssertEqual(stream.firstKey, 2)

        XCTAssertNil(sub(config, "nosuch"))
        XCTAssertNil(sub(config, "ge"))
        XCTAssertNil(sub(config, "config|get"))
        XCTAssertNil(sub(client, "get"), "a sibling container's subcommand must not match")
        XCTAssertNil(sub(try XCTUnwrap(find("get")), "get"), "plain commands have no subcommands")
        XCTAssertEqual(table.lookup(name: "CLIENT|Tracking")?.route, .tracking)
    }

    func testBuiltinTableIsComplete() {
        XCTAssertGreaterThan(table.count, 200)
        XCTAssertEqual(table.count, BuiltinCommands.commandCount)
        XCTAssertEqual(table.entries.count, BuiltinCommands.lineCount)
        for name in ["acl", "client", "cluster", "command", "config", "function", "latency", "memory",
                     "module", "object", "pubsub", "script", "slowlog", "xgroup", "xinfo"] {
            XCTAssertFalse(find(name)?.subcommands.isEmpty ?? true, "\(name) should have subcommands")
        }
        // Every entry is reachable through the index under its own name.
        for entry in table.entries {
            XCTAssertEqual(table.lookup(name: entry.name)?.name, entry.name)
            XCTAssertTrue(entry.isBuiltin)
        }
    }

    func testEveryBuiltinCommandHasADecidedRoute() {
        // No built-in command may fall through to the flag-derived refusal: a stateful command
        // added by a regenerated table must get an explicit decision in RoutePolicy.
        for entry in table.entries {
            let decided = RoutePolicy.explicit[entry.name] != nil
            XCTAssertTrue(decided || !RoutePolicy.isDerivedStateful(entry.flags),
                          "\(entry.name) (\(entry.flags)) needs an explicit route")
            if case .unsupported = entry.route {
                XCTAssertTrue(decided, "\(entry.name) is refused without an explicit decision")
            }
        }
        // Explicit decisions name real commands (typo guard), except those of newer servers.
        let newer: Set<String> = ["waitaof", "client|setinfo", "client|no-touch", "client|maint_notifications"]
        for name in RoutePolicy.explicit.keys where !newer.contains(name) {
            XCTAssertNotNil(table.lookup(name: name), "RoutePolicy names unknown command \(name)")
        }
    }

    /// The commands that end a busy script, and FUNCTION STATS, are marked in the table (the
    /// session sends them on a connection of their own); every one of them is `allow_busy` in
    /// Redis, and nothing else is marked — HELLO and AUTH are allowed while busy but need none.
    func testBusyInterruptersAreMarkedInTheTable() throws {
        for name in ["script|kill", "function|kill", "function|stats", "shutdown"] {
            let info = try XCTUnwrap(table.lookup(name: name), name)
            XCTAssertTrue(info.interruptsBusy, name)
            XCTAssertTrue(info.flags.contains(.allowBusy), name)
        }
        let marked = table.entries.filter(\.interruptsBusy).map(\.name).sorted()
        XCTAssertEqual(marked, ["function|kill", "function|stats", "script|kill", "shutdown"])
        for name in ["hello", "auth", "script|flush", "eval", "client|kill"] {
            XCTAssertEqual(table.lookup(name: name)?.interruptsBusy, false, name)
        }
    }

    func testRoutesOfRepresentativeCommands() {
        let expected: [(String, CommandRoute)] = [
            ("get", .shared), ("set", .shared), ("mget", .shared), ("eval", .shared), ("ping", .shared),
            ("publish", .shared), ("spublish", .shared), ("pubsub|numsub", .shared), ("save", .shared),
            ("config|get", .shared), ("client|kill", .local), ("client|list", .local), ("client|pause", .shared),
            ("hello", .local), ("auth", .local), ("select", .local), ("reset", .local), ("quit", .local),
            ("client", .local), ("client|setname", .local), ("client|getname", .local),
            ("client|id", .local), ("client|reply", .local), ("acl|whoami", .local),
            ("multi", .transaction), ("exec", .transaction), ("discard", .transaction),
            ("watch", .transaction), ("unwatch", .transaction),
            ("blpop", .blocking), ("brpop", .blocking), ("blmove", .blocking), ("brpoplpush", .blocking),
            ("blmpop", .blocking), ("bzpopmin", .blocking), ("bzpopmax", .blocking), ("bzmpop", .blocking),
            ("wait", .blocking),
            ("xread", .blockingWithArg), ("xreadgroup", .blockingWithArg),
            ("subscribe", .subscribe), ("psubscribe", .subscribe), ("ssubscribe", .subscribe),
            ("unsubscribe", .unsubscribe), ("punsubscribe", .unsubscribe), ("sunsubscribe", .unsubscribe),
            ("monitor", .monitor),
            ("client|tracking", .tracking), ("client|caching", .trackingState),
            ("client|trackinginfo", .trackingState), ("client|getredir", .trackingState),
            ("sync", .replication), ("psync", .replication), ("replconf", .replication),
            ("shutdown", .shared),
        ]
        for (name, route) in expected {
            XCTAssertEqual(table.lookup(name: name)?.route, route, name)
        }
        for name in ["asking", "restore-asking", "script|debug"] {
            guard case .unsupported(let reason)? = table.lookup(name: name)?.route else {
                return XCTFail("\(name) should be unsupported")
            }
            XCTAssertFalse(reason.isEmpty)
        }
        XCTAssertTrue(CommandRoute.blocking.pinsConnection)
        XCTAssertFalse(CommandRoute.shared.pinsConnection)
        XCTAssertTrue(table.lookup(name: "client|kill")?.refusedInTransaction == true)
        for name in ["client|list", "client|info", "client|reply", "client|no-evict", "hello", "auth",
                     "subscribe", "psubscribe", "ssubscribe", "unsubscribe"] {
            XCTAssertTrue(table.lookup(name: name)?.refusedInTransaction == true, name)
        }
        for name in ["select", "client|setname", "client|id", "client|getname", "client|tracking", "client|pause",
                     "client|unpause", "get"] {
            XCTAssertTrue(table.lookup(name: name)?.refusedInTransaction == false, name)
        }
    }

    func testKeyIndexesResolveNegativeLastKey() throws {
        let get = try XCTUnwrap(find("get"))
        XCTAssertEqual(get.keyIndexes(argc: 2).map { [$0.first, $0.last, $0.step] }, [1, 1, 1])
        let mset = try XCTUnwrap(find("mset"))
        XCTAssertEqual(table.keyIndexes(argc: 5, info: mset).map { [$0.first, $0.last, $0.step] }, [1, 4, 2])
        let del = try XCTUnwrap(find("del"))
        XCTAssertEqual(del.keyIndexes(argc: 4).map { [$0.first, $0.last, $0.step] }, [1, 3, 1])
        let blpop = try XCTUnwrap(find("blpop"))  // keys 1 ... -2, the timeout last
        XCTAssertEqual(blpop.keyIndexes(argc: 4).map { [$0.first, $0.last, $0.step] }, [1, 2, 1])
        let encoding = try XCTUnwrap(table.lookup(name: "object|encoding"))
        XCTAssertEqual(encoding.keyIndexes(argc: 3).map { [$0.first, $0.last, $0.step] }, [2, 2, 1])
        XCTAssertNil(try XCTUnwrap(find("ping")).keyIndexes(argc: 1), "keyless")
        XCTAssertNil(try XCTUnwrap(find("eval")).keyIndexes(argc: 5), "movable keys only")
        XCTAssertTrue(try XCTUnwrap(find("eval")).flags.contains(.movableKeys))
        XCTAssertNil(get.keyIndexes(argc: 1), "too short to hold the key")
    }

    func testArity() throws {
        let get = try XCTUnwrap(find("get"))
        XCTAssertTrue(get.accepts(argc: 2))
        XCTAssertFalse(get.accepts(argc: 3))
        let mset = try XCTUnwrap(find("mset"))
        XCTAssertFalse(mset.accepts(argc: 2))
        XCTAssertTrue(mset.accepts(argc: 3))
        XCTAssertTrue(mset.accepts(argc: 7))
    }

    func testTipsArePreserved() throws {
        let keys = try XCTUnwrap(find("keys"))
        XCTAssertTrue(keys.tips.contains("request_policy:all_shards"))
        XCTAssertTrue(keys.tips.contains("nondeterministic_output_order"))
    }
}
