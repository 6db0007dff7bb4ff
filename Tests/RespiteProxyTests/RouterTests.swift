// The router with no sockets: each decision from a session snapshot and a command's table entry,
// in Redis's order of checks.

import XCTest
import RespiteCommands
@testable import RespiteProxy

final class RouterTests: XCTestCase {
    private func cmd(_ route: CommandRoute, _ kind: CommandKind = .other, _ edit: (inout RouteCommand) -> Void = { _ in }) -> RouteCommand {
        var c = RouteCommand(route: route, kind: kind)
        edit(&c)
        return c
    }

    private func state(_ edit: (inout RouteState) -> Void = { _ in }) -> RouteState {
        var s = RouteState()
        edit(&s)
        return s
    }

    func testHeldSessionsWaitBeforeAnythingElse() {
        for held in [state { $0.loginPending = true }, state { $0.subscriptionsMoving = true }] {
            XCTAssertEqual(Router.decide(held, cmd(.local, .ping)), .wait)
            var unauthenticated = held
            unauthenticated.authenticated = false
            XCTAssertEqual(Router.decide(unauthenticated, cmd(.shared)), .wait)
        }
    }

    func testAuthenticationGateLetsOnlyItsOwnCommandsThrough() {
        let s = state { $0.authenticated = false }
        XCTAssertEqual(Router.decide(s, cmd(.shared)), .noAuth)
        XCTAssertEqual(Router.decide(s, cmd(.transaction, .multi)), .noAuth)
        for kind: CommandKind in [.auth, .hello, .quit, .reset] {
            XCTAssertNotEqual(Router.decide(s, cmd(.local, kind)), .noAuth, "\(kind)")
        }
    }

    func testFailedTransactionRunsNothingUntilItsEnd() {
        let s = state { $0.transactionFailed = true; $0.inMulti = true }
        XCTAssertEqual(Router.decide(s, cmd(.shared)), .refuseInFailedTransaction)
        XCTAssertEqual(Router.decide(s, cmd(.transaction, .exec)), .endFailedTransaction(exec: true))
        XCTAssertEqual(Router.decide(s, cmd(.transaction, .discard)), .endFailedTransaction(exec: false))
        XCTAssertEqual(Router.decide(s, cmd(.local, .quit)), .queueInMulti)
    }

    func testInsideMultiEverythingIsQueued() {
        let s = state { $0.inMulti = true; $0.hasPinned = true }
        for c in [cmd(.shared), cmd(.blocking), cmd(.subscribe), cmd(.local, .ping), cmd(.transaction, .exec)] {
            XCTAssertEqual(Router.decide(s, c), .queueInMulti)
        }
    }

    func testRESP2SubscribedContext() {
        let s = state { $0.subscribed = true; $0.hasPinned = true; $0.pinnedForSubscriptions = true }
        XCTAssertEqual(Router.decide(s, cmd(.shared)), .refuseWhileSubscribed)
        XCTAssertEqual(Router.decide(s, cmd(.local, .ping)), .pingWhileSubscribed)
        XCTAssertEqual(Router.decide(s, cmd(.subscribe)), .subscribe)
        XCTAssertEqual(Router.decide(s, cmd(.unsubscribe, .unsubscribe)), .unsubscribe)
        XCTAssertEqual(Router.decide(s, cmd(.local, .quit)), .local)
        // RESP3: any command, on the pinned connection.
        var r3 = s
        r3.proto = 3
        XCTAssertEqual(Router.decide(r3, cmd(.shared)), .pinned)
        XCTAssertEqual(Router.decide(r3, cmd(.local, .ping)), .local)
    }

    func testUnsubscribeWithNoChannelWaitsForPendingConfirmations() {
        let s = state { $0.proto = 3; $0.hasPinned = true; $0.pinnedForSubscriptions = true; $0.subscriptionPending = true }
        XCTAssertEqual(Router.decide(s, cmd(.unsubscribe, .unsubscribe)), .wait)
        XCTAssertEqual(Router.decide(s, cmd(.unsubscribe, .unsubscribe) { $0.hasArguments = true }), .unsubscribe)
        var settled = s
        settled.subscriptionPending = false
        XCTAssertEqual(Router.decide(settled, cmd(.unsubscribe, .unsubscribe)), .unsubscribe)
    }

