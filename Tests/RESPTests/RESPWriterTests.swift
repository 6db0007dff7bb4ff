// RESPWriter: every reply form, in both protocols, as Redis 7.0 writes it.

import RESP
import XCTest

final class RESPWriterTests: XCTestCase {
    func written(_ body: (ByteBuffer) -> Void) -> String {
        let b = ByteBuffer(capacity: 64)
        body(b)
        return String(decoding: b.readableBytes(), as: UTF8.self)
    }

    func testSameInBothProtocols() {
        XCTAssertEqual(written { $0.appendSimpleString("OK") }, "+OK\r\n")
        XCTAssertEqual(written { $0.appendSimpleString("a\r\nb" as String) }, "+a  b\r\n")
        XCTAssertEqual(written { $0.appendError("ERR unknown command 'x'") }, "-ERR unknown command 'x'\r\n")
        XCTAssertEqual(written { $0.appendError("ERR two\nlines" as String) }, "-ERR two lines\r\n")
        XCTAssertEqual(written { $0.appendError("WRONGTYPE Operation" as StaticString) }, "-WRONGTYPE Operation\r\n")
        XCTAssertEqual(written { $0.appendInteger(0) }, ":0\r\n")
        XCTAssertEqual(written { $0.appendInteger(-42) }, ":-42\r\n")
        XCTAssertEqual(written { $0.appendInteger(Int.min) }, ":-9223372036854775808\r\n")
        XCTAssertEqual(written { $0.appendInteger(Int.max) }, ":9223372036854775807\r\n")
        XCTAssertEqual(written { $0.appendBulk("héllo") }, "$6\r\nhéllo\r\n")
        XCTAssertEqual(written { $0.appendBulk("") }, "$0\r\n\r\n")
        XCTAssertEqual(written { $0.appendBulk([0, 13, 10] as [UInt8]) }, "$3\r\n\0\r\n\r\n")
        XCTAssertEqual(written { $0.appendArrayHeader(3) }, "*3\r\n")
    }

    func testNulls() {
        XCTAssertEqual(written { $0.appendNull(proto: 2) }, "$-1\r\n")
        XCTAssertEqual(written { $0.appendNull(proto: 3) }, "_\r\n")
        XCTAssertEqual(written { $0.appendNullArray(proto: 2) }, "*-1\r\n")
        XCTAssertEqual(written { $0.appendNullArray(proto: 3) }, "_\r\n")
    }

    func testAggregateHeaders() {
        XCTAssertEqual(written { $0.appendMapHeader(2, proto: 2) }, "*4\r\n")
        XCTAssertEqual(written { $0.appendMapHeader(2, proto: 3) }, "%2\r\n")
        XCTAssertEqual(written { $0.appendSetHeader(5, proto: 2) }, "*5\r\n")
        XCTAssertEqual(written { $0.appendSetHeader(5, proto: 3) }, "~5\r\n")
        XCTAssertEqual(written { $0.appendPushHeader(3, proto: 2) }, "*3\r\n")
        XCTAssertEqual(written { $0.appendPushHeader(3, proto: 3) }, ">3\r\n")
    }

    func testBooleans() {
        XCTAssertEqual(written { $0.appendBool(true, proto: 2) }, ":1\r\n")
        XCTAssertEqual(written { $0.appendBool(false, proto: 2) }, ":0\r\n")
        XCTAssertEqual(written { $0.appendBool(true, proto: 3) }, "#t\r\n")
        XCTAssertEqual(written { $0.appendBool(false, proto: 3) }, "#f\r\n")
    }

    /// The texts are what redis-server 7.0 sends for ZSCORE of these scores (`%.17g`).
    func testDoubles() {
        XCTAssertEqual(written { $0.appendDouble(3.5, proto: 2) }, "$3\r\n3.5\r\n")
        XCTAssertEqual(written { $0.appendDouble(3.5, proto: 3) }, ",3.5\r\n")
        XCTAssertEqual(written { $0.appendDouble(0.1, proto: 2) }, "$19\r\n0.10000000000000001\r\n")
        XCTAssertEqual(written { $0.appendDouble(0.1, proto: 3) }, ",0.10000000000000001\r\n")
        XCTAssertEqual(written { $0.appendDouble(1, proto: 3) }, ",1\r\n")
        XCTAssertEqual(written { $0.appendDouble(-2.5e-300, proto: 3) }, ",-2.5e-300\r\n")
        XCTAssertEqual(written { $0.appendDouble(1e20, proto: 2) }, "$5\r\n1e+20\r\n")
        XCTAssertEqual(written { $0.appendDouble(.infinity, proto: 2) }, "$3\r\ninf\r\n")
        XCTAssertEqual(written { $0.appendDouble(-.infinity, proto: 2) }, "$4\r\n-inf\r\n")
        XCTAssertEqual(written { $0.appendDouble(.infinity, proto: 3) }, ",inf\r\n")
        XCTAssertEqual(written { $0.appendDouble(-.infinity, proto: 3) }, ",-inf\r\n")
    }

