// Scanner tests: every input is fed whole, one byte at a time, and concatenated with itself,
// and all three must frame identically (the drip-feed discipline of a resumable decoder).

import XCTest
@testable import RESP

/// Feeds `bytes` to a request scanner in chunks of `chunk` bytes; returns the frames it reported
/// as (kind, length, args) and any error.
private func scanRequests(_ bytes: [UInt8], chunk: Int, limits: RESPLimits = RESPLimits(), authenticated: Bool = true)
    -> (frames: [(String, Int, [[UInt8]])], error: String?) {
    var scanner = RequestScanner(limits: limits)
    scanner.authenticated = authenticated
    var buffer: [UInt8] = []
    var frames: [(String, Int, [[UInt8]])] = []
    var fed = 0
    while fed < bytes.count || !buffer.isEmpty {
        if fed < bytes.count {
            let n = min(chunk, bytes.count - fed)
            buffer += bytes[fed..<(fed + n)]
            fed += n
        }
        var progressed = true
        while progressed && !buffer.isEmpty {
            progressed = false
            let r = buffer.withUnsafeBufferPointer { scanner.scan($0.baseAddress!, $0.count) }
            switch r {
            case .incomplete: break
            case .frame(let len):
                let args = scanner.args.map { Array(buffer[Int($0.offset)..<Int($0.offset + $0.length)]) }
                frames.append(("frame", len, args))
                buffer.removeFirst(len); progressed = true
            case .inline(let len):
                frames.append(("inline", len, [Array(buffer[0..<len])]))
                buffer.removeFirst(len); progressed = true
            case .empty(let len):
                frames.append(("empty", len, []))
                buffer.removeFirst(len); progressed = true
            case .error(let e):
                return (frames, e.message)
            }
        }
        if fed >= bytes.count && !progressed { break }
    }
    return (frames, nil)
}

