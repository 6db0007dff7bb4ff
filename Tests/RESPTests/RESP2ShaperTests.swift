// RESP2Shaper on hand-written RESP3 frames: the mechanical mapping, each ReplyShape rule,
// EXEC, rejection of malformed frames, and `needsShaping`. (The proof against a real server is
// the corpus test in RespiteCommandsTests.)

import RESP
import XCTest

final class RESP2ShaperTests: XCTestCase {
    func shaped(_ frame: String, _ shape: ReplyShape = .plain, file: StaticString = #filePath, line: UInt = #line) -> String {
        let out = ByteBuffer(capacity: 64)
        let ok = Array(frame.utf8).withUnsafeBytes { RESP2Shaper.shape(frame: $0, shape: shape, into: out) }
        XCTAssertTrue(ok, "rejected \(frame.debugDescription)", file: file, line: line)
        return String(decoding: out.readableBytes(), as: UTF8.self)
    }

    func needs(_ frame: String, _ shape: ReplyShape? = nil) -> Bool {
        Array(frame.utf8).withUnsafeBytes { f in
            shape.map { RESP2Shaper.needsShaping(f, shape: $0) } ?? RESP2Shaper.needsShaping(f)
        }
    }

    func testRESP2FramesPassThroughUnchanged() {
        for frame in ["+OK\r\n", "-ERR x\r\n", ":-3\r\n", "$-1\r\n", "*-1\r\n", "$0\r\n\r\n", "$3\r\n%_~\r\n",
                      "*3\r\n$1\r\na\r\n*0\r\n*2\r\n:1\r\n$-1\r\n"] {
            XCTAssertEqual(shaped(frame), frame)
            XCTAssertEqual(shaped(frame, ReplyShape(topNull: .array, nestedNull: .array, mapAsPairs: true)), frame)
            XCTAssertFalse(needs(frame), frame.debugDescription)
        }
    }

    /// Counts and lengths with leading zeros frame in the scanner and decode in the decoder, so
    /// the shaper takes them too (found by fuzzing: it refused `*002`, and the RESP3 bytes went
    /// to the RESP2 client unshaped).
    func testLeadingZerosInLengths() {
        XCTAssertEqual(shaped("*002\r\n_\r\n$0001\r\nx\r\n"), "*2\r\n$-1\r\n$0001\r\nx\r\n")
        XCTAssertEqual(shaped("%" + String(repeating: "0", count: 40) + "1\r\n+a\r\n#t\r\n"), "*2\r\n+a\r\n:1\r\n")
    }

    func testScalars() {
        XCTAssertEqual(shaped("_\r\n"), "$-1\r\n")
        XCTAssertEqual(shaped(",1.5\r\n"), "$3\r\n1.5\r\n")
        XCTAssertEqual(shaped(",-inf\r\n"), "$4\r\n-inf\r\n")
        XCTAssertEqual(shaped("#t\r\n"), ":1\r\n")
        XCTAssertEqual(shaped("#f\r\n"), ":0\r\n")
        XCTAssertEqual(shaped("(3492890328409238509324850943850943825024385\r\n"),
                       "$43\r\n3492890328409238509324850943850943825024385\r\n")
        XCTAssertEqual(shaped("=15\r\ntxt:Some string\r\n"), "$11\r\nSome string\r\n")
        XCTAssertEqual(shaped("=4\r\ntxt:\r\n"), "$0\r\n\r\n")
        XCTAssertEqual(shaped("!21\r\nSYNTAX invalid syntax\r\n"), "-SYNTAX invalid syntax\r\n")
        XCTAssertEqual(shaped("!9\r\nERR a\r\nbc\r\n"), "-ERR a  bc\r\n")
    }

