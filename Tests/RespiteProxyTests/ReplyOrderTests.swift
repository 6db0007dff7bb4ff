// Reply order with no sockets: replies leave in request order whatever their route and arrival
// order, suppressed ones leave nothing, and a request split by node is answered once, merged.

import XCTest
import RESP
@testable import RespiteProxy

final class ReplyOrderTests: XCTestCase {
    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func drained(_ o: ReplyOrder) -> String {
        var out: [UInt8] = []
        o.drainReady { out += $0 }
        return String(decoding: out, as: UTF8.self)
    }

    func testLocalRepliesWaitBehindRemoteOnes() {
        let o = ReplyOrder()
        XCTAssertTrue(o.addReady(b("+first\r\n"), suppress: false), "nothing owed: it goes out at once")
        let remote = o.take(shape: .plain, suppress: false)
        XCTAssertFalse(o.addReady(b("+local\r\n"), suppress: false))
        XCTAssertEqual(drained(o), "", "the remote reply is owed first")
        o.fill(at: o.index(of: remote)!, b("+remote\r\n"))
        XCTAssertEqual(drained(o), "+remote\r\n+local\r\n")
        XCTAssertTrue(o.slots.isEmpty)
        XCTAssertTrue(o.extras.isEmpty, "nothing kept beside the ring")
    }

    func testAReplyThatOvertakesAnOlderOneWaitsForIt() {
        let o = ReplyOrder()
        let a = o.take(shape: .plain, suppress: false)
        let c = o.take(shape: .plain, suppress: false)
        o.fill(at: o.index(of: c)!, b(":2\r\n"))
        XCTAssertEqual(drained(o), "")
        o.fill(at: o.index(of: a)!, b(":1\r\n"))
        XCTAssertEqual(drained(o), ":1\r\n:2\r\n")
    }

    func testSuppressedSlotsKeepTheirPlaceAndSendNothing() {
        let o = ReplyOrder()
        let a = o.take(shape: .plain, suppress: true)
        XCTAssertFalse(o.addReady(b("+shown\r\n"), suppress: false))
        o.fill(at: o.index(of: a)!, b("+hidden\r\n"))
        XCTAssertEqual(drained(o), "+shown\r\n")
    }

    func testFragmentsMergeOnceInAnyArrivalOrder() {
        // MGET k0 k1 k2 k3 split by node: node A holds k0 and k2, node B k1 and k3.
        let plan = ReplyMerge.scatter(positions: [[0, 2], [1, 3]])
        let parts = [b("*2\r\n$2\r\nv0\r\n$-1\r\n"), b("*2\r\n$2\r\nv1\r\n$2\r\nv3\r\n")]
        for order in [[0, 1], [1, 0]] {
            let o = ReplyOrder()
            let seq = o.take(shape: .plain, suppress: false)
            let after = o.take(shape: .plain, suppress: false)
            o.expectFragments(seq, count: 2, plan: plan)
            o.fill(at: o.index(of: after)!, b("+after\r\n"))
            XCTAssertFalse(o.addFragment(seq, part: order[0], parts[order[0]]))
            XCTAssertEqual(drained(o), "")
            XCTAssertFalse(o.addFragment(seq, part: order[0], parts[order[0]]), "a part arrives once")
            XCTAssertTrue(o.addFragment(seq, part: order[1], parts[order[1]]))
            XCTAssertEqual(drained(o), "*4\r\n$2\r\nv0\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv3\r\n+after\r\n")
        }
    }

    func testMergePlans() {
        XCTAssertEqual(ReplyMerge.sumIntegers.merge([b(":2\r\n"), b(":0\r\n"), b(":3\r\n")]), b(":5\r\n"))
        XCTAssertEqual(ReplyMerge.allOK.merge([b("+OK\r\n"), b("+OK\r\n")]), b("+OK\r\n"))
        // The first error is the reply, as on one node.
        XCTAssertEqual(ReplyMerge.sumIntegers.merge([b(":1\r\n"), b("-MOVED 1 x:1\r\n"), b("-ERR b\r\n")]), b("-MOVED 1 x:1\r\n"))
        XCTAssertEqual(ReplyMerge.allOK.merge([b("+OK\r\n"), b("!5\r\nerror\r\n")]), b("!5\r\nerror\r\n"))
        // Nested elements are kept whole (a RESP3 map value inside an array).
        XCTAssertEqual(ReplyMerge.scatter(positions: [[1], [0]]).merge([b("*1\r\n%1\r\n+a\r\n:1\r\n"), b("*1\r\n*2\r\n:1\r\n:2\r\n")]),
                       b("*2\r\n*2\r\n:1\r\n:2\r\n%1\r\n+a\r\n:1\r\n"))
        // Shapes that do not fit give Respite's error, not a wrong reply.
        XCTAssertEqual(ReplyMerge.sumIntegers.merge([b("+OK\r\n")]), ReplyMerge.unexpected)
        XCTAssertEqual(ReplyMerge.allOK.merge([b("+OK\r\n"), b(":1\r\n")]), ReplyMerge.unexpected)
        XCTAssertEqual(ReplyMerge.scatter(positions: [[0, 1]]).merge([b("*1\r\n:1\r\n")]), ReplyMerge.unexpected)
        XCTAssertEqual(ReplyMerge.scatter(positions: [[0], [0]]).merge([b("*1\r\n:1\r\n"), b("*1\r\n:2\r\n")]), ReplyMerge.unexpected)
        XCTAssertEqual(ReplyMerge.scatter(positions: [[0]]).merge([b("*1\r\n:1\r\n:2\r\n")]), ReplyMerge.unexpected)
    }
}
