// The maintenance coordinator against the edge cases of shared/reference/maintenance-protocol.md
// §9 that a standalone upstream (and the SMIGRATING/SMIGRATED decisions) meets, one test per case,
// named after it. Events are drip-fed with an injected clock; each test asserts the action lists.

import XCTest
@testable import RespiteMaintenance

/// An address for the tests: the coordinator only compares, prints and builds them.
enum Addr: HandoffAddress {
    case tcp(host: String, port: Int)
    var description: String {
        switch self { case .tcp(let h, let p): return h.contains(":") ? "[\(h)]:\(p)" : "\(h):\(p)" }
    }
    static func isAddressLiteral(_ host: String) -> Bool {
        !host.isEmpty && host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" } && (host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." })
    }
}

private let configured = Addr.tcp(host: "10.0.0.1", port: 6379)
private let target = Addr.tcp(host: "10.0.0.2", port: 6380)
private let other = Addr.tcp(host: "10.0.0.9", port: 6379)

/// A coordinator with an injected clock that starts at 1 000 000 ms.
private struct Rig {
    var c: MaintenanceCoordinator<Addr>
    var now: Int64 = 1_000_000
    let s: MaintenanceSettings

    init(_ configure: (inout MaintenanceSettings) -> Void = { _ in }) {
        var s = MaintenanceSettings()
        configure(&s)
        self.s = s
        c = MaintenanceCoordinator(settings: s, configured: configured)
    }

    mutating func feed(_ input: MaintenanceInput<Addr>) -> [MaintenanceAction<Addr>] { c.handle(input, now: now) }
    mutating func advance(_ ms: Int64) { now += ms }

    /// Registers pooled connections `ids` dialed to `address` (what that decides is not looked at).
    mutating func open(_ ids: ConnectionID..., at address: Addr = configured) {
        for id in ids { _ = feed(.connectionStarting(id, address: address, joinsWindow: true)) }
    }

    mutating func push(_ event: MaintenanceEvent, on id: ConnectionID, at address: Addr = configured,
                       peer: Endpoint? = Endpoint(host: "10.0.0.1", port: 6379)) -> [MaintenanceAction<Addr>] {
        feed(.push(event, connection: id, address: address, peer: peer))
    }
}

final class MaintenanceCoordinatorTests: XCTestCase {
    // MARK: MOVING

    func testMovingToAnAddressHandsOffEveryConnectionOfThePoolOnce() {
        // §3.1 / §8: a named endpoint moves the pool's connections to the old address; new
        // connections dial the target; the window plus a tail relaxes the connections opened.
        var r = Rig()
        r.open(1, 2)
        let t0 = r.now
        XCTAssertEqual(r.push(.moving(seq: 7, seconds: 15, endpoint: Endpoint(host: "10.0.0.2", port: 6380)), on: 1),
                       [.handOff(Handoff(from: configured, to: target, seq: 7, drainDeadline: t0 + 17_000))])
        XCTAssertEqual(r.c.dialAddress, target)
        XCTAssertEqual(r.feed(.connectionStarting(3, address: target, joinsWindow: true)),
                       [.relax(connection: 3, until: t0 + 15_000 + 20_000)])
    }

    func testCase7_NullEndpointEvenThoughAConcreteTypeWasRequested() {
        // A null endpoint reconnects to the configured address at time/2, relaxing meanwhile.
        var r = Rig()
        r.open(1)
        let t0 = r.now
        XCTAssertEqual(r.push(.moving(seq: 0, seconds: 15, endpoint: nil), on: 1),
                       [.relax(connection: 1, until: t0 + 35_000), .reconnectAt(t0 + 7_500, from: configured, seq: 0)])
        r.advance(7_499)
        XCTAssertEqual(r.feed(.tick), [])
        r.advance(1)
        XCTAssertEqual(r.feed(.tick), [.handOff(Handoff(from: configured, to: configured, seq: 0, drainDeadline: r.now + 7_000 + 2_000))])
        r.advance(100)
        XCTAssertEqual(r.feed(.tick), [], "the reconnect happens once")
    }

    func testCase8_IPv6LiteralEndpointIsHandedOffWithoutDNS() {
        var r = Rig()
        r.open(1)
        let v6 = Addr.tcp(host: "fe80::2", port: 6380)
        XCTAssertEqual(r.push(.moving(seq: 1, seconds: 10, endpoint: Endpoint(host: "fe80::2", port: 6380)), on: 1),
                       [.handOff(Handoff(from: configured, to: v6, seq: 1, drainDeadline: r.now + 12_000))])
    }

