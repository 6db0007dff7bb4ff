// RESPDecoder: every type; whole, byte by byte and concatenated input agree; malformed input
// throws a typed error; attributes are dropped.

import RESP
import XCTest

final class RESPDecoderTests: XCTestCase {
    func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Decodes `wire`, checking that every strict prefix is incomplete and that trailing bytes
    /// are left alone.
    func decodeChecked(_ wire: String, file: StaticString = #filePath, line: UInt = #line) throws -> RESPValue {
        let bytes = b(wire)
        for n in 0..<bytes.count {
            XCTAssertNil(try RESPValue.decode(Array(bytes[0..<n])), "prefix \(n) of \(wire.debugDescription)", file: file, line: line)
        }
        let whole = try XCTUnwrap(try RESPValue.decode(bytes), file: file, line: line)
        XCTAssertEqual(whole.consumed, bytes.count, file: file, line: line)
        let trailing = try XCTUnwrap(try RESPValue.decode(bytes + b("+next\r\n")), file: file, line: line)
        XCTAssertEqual(trailing.consumed, bytes.count, file: file, line: line)
        XCTAssertEqual(trailing.value, whole.value, file: file, line: line)
        return whole.value
    }

    func testEveryType() throws {
        XCTAssertEqual(try decodeChecked("+OK\r\n"), .simpleString(b("OK")))
        XCTAssertEqual(try decodeChecked("+\r\n"), .simpleString([]))
        XCTAssertEqual(try decodeChecked("-ERR bad thing\r\n"), .error(b("ERR bad thing")))
        XCTAssertEqual(try decodeChecked(":-12\r\n"), .integer(-12))
        XCTAssertEqual(try decodeChecked(":9223372036854775807\r\n"), .integer(Int64.max))
        XCTAssertEqual(try decodeChecked("$5\r\nhe\r\no\r\n"), .bulkString(b("he\r\no")))
        XCTAssertEqual(try decodeChecked("$0\r\n\r\n"), .bulkString([]))
        XCTAssertEqual(try decodeChecked("$-1\r\n"), .bulkString(nil))
        XCTAssertEqual(try decodeChecked("*-1\r\n"), .array(nil))
        XCTAssertEqual(try decodeChecked("*0\r\n"), .array([]))
        XCTAssertEqual(try decodeChecked("*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"), .array([.integer(1), .array([.bulkString(b("x"))])]))
        XCTAssertEqual(try decodeChecked("_\r\n"), .null)
        XCTAssertEqual(try decodeChecked(",3.14\r\n"), .double(b("3.14")))
        XCTAssertEqual(try decodeChecked(",-inf\r\n"), .double(b("-inf")))
        XCTAssertEqual(try decodeChecked("#t\r\n"), .boolean(true))
        XCTAssertEqual(try decodeChecked("#f\r\n"), .boolean(false))
        XCTAssertEqual(try decodeChecked("(-3492890328409238509324850943850943825024385\r\n"),
                       .bigNumber(b("-3492890328409238509324850943850943825024385")))
        XCTAssertEqual(try decodeChecked("=15\r\ntxt:Some string\r\n"), .verbatim(format: b("txt"), text: b("Some string")))
        XCTAssertEqual(try decodeChecked("!21\r\nSYNTAX invalid syntax\r\n"), .bulkError(b("SYNTAX invalid syntax")))
        XCTAssertEqual(try decodeChecked("%2\r\n+a\r\n:1\r\n+b\r\n_\r\n"), .map([.simpleString(b("a")), .integer(1), .simpleString(b("b")), .null]))
        XCTAssertEqual(try decodeChecked("~2\r\n+a\r\n#t\r\n"), .set([.simpleString(b("a")), .boolean(true)]))
        XCTAssertEqual(try decodeChecked(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
                       .push([.bulkString(b("message")), .bulkString(b("ch")), .bulkString(b("hi"))]))
    }

    func testAttributesAreDropped() throws {
        XCTAssertEqual(try decodeChecked("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n"), .array([.integer(2)]))
        XCTAssertEqual(try decodeChecked("*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:7\r\n"), .array([.bulkString(b("v")), .integer(7)]))
        XCTAssertEqual(try decodeChecked("|0\r\n|0\r\n_\r\n"), .null)
    }

    func testConcatenatedFramesDecodeInTurn() throws {
        let wire = b("+OK\r\n:1\r\n%1\r\n+k\r\n$1\r\nv\r\n>2\r\n+a\r\n_\r\n")
        var offset = 0
        var values: [RESPValue] = []
        for _ in 0..<10 {
            guard let (v, n) = try RESPValue.decode(Array(wire[offset...])) else { break }
            values.append(v)
            offset += n
        }
        XCTAssertEqual(offset, wire.count)
        XCTAssertEqual(values, [.simpleString(b("OK")), .integer(1), .map([.simpleString(b("k")), .bulkString(b("v"))]),
                                .push([.simpleString(b("a")), .null])])
    }

    func testRoundTripThroughTheWriter() throws {
        let v = RESPValue.array([.map([.bulkString(b("a")), .set([.double(b("1.5")), .bigNumber(b("7"))])]),
                                 .push([.boolean(false), .verbatim(format: b("mkd"), text: b("# x"))]),
                                 .bulkError(b("ERR x")), .error(b("ERR y")), .null, .bulkString(nil), .array(nil)])
        let out = ByteBuffer(capacity: 64)
        out.append(v)
        let decoded = try XCTUnwrap(try RESPValue.decode(out.readableBytes()))
        XCTAssertEqual(decoded.value, v)
        XCTAssertEqual(decoded.consumed, out.readableCount)
    }

    func assertMalformed(_ wire: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try RESPValue.decode(b(wire)), wire.debugDescription, file: file, line: line) { error in
            XCTAssertEqual((error as? RESPDecodeError)?.message, message, wire.debugDescription, file: file, line: line)
        }
    }