    func testAggregates() {
        XCTAssertEqual(shaped("%2\r\n+a\r\n:1\r\n+b\r\n_\r\n"), "*4\r\n+a\r\n:1\r\n+b\r\n$-1\r\n")
        XCTAssertEqual(shaped("~2\r\n$1\r\na\r\n,2\r\n"), "*2\r\n$1\r\na\r\n$1\r\n2\r\n")
        XCTAssertEqual(shaped(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"), "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
        XCTAssertEqual(shaped(">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"), "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n")
        XCTAssertEqual(shaped("%0\r\n"), "*0\r\n")
        XCTAssertEqual(shaped("*1\r\n%1\r\n$1\r\nk\r\n~1\r\n#f\r\n"), "*1\r\n*2\r\n$1\r\nk\r\n*1\r\n:0\r\n")
    }

    func testAttributesAreDropped() {
        XCTAssertEqual(shaped("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n"), "*1\r\n:2\r\n")
        XCTAssertEqual(shaped("*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:7\r\n"), "*2\r\n$1\r\nv\r\n:7\r\n")
        XCTAssertEqual(shaped("|1\r\n+a\r\n+b\r\n_\r\n", ReplyShape(topNull: .array)), "*-1\r\n")
    }

    func testNullRules() {
        XCTAssertEqual(shaped("_\r\n", ReplyShape(topNull: .array)), "*-1\r\n")
        XCTAssertEqual(shaped("*2\r\n_\r\n*1\r\n_\r\n", ReplyShape(topNull: .array)), "*2\r\n$-1\r\n*1\r\n$-1\r\n")
        XCTAssertEqual(shaped("*2\r\n_\r\n*1\r\n_\r\n", ReplyShape(nestedNull: .array)), "*2\r\n*-1\r\n*1\r\n*-1\r\n")
        // XPENDING's summary with nothing pending.
        XCTAssertEqual(shaped("*4\r\n:0\r\n_\r\n_\r\n_\r\n", ReplyShape(nullArrayElements: 1 << 3)),
                       "*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n")
        XCTAssertEqual(shaped("_\r\n", ReplyShape(nullArrayElements: 1 << 3)), "$-1\r\n")
    }

    func testResolvedByArgumentCount() {
        let pop = ReplyShape(nullArrayFromArgumentCount: 3)
        XCTAssertEqual(pop.resolved(argumentCount: 2), pop)
        XCTAssertEqual(pop.resolved(argumentCount: 3).topNull, .array)
        XCTAssertEqual(shaped("_\r\n", pop.resolved(argumentCount: 2)), "$-1\r\n")
        XCTAssertEqual(shaped("_\r\n", pop.resolved(argumentCount: 3)), "*-1\r\n")
        XCTAssertEqual(ReplyShape.plain.resolved(argumentCount: 9), .plain)
    }

    func testFlattenPairs() {
        let flat = ReplyShape(flattenPairs: true)
        XCTAssertEqual(shaped("*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n", flat),
                       "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n")
        XCTAssertEqual(shaped("*0\r\n", flat), "*0\r\n")
        XCTAssertEqual(shaped("*2\r\n$1\r\na\r\n,1\r\n", flat), "*2\r\n$1\r\na\r\n$1\r\n1\r\n")  // ZPOPMIN key: already flat
        XCTAssertEqual(shaped("_\r\n", flat), "$-1\r\n")
        XCTAssertEqual(shaped("*-1\r\n", flat), "*-1\r\n")
        XCTAssertEqual(shaped("$1\r\nx\r\n", flat), "$1\r\nx\r\n")
        // Only one level is spliced; deeper arrays stay.
        XCTAssertEqual(shaped("*1\r\n*2\r\n*1\r\n:1\r\n:2\r\n", flat), "*2\r\n*1\r\n:1\r\n:2\r\n")
        // A plain array of arrays (HRANDFIELD … WITHVALUES) has no RESP3 type and still needs it.
        let pairs = "*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        XCTAssertFalse(needs(pairs))
        XCTAssertFalse(needs(pairs, .plain))
        XCTAssertTrue(needs(pairs, flat))
        XCTAssertFalse(needs("*2\r\n$1\r\nf\r\n$1\r\nv\r\n", flat))
        XCTAssertTrue(flat.restructuresArrays)
        XCTAssertEqual(shaped(pairs, flat), "*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
    }

    func testMapAsPairs() {
        let read = ReplyShape(topNull: .array, nestedNull: .array, mapAsPairs: true)
        XCTAssertEqual(shaped("%1\r\n$2\r\nst\r\n*1\r\n*2\r\n$3\r\n1-1\r\n_\r\n", read),
                       "*1\r\n*2\r\n$2\r\nst\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*-1\r\n")
        XCTAssertEqual(shaped("_\r\n", read), "*-1\r\n")
        // Nested maps are flat as usual.
        XCTAssertEqual(shaped("*1\r\n%1\r\n+a\r\n+b\r\n", read), "*1\r\n*2\r\n+a\r\n+b\r\n")
    }

    func testExec() {
        func exec(_ frame: String, _ shapes: [ReplyShape]) -> String {
            let out = ByteBuffer(capacity: 64)
            XCTAssertTrue(Array(frame.utf8).withUnsafeBytes { RESP2Shaper.shapeExec(frame: $0, elementShapes: shapes, into: out) })
            return String(decoding: out.readableBytes(), as: UTF8.self)
        }
        let frame = "*4\r\n_\r\n_\r\n*1\r\n*2\r\n$1\r\na\r\n,1\r\n-ERR x\r\n"
        XCTAssertEqual(exec(frame, [.plain, ReplyShape(topNull: .array), ReplyShape(flattenPairs: true), .plain]),
                       "*4\r\n$-1\r\n*-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n-ERR x\r\n")
        XCTAssertEqual(exec(frame, []), "*4\r\n$-1\r\n$-1\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n-ERR x\r\n")
        XCTAssertEqual(exec("_\r\n", []), "*-1\r\n")
        XCTAssertEqual(exec("*-1\r\n", []), "*-1\r\n")
        XCTAssertEqual(exec("*0\r\n", []), "*0\r\n")
        XCTAssertEqual(exec("-EXECABORT Transaction discarded because of previous errors.\r\n", []),
                       "-EXECABORT Transaction discarded because of previous errors.\r\n")
    }

    func testMalformedFramesAreRejectedAndLeaveTheBufferAlone() {
        let out = ByteBuffer(capacity: 64)
        out.append("+before\r\n" as StaticString)
        out.consume(1)  // a read index past zero: the rollback must survive compaction
        let before = out.readableBytes()
        let big = "*3\r\n$20000\r\n" + String(repeating: "x", count: 20000) + "\r\n,1\r\n"  // grows `out`, then truncated
        for frame in ["", "?\r\n", "*2\r\n:1\r\n", ",1.5", "$5\r\nab\r\n", "#x\r\n", "_x\r\n", "=2\r\nab\r\n", "!5\r\nab",
                      "*1\r\n$3\r\nabcde\r\n", "+OK\r\n+extra\r\n", "*x\r\n", big] {
            let ok = Array(frame.utf8).withUnsafeBytes { RESP2Shaper.shape(frame: $0, shape: ReplyShape(flattenPairs: true), into: out) }
            XCTAssertFalse(ok, frame.debugDescription)
            XCTAssertEqual(out.readableBytes(), before, frame.debugDescription)
            let okExec = Array(frame.utf8).withUnsafeBytes { RESP2Shaper.shapeExec(frame: $0, elementShapes: [], into: out) }
            XCTAssertFalse(okExec, frame.debugDescription)
            XCTAssertEqual(out.readableBytes(), before, frame.debugDescription)
        }
        let truncatedDeep = String(repeating: "*1\r\n", count: RESP2Shaper.maxDepth + 2)
        XCTAssertFalse(Array(truncatedDeep.utf8).withUnsafeBytes { RESP2Shaper.shape(frame: $0, shape: .plain, into: out) })
        XCTAssertEqual(out.readableBytes(), before)
    }

    /// Redis sends replies far deeper than the shaper recurses (a script returning a
    /// self-referencing table: ~8000 levels); past `maxDepth` the walk goes on without recursion
    /// and the RESP2 rendering is the same as for a shallow frame.
    func testFramesDeeperThanTheRecursionBoundAreShaped() {
        let depth = 8000
        let frame = String(repeating: "*2\r\n,1.5\r\n", count: depth) + "%1\r\n#t\r\n_\r\n"
        let expected = String(repeating: "*2\r\n$3\r\n1.5\r\n", count: depth) + "*2\r\n:1\r\n$-1\r\n"
        let out = ByteBuffer(capacity: 64)
        XCTAssertTrue(Array(frame.utf8).withUnsafeBytes { RESP2Shaper.shape(frame: $0, shape: .plain, into: out) })
        XCTAssertEqual(String(decoding: out.readableBytes(), as: UTF8.self), expected)
    }

    func testNeedsShapingSeesEveryRESP3Type() {
        for frame in ["_\r\n", ",1\r\n", "#t\r\n", "(1\r\n", "=5\r\ntxt:a\r\n", "!1\r\na\r\n", "%0\r\n", "~0\r\n",
                      "|0\r\n+a\r\n", ">0\r\n", "*2\r\n$3\r\n%%%\r\n*1\r\n_\r\n", "*1\r\n$0\r\n\r\n,1\r\n"] {
            XCTAssertTrue(needs(frame), frame.debugDescription)
        }
    }

    func testAppendsAfterExistingOutput() {
        let out = ByteBuffer(capacity: 64)
        out.append("+first\r\n" as StaticString)
        XCTAssertTrue(Array("#t\r\n".utf8).withUnsafeBytes { RESP2Shaper.shape(frame: $0, shape: .plain, into: out) })
        XCTAssertEqual(String(decoding: out.readableBytes(), as: UTF8.self), "+first\r\n:1\r\n")
    }
}