    func testCase9_RepeatedMovingAfterReconnectingIsIgnored() {
        // The replacement opts in inside the window and is sent the same MOVING again.
        var r = Rig()
        r.open(1)
        _ = r.push(.moving(seq: 4, seconds: 2, endpoint: nil), on: 1)
        r.advance(1_000)
        XCTAssertEqual(r.feed(.tick).count, 1)
        r.open(2)  // the replacement, dialed to the configured address again
        r.advance(200)
        XCTAssertEqual(r.push(.moving(seq: 4, seconds: 2, endpoint: nil), on: 2), [.ignoreDuplicate(address: configured, seq: 4)])
        r.advance(5_000)
        XCTAssertEqual(r.feed(.tick), [], "no second reconnect was queued")
        // Remembered for max(2 × window, 60 s): after that the same id is a new event.
        r.advance(60_000)
        XCTAssertNotEqual(r.push(.moving(seq: 4, seconds: 2, endpoint: nil), on: 2), [.ignoreDuplicate(address: configured, seq: 4)])
    }

    func testCase10_MovingWhileAHandoffIsAlreadyQueuedIsNotQueuedTwice() {
        var r = Rig()
        r.open(1, 2)
        let t0 = r.now
        _ = r.push(.moving(seq: 5, seconds: 10, endpoint: nil), on: 1)
        r.advance(300)
        XCTAssertEqual(r.push(.moving(seq: 5, seconds: 10, endpoint: nil), on: 2), [.ignoreDuplicate(address: configured, seq: 5)])
        r.now = t0 + 5_000
        let actions = r.feed(.tick)
        XCTAssertEqual(actions.filter { if case .handOff = $0 { return true }; return false }.count, 1)
    }

    func testCase12_WholePoolGetsMovingAtOnce() {
        // Every connection receives its own copy at the same moment: one handoff moves them all.
        var r = Rig()
        r.open(1, 2, 3)
        let moving = MaintenanceEvent.moving(seq: 9, seconds: 15, endpoint: Endpoint(host: "10.0.0.2", port: 6380))
        XCTAssertEqual(r.push(moving, on: 1).count, 1)
        XCTAssertEqual(r.push(moving, on: 2), [.ignoreDuplicate(address: configured, seq: 9)])
        XCTAssertEqual(r.push(moving, on: 3), [.ignoreDuplicate(address: configured, seq: 9)])
    }

    func testCase12_HandoffDialFailuresRetryWithADoublingDelayThenFallBackToPlainReconnect() {
        var r = Rig { $0.handoffRetries = 3 }
        r.open(1)
        _ = r.push(.moving(seq: 1, seconds: 15, endpoint: Endpoint(host: "10.0.0.2", port: 6380)), on: 1)
        r.open(2, at: target)
        XCTAssertEqual(r.feed(.connectionClosed(2)), [])
        XCTAssertEqual(r.feed(.dialFailed(2, address: target)), [.retryDial(target: target, attempt: 2, of: 3, inMs: 100)])
        // The next connection to the target waits out the delay; requests queue on it.
        XCTAssertEqual(r.feed(.connectionStarting(3, address: target, joinsWindow: true)),
                       [.relax(connection: 3, until: r.now + 15_000 + 20_000), .delayDial(connection: 3, ms: 100)])
        r.advance(100)
        XCTAssertEqual(r.feed(.dialFailed(3, address: target)), [.retryDial(target: target, attempt: 3, of: 3, inMs: 200)])
        r.advance(200)
        XCTAssertEqual(r.feed(.dialFailed(4, address: target)),
                       [.fallBackToConfigured(target: target, attempts: 3, configured: configured)])
        XCTAssertEqual(r.c.dialAddress, configured)
        // A late failure of the abandoned target changes nothing.
        XCTAssertEqual(r.feed(.dialFailed(5, address: target)), [])
        XCTAssertEqual(r.feed(.dialFailed(6, address: configured)), [], "the configured address has the pool's own backoff")
    }