private func scanReplies(_ bytes: [UInt8], chunk: Int, limits: RESPLimits = RESPLimits()) -> (frames: [ReplyFrame], error: String?) {
    var scanner = ReplyScanner(limits: limits)
    var buffer: [UInt8] = []
    var frames: [ReplyFrame] = []
    var fed = 0
    while fed < bytes.count {
        let n = min(chunk, bytes.count - fed)
        buffer += bytes[fed..<(fed + n)]
        fed += n
        while !buffer.isEmpty {
            let r = buffer.withUnsafeBufferPointer { scanner.scan($0.baseAddress!, $0.count) }
            if case .frame(let f) = r { frames.append(f); buffer.removeFirst(f.length); continue }
            if case .error(let e) = r { return (frames, e.message) }
            break
        }
    }
    return (frames, nil)
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

final class RequestScannerTests: XCTestCase {
    let set = b("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")

    func testWholeByteByByteAndConcatenatedAgree() {
        let whole = scanRequests(set, chunk: set.count)
        XCTAssertNil(whole.error)
        XCTAssertEqual(whole.frames.count, 1)
        XCTAssertEqual(whole.frames[0].1, set.count)
        XCTAssertEqual(whole.frames[0].2, [b("SET"), b("key"), b("value")])
        let drip = scanRequests(set, chunk: 1)
        XCTAssertEqual(drip.frames.map { $0.2 }, whole.frames.map { $0.2 })
        let twice = scanRequests(set + set + set, chunk: 7)
        XCTAssertEqual(twice.frames.count, 3)
        for f in twice.frames { XCTAssertEqual(f.2, [b("SET"), b("key"), b("value")]) }
    }

    func testBinaryPayloadWithCRLFInside() {
        let req = b("*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n")
        for chunk in [1, 2, 3, 100] {
            let r = scanRequests(req, chunk: chunk)
            XCTAssertNil(r.error)
            XCTAssertEqual(r.frames.first?.2, [b("GET"), b("a\r\nb")])
        }
    }

    func testLargeBulkIsNotRescanned() {
        let value = [UInt8](repeating: 120, count: 1_000_000)
        let req = b("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n") + value + b("\r\n")
        let r = scanRequests(req, chunk: 65536)
        XCTAssertNil(r.error)
        XCTAssertEqual(r.frames.count, 1)
        XCTAssertEqual(r.frames[0].2[2].count, 1_000_000)
    }

    func testInlineAndEmptyLines() {
        let r = scanRequests(b("PING\r\n\r\n*0\r\nECHO hi\n"), chunk: 1)
        XCTAssertNil(r.error)
        XCTAssertEqual(r.frames.map { $0.0 }, ["inline", "empty", "empty", "inline"])
    }

    func testRedisErrorTexts() {
        XCTAssertEqual(scanRequests(b("*1\r\n:5\r\n"), chunk: 100).error, "Protocol error: expected '$', got ':'")
        XCTAssertEqual(scanRequests(b("*x\r\n"), chunk: 100).error, "Protocol error: invalid multibulk length")
        XCTAssertEqual(scanRequests(b("*1\r\n$-5\r\n"), chunk: 100).error, "Protocol error: invalid bulk length")
        XCTAssertEqual(scanRequests(b("*1\r\n$999999999999\r\n"), chunk: 100).error, "Protocol error: invalid bulk length")
        var small = RESPLimits(); small.maxBulkLength = 10
        XCTAssertEqual(scanRequests(b("*1\r\n$11\r\n"), chunk: 100, limits: small).error, "Protocol error: invalid bulk length")
        XCTAssertNil(scanRequests(b("*1\r\n$10\r\n0123456789\r\n"), chunk: 100, limits: small).error)
    }

    func testLengthHeadersAtTheEdges() {
        // Too many digits never wraps into a negative length.
        XCTAssertEqual(scanRequests(b("*1\r\n$9999999999999999999\r\n"), chunk: 100).error, "Protocol error: invalid bulk length")
        XCTAssertEqual(scanRequests(b("*1\r\n$99999999999999999999999\r\n"), chunk: 1).error, "Protocol error: invalid bulk length")
        XCTAssertEqual(scanRequests(b("*1\r\n$x\r\n"), chunk: 1).error, "Protocol error: invalid bulk length")
        XCTAssertEqual(scanRequests(b("*1\r\n$3\r\nabc\r\n*1\r\n$-1\r\n"), chunk: 1).error, "Protocol error: invalid bulk length")
        var replies = ReplyScanner()
        let big = b("$9999999999999999999999\r\n")
        let r = big.withUnsafeBufferPointer { replies.scan($0.baseAddress!, $0.count) }
        if case .error = r {} else { XCTFail("a 22-digit reply length must be refused, got \(r)") }
    }

    func testUnauthenticatedLimits() {
        XCTAssertEqual(scanRequests(b("*11\r\n"), chunk: 100, authenticated: false).error,
                       "Protocol error: unauthenticated multibulk length")
        XCTAssertEqual(scanRequests(b("*1\r\n$16385\r\n"), chunk: 100, authenticated: false).error,
                       "Protocol error: unauthenticated bulk length")
        XCTAssertNil(scanRequests(b("*1\r\n$16385\r\n"), chunk: 100, authenticated: true).error)
    }

    func testTooBigInlineAndHeaders() {
        var l = RESPLimits(); l.maxInline = 16
        XCTAssertEqual(scanRequests([UInt8](repeating: 65, count: 40), chunk: 100, limits: l).error, "Protocol error: too big inline request")
        XCTAssertEqual(scanRequests(b("*") + [UInt8](repeating: 49, count: 40), chunk: 100, limits: l).error,
                       "Protocol error: too big mbulk count string")
    }

    func testInlineSplitterQuotes() {
        func split(_ s: String) -> [[UInt8]]? { Array(s.utf8).withUnsafeBytes { InlineSplitter.split($0) } }
        XCTAssertEqual(split("SET k \"a b\\n\""), [b("SET"), b("k"), b("a b\n")])
        XCTAssertEqual(split("SET k 'it\\'s'"), [b("SET"), b("k"), b("it's")])
        XCTAssertEqual(split("SET k \"\\x41\""), [b("SET"), b("k"), b("A")])
        XCTAssertNil(split("SET k \"open"))
        XCTAssertNil(split("SET k \"a\"b"))
    }
}

final class ReplyScannerTests: XCTestCase {
    let replies = b("+OK\r\n-ERR x\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n*-1\r\n_\r\n,3.14\r\n#t\r\n(123\r\n=7\r\ntxt:abc\r\n!5\r\nERR x\r\n%1\r\n+k\r\n+v\r\n~1\r\n+a\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n|1\r\n+key\r\n+val\r\n:7\r\n")

    func testEveryTypeWholeAndByteByByteAgree() {
        let whole = scanReplies(replies, chunk: replies.count)
        XCTAssertNil(whole.error)
        XCTAssertEqual(whole.frames.count, 17)
        let drip = scanReplies(replies, chunk: 1)
        XCTAssertEqual(drip.frames, whole.frames)
        let triple = scanReplies(replies + replies + replies, chunk: 13)
        XCTAssertEqual(triple.frames.count, 51)
        XCTAssertEqual(Array(triple.frames[0..<17]), whole.frames)
    }

    func testFrameSummaries() {
        let f = scanReplies(replies, chunk: replies.count).frames
        XCTAssertEqual(f[0].type, UInt8(ascii: "+")); XCTAssertFalse(f[0].hasRESP3)
        XCTAssertTrue(f[1].isError)
        XCTAssertEqual(f[5].type, UInt8(ascii: "*")); XCTAssertFalse(f[5].hasRESP3)
        XCTAssertTrue(f[7].hasRESP3)                    // `_`
        XCTAssertTrue(f[15].isPush)
        // The attribute is skipped for the type, but kept inside the frame.
        XCTAssertEqual(f[16].type, UInt8(ascii: ":"))
        XCTAssertGreaterThan(f[16].valueOffset, 0)
        XCTAssertEqual(f[16].length, b("|1\r\n+key\r\n+val\r\n:7\r\n").count)
    }

    func testNestingAndLengthLimits() {
        var l = RESPLimits(); l.maxDepth = 3
        XCTAssertNil(scanReplies(b("*1\r\n*1\r\n*1\r\n:1\r\n"), chunk: 100, limits: l).error)
        XCTAssertNotNil(scanReplies(b("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"), chunk: 100, limits: l).error)
        l = RESPLimits(); l.maxBulkLength = 4
        XCTAssertNotNil(scanReplies(b("$5\r\nhello\r\n"), chunk: 100, limits: l).error)
        XCTAssertNotNil(scanReplies(b("?x\r\n"), chunk: 100).error)
    }

    /// The verdict on a long line or an unknown type byte is the same however the bytes arrive
    /// (found by fuzzing: in one piece a 300-byte line passed a 254-byte `maxInline`, byte by byte
    /// it failed; an unknown type byte was reported only once its newline arrived).
    func testLineVerdictsDoNotDependOnTheSplit() {
        var l = RESPLimits(); l.maxInline = 64
        let long = b("+" + String(repeating: "x", count: 100) + "\r\n")
        let unknown = b("\u{0}" + String(repeating: "\u{0}", count: 100) + "\r\n")
        for chunk in [1, 7, 1000] {
            XCTAssertEqual(scanReplies(long, chunk: chunk, limits: l).error, "Protocol error: reply header too long", "chunk \(chunk)")
            XCTAssertEqual(scanReplies(unknown, chunk: chunk, limits: l).error, "Protocol error: unexpected reply type byte 0", "chunk \(chunk)")
        }
        XCTAssertNil(scanReplies(b("+" + String(repeating: "x", count: 62) + "\r\n"), chunk: 1, limits: l).error)
        // Leading zeros count towards the header's length too (in one piece this was
        // "invalid aggregate length" at the byte after them, byte by byte "too long").
        let zeros = b("*" + String(repeating: "0", count: 100) + "3x\r\n")
        for chunk in [1, 7, 1000] {
            XCTAssertEqual(scanReplies(zeros, chunk: chunk, limits: l).error, "Protocol error: reply header too long", "chunk \(chunk)")
        }
        XCTAssertEqual(scanReplies(b("*0001\r\n:1\r\n"), chunk: 1, limits: l).frames.count, 1)
    }

    /// What `EVAL "local a = {}; local b = {a}; a[1] = b; return a" 0` gets from Redis: ~8000
    /// nested one-element arrays ending in an error. With no nesting limit (upstream scanners)
    /// the stack grows past its first block and the frame is whole, at any split; the next
    /// frame after it frames normally.
    func testDeepReplyGrowsTheStack() {
        let deep = b(String(repeating: "*1\r\n", count: 7995) + "-ERR reached lua stack limit\r\n")
        var unlimited = RESPLimits(); unlimited.maxDepth = Int.max
        for chunk in [deep.count + 5, 1, 7] {
            let r = scanReplies(deep + b("+OK\r\n"), chunk: chunk, limits: unlimited)
            XCTAssertNil(r.error)
            XCTAssertEqual(r.frames.map(\.length), [deep.count, 5])
            XCTAssertEqual(r.frames.first?.type, UInt8(ascii: "*"))
        }
        // The default (client-side) limit still refuses it.
        XCTAssertNotNil(scanReplies(deep, chunk: deep.count).error)
    }

    /// Runs of bulk strings in an aggregate take a shortcut; it must frame exactly like the
    /// general path at every split point, and leave nulls, other types and bad headers to it.
    func testBulkRunsFrameAlikeAtEverySplit() {
        var lrange = "*100\r\n"
        for i in 0..<100 { let v = String(repeating: "v", count: i % 13); lrange += "$\(v.count)\r\n\(v)\r\n" }
        let mixed = "*6\r\n$1\r\na\r\n$-1\r\n$2\r\nbc\r\n:5\r\n*2\r\n$1\r\nx\r\n$0\r\n\r\n$3\r\nend\r\n"
        let map = "%2\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nk2\r\n*1\r\n$1\r\nz\r\n"
        let stream = b(lrange + mixed + map + "+OK\r\n")
        let whole = scanReplies(stream, chunk: stream.count)
        XCTAssertNil(whole.error)
        XCTAssertEqual(whole.frames.map(\.length), [lrange.utf8.count, mixed.utf8.count, map.utf8.count, 5])
        for chunk in [1, 2, 3, 5, 7, 64, 333] {
            XCTAssertEqual(scanReplies(stream, chunk: chunk).frames, whole.frames, "chunk \(chunk)")
        }
        // The limit and malformed headers are still caught inside a run.
        var l = RESPLimits(); l.maxBulkLength = 4
        XCTAssertEqual(scanReplies(b("*3\r\n$1\r\na\r\n$5\r\nhello\r\n$1\r\nb\r\n"), chunk: 100, limits: l).error,
                       "Protocol error: bulk length 5 exceeds proto-max-bulk-len")
        XCTAssertEqual(scanReplies(b("*3\r\n$1\r\na\r\n$x\r\n$1\r\nb\r\n"), chunk: 100).error, "Protocol error: invalid bulk length")
        XCTAssertNotNil(scanReplies(b("*3\r\n$1\r\na\r\n$99999999999999999999999\r\n"), chunk: 100).error)
    }

    func testEmptyAggregatesAndNulls() {
        let r = scanReplies(b("*0\r\n%0\r\n~0\r\n*-1\r\n"), chunk: 1)
        XCTAssertNil(r.error)
        XCTAssertEqual(r.frames.count, 4)
    }
}
