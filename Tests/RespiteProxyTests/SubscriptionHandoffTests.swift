// The subscription move's state machine: messages heard on the old and the new connection,
// interleaved every way the two sockets can be read, come out once each and in order.

import XCTest
@testable import RespiteProxy

final class SubscriptionHandoffTests: XCTestCase {
    private typealias H = SubscriptionHandoff

    /// Drives a handoff over a script of events; returns the payloads the client hears.
    private struct Driver {
        var h = H(marker: Array("m".utf8), newSubscriptions: 2, heldLimit: 1 << 20)
        var heard: [Int] = []
        var published = false
        var switched = false
        var exact: Bool?
        var finished = false

        mutating func act(_ step: H.Step) {
            switch step {
            case .none: break
            case .publishMarker: published = true
            case .switchOver(let held, let e):
                switched = true; exact = e
                heard += held.map { Int(String(decoding: $0, as: UTF8.self))! }
                if h.phase == .done { finished = true }
            case .finished: finished = true
            }
        }

        mutating func message(_ side: H.Side, _ n: Int?) {
            let bytes = Array((n.map(String.init) ?? "m").utf8)
            let (d, step) = h.message(side, isMarker: n == nil, bytes: bytes.count)
            if d == .hold { h.hold(bytes) }
            act(step)
            if d == .deliver, let n { heard.append(n) }
        }
    }

    private func subscribed() -> Driver {
        var d = Driver()
        d.act(d.h.confirmed(.new, marker: false))
        d.act(d.h.confirmed(.new, marker: false))
        XCTAssertFalse(d.published)
        d.act(d.h.confirmed(.old, marker: true))
        XCTAssertFalse(d.published, "the marker's own confirmation on new is still owed")
        d.act(d.h.confirmed(.new, marker: true))
        XCTAssertTrue(d.published)
        return d
    }

    /// The server's order: 1...3 before the new connection subscribed (old only), 4...6 in the
    /// overlap (both), the marker, 7...9 after it (both; old closes at its marker).
    private let old: [Int?] = [1, 2, 3, 4, 5, 6, nil, 7, 8, 9]
    private let new: [Int?] = [4, 5, 6, nil, 7, 8, 9]

    func testEveryInterleavingHearsEachMessageOnceInOrder() {
        // Every way to merge the two streams (old's frames after its marker are never read).
        let oldPrefix = Array(old.prefix(7))
        func merges(_ a: ArraySlice<Int?>, _ b: ArraySlice<Int?>) -> [[(H.Side, Int?)]] {
            if a.isEmpty { return [b.map { (.new, $0) }] }
            if b.isEmpty { return [a.map { (.old, $0) }] }
            return merges(a.dropFirst(), b).map { [(.old, a.first!)] + $0 }
                + merges(a, b.dropFirst()).map { [(.new, b.first!)] + $0 }
        }
        let all = merges(oldPrefix[...], new[...])
        XCTAssertEqual(all.count, 3432)   // 14 choose 7
        for order in all {
            var d = subscribed()
            for (side, n) in order { d.message(side, n) }
            XCTAssertEqual(d.heard, Array(1...9), "\(order)")
            XCTAssertTrue(d.switched); XCTAssertEqual(d.exact, true); XCTAssertTrue(d.finished)
        }
    }

    func testOldEndingFirstHandsOverEverythingNewHolds() {
        var d = subscribed()
        for n in [1, 2, 3, 4] { d.message(.old, n) }
        for n in [4, 5, 6] { d.message(.new, n) }
        d.act(d.h.oldEnded())   // old closed before its marker
        d.message(.new, nil)
        d.message(.new, 7)
        XCTAssertEqual(d.heard, [1, 2, 3, 4, 4, 5, 6, 7], "a message may repeat; none is lost")
        XCTAssertEqual(d.exact, false)
        XCTAssertTrue(d.finished)
    }

    func testGivingUpAfterTheSeamDeliversFromThere() {
        var d = subscribed()
        for n in [1, 2, 3, 4, 5] { d.message(.old, n) }
        d.message(.old, nil)          // seam on old: old closes, new still before its marker
        XCTAssertTrue(d.switched); XCTAssertFalse(d.finished)
        d.message(.new, 4)            // dropped: old delivered it
        d.act(d.h.giveUp())           // deadline
        XCTAssertTrue(d.finished)
        d.message(.new, 6)
        XCTAssertEqual(d.heard, [1, 2, 3, 4, 5, 6])
    }

    func testHeldMessagesPastTheLimitHandOverAtOnce() {
        var d = Driver()
        d.h = H(marker: Array("m".utf8), newSubscriptions: 1, heldLimit: 2)
        d.act(d.h.confirmed(.new, marker: false)); d.act(d.h.confirmed(.new, marker: true)); d.act(d.h.confirmed(.old, marker: true))
        d.message(.old, 1)
        d.message(.new, 2)
        d.message(.new, 3)            // 2 bytes held: under the limit
        XCTAssertFalse(d.switched)
        d.message(.new, 4)            // past it: new takes over, this one after what it held
        XCTAssertTrue(d.switched); XCTAssertEqual(d.exact, false); XCTAssertTrue(d.finished)
        XCTAssertEqual(d.heard, [1, 2, 3, 4])
    }

    func testARefusedMarkerNeverPublishesAndHandsOver() {
        var d = Driver()
        d.act(d.h.confirmed(.new, marker: false)); d.act(d.h.confirmed(.new, marker: false))
        d.message(.old, 1)
        d.message(.new, 1)
        d.act(d.h.giveUp())           // -NOPERM for the marker
        XCTAssertFalse(d.published)
        d.act(d.h.confirmed(.new, marker: true))    // late confirmations change nothing
        XCTAssertFalse(d.published)
        XCTAssertEqual(d.heard, [1, 1])
        XCTAssertTrue(d.finished)
    }

    func testGivingUpWaitsUntilNewHoldsEverySubscription() {
        // The marker is refused on old before new has confirmed the client's channels: old
        // keeps speaking until new holds them all, so nothing published meanwhile is lost.
        var d = Driver()
        d.act(d.h.confirmed(.new, marker: false))
        d.act(d.h.giveUp())
        XCTAssertFalse(d.switched, "new does not hold every subscription yet")
        d.message(.old, 1)
        d.message(.new, 1)            // heard on the channel new already holds
        d.message(.old, 2)
        d.act(d.h.confirmed(.new, marker: false))
        XCTAssertTrue(d.switched); XCTAssertEqual(d.exact, false); XCTAssertTrue(d.finished)
        d.message(.new, 3)
        XCTAssertEqual(d.heard, [1, 2, 1, 3], "a repeat, no loss")
    }

    func testOldEndingWhileGivingUpSwitchesAtOnce() {
        var d = Driver()
        d.act(d.h.giveUp())
        d.message(.new, 5)
        d.act(d.h.oldEnded())
        XCTAssertTrue(d.switched); XCTAssertTrue(d.finished)
        XCTAssertEqual(d.heard, [5])
    }

    func testMarkerCopiesAfterTheFirstAreDropped() {
        // A pattern subscription matching the marker hears it twice (message and pmessage).
        var d = subscribed()
        d.message(.new, nil); d.message(.new, nil)
        d.message(.old, 1); d.message(.old, nil)
        d.message(.new, 2)
        d.message(.new, nil)
        XCTAssertEqual(d.heard, [1, 2])
    }
}