    func testCase14_CircuitBreakerHalfOpensByTimeThroughTheHandoffPath() {
        var r = Rig { $0.handoffRetries = 1; $0.breakerThreshold = 2; $0.breakerResetMs = 1_000; $0.breakerHalfOpenProbes = 1 }
        r.open(1)
        let to = Endpoint(host: "10.0.0.2", port: 6380)
        for seq in Int64(1)...2 {
            _ = r.push(.moving(seq: seq, seconds: 2, endpoint: to), on: 1)
            let actions = r.feed(.dialFailed(10 + Int(seq), address: target))
            XCTAssertEqual(actions.last, .fallBackToConfigured(target: target, attempts: 1, configured: configured))
            if seq == 2 { XCTAssertEqual(actions.first, .breakerChanged(target: target, state: .open)) }
        }
        // Open: the next handoff goes straight to the configured address.
        r.advance(10)
        let t1 = r.now
        XCTAssertEqual(r.push(.moving(seq: 3, seconds: 2, endpoint: to), on: 1),
                       [.refusedByBreaker(target: target, instead: configured),
                        .handOff(Handoff(from: configured, to: configured, seq: 3, drainDeadline: t1 + 4_000))])
        // Half-open by time alone, whatever was refused meanwhile.
        r.advance(1_000)
        XCTAssertEqual(r.push(.moving(seq: 4, seconds: 2, endpoint: to), on: 1),
                       [.breakerHalfOpen(target: target), .handOff(Handoff(from: configured, to: target, seq: 4, drainDeadline: r.now + 4_000))])
        XCTAssertEqual(r.feed(.connectionReady(20, address: target)), [.breakerChanged(target: target, state: .closed)])
    }

    func testCase15_RelaxationNeverShortensTheConfiguredTimeoutNorAnOpenWindow() {
        var r = Rig()
        r.open(1)
        let t0 = r.now
        _ = r.push(.moving(seq: 1, seconds: 60, endpoint: nil), on: 1)  // relaxed to t0 + 80 s
        XCTAssertEqual(r.push(.migrating(seq: 2, seconds: 5), on: 1), [.relax(connection: 1, until: t0 + 80_000)],
                       "a start inside a longer window does not shorten it")
        let w = r.c.window(1)!
        XCTAssertEqual(w.timeout(normal: 20_000, relaxed: 10_000, now: r.now), 20_000, "max(normal, relaxed)")
        XCTAssertEqual(w.timeout(normal: 5_000, relaxed: 10_000, now: r.now), 10_000)
    }

    func testCase17_CompletionWithoutAStartChangesNothing() {
        var r = Rig()
        r.open(1)
        XCTAssertEqual(r.push(.migrated(seq: 3), on: 1), [.ignoreCompletion(connection: 1)])
        XCTAssertEqual(r.push(.failedOver(seq: nil), on: 1), [.ignoreCompletion(connection: 1)])
        XCTAssertFalse(r.c.window(1)!.isRelaxed(now: r.now))
    }

    func testCase17_CountersClampAtZero() {
        var r = Rig()
        r.open(1)
        let t0 = r.now
        XCTAssertEqual(r.push(.migrating(seq: 1, seconds: 15), on: 1), [.relax(connection: 1, until: t0 + 30_000)])
        XCTAssertEqual(r.push(.failingOver(seq: 2, seconds: 15), on: 1), [.relax(connection: 1, until: t0 + 30_000)])
        r.advance(1_000)
        XCTAssertEqual(r.push(.migrated(seq: 3), on: 1), [.relax(connection: 1, until: t0 + 30_000)], "one start still open")
        XCTAssertEqual(r.push(.failedOver(seq: 4), on: 1), [.restore(connection: 1, at: r.now + 20_000)])
        XCTAssertEqual(r.push(.migrated(seq: 3), on: 1), [.ignoreCompletion(connection: 1)], "no count below zero")
        XCTAssertEqual(r.c.window(1)!.openStarts, 0)
        // The next start counts from zero: one completion restores it.
        _ = r.push(.migrating(seq: 5, seconds: 15), on: 1)
        XCTAssertEqual(r.push(.migrated(seq: 6), on: 1), [.restore(connection: 1, at: r.now + 20_000)])
    }

    func testCase17_WindowIsCappedWhenTheCompletionNeverArrives() {
        var r = Rig { $0.relaxedCapMs = 30_000 }
        r.open(1)
        let t0 = r.now
        XCTAssertEqual(r.push(.migrating(seq: 1, seconds: 600), on: 1), [.relax(connection: 1, until: t0 + 30_000)])
        r.advance(29_999)
        XCTAssertTrue(r.c.window(1)!.isRelaxed(now: r.now))
        r.advance(1)
        XCTAssertFalse(r.c.window(1)!.isRelaxed(now: r.now))
    }

