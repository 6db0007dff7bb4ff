// UpstreamIdentity: the ACL identities upstream connections log in as (identity pass-through).
//
// Identity 0 is Respite's own (`upstream-user` / `upstream-password`, read from the settings at
// each handshake). Every other identity is a user and password a client logged in with, which
// the upstream accepted; it is interned here so a session names its identity by a small integer
// and the pools are keyed by (identity, db) without a string on the request path. Sessions
// hold a reference; when the last one lets go, the password is forgotten and the identity's
// idle connections close. Credentials are never logged.

import EventLoop
import RESP

/// One interned identity.
struct UpstreamIdentity {
    var user: String
    var password: String
    /// Sessions using it.
    var holders = 0
}

extension UpstreamPool {
    /// The key of the shared and idle pinned lists of `identity` on `db`.
    @inline(__always) static func key(identity: Int32, db: Int) -> Int { Int(identity) << 32 | (db & 0xffff_ffff) }

    /// The identity for `user`/`password`, interned and held once more by the caller.
    public func holdIdentity(user: String, password: String) -> Int32 {
        if let i = identities.firstIndex(where: { $0.holders > 0 && $0.user == user && $0.password == password }) {
            identities[i].holders += 1
            return Int32(i)
        }
        let entry = UpstreamIdentity(user: user, password: password, holders: 1)
        if let free = identities.indices.dropFirst().first(where: { identities[$0].holders == 0 }) {
            identities[free] = entry
            return Int32(free)
        }
        identities.append(entry)
        return Int32(identities.count - 1)
    }

    /// A session stops using `identity`. The last holder's leaving forgets the password and
    /// closes the identity's connections (only idle ones or ones of gone clients remain).
    public func releaseIdentity(_ identity: Int32) {
        let i = Int(identity)
        guard i > 0, i < identities.count, identities[i].holders > 0 else { return }
        identities[i].holders -= 1
        guard identities[i].holders == 0 else { return }
        identities[i].password = ""
        identities[i].user = ""
        for c in Array(all.values) where c.identity == identity && c.leasedTo < 0 {
            c.close(reason: "released")
        }
    }

    /// The credentials a connection of `identity` logs in with; nil = no AUTH.
    func credentials(_ identity: Int32) -> (user: String, password: String)? {
        if identity == 0 {
            guard let pw = settings.password else { return nil }
            return (settings.user ?? "default", pw)
        }
        let i = Int(identity)
        guard i < identities.count, identities[i].holders > 0 else { return nil }
        return (identities[i].user, identities[i].password)
    }

    /// The user name of `identity` (for CLIENT LIST and KILL): Respite's own user for 0.
    public func userName(_ identity: Int32) -> String {
        if identity == 0 { return settings.password == nil ? "default" : (settings.user ?? "default") }
        let i = Int(identity)
        return i < identities.count ? identities[i].user : "default"
    }

    /// Opens a connection with no handshake that sends one `AUTH` (the client's own arguments)
    /// and hands the reply to the delegate (`upstreamLoginChecked`), then closes: the upstream
    /// checks the login, on a connection no other client shares, and its exact reply is
    /// relayed.
    public func checkLogin(_ args: [[UInt8]], pending: Pending) throws(UpstreamUnavailable) {
        if node.downUntil > monotonicMs() { throw .down(lastError) }
        let bytes = ByteBuffer(capacity: 64)
        InlineSplitter.encode(args, into: bytes)
        try runControl(ControlJob(kind: .loginCheck, identity: -1, address: dialAddress, request: bytes.readableBytes(), pending: pending))
    }
}
