// CLIENT LIST and CLIENT KILL filters as pure values: parsing in Redis 7's order with its error
// texts, and matching client descriptions.

import XCTest
@testable import RespiteProxy

final class ClientFilterTests: XCTestCase {
    private let now: Int64 = 100_000
    private func client(_ id: Int64, addr: String = "127.0.0.1:5000", laddr: String = "127.0.0.1:6380",
                        user: String = "default", type: ClientType = .normal, ageSeconds: Int64 = 0) -> ClientDescription {
        ClientDescription(id: id, addr: addr, laddr: laddr, user: user, type: type, createdMs: now - ageSeconds * 1000)
    }
    private func kill(_ words: String, caller: Int64 = 1, users: Set<String> = ["default"]) -> Result<ClientFilter, ClientFilterError> {
        ClientFilter.parseKill(words.split(separator: " ").map(String.init), caller: caller, knowsUser: { users.contains($0) })
    }
    private func list(_ words: String) -> Result<ClientFilter, ClientFilterError> {
        ClientFilter.parseList(words.split(separator: " ").map(String.init))
    }
    private func error(_ r: Result<ClientFilter, ClientFilterError>) -> String? {
        if case .failure(let e) = r { return e.message } else { return nil }
    }

    func testAnEmptyFilterMatchesEveryClient() {
        XCTAssertTrue(ClientFilter().matches(client(7, type: .pubsub), nowMs: now))
    }

    func testKillSkipsTheCallerUnlessSkipmeNo() throws {
        let skipping = try kill("addr 127.0.0.1:5000", caller: 3).get()
        XCTAssertFalse(skipping.matches(client(3), nowMs: now))
        XCTAssertTrue(skipping.matches(client(4), nowMs: now))
        let notSkipping = try kill("skipme no addr 127.0.0.1:5000", caller: 3).get()
        XCTAssertTrue(notSkipping.matches(client(3), nowMs: now))
        XCTAssertFalse(try kill("SKIPME no SKIPME YES", caller: 3).get().matches(client(3), nowMs: now))
    }

    func testEveryKillConditionMustHold() throws {
        let f = try kill("ID 9 ADDR 10.0.0.1:1 LADDR 127.0.0.1:6380 USER app TYPE pubsub MAXAGE 5", users: ["app"]).get()
        let match = client(9, addr: "10.0.0.1:1", user: "app", type: .pubsub, ageSeconds: 5)
        XCTAssertTrue(f.matches(match, nowMs: now))
        var other = match; other.id = 8
        XCTAssertFalse(f.matches(other, nowMs: now))
        other = match; other.addr = "10.0.0.1:2"
        XCTAssertFalse(f.matches(other, nowMs: now))
        other = match; other.laddr = "/tmp/respite.sock:0"
        XCTAssertFalse(f.matches(other, nowMs: now))
        other = match; other.user = "default"
        XCTAssertFalse(f.matches(other, nowMs: now))
        other = match; other.type = .normal
        XCTAssertFalse(f.matches(other, nowMs: now))
        XCTAssertFalse(f.matches(client(9, addr: "10.0.0.1:1", user: "app", type: .pubsub, ageSeconds: 4), nowMs: now),
                       "MAXAGE 5 spares a client connected 4 s ago")
    }

    func testKillTypeSlaveIsReplica() throws {
        XCTAssertEqual(try kill("type slave").get().type, .replica)
        XCTAssertEqual(try kill("type MASTER").get().type, .master)
    }

    func testKillErrorsAreRedisTextsAndTheFirstBadOptionWins() {
        XCTAssertEqual(error(kill("id 0")), "ERR client-id should be greater than 0")
        XCTAssertEqual(error(kill("id x")), "ERR client-id should be greater than 0")
        XCTAssertEqual(error(kill("type bogus")), "ERR Unknown client type 'bogus'")
        XCTAssertEqual(error(kill("user nobody")), "ERR No such user 'nobody'")
        XCTAssertEqual(error(kill("maxage soon")), "ERR value is not an integer or out of range")
        XCTAssertEqual(error(kill("skipme maybe")), "ERR syntax error")
        XCTAssertEqual(error(kill("flavor mint")), "ERR syntax error")
        XCTAssertEqual(error(kill("addr 1.2.3.4:5 id")), "ERR syntax error", "an option without its value")
        XCTAssertEqual(error(kill("user nobody type bogus")), "ERR No such user 'nobody'")
        XCTAssertEqual(error(kill("type bogus user nobody")), "ERR Unknown client type 'bogus'")
    }

    func testListFilters() throws {
        let f = try list("TYPE pubsub ID 3 5").get()
        XCTAssertEqual(f.ids, [3, 5])
        XCTAssertTrue(f.matches(client(5, type: .pubsub), nowMs: now))
        XCTAssertFalse(f.matches(client(4, type: .pubsub), nowMs: now))
        XCTAssertFalse(f.matches(client(3, type: .normal), nowMs: now))
        XCTAssertEqual(try list("id 3 type normal").get(), ClientFilter(ids: [3], type: .normal))
        XCTAssertEqual(try list("").get(), ClientFilter())
    }

    func testListErrors() {
        XCTAssertEqual(error(list("type bogus")), "ERR Unknown client type 'bogus'")
        XCTAssertEqual(error(list("id x")), "ERR Invalid client ID")
        XCTAssertEqual(error(list("id")), "ERR syntax error")
        XCTAssertEqual(error(list("bogus")), "ERR syntax error")
    }
}