    func testRESP2CommandBehindAnUnconfirmedSubscribeWaits() {
        let s = state { $0.hasPinned = true; $0.pinnedForSubscriptions = true; $0.subscriptionPending = true }
        XCTAssertEqual(Router.decide(s, cmd(.local, .ping)), .wait)
        XCTAssertEqual(Router.decide(s, cmd(.subscribe)), .subscribe)
        var r3 = s
        r3.proto = 3
        XCTAssertEqual(Router.decide(r3, cmd(.local, .ping)), .local)
    }

    func testSharedRouteVariants() {
        XCTAssertEqual(Router.decide(state(), cmd(.shared)), .shared)
        XCTAssertEqual(Router.decide(state { $0.hasPinned = true }, cmd(.shared)), .pinned)
        XCTAssertEqual(Router.decide(state(), cmd(.shared) { $0.hasSecrets = true }), .masked)
        XCTAssertEqual(Router.decide(state { $0.ownIdentity = false }, cmd(.shared) { $0.hasSecrets = true }), .shared)
        XCTAssertEqual(Router.decide(state { $0.hasPinned = true }, cmd(.shared) { $0.interruptsBusy = true }), .interrupt)
        XCTAssertEqual(Router.decide(state(), cmd(.shared) { $0.runsScript = true }), .own)
        XCTAssertEqual(Router.decide(state(), cmd(.shared) { $0.heldByWritePause = true }), .shared)
        XCTAssertEqual(Router.decide(state { $0.writesPaused = true }, cmd(.shared) { $0.heldByWritePause = true }), .own)
        XCTAssertEqual(Router.decide(state { $0.writesPaused = true }, cmd(.shared)), .shared)
    }

    func testBlockingIsDecidedBySyntaxAndWaitsForSharedReplies() {
        XCTAssertEqual(Router.decide(state(), cmd(.blockingWithArg)), .shared)
        XCTAssertEqual(Router.decide(state { $0.hasPinned = true }, cmd(.blockingWithArg)), .pinned)
        XCTAssertEqual(Router.decide(state(), cmd(.blockingWithArg) { $0.blocksNow = true }), .blocking)
        XCTAssertEqual(Router.decide(state(), cmd(.blocking)), .blocking)
        XCTAssertEqual(Router.decide(state { $0.sharedInFlight = 1 }, cmd(.blocking)), .wait)
    }

    func testTransactionControls() {
        XCTAssertEqual(Router.decide(state(), cmd(.transaction, .multi)), .beginMulti)
        XCTAssertEqual(Router.decide(state(), cmd(.transaction, .watch)), .watch)
        XCTAssertEqual(Router.decide(state(), cmd(.transaction, .unwatch)), .unwatchNothing)
        XCTAssertEqual(Router.decide(state { $0.hasPinned = true }, cmd(.transaction, .unwatch)), .unwatch)
        XCTAssertEqual(Router.decide(state(), cmd(.transaction, .exec)), .withoutMulti(exec: true))
        XCTAssertEqual(Router.decide(state(), cmd(.transaction, .discard)), .withoutMulti(exec: false))
        XCTAssertEqual(Router.decide(state { $0.hasPinned = true }, cmd(.transaction, .exec)), .endTransaction)
        XCTAssertEqual(Router.decide(state { $0.sharedInFlight = 2 }, cmd(.transaction, .multi)), .wait)
    }

    func testPinningRoutesWaitForSharedReplies() {
        let busy = state { $0.sharedInFlight = 1 }
        XCTAssertEqual(Router.decide(busy, cmd(.subscribe)), .wait)
        XCTAssertEqual(Router.decide(busy, cmd(.monitor)), .wait)
        XCTAssertEqual(Router.decide(state(), cmd(.monitor)), .monitor)
        XCTAssertEqual(Router.decide(state(), cmd(.unsubscribe)), .unsubscribeNotSubscribed)
        XCTAssertEqual(Router.decide(state { $0.hasPinned = true }, cmd(.unsubscribe)), .unsubscribeNotSubscribed)
        XCTAssertEqual(Router.decide(state(), cmd(.unsupported(reason: "no"))), .unsupported("no"))
    }

    /// Every route of the real command table gets a decision other than `wait` from an idle,
    /// authenticated session (nothing in the table is left undecided).
    func testEveryTableRouteIsDecided() {
        let table = CommandTable.builtin
        for e in table.entries {
            let d = Router.decide(state(), RouteCommand(route: e.route, kind: e.kind, interruptsBusy: e.interruptsBusy,
                                                        runsScript: e.runsScript, heldByWritePause: e.heldByWritePause,
                                                        hasSecrets: e.secretMask != nil))
            XCTAssertNotEqual(d, .wait, e.name)
        }
    }
}
