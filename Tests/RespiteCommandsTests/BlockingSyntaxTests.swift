// BlockingSyntax against its table of calls and against a live redis-server: every command the
// server flags `blocking` has a rule, and each call below blocks on the real server exactly when
// the rule says it can — with keys, groups and consumers named like the options.

import Foundation
import RespiteTestSupport
import XCTest
import RESP
@testable import RespiteCommands

/// (call, timeout argument when it can block — nil: it answers at once, checked live)
private let calls: [([String], Int?)] = [
    // A group, consumer or key named like an option is not the option.
    (["XREADGROUP", "GROUP", "streams", "c", "BLOCK", "3000", "STREAMS", "rs", ">"], 5),
    (["XREADGROUP", "GROUP", "g", "streams", "BLOCK", "3000", "STREAMS", "rs", ">"], 5),
    (["XREADGROUP", "GROUP", "block", "c", "STREAMS", "rs", ">"], nil),
    (["XREADGROUP", "GROUP", "g", "block", "COUNT", "1", "STREAMS", "rs", ">"], nil),
    (["XREADGROUP", "GROUP", "count", "noack", "BLOCK", "3000", "STREAMS", "rs", ">"], 5),
    (["XREADGROUP", "GROUP", "group", "block", "NOACK", "STREAMS", "rs", ">"], nil),
    (["XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", "3000", "STREAMS", "rs", ">"], 6),
    (["XREADGROUP", "GROUP", "g", "c", "COUNT", "block", "STREAMS", "rs", ">"], nil),
    (["XREADGROUP", "GROUP", "12", "34", "BLOCK", "3000", "STREAMS", "rs", ">"], 5),
    (["XREADGROUP", "GROUP", "g", "c", "BLOCK", "1", "BLOCK", "3000", "STREAMS", "rs", ">"], 7),
    (["xreadgroup", "block", "3000", "group", "g", "c", "streams", "block", ">"], 2),
    (["XREADGROUP", "GROUP", "g", "c", "STREAMS", "block", ">"], nil),
    (["XREADGROUP", "BLOCK", "3000", "GROUP", "g", "c", "STREAMS", "streams", ">"], 2),
    (["XREAD", "COUNT", "5", "BLOCK", "3000", "STREAMS", "block", "$"], 4),
    (["XREAD", "STREAMS", "block", "0"], nil),
    (["XREAD", "BLOCK", "3000", "STREAMS", "streams", "$"], 2),
    (["XREAD", "STREAMS", "streams", "block", "$", "$"], nil),
    (["XREAD", "STREAMS", "count", "3000"], nil),
    (["xread", "block", "3000", "streams", "rs", "$"], 2),
    (["XREAD", "COUNT", "0", "STREAMS", "0", "0"], nil),
    (["XREAD", "GROUP", "g", "c", "BLOCK", "3000", "STREAMS", "rs", "$"], nil),   // GROUP: XREADGROUP only
    (["XREAD", "NOACK", "BLOCK", "3000", "STREAMS", "rs", "$"], nil),             // NOACK: XREADGROUP only
    (["XREAD", "BLOCK"], nil),                                                    // BLOCK with no value: syntax error
    // The others always block; the timeout is where the syntax puts it.
    (["BLPOP", "block", "streams", "3"], 3),
    (["BRPOP", "0", "3"], 2),
    (["BLMOVE", "block", "count", "LEFT", "RIGHT", "3"], 5),
    (["BRPOPLPUSH", "streams", "block", "3"], 3),
    (["BZPOPMIN", "block", "3"], 2),
    (["BZPOPMAX", "3", "3"], 2),
    (["BLMPOP", "3", "2", "block", "3", "LEFT", "COUNT", "2"], 1),
    (["BZMPOP", "3", "1", "block", "MIN"], 1),
    (["WAIT", "1", "3000"], 2),
]

/// Calls whose answer is conservative rather than Redis 7's: an option Redis 7 refuses with a
/// syntax error may be one a newer server takes, so a BLOCK anywhere keeps the call blocking.
private let conservative: [([String], Int?)] = [
    (["XREAD", "BLOCK", "3000", "FUTURE", "STREAMS", "rs", "$"], 2),
    (["XREADGROUP", "GROUP", "g", "c", "FUTURE", "1", "BLOCK", "0", "STREAMS", "rs", ">"], nil),   // timeout unknown
    (["WAITAOF", "1", "0", "3000"], 3),
]

/// The client a side thread calls on while the test thread watches the server.
private final class Caller: @unchecked Sendable {
    let client: TestRedisClient
    init(_ client: TestRedisClient) { self.client = client }
}

private func rule(_ name: String) -> BlockingRule? { BlockingSyntax.rules[name.lowercased()] }

