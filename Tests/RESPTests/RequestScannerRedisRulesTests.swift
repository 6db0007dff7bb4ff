// The request scanner accepts exactly what redis-server 7.0 accepts: each row below was checked
// against redis-server itself (the black-box twin is tests/test_strict_frames.py). A frame the
// scanner passes goes upstream as it is, so one Redis would refuse must be refused here.

import XCTest
@testable import RESP

/// What the scanner makes of `bytes`, fed in chunks of `chunk`: "frame [args]", "empty",
/// "inline", "incomplete" or the error text, joined by " | " for several frames.
private func outcome(_ bytes: [UInt8], chunk: Int, authenticated: Bool = true) -> String {
    var scanner = RequestScanner()
    scanner.authenticated = authenticated
    var buffer: [UInt8] = []
    var out: [String] = []
    var fed = 0
    for _ in 0...(bytes.count + 1) {
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
                let args = scanner.args.map { String(decoding: buffer[Int($0.offset)..<Int($0.offset + $0.length)], as: UTF8.self) }
                out.append("frame \(args)")
                buffer.removeFirst(len); progressed = true
            case .inline(let len):
                out.append("inline"); buffer.removeFirst(len); progressed = true
            case .empty(let len):
                out.append("empty"); buffer.removeFirst(len); progressed = true
            case .error(let e):
                out.append(e.message); return out.joined(separator: " | ")
            }
        }
        if fed >= bytes.count { break }
    }
    if !buffer.isEmpty { out.append("incomplete") }
    return out.joined(separator: " | ")
}

private let invalidMultibulk = "Protocol error: invalid multibulk length"
private let invalidBulk = "Protocol error: invalid bulk length"

/// (bytes, what redis-server 7.0 does with them)
private let redisRules: [(String, String)] = [
    ("*1\r\n$4\r\nPING\r\n", "frame [\"PING\"]"),
    // Leading zeros, `-0`, a `+` sign, spaces: string2ll refuses them all.
    ("*1\r\n$04\r\nPING\r\n", invalidBulk),
    ("*01\r\n$4\r\nPING\r\n", invalidMultibulk),
    ("*1\r\n$-0\r\n", invalidBulk),
    ("*1\r\n$00\r\n\r\n", invalidBulk),
    ("*1\r\n$00000000000000000004\r\nPING\r\n", invalidBulk),
    ("*-0\r\n", invalidMultibulk),
    ("*00\r\n", invalidMultibulk),
    ("*+1\r\n$4\r\nPING\r\n", invalidMultibulk),
    ("*1\r\n$+4\r\nPING\r\n", invalidBulk),
    ("* 1\r\n$4\r\nPING\r\n", invalidMultibulk),
    ("*1 \r\n$4\r\nPING\r\n", invalidMultibulk),
    ("*1\r\n$ 4\r\nPING\r\n", invalidBulk),
    ("*1\r\n$4 \r\nPING\r\n", invalidBulk),
    ("*\r\n", invalidMultibulk),
    ("*1\r\n$\r\n", invalidBulk),
    ("*1\r\n$-\r\n", invalidBulk),
    ("*-\r\n", invalidMultibulk),
    // Zero and negative counts are no command at all, down to LLONG_MIN.
    ("*0\r\n", "empty"),
    ("*-1\r\n", "empty"),
    ("*-99\r\n", "empty"),
    ("*-9223372036854775808\r\n", "empty"),
    ("*-9223372036854775809\r\n", invalidMultibulk),
    ("*9223372036854775808\r\n", invalidMultibulk),
    // Counts up to INT_MAX are taken (then the elements are awaited), bulks up to proto-max-bulk-len.
    ("*2147483648\r\n", invalidMultibulk),
    ("*2147483647\r\n", "incomplete"),
    ("*1073741825\r\n$4\r\nPING\r\n", "incomplete"),
    ("*1\r\n$536870913\r\n", invalidBulk),
    ("*1\r\n$536870912\r\n", "incomplete"),
    ("*1\r\n$-1\r\n", invalidBulk),
    ("*1\r\n$0\r\n\r\n", "frame [\"\"]"),
    // The header line ends at the first `\r`; the byte after it is skipped unseen, as are the
    // two bytes after a bulk payload.
    ("*1\rX$4\rXPING\r\n", "frame [\"PING\"]"),
    ("*1\r\n$4\r\nPINGxx", "frame [\"PING\"]"),
    ("*1\n$4\r\nPING\r\n", invalidMultibulk),
    ("*1\r\n$4\nPING\r\n", invalidBulk),
    ("*1\r", "incomplete"),
    ("*1\r\n$4\r", "incomplete"),
    // A NUL before the `\r` hides it from Redis's strchr: Redis waits for more.
    ("*1\u{0}\r\n$4\r\nPING\r\n", "incomplete"),
    ("*1\r\n$4\u{0}\r\nPING\r\n", "incomplete"),
    ("PING\u{0}\r\n", "incomplete"),
    ("*1\r\nx\r\n", "Protocol error: expected '$', got 'x'"),
    ("*1\r\nx", "incomplete"),
    // Redis's reply names a CR or LF as a space (a reply line cannot hold one).
    ("*1\r\n\r\n", "Protocol error: expected '$', got ' '"),
    ("*1\r\n\n\r\n", "Protocol error: expected '$', got ' '"),
    ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$01\r\n", "frame [\"GET\", \"k\"] | " + invalidBulk),
]