    func testMalformedInputThrows() {
        assertMalformed("?\r\n", "invalid type byte")
        assertMalformed("$abc\r\n", "invalid bulk length")
        assertMalformed("$a", "invalid bulk length")  // bad digit is seen before the CRLF
        assertMalformed("$-2\r\n", "invalid bulk length")
        assertMalformed("$\r\n", "invalid bulk length")
        assertMalformed("$99999999999999999999\r\n", "invalid bulk length")
        assertMalformed("$3\r\nabcXY", "bulk not terminated by CRLF")
        assertMalformed("$3\r\nabcX", "bulk not terminated by CRLF")
        assertMalformed("*-2\r\n", "invalid multibulk length")
        assertMalformed("*1x\r\n", "invalid multibulk length")
        assertMalformed(":12a\r\n", "invalid integer")
        assertMalformed(":-\r\n", "invalid integer")
        assertMalformed("#x\r\n", "invalid boolean")
        assertMalformed("_x\r\n", "invalid null")
        assertMalformed(",\r\n", "invalid double")
        assertMalformed("(12x\r\n", "invalid big number")
        assertMalformed("=3\r\nabc\r\n", "invalid verbatim string")
        assertMalformed("=5\r\ntxt-a\r\n", "invalid verbatim string")
        assertMalformed("%-1\r\n", "invalid aggregate length")
        assertMalformed("+a\rb\r\n", "expected LF after CR")
        assertMalformed("+a\nb\r\n", "LF without CR")
        assertMalformed("*1\r\n*1\r\n!x\r\n", "invalid bulk error length")
    }

    func testDepthIsLimited() throws {
        let deep = String(repeating: "*1\r\n", count: 10) + ":1\r\n"
        XCTAssertNotNil(try RESPValue.decode(b(deep), maxDepth: 10))
        XCTAssertThrowsError(try RESPValue.decode(b(deep), maxDepth: 9)) { error in
            XCTAssertEqual((error as? RESPDecodeError)?.message, "nesting too deep")
        }
    }