    func testCase2_RetainedCompletionReplayedRightAfterTheOptInIsIgnored() {
        // Enterprise replays the last MIGRATED/FAILED_OVER (even hours old) to every connection
        // that opts in, within milliseconds of the +OK.
        var r = Rig()
        r.open(1)
        XCTAssertEqual(r.feed(.connectionReady(1, address: configured)), [])
        XCTAssertEqual(r.push(.failedOver(seq: 812), on: 1), [.ignoreCompletion(connection: 1)])
        XCTAssertEqual(r.feed(.connectionStarting(2, address: configured, joinsWindow: true)), [], "no window opened")
    }

    func testCase18_DisruptionWithNoMovingIsAPlainClose() {
        // MIGRATING, MIGRATED, then the socket closes silently: nothing to hand off; the pool's
        // ordinary reconnect dials the same address, with no delay and no relaxation left over.
        var r = Rig()
        r.open(1)
        _ = r.push(.migrating(seq: 1, seconds: 5), on: 1)
        r.advance(4_000)
        _ = r.push(.migrated(seq: 2), on: 1)
        r.advance(30_000)
        XCTAssertEqual(r.feed(.connectionClosed(1)), [])
        XCTAssertNil(r.c.window(1))
        XCTAssertEqual(r.feed(.connectionStarting(2, address: configured, joinsWindow: true)), [])
        XCTAssertEqual(r.c.dialAddress, configured)
        XCTAssertEqual(r.feed(.tick), [])
    }

    func testCase19_DNSLagsMoving_PollUntilTheNameStopsMeaningTheRetiringAddress() {
        var r = Rig()
        r.open(1, 2)
        r.open(3, at: other)
        let t0 = r.now
        let q = DNSQuery(name: "db.example.com", port: 12000, from: configured, seq: 3)
        XCTAssertEqual(r.push(.moving(seq: 3, seconds: 15, endpoint: Endpoint(host: "db.example.com", port: 12000)), on: 1,
                              peer: Endpoint(host: "10.0.0.1", port: 12000)),
                       [.awaitDNS(q, retiring: Endpoint(host: "10.0.0.1", port: 12000), deadline: t0 + 15_000),
                        .relax(connection: 1, until: t0 + 35_000), .relax(connection: 2, until: t0 + 35_000),
                        .resolve(q)])
        r.advance(40)
        // Resolving at once still returns the retiring address: ask again 500 ms later.
        XCTAssertEqual(r.feed(.resolved(q, addresses: ["10.0.0.1"])), [])
        r.advance(499)
        XCTAssertEqual(r.feed(.tick), [])
        r.advance(1)
        XCTAssertEqual(r.feed(.tick), [.resolve(q)])
        XCTAssertEqual(r.feed(.tick), [], "one lookup at a time")
        r.advance(20)
        // DNS caught up: a sibling address is taken (IPv4 first).
        XCTAssertEqual(r.feed(.resolved(q, addresses: ["10.0.0.1", "fd00::7", "10.0.0.7"])),
                       [.dnsCaughtUp(q, address: "10.0.0.7", afterMs: 560),
                        .handOff(Handoff(from: configured, to: .tcp(host: "10.0.0.7", port: 12000), seq: 3, drainDeadline: r.now + 17_000))])
        r.advance(1_000)
        XCTAssertEqual(r.feed(.tick), [], "the poll is over")
    }

    func testCase19_DNSStillUnchangedAtTheWindowsEnd_HandOffByNameSoEveryDialResolvesAgain() {
        var r = Rig()
        r.open(1)
        let q = DNSQuery(name: "db.example.com", port: 12000, from: configured, seq: 3)
        _ = r.push(.moving(seq: 3, seconds: 2, endpoint: Endpoint(host: "db.example.com", port: 12000)), on: 1,
                   peer: Endpoint(host: "10.0.0.1", port: 12000))
        var lookups = 1
        while r.now < 1_000_000 + 2_000 {
            XCTAssertEqual(r.feed(.resolved(q, addresses: lookups.isMultiple(of: 2) ? [] : ["10.0.0.1"])), [])
            r.advance(500)
            XCTAssertEqual(r.feed(.tick), [.resolve(q)])
            lookups += 1
        }
        XCTAssertEqual(r.feed(.resolved(q, addresses: ["10.0.0.1"])),
                       [.dnsUnchanged(q, afterMs: 2_000),
                        .handOff(Handoff(from: configured, to: .tcp(host: "db.example.com", port: 12000), seq: 3, drainDeadline: r.now + 4_000))])
        XCTAssertEqual(r.c.dialAddress, .tcp(host: "db.example.com", port: 12000))
    }

