// The drain's decisions with no sockets: which clients close at once, which are waited for and
// why, and when the drain ends.

import XCTest
@testable import RespiteProxy

final class DrainTests: XCTestCase {
    func testAClientWithNothingPendingIsClosedAtOnce() {
        XCTAssertEqual(DrainPolicy.verdict(DrainActivity()), .close)
    }

    func testRequestsInFlightOrUnreadOutputAreWaitedFor() {
        XCTAssertEqual(DrainPolicy.verdict(DrainActivity(requestsPending: true)), .busy)
        XCTAssertEqual(DrainPolicy.verdict(DrainActivity(outputPending: true)), .busy)
    }

    func testPinnedStateIsWaitedForEvenWithNothingInFlight() {
        // An open MULTI or a subscriber has nothing in flight between commands.
        XCTAssertEqual(DrainPolicy.verdict(DrainActivity(pinnedState: true)), .pinned)
        XCTAssertEqual(DrainPolicy.verdict(DrainActivity(requestsPending: true, outputPending: true, pinnedState: true)), .pinned)
    }

    func testTheDrainWaitsUntilTheLastClientLeavesOrTheDeadline() {
        var start = DrainStart()
        start.busy = 2
        start.pinned = 1
        start.timeoutMs = 10_000
        let state = DrainState(nowMs: 1_000, start: start)
        XCTAssertEqual(state.deadlineMs, 11_000)
        XCTAssertEqual(state.step(remaining: 3, nowMs: 1_000), .wait)
        XCTAssertEqual(state.step(remaining: 1, nowMs: 10_999), .wait)
        XCTAssertEqual(state.step(remaining: 0, nowMs: 4_500), .finish(.drained(elapsedMs: 3_500)))
        XCTAssertEqual(state.step(remaining: 1, nowMs: 11_000), .closeRemaining)
        // Nobody left at the deadline: drained, not timed out.
        XCTAssertEqual(state.step(remaining: 0, nowMs: 11_000), .finish(.drained(elapsedMs: 10_000)))
    }

    func testAZeroTimeoutClosesWhatIsLeftAtOnce() {
        var start = DrainStart()
        start.busy = 1
        let state = DrainState(nowMs: 500, start: start)
        XCTAssertEqual(state.step(remaining: 1, nowMs: 500), .closeRemaining)
        XCTAssertEqual(start.waiting, 1)
    }
}
