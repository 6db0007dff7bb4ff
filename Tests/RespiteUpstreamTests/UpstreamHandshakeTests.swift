// The handshake an upstream connection sends, as UpstreamHandshake plans it: the order of the
// steps, which login goes where, and the step indexes the reply reader keys on. Plus the
// connection's lifecycle moves.

import XCTest
@testable import RespiteUpstream

private func words(_ plan: HandshakePlan) -> [String] {
    plan.commands.map { $0.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") }
}

private let own = UpstreamLogin(user: "respite", password: "ownpw")
private let alice = UpstreamLogin(user: "alice", password: "alicepw")

final class UpstreamHandshakeTests: XCTestCase {
    func testPlainConnectionOnDbZero() {
        let plan = UpstreamHandshake.plan(HandshakeInput(clientName: "respite", maintenanceEndpointType: "internal-ip"))
        XCTAssertEqual(words(plan), [
            "HELLO 3 SETNAME respite",
            "CLIENT ID",
            "CLIENT MAINT_NOTIFICATIONS ON moving-endpoint-type internal-ip",
        ])
        XCTAssertEqual(plan.helloStep, 0)
        XCTAssertEqual(plan.clientIDStep, 1)
        XCTAssertEqual(plan.optInStep, 2)
        XCTAssertEqual(plan.loginStep, -1)
    }

    func testSelectComesBeforeClientIDAndMaintenanceDisabledSendsNoOptIn() {
        let plan = UpstreamHandshake.plan(HandshakeInput(ownLogin: own, db: 5))
        XCTAssertEqual(words(plan), ["HELLO 3 AUTH respite ownpw", "SELECT 5", "CLIENT ID"])
        XCTAssertEqual(plan.clientIDStep, 2)
        XCTAssertEqual(plan.optInStep, -1)
    }

    func testClientLoginComesLastAfterRespitesOwnSteps() {
        let input = HandshakeInput(ownLogin: own, clientIdentity: true, clientLogin: alice, clientName: "respite",
                                   db: 2, maintenanceEndpointType: "internal-ip")
        let plan = UpstreamHandshake.plan(input)
        XCTAssertEqual(words(plan), [
            "HELLO 3 AUTH respite ownpw SETNAME respite",
            "SELECT 2",
            "CLIENT ID",
            "CLIENT MAINT_NOTIFICATIONS ON moving-endpoint-type internal-ip",
            "AUTH alice alicepw",
        ])
        XCTAssertEqual(plan.loginStep, 4)
        XCTAssertEqual(plan.optInStep, 3)
    }

    func testClientLoginWithoutOwnPasswordStillComesLast() {
        let plan = UpstreamHandshake.plan(HandshakeInput(clientIdentity: true, clientLogin: alice))
        XCTAssertEqual(words(plan), ["HELLO 3", "CLIENT ID", "AUTH alice alicepw"])
        XCTAssertEqual(plan.loginStep, 2)
    }

    func testOwnLoginRefusedPutsTheClientLoginIntoHello() {
        let input = HandshakeInput(ownLogin: own, clientIdentity: true, clientLogin: alice, ownLoginRefused: true)
        let plan = UpstreamHandshake.plan(input)
        XCTAssertEqual(words(plan), ["HELLO 3 AUTH alice alicepw", "CLIENT ID"])
        XCTAssertEqual(plan.loginStep, -1)
    }

    func testForgottenClientLoginSendsNoLastAuth() {
        let plan = UpstreamHandshake.plan(HandshakeInput(ownLogin: own, clientIdentity: true, clientLogin: nil))
        XCTAssertEqual(words(plan), ["HELLO 3 AUTH respite ownpw", "CLIENT ID"])
        XCTAssertEqual(plan.loginStep, -1)
    }

    func testHelloOnlyForOneShotAndProbe() {
        let input = HandshakeInput(ownLogin: own, clientIdentity: true, clientLogin: alice, clientName: "respite",
                                   db: 3, maintenanceEndpointType: "internal-ip", helloOnly: true)
        let plan = UpstreamHandshake.plan(input)
        // A one-shot connection of a client logs in as the client in HELLO: there is no later step.
        XCTAssertEqual(words(plan), ["HELLO 3 AUTH alice alicepw SETNAME respite"])
        XCTAssertEqual(plan.clientIDStep, -1)
        XCTAssertEqual(plan.optInStep, -1)
        XCTAssertEqual(words(UpstreamHandshake.plan(HandshakeInput(helloOnly: true))), ["HELLO 3"])
    }

    func testDeferredSetupSendsOnlyWhatIsOwed() {
        let both = UpstreamHandshake.deferredSetup(needsClientID: true, maintenanceEndpointType: "external-ip")
        XCTAssertEqual(words(both), ["CLIENT ID", "CLIENT MAINT_NOTIFICATIONS ON moving-endpoint-type external-ip"])
        XCTAssertEqual(both.helloStep, -1)
        XCTAssertEqual(both.clientIDStep, 0)
        XCTAssertEqual(both.optInStep, 1)
        let optIn = UpstreamHandshake.deferredSetup(needsClientID: false, maintenanceEndpointType: "none")
        XCTAssertEqual(optIn.clientIDStep, -1)
        XCTAssertEqual(optIn.optInStep, 0)
        XCTAssertTrue(UpstreamHandshake.deferredSetup(needsClientID: false, maintenanceEndpointType: nil).commands.isEmpty)
    }

    func testLifecycleMoves() {
        let all: [UpstreamState] = [.connecting, .handshaking, .ready, .draining, .closed]
        let allowed: Set<String> = ["connecting→handshaking", "handshaking→ready", "ready→draining",
                                    "connecting→closed", "handshaking→closed", "ready→closed", "draining→closed"]
        for from in all {
            for to in all {
                XCTAssertEqual(from.canMove(to: to), allowed.contains("\(from)→\(to)"), "\(from) → \(to)")
            }
        }
    }
}