    func testCase20_ConnectionsThatAreNotPooledAreRelaxedToo_ButNeverDelayed() {
        // Control connections opt in as well: a MOVING window relaxes them; they never wait for
        // a handoff retry, nor start relaxed.
        var r = Rig()
        r.open(1)
        XCTAssertEqual(r.feed(.connectionStarting(50, address: configured, joinsWindow: false)), [])
        let t0 = r.now
        XCTAssertEqual(r.push(.moving(seq: 1, seconds: 10, endpoint: nil), on: 1),
                       [.relax(connection: 1, until: t0 + 30_000), .relax(connection: 50, until: t0 + 30_000),
                        .reconnectAt(t0 + 5_000, from: configured, seq: 1)])
        XCTAssertEqual(r.feed(.connectionStarting(51, address: configured, joinsWindow: false)), [])
    }

    func testCase21_IdleConnectionsAreCoveredByTheMovingAnotherOneRead() {
        // Only connection 1 read the MOVING; connections 2 and 3 to the same address are idle and
        // relaxed with it; connection 4 to another address is left alone.
        var r = Rig()
        r.open(1, 2, 3)
        r.open(4, at: other)
        let t0 = r.now
        XCTAssertEqual(r.push(.moving(seq: 2, seconds: 4, endpoint: nil), on: 1),
                       [.relax(connection: 1, until: t0 + 24_000), .relax(connection: 2, until: t0 + 24_000),
                        .relax(connection: 3, until: t0 + 24_000), .reconnectAt(t0 + 2_000, from: configured, seq: 2)])
        XCTAssertFalse(r.c.window(4)!.isRelaxed(now: r.now))
    }

    func testCase29_SequenceIdZeroIsARealId() {
        var r = Rig()
        r.open(1, 2)
        XCTAssertEqual(r.push(.moving(seq: 0, seconds: 15, endpoint: Endpoint(host: "10.0.0.2", port: 6380)), on: 1).count, 1)
        XCTAssertEqual(r.push(.moving(seq: 0, seconds: 15, endpoint: Endpoint(host: "10.0.0.2", port: 6380)), on: 2),
                       [.ignoreDuplicate(address: configured, seq: 0)])
    }

    func testCase30_TimeZeroOrBelowMeansActNow() {
        var r = Rig()
        r.open(1)
        let t0 = r.now
        XCTAssertEqual(r.push(.moving(seq: 1, seconds: -3, endpoint: nil), on: 1),
                       [.relax(connection: 1, until: t0 + 20_000), .reconnectAt(t0, from: configured, seq: 1),
                        .handOff(Handoff(from: configured, to: configured, seq: 1, drainDeadline: t0 + 3_000))])
        XCTAssertEqual(r.push(.migrating(seq: 2, seconds: 0), on: 1), [.relax(connection: 1, until: t0 + 30_000)],
                       "a start with no time left still relaxes")
    }

    func testCase28_UnknownPushTypeIsIgnored() {
        var r = Rig()
        r.open(1)
        XCTAssertEqual(r.push(.unknown(type: "FUTURE_EVENT"), on: 1), [])
        XCTAssertEqual(r.push(.unknown(type: "MOVING(malformed)"), on: 1), [])
    }

    func testReadOnlyInsideANullEndpointWindowReconnectsAtOnce() {
        // §3.1 null endpoint: the old endpoint no longer fronts the primary before time/2.
        var r = Rig()
        r.open(1)
        XCTAssertEqual(r.feed(.readOnly(1, address: configured)), [], "-READONLY outside a window is the client's")
        _ = r.push(.moving(seq: 8, seconds: 20, endpoint: nil), on: 1)
        r.advance(1_200)
        XCTAssertEqual(r.feed(.readOnly(1, address: configured)),
                       [.reconnectNow(from: configured),
                        .handOff(Handoff(from: configured, to: configured, seq: 8, drainDeadline: r.now + 12_000))])
        r.advance(10_000)
        XCTAssertEqual(r.feed(.tick), [], "the scheduled reconnect already ran")
    }