    /// Redis sends LLONG_MIN (`INCRBY k -9223372036854775808` on 0); one past it is refused.
    func testIntegerBoundsAreRead() throws {
        XCTAssertEqual(try decodeChecked(":-9223372036854775808\r\n"), .integer(Int64.min))
        XCTAssertEqual(try decodeChecked("*1\r\n:-9223372036854775808\r\n"), .array([.integer(Int64.min)]))
        assertMalformed(":-9223372036854775809\r\n", "invalid integer")
        assertMalformed(":9223372036854775808\r\n", "invalid integer")
    }

    /// A run of attributes is read in a loop, not one stack frame each (250 000 `|0` in a row
    /// overflowed the stack when each recursed).
    func testLongRunOfAttributesIsNotRecursion() throws {
        let run = String(repeating: "|0\r\n", count: 250_000) + ":1\r\n"
        let decoded = try XCTUnwrap(try RESPValue.decode(b(run)))
        XCTAssertEqual(decoded.value, .integer(1))
        XCTAssertEqual(decoded.consumed, run.utf8.count)
    }

    func testHugeDeclaredLengthIsIncompleteNotACrash() throws {
        XCTAssertNil(try RESPValue.decode(b("*1000000000\r\n:1\r\n")))
        XCTAssertNil(try RESPValue.decode(b("$1000000000\r\nabc")))
    }

    func testAccessors() throws {
        XCTAssertEqual(RESPValue.bulkString(b("héllo")).stringValue, "héllo")
        XCTAssertEqual(RESPValue.simpleString(b("OK")).stringValue, "OK")
        XCTAssertEqual(RESPValue.verbatim(format: b("txt"), text: b("t")).stringValue, "t")
        XCTAssertNil(RESPValue.bulkString(nil).stringValue)
        XCTAssertNil(RESPValue.integer(1).stringValue)
        XCTAssertEqual(RESPValue.integer(-5).intValue, -5)
        XCTAssertNil(RESPValue.bulkString(b("5")).intValue)
        XCTAssertEqual(RESPValue.double(b("1.5")).doubleValue, 1.5)
        XCTAssertEqual(RESPValue.bulkString(b("-inf")).doubleValue, -.infinity)
        XCTAssertEqual(RESPValue.boolean(true).boolValue, true)
        XCTAssertEqual(RESPValue.integer(0).boolValue, false)
        XCTAssertNil(RESPValue.integer(2).boolValue)
        XCTAssertEqual(RESPValue.set([.integer(1)]).arrayElements, [.integer(1)])
        XCTAssertEqual(RESPValue.push([.integer(1)]).arrayElements, [.integer(1)])
        XCTAssertEqual(RESPValue.array([]).arrayElements, [])
        XCTAssertNil(RESPValue.array(nil).arrayElements)
        XCTAssertNil(RESPValue.map([]).arrayElements)
        let pairs = try XCTUnwrap(RESPValue.map([.simpleString(b("proto")), .integer(3)]).mapPairs)
        XCTAssertEqual(pairs.count, 1)
        XCTAssertEqual(pairs[0].key.stringValue, "proto")
        XCTAssertEqual(pairs[0].value.intValue, 3)
        XCTAssertEqual(RESPValue.array([.integer(1), .integer(2)]).mapPairs?.count, 1)
        XCTAssertNil(RESPValue.array([.integer(1)]).mapPairs)
        XCTAssertTrue(RESPValue.null.isNull)
        XCTAssertTrue(RESPValue.bulkString(nil).isNull)
        XCTAssertTrue(RESPValue.array(nil).isNull)
        XCTAssertFalse(RESPValue.bulkString([]).isNull)
        XCTAssertEqual(RESPValue.error(b("ERR x")).errorMessage, "ERR x")
        XCTAssertEqual(RESPValue.bulkError(b("ERR y")).errorMessage, "ERR y")
        XCTAssertNil(RESPValue.simpleString(b("OK")).errorMessage)
    }
}
