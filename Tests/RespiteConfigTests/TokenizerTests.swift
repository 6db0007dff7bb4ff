// Tests of redis.conf-style line splitting: blanks, double and single quotes, escapes.

import XCTest
@testable import RespiteConfig

final class TokenizerTests: XCTestCase {
    private func split(_ line: String) throws -> [String] {
        try ConfigTokenizer.arguments(of: line)
    }

    func testBlanksSeparateArguments() throws {
        XCTAssertEqual(try split("  bind\t127.0.0.1   ::1 \r"), ["bind", "127.0.0.1", "::1"])
        XCTAssertEqual(try split(""), [])
        XCTAssertEqual(try split("   "), [])
    }

    func testDoubleQuotesUnderstandRedisEscapes() throws {
        XCTAssertEqual(try split(#"requirepass "a b""#), ["requirepass", "a b"])
        XCTAssertEqual(try split(#"x "\n\r\t\b\a""#), ["x", "\n\r\t\u{8}\u{7}"])
        XCTAssertEqual(try split(#"x "\x41\x7a\x4""#), ["x", "Azx4"])
        XCTAssertEqual(try split(#"x "\"q\" \\ \z""#), ["x", #""q" \ z"#])
        XCTAssertEqual(try split(#"x """#), ["x", ""])
        XCTAssertEqual(try split(#"x "é ✓""#), ["x", "é ✓"])
    }

    func testSingleQuotesOnlyUnderstandEscapedQuote() throws {
        XCTAssertEqual(try split(#"x 'it\'s \n raw'"#), ["x", #"it's \n raw"#])
        XCTAssertEqual(try split("x ''"), ["x", ""])
    }

    func testQuotesMayStartInsideAnArgument() throws {
        XCTAssertEqual(try split(#"x ab"c d""#), ["x", "abc d"])
    }

    func testUnbalancedQuotesFail() {
        XCTAssertThrowsError(try split(#"x "abc"#)) { XCTAssertEqual("\($0)", "unterminated quoted string") }
        XCTAssertThrowsError(try split("x 'abc")) { XCTAssertEqual("\($0)", "unterminated quoted string") }
        XCTAssertThrowsError(try split(#"x "abc"def"#)) {
            XCTAssertEqual("\($0)", "closing quote must be followed by a space or the end of the line")
        }
        XCTAssertThrowsError(try split(#"x 'abc'd"#)) {
            XCTAssertEqual("\($0)", "closing quote must be followed by a space or the end of the line")
        }
    }

    func testBytesThatAreNotUTF8Fail() {
        XCTAssertThrowsError(try split(#"x "\xff""#)) { XCTAssertEqual("\($0)", "argument 2 is not valid UTF-8") }
    }

    func testQuoteReadsBack() throws {
        for arg in ["plain", "", "a b", "tab\there", #"q"uo'te"#, "back\\slash", "#hash", "nl\n", "\u{1}", "é ✓"] {
            XCTAssertEqual(try split("x " + ConfigTokenizer.quote(arg)), ["x", arg], arg)
        }
        XCTAssertEqual(ConfigTokenizer.quote("plain"), "plain")
        XCTAssertEqual(ConfigTokenizer.quote(""), "\"\"")
        XCTAssertEqual(ConfigTokenizer.quote("a b"), "\"a b\"")
    }

    func testQuotingErrorsNameTheLine() {
        XCTAssertEqual(parseError("port 6380\nrequirepass \"abc"), "respite.conf:2: unterminated quoted string")
        XCTAssertEqual(parsed("requirepass \"p w\\x21\"")?.requirePass, "p w!")
        XCTAssertEqual(parseError("requirepass 'it''s'"),
                       "respite.conf:1: closing quote must be followed by a space or the end of the line")
    }
}
