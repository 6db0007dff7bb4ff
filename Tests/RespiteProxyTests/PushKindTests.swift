// Push classification and local reply encoding: the small pure pieces of the proxy.

import Foundation
import XCTest
import RESP
@testable import RespiteProxy

final class PushKindTests: XCTestCase {
    private func classify(_ s: String) -> PushKind {
        let bytes = Array(s.utf8)
        return bytes.withUnsafeBytes { raw in
            var scanner = ReplyScanner()
            guard case .frame(let info) = scanner.scan(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count) else {
                XCTFail("not a frame: \(s)"); return .other
            }
            return PushKind.classify(raw, info)
        }
    }

    func testPubSubPushes() {
        XCTAssertEqual(classify(">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"), .subscribe(.channel, Array("ch".utf8)))
        XCTAssertEqual(classify(">3\r\n$10\r\npsubscribe\r\n$2\r\nh*\r\n:1\r\n"), .subscribe(.pattern, Array("h*".utf8)))
        XCTAssertEqual(classify(">3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n"), .unsubscribe(.shard, Array("s".utf8)))
        XCTAssertEqual(classify(">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"), .unsubscribe(.channel, nil))
        XCTAssertEqual(classify(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"), .message)
        XCTAssertEqual(classify(">4\r\n+pmessage\r\n+h*\r\n+hi\r\n+x\r\n"), .message)
    }

    func testTrackingPushes() {
        XCTAssertEqual(classify(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"), .invalidate)
        XCTAssertEqual(classify(">2\r\n$21\r\ntracking-redir-broken\r\n:42\r\n"), .redirectBroken)
    }

    func testRedirectIdsAreShownAsRespiteIds() {
        func rewrite(_ s: String) -> String {
            Array(s.utf8).withUnsafeBytes { String(decoding: Session.rewriteRedirect($0, RedirectIDs(server: 17, client: 3)), as: UTF8.self) }
        }
        XCTAssertEqual(rewrite(":17\r\n"), ":3\r\n")
        XCTAssertEqual(rewrite(":0\r\n"), ":0\r\n")
        XCTAssertEqual(rewrite(":170\r\n"), ":170\r\n")
        let info = "%3\r\n$5\r\nflags\r\n~1\r\n$2\r\non\r\n$8\r\nredirect\r\n:17\r\n$8\r\nprefixes\r\n*0\r\n"
        XCTAssertEqual(rewrite(info), info.replacingOccurrences(of: ":17\r\n", with: ":3\r\n"))
        let other = "%3\r\n$5\r\nflags\r\n~1\r\n$2\r\non\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*0\r\n"
        XCTAssertEqual(rewrite(other), other)
    }

    func testMaintenanceAndUnknownPushes() {
        XCTAssertEqual(classify(">4\r\n$6\r\nMOVING\r\n:0\r\n:15\r\n_\r\n"), .maintenance)
        XCTAssertEqual(classify(">3\r\n$8\r\nMIGRATED\r\n:3\r\n$1\r\n1\r\n"), .maintenance)
        XCTAssertEqual(classify(">2\r\n+FUTURE_EVENT\r\n:1\r\n"), .other)
        XCTAssertEqual(classify(">0\r\n"), .other)
        XCTAssertEqual(classify(">1\r\n:5\r\n"), .other)
    }

    func testLocalRepliesFollowTheProtocol() {
        XCTAssertEqual(LocalReply(proto: 2).null(), Array("$-1\r\n".utf8))
        XCTAssertEqual(LocalReply(proto: 3).null(), Array("_\r\n".utf8))
        XCTAssertEqual(LocalReply(proto: 2).mapHeader(7), Array("*14\r\n".utf8))
        XCTAssertEqual(LocalReply(proto: 3).mapHeader(7), Array("%7\r\n".utf8))
        XCTAssertEqual(LocalReply(proto: 3).verbatim(Array("id=1\n".utf8)), Array("=9\r\ntxt:id=1\n\r\n".utf8))
        XCTAssertEqual(LocalReply(proto: 2).verbatim(Array("id=1\n".utf8)), Array("$5\r\nid=1\n\r\n".utf8))
    }
}
