// Replays the reply-shaping corpus captured from a real redis-server 7.0
// (scripts/capture-shaping-corpus.py): every RESP3 reply, shaped with the command's ReplyShape,
// must equal byte for byte the reply the server sent a RESP2 client.

import Foundation
import RESP
import RespiteCommands
import XCTest

final class ShapingCorpusTests: XCTestCase {
    struct Record {
        var caseNumber = -1
        var command = ""
        var shape: (name: String, sub: String?, argc: Int) = ("", nil, 0)
        var queued: [(name: String, sub: String?, argc: Int)] = []
        var resp2: [UInt8] = []
        var resp3: [UInt8] = []
    }

    static let fixtureURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("Fixtures/shaping-corpus.resp")

    static func loadCorpus() throws -> [Record] {
        let text = try String(contentsOf: fixtureURL, encoding: .utf8)
        var records: [Record] = []
        var r = Record()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("#") { continue }
            let tag = line.prefix { $0 != " " }
            let rest = line.dropFirst(tag.count + 1)
            switch tag {
            case "case": r.caseNumber = Int(rest) ?? -1
            case "cmd": r.command = String(rest)
            case "shape": r.shape = try parseShape(rest)
            case "queued": r.queued.append(try parseShape(rest))
            case "resp2": r.resp2 = try unescape(rest)
            case "resp3": r.resp3 = try unescape(rest)
            case "end": records.append(r); r = Record()
            default: throw CorpusError("unknown line: \(line)")
            }
        }
        return records
    }

    struct CorpusError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static func parseShape(_ s: Substring) throws -> (name: String, sub: String?, argc: Int) {
        let parts = s.split(separator: " ")
        guard parts.count == 3, let argc = Int(parts[2]) else { throw CorpusError("bad shape line: \(s)") }
        return (String(parts[0]), parts[1] == "-" ? nil : String(parts[1]), argc)
    }

    /// Undoes the fixture's escaping: `\\`, `\r`, `\n`, `\t`, `\xHH`.
    static func unescape(_ s: Substring) throws -> [UInt8] {
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            guard b == UInt8(ascii: "\\") else { out.append(b); continue }
            switch it.popFirst() {
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "x"):
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                    throw CorpusError("bad \\x escape in \(s)")
                }
                out.append(v)
                it = it.dropFirst(2)
            default: throw CorpusError("bad escape in \(s)")
            }
        }
        return out
    }

    static func replyShape(_ s: (name: String, sub: String?, argc: Int)) -> ReplyShape {
        s.name == "(push)" ? .plain : ReplyShapes.shape(command: s.name, subcommand: s.sub, argumentCount: s.argc)
    }

    static func shaped(_ r: Record, useTable: Bool = true) -> (ok: Bool, bytes: [UInt8]) {
        let out = ByteBuffer(capacity: 64)
        let ok = r.resp3.withUnsafeBytes { frame -> Bool in
            if r.shape.name == "exec" {
                let shapes = r.queued.map { useTable ? replyShape($0) : .plain }
                return RESP2Shaper.shapeExec(frame: frame, elementShapes: shapes, into: out)
            }
            return RESP2Shaper.shape(frame: frame, shape: useTable ? replyShape(r.shape) : .plain, into: out)
        }
        return (ok, out.readableBytes())
    }

    static func show(_ b: [UInt8]) -> String {
        String(decoding: b, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\\r\\n")
    }

    func testCorpusIsBroad() throws {
        let records = try Self.loadCorpus()
        XCTAssertGreaterThanOrEqual(records.count, 300)
        XCTAssertGreaterThanOrEqual(Set(records.map(\.shape.name)).count, 150, "distinct commands")
        XCTAssertTrue(records.contains { $0.shape.name == "exec" && !$0.queued.isEmpty })
        XCTAssertTrue(records.contains { $0.shape.name == "(push)" })
        XCTAssertTrue(records.allSatisfy { !$0.resp2.isEmpty && !$0.resp3.isEmpty })
    }

    func testEveryRESP3ReplyShapesToTheRESP2Reply() throws {
        for r in try Self.loadCorpus() {
            let (ok, got) = Self.shaped(r)
            XCTAssertTrue(ok, "case \(r.caseNumber) \(r.command): shaper rejected \(Self.show(r.resp3))")
            XCTAssertTrue(got == r.resp2, """
                case \(r.caseNumber) \(r.command)
                  resp3:    \(Self.show(r.resp3))
                  expected: \(Self.show(r.resp2))
                  got:      \(Self.show(got))
                """)
        }
    }

    /// The data path forwards a frame untouched when `needsShaping` says no; that must be right.
    func testFramesThatNeedNoShapingAreAlreadyRESP2() throws {
        var forwarded = 0
        for r in try Self.loadCorpus() {
            let needs = r.resp3.withUnsafeBytes { frame -> Bool in
                if r.shape.name == "exec" {
                    return RESP2Shaper.needsShaping(frame) || r.queued.contains { Self.replyShape($0).restructuresArrays }
                }
                return RESP2Shaper.needsShaping(frame, shape: Self.replyShape(r.shape))
            }
            if !needs {
                forwarded += 1
                XCTAssertEqual(r.resp3, r.resp2, "case \(r.caseNumber) \(r.command) was forwarded but differs")
            }
        }
        XCTAssertGreaterThan(forwarded, 100)
    }

    /// The per-command table matters: without it, these replies come out wrong.
    func testTheTableIsNeeded() throws {
        let records = try Self.loadCorpus()
        let wrongWhenPlain = records.filter { Self.shaped($0, useTable: false).bytes != $0.resp2 }
        let names = Set(wrongWhenPlain.map(\.shape.name))
        for name in ["blpop", "lpop", "zrange", "hrandfield", "xread", "xreadgroup", "geopos", "xpending", "exec", "blmove"] {
            XCTAssertTrue(names.contains(name), "\(name) should need its shape")
        }
    }
}