    func testHandoffIsReportedDrainedWhenItsLastOldConnectionCloses() {
        var r = Rig()
        r.open(1, 2)
        _ = r.push(.moving(seq: 6, seconds: 5, endpoint: Endpoint(host: "10.0.0.2", port: 6380)), on: 1)
        XCTAssertEqual(r.feed(.draining(1, seq: 6)), [])
        XCTAssertEqual(r.feed(.draining(2, seq: 6)), [])
        r.advance(300)
        XCTAssertEqual(r.feed(.connectionClosed(1)), [])
        r.advance(200)
        XCTAssertEqual(r.feed(.connectionClosed(2)), [.handoffDrained(seq: 6, tookMs: 500)])
        XCTAssertEqual(r.feed(.connectionClosed(2)), [], "a close is counted once")
    }

    // MARK: SMIGRATING / SMIGRATED

    func testCase23_SMIGRATEDBroadcastByEveryNodeReloadsTheTopologyOncePerSeq() {
        var r = Rig()
        r.open(1, 2, 3)
        let t0 = r.now
        for id in [1, 2, 3] {
            XCTAssertEqual(r.push(.slotsMigrating(seq: 16, slots: "123,789-1000"), on: id), [.relax(connection: id, until: t0 + 30_000)])
        }
        r.advance(2_000)
        XCTAssertEqual(r.push(.slotsMigrated(seq: 17), on: 1), [.restore(connection: 1, at: r.now + 20_000), .reloadTopology(seq: 17)])
        XCTAssertEqual(r.push(.slotsMigrated(seq: 17), on: 2), [.restore(connection: 2, at: r.now + 20_000)])
        XCTAssertEqual(r.push(.slotsMigrated(seq: 17), on: 3), [.restore(connection: 3, at: r.now + 20_000)])
        // The next event is a new sequence id: reloaded again.
        XCTAssertEqual(r.push(.slotsMigrated(seq: 19), on: 1), [.ignoreCompletion(connection: 1), .reloadTopology(seq: 19)])
    }

    func testCase24_SMIGRATEDWhoseEntriesDidNotParseStillAsksForAFullReload() {
        // Format drift (flat, pairs, triplets) or a missing seq: the answer is a full refresh,
        // which cannot be deduplicated without an id.
        var r = Rig()
        r.open(1)
        XCTAssertEqual(r.push(.slotsMigrated(seq: nil), on: 1), [.ignoreCompletion(connection: 1), .reloadTopology(seq: nil)])
        XCTAssertEqual(r.push(.slotsMigrated(seq: nil), on: 1), [.ignoreCompletion(connection: 1), .reloadTopology(seq: nil)])
    }

    func testCase25_SMIGRATEDWithoutSMIGRATINGAndSharingItsSeqIsNotADuplicate() {
        var r = Rig()
        r.open(1, 2)
        // Connected mid-event: the completion arrives alone.
        XCTAssertEqual(r.push(.slotsMigrated(seq: 30), on: 2), [.ignoreCompletion(connection: 2), .reloadTopology(seq: 30)])
        // SMIGRATING and SMIGRATED with one id: keyed by type + seq, the completion still acts.
        _ = r.push(.slotsMigrating(seq: 31, slots: "5"), on: 1)
        XCTAssertEqual(r.push(.slotsMigrated(seq: 31), on: 1), [.restore(connection: 1, at: r.now + 20_000), .reloadTopology(seq: 31)])
        // Remembered for two minutes, then forgotten.
        r.advance(MaintenanceCoordinator<Addr>.topologyDedupeMs)
        XCTAssertEqual(r.push(.slotsMigrated(seq: 30), on: 2), [.ignoreCompletion(connection: 2), .reloadTopology(seq: 30)])
    }

    func testMovingSeqSharedWithAMigrationIsNotADuplicate() {
        // Sequence ids are shared across types (§2): a MIGRATING at 11 does not hide a MOVING at 11.
        var r = Rig()
        r.open(1)
        _ = r.push(.migrating(seq: 11, seconds: 5), on: 1)
        XCTAssertEqual(r.push(.moving(seq: 11, seconds: 5, endpoint: Endpoint(host: "10.0.0.2", port: 6380)), on: 1).count, 1)
    }
}