final class BlockingSyntaxTests: XCTestCase {
    func testTimeoutPositions() {
        for (args, timeout) in calls {
            guard let r = rule(args[0]) else { XCTFail("no rule for \(args[0])"); continue }
            let call = BlockingSyntax.call(r, args.map { Array($0.utf8) })
            if let timeout {
                XCTAssertEqual(call?.timeoutIndex, timeout, "\(args)")
            } else {
                XCTAssertNil(call, "\(args)")
            }
        }
        for (args, timeout) in conservative {
            guard let r = rule(args[0]) else { XCTFail("no rule for \(args[0])"); continue }
            let call = BlockingSyntax.call(r, args.map { Array($0.utf8) })
            XCTAssertNotNil(call, "\(args)")
            XCTAssertEqual(call?.timeoutIndex, timeout, "\(args)")
        }
        XCTAssertEqual(BlockingSyntax.call(.timeoutLast(millis: true), [Array("WAIT".utf8), Array("0".utf8), Array("5".utf8)]),
                       BlockingCall(timeoutIndex: 2, millis: true))
        XCTAssertEqual(BlockingSyntax.call(.streamRead(group: false), ["XREAD", "BLOCK", "5", "STREAMS", "s", "$"].map { Array($0.utf8) }),
                       BlockingCall(timeoutIndex: 2, millis: true))
        XCTAssertEqual(BlockingSyntax.call(.timeoutFirst, ["BLMPOP", "1.5", "1", "l", "LEFT"].map { Array($0.utf8) }),
                       BlockingCall(timeoutIndex: 1, millis: false))
    }

    func testEveryRuleIsOnAPinningRoute() {
        for name in BlockingSyntax.rules.keys {
            guard let info = CommandTable.builtin.lookup(name: name) else { continue }   // WAITAOF: newer than the table
            XCTAssertNotNil(info.blocking, name)
            XCTAssertTrue(info.route == .blocking || info.route == .blockingWithArg, "\(name): \(info.route)")
        }
    }

    /// Every command the live server flags `blocking` has a rule, and every call in the table
    /// blocks on the live server exactly when `BlockingSyntax` says it can.
    func testCallsBlockOnALiveServerExactlyAsTheRulesSay() throws {
        let server = try TestRedisServer()
        defer { server.stop() }
        let side = try TestRedisClient(port: server.port)
        guard case .array(let commands?) = try side.call(["COMMAND"]) else { return XCTFail("COMMAND") }
        var flagged: [String] = []
        for case .array(let c?) in commands {
            guard case .bulkString(let n?) = c[0], case .array(let flags?) = c[2] else { continue }
            if flags.contains(where: { if case .simpleString(let s) = $0 { return s == Array("blocking".utf8) }; return false }) {
                flagged.append(String(decoding: n, as: UTF8.self))
            }
        }
        XCTAssertFalse(flagged.isEmpty)
        for name in flagged {
            XCTAssertNotNil(BlockingSyntax.rules[name], "\(name) is flagged blocking but has no rule")
            XCTAssertNotNil(CommandTable.builtin.lookup(name: name)?.blocking, name)
        }
        for (args, timeout) in calls {
            _ = try side.call(["FLUSHALL"])
            for (key, group) in args[0].lowercased().hasPrefix("xread") ?  [("rs", "streams"), ("rs", "g"), ("rs", "block"), ("rs", "count"), ("rs", "group"),
                                 ("rs", "12"), ("block", "g"), ("streams", "g")] : [] {
                _ = try side.call(["XGROUP", "CREATE", key, group, "$", "MKSTREAM"])
            }
            let blocked = try blocksLive(args, server: server, side: side)
            XCTAssertEqual(blocked, timeout != nil, "\(args): live server \(blocked ? "blocked" : "answered at once")")
        }
    }

    /// Sends `args` on a fresh connection: true when the server blocks it (then unblocks it),
    /// false when the reply comes first. Both waits are bounded.
    private func blocksLive(_ args: [String], server: TestRedisServer, side: TestRedisClient) throws -> Bool {
        let client = Caller(try TestRedisClient(port: server.port))
        guard case .integer(let id) = try client.client.call(["CLIENT", "ID"]) else { XCTFail("CLIENT ID"); return false }
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { _ = try? client.client.call(args); done.signal() }
        thread.start()
        let until = Date().addingTimeInterval(2.5)
        var blocked = false
        while Date() < until {
            if done.wait(timeout: .now() + .milliseconds(10)) == .success { return false }
            if case .bulkString(let info?) = try side.call(["INFO", "clients"]),
               String(decoding: info, as: UTF8.self).contains("blocked_clients:1\r\n") {
                blocked = true
                break
            }
        }
        _ = try side.call(["CLIENT", "UNBLOCK", String(id)])
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success, "\(args) did not end")
        return blocked
    }
}