final class RequestScannerRedisRulesTests: XCTestCase {
    func testAcceptsExactlyWhatRedisAccepts() {
        for (frame, want) in redisRules {
            let bytes = Array(frame.utf8)
            for chunk in [bytes.count, 1, 3] {
                XCTAssertEqual(outcome(bytes, chunk: chunk), want, "\(frame.debugDescription) in chunks of \(chunk)")
            }
        }
    }

    func testOffendingByteGoesOutAsItself() {
        var scanner = RequestScanner()
        let bytes: [UInt8] = Array("*1\r\n".utf8) + [0xFE] + Array("\r\n".utf8)
        guard case .error(let e) = bytes.withUnsafeBufferPointer({ scanner.scan($0.baseAddress!, $0.count) }) else {
            return XCTFail("expected an error")
        }
        XCTAssertEqual(e.wire, Array("Protocol error: expected '$', got '".utf8) + [0xFE, 39])
    }

    func testString2llMatchesRedis() {
        func parse(_ s: String) -> Int? { Array(s.utf8).withUnsafeBufferPointer { string2ll($0.baseAddress!, 0, $0.count) } }
        XCTAssertEqual(parse("0"), 0)
        XCTAssertEqual(parse("7"), 7)
        XCTAssertEqual(parse("-7"), -7)
        XCTAssertEqual(parse("9223372036854775807"), Int.max)
        XCTAssertEqual(parse("-9223372036854775808"), Int.min)
        for bad in ["", "-", "+1", "01", "-0", "00", "-01", "1 ", " 1", "1a", "9223372036854775808",
                    "-9223372036854775809", "18446744073709551616", "000000000000000000001"] {
            XCTAssertNil(parse(bad), bad)
        }
    }

    func testInlineSplitsOnlyWhereRedisDoes() {
        func split(_ s: String) -> [String]? {
            Array(s.utf8).withUnsafeBytes { InlineSplitter.split($0) }?.map { String(decoding: $0, as: UTF8.self) }
        }
        // Outside quotes \v and \f are part of an argument; around arguments they are blanks.
        XCTAssertEqual(split("ECHO a\u{0B}b"), ["ECHO", "a\u{0B}b"])
        XCTAssertEqual(split("ECHO a\u{0C}b"), ["ECHO", "a\u{0C}b"])
        XCTAssertEqual(split("\u{0B}ECHO\ta\u{0C}"), ["ECHO", "a\u{0C}"])
        XCTAssertEqual(split("ECHO \"a\"\u{0B}"), ["ECHO", "a"])
        XCTAssertEqual(split("ECHO \"a\\x4\""), ["ECHO", "ax4"])
        XCTAssertNil(split("ECHO a\"b c\"d"))
        XCTAssertEqual(split("\u{0B}\u{0C}"), [])
    }
}