    func testVerbatimBigNumberAndBulkError() {
        XCTAssertEqual(written { $0.appendVerbatim("# Keyspace\r\n", proto: 2) }, "$12\r\n# Keyspace\r\n\r\n")
        XCTAssertEqual(written { $0.appendVerbatim("# Keyspace\r\n", proto: 3) }, "=16\r\ntxt:# Keyspace\r\n\r\n")
        XCTAssertEqual(written { $0.appendVerbatim("*hi*", format: "mkd", proto: 3) }, "=8\r\nmkd:*hi*\r\n")
        XCTAssertEqual(written { $0.appendBigNumber("12345678901234567890", proto: 2) }, "$20\r\n12345678901234567890\r\n")
        XCTAssertEqual(written { $0.appendBigNumber("-12345678901234567890", proto: 3) }, "(-12345678901234567890\r\n")
        XCTAssertEqual(written { $0.appendBulkError("ERR a\nb", proto: 3) }, "!7\r\nERR a\nb\r\n")
        XCTAssertEqual(written { $0.appendBulkError("ERR a\nb", proto: 2) }, "-ERR a b\r\n")
    }

    func testValuesNatively() {
        let v = RESPValue.map([
            .simpleString(Array("k".utf8)), .array([.integer(1), .bulkString(nil), .null]),
            .bulkString(Array("d".utf8)), .double(Array("1.5".utf8)),
            .bulkString(Array("s".utf8)), .set([.boolean(true), .bigNumber(Array("99".utf8))]),
            .bulkString(Array("v".utf8)), .verbatim(format: Array("txt".utf8), text: Array("x".utf8)),
            .bulkString(Array("e".utf8)), .bulkError(Array("ERR e".utf8)),
            .bulkString(Array("p".utf8)), .push([.error(Array("ERR x".utf8)), .array(nil)]),
        ])
        XCTAssertEqual(written { $0.append(v) }, "%6\r\n+k\r\n*3\r\n:1\r\n$-1\r\n_\r\n$1\r\nd\r\n,1.5\r\n"
            + "$1\r\ns\r\n~2\r\n#t\r\n(99\r\n$1\r\nv\r\n=5\r\ntxt:x\r\n$1\r\ne\r\n!5\r\nERR e\r\n"
            + "$1\r\np\r\n>2\r\n-ERR x\r\n*-1\r\n")
        XCTAssertEqual(written { $0.append(v, proto: 2) }, "*12\r\n+k\r\n*3\r\n:1\r\n$-1\r\n$-1\r\n$1\r\nd\r\n$3\r\n1.5\r\n"
            + "$1\r\ns\r\n*2\r\n:1\r\n$2\r\n99\r\n$1\r\nv\r\n$1\r\nx\r\n$1\r\ne\r\n-ERR e\r\n"
            + "$1\r\np\r\n*2\r\n-ERR x\r\n*-1\r\n")
    }

    /// The RESP2 form of a value equals what the shaper makes of its RESP3 form.
    func testValueInRESP2MatchesTheShaper() {
        let v = RESPValue.push([.bulkString(Array("message".utf8)), .double(Array("-inf".utf8)),
                                .map([.boolean(false), .null]), .verbatim(format: Array("txt".utf8), text: [])])
        let native = ByteBuffer(capacity: 64)
        native.append(v)
        let shaped = ByteBuffer(capacity: 64)
        XCTAssertTrue(native.readableBytes().withUnsafeBytes { RESP2Shaper.shape(frame: $0, shape: .plain, into: shaped) })
        let direct = ByteBuffer(capacity: 64)
        direct.append(v, proto: 2)
        XCTAssertEqual(shaped.readableBytes(), direct.readableBytes())
    }

    func testGrowsPastInitialCapacity() {
        let b = ByteBuffer(capacity: 64)
        let big = [UInt8](repeating: 0x61, count: 10_000)
        for _ in 0..<10 { b.appendBulk(big); b.appendInteger(123_456_789) }
        XCTAssertEqual(b.readableCount, 10 * (8 + 10_000 + 2 + 12))
        XCTAssertEqual(Array(b.readableBytes().prefix(8)), Array("$10000\r\n".utf8))
    }
}
