// Masking of replies that carry the upstream's secrets: which values change and which stay.

import XCTest
import RESP
@testable import RespiteCommands

final class SecretRepliesTests: XCTestCase {
    private func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }

    func testConfigGetMasksNonEmptySecretsOnly() {
        let reply = RESPValue.map([bulk("requirepass"), bulk("pw"), bulk("maxmemory"), bulk("0"),
                                   bulk("MasterAuth"), bulk("x"), bulk("tls-key-file-pass"), bulk("")])
        XCTAssertEqual(SecretReplies.mask(reply, .configGet),
                       .map([bulk("requirepass"), bulk("(redacted)"), bulk("maxmemory"), bulk("0"),
                             bulk("MasterAuth"), bulk("(redacted)"), bulk("tls-key-file-pass"), bulk("")]))
        XCTAssertNil(SecretReplies.mask(.map([bulk("maxmemory"), bulk("0")]), .configGet), "nothing to mask")
        XCTAssertNil(SecretReplies.mask(.map([bulk("requirepass"), bulk("")]), .configGet), "empty stays")
        XCTAssertEqual(SecretReplies.mask(.array([bulk("masteruser"), bulk("repl")]), .configGet),
                       .array([bulk("masteruser"), bulk("(redacted)")]), "RESP2's flat pairs")
    }

    func testAclGetUserMasksPasswordHashes() {
        let reply = RESPValue.map([bulk("flags"), .array([bulk("on")]), bulk("passwords"), .array([bulk("ab12"), bulk("cd34")]),
                                   bulk("commands"), bulk("+@all")])
        XCTAssertEqual(SecretReplies.mask(reply, .aclGetUser),
                       .map([bulk("flags"), .array([bulk("on")]), bulk("passwords"), .array([bulk("(redacted)"), bulk("(redacted)")]),
                             bulk("commands"), bulk("+@all")]))
        XCTAssertNil(SecretReplies.mask(.map([bulk("passwords"), .array([])]), .aclGetUser))
    }

    func testAclListMasksHashRules() {
        let reply = RESPValue.array([bulk("user default on nopass ~* &* +@all"),
                                     bulk("user app on #5e88 #a1b2 ~app:* resetchannels -@all +get")])
        XCTAssertEqual(SecretReplies.mask(reply, .aclList),
                       .array([bulk("user default on nopass ~* &* +@all"),
                               bulk("user app on #(redacted) #(redacted) ~app:* resetchannels -@all +get")]))
        XCTAssertNil(SecretReplies.mask(.array([bulk("user default on nopass ~* &* +@all")]), .aclList))
    }

    func testTheTableKnowsWhichRepliesCarrySecrets() {
        let table = CommandTable.builtin
        XCTAssertEqual(table.lookup(name: "config|get")?.secretMask, .configGet)
        XCTAssertEqual(table.lookup(name: "acl|getuser")?.secretMask, .aclGetUser)
        XCTAssertEqual(table.lookup(name: "acl|list")?.secretMask, .aclList)
        XCTAssertNil(table.lookup(name: "config|set")?.secretMask)
        XCTAssertNil(table.lookup(name: "get")?.secretMask)
    }
}
