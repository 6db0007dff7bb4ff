// ClientRegistry: the one way a client's command reaches other clients — CLIENT LIST, CLIENT
// KILL (both forms, every filter), CLIENT KILL USER's user check, CLIENT UNBLOCK, and the
// target of CLIENT TRACKING … REDIRECT. Sessions ask the registry (`proxy.clients`), never the
// proxy's session table. Operations take client ids and filters and return values (counts,
// text, ids), so no Session of one loop is handed to another.
//
// The filters are pure values: `ClientFilter` parses CLIENT LIST's and CLIENT KILL's options
// (Redis 7's order, error texts) and matches a `ClientDescription`; the Proxy implements the
// registry for the clients of its own loop (Proxy+ClientRegistry.swift).

/// What the registry offers one client about the others.
///
/// Today the Proxy answers for the clients of its loop, synchronously. A registry spanning
/// several loops (one Proxy per loop, ids from `ClientIDSource.process`) must run each operation
/// on the loop that owns the client(s) it names and bring back only values: `listClients`
/// concatenates every loop's lines in id order; `killClients` sums every loop's count (the
/// caller is only ever reported back, never closed by another loop); `knowsUser` asks every
/// loop; `unblockClient` and `redirectTarget` go to the loop owning the id. Answers that cannot
/// come at once are `pending`: the caller's command handler returns false (not done) and the
/// registry wakes it on its own loop when the answer is there — as `redirectTarget` already
/// does while the target's connection is set up — so a command waits without blocking its loop.
/// The `tracking-redir-broken` push needs no registry: the server sends it on the tracking
/// client's own connection when the target's connection goes, and the session shows it with the
/// target id it kept.
protocol ClientRegistry: AnyObject {
    /// CLIENT LIST: one `CLIENT INFO` line per client matching `filter`, oldest first.
    func listClients(matching filter: ClientFilter) -> String

    /// CLIENT KILL: closes every client matching `filter` but the caller (`caller`, its id);
    /// how many matched, and whether the caller is one of them (it closes itself once its
    /// reply is written).
    func killClients(matching filter: ClientFilter, caller: Int64) -> (killed: Int, caller: Bool)

    /// Whether `name` is a user Respite knows (`default`, the upstream's configured user, or one
    /// a client is logged in as), for CLIENT KILL USER's "No such user".
    func knowsUser(_ name: String) -> Bool

    /// CLIENT UNBLOCK: unblocks client `id`'s blocking command (`mode` TIMEOUT or ERROR);
    /// false when there is no such client or it is not blocked.
    func unblockClient(id: Int64, mode: String) -> Bool

    /// CLIENT TRACKING … REDIRECT `id`: the server id of the target's own upstream connection
    /// (leased for it when it has none). `pending` wakes `waiter` (the caller, on the caller's
    /// loop) to ask again.
    func redirectTarget(id: Int64, waiter: Session) -> RedirectTarget
}

/// The answer to a REDIRECT: the ids to send and show, not yet known, or no such client.
enum RedirectTarget {
    case ready(RedirectIDs)
    case pending
    case noSuchClient
}

/// Redis's client types, as CLIENT LIST TYPE and CLIENT KILL TYPE name them.
enum ClientType: String, Sendable {
    case normal, pubsub, replica, master

    /// Redis's `getClientTypeByName`: `slave` is `replica`; nil for an unknown type.
    init?(named n: String) {
        switch n.lowercased() {
        case "normal": self = .normal
        case "slave", "replica": self = .replica
        case "pubsub": self = .pubsub
        case "master": self = .master
        default: return nil
        }
    }
}

/// What a filter looks at in a client.
struct ClientDescription: Sendable {
    var id: Int64
    var addr: String
    var laddr: String
    var user: String
    var type: ClientType
    /// When it connected (monotonic ms).
    var createdMs: Int64
}

/// Which clients a CLIENT LIST or CLIENT KILL names: every condition set must hold.
struct ClientFilter: Equatable, Sendable {
    var ids: Set<Int64>? = nil
    var addr: String? = nil
    var laddr: String? = nil
    var user: String? = nil
    var type: ClientType? = nil
    /// MAXAGE: connected at least this many seconds ago.
    var minAgeSeconds: Int64? = nil
    /// SKIPME yes: this id (the caller's) never matches.
    var skip: Int64? = nil

    func matches(_ c: ClientDescription, nowMs: Int64) -> Bool {
        if let skip, c.id == skip { return false }
        if let ids, !ids.contains(c.id) { return false }
        if let addr, c.addr != addr { return false }
        if let laddr, c.laddr != laddr { return false }
        if let user, c.user != user { return false }
        if let type, c.type != type { return false }
        if let minAgeSeconds, (nowMs - c.createdMs) / 1000 < minAgeSeconds { return false }
        return true
    }

    /// `CLIENT LIST [TYPE t] [ID id …]`: `args` are the words after LIST.
    static func parseList(_ args: [String]) -> Result<ClientFilter, ClientFilterError> {
        var f = ClientFilter()
        var i = 0
        while i < args.count {
            let option = asciiLowercased(args[i])
            if option == "type" && i + 1 < args.count {
                guard let t = ClientType(named: args[i + 1]) else { return .failure(.init("ERR Unknown client type '\(args[i + 1])'")) }
                f.type = t
                i += 2
            } else if option == "id" && i + 1 < args.count {
                var set = Set<Int64>()
                i += 1
                while i < args.count, let v = Int64(args[i]) { set.insert(v); i += 1 }
                if set.isEmpty { return .failure(.init("ERR Invalid client ID")) }
                f.ids = set
            } else {
                return .failure(.init("ERR syntax error"))
            }
        }
        return .success(f)
    }

    /// `CLIENT KILL <option> <value> …` (the new form): `args` are the words after KILL, in
    /// pairs; `caller` is skipped unless `SKIPME no`. Options are checked in order, so the
    /// first bad one gives the error, as in Redis.
    static func parseKill(_ args: [String], caller: Int64, knowsUser: (String) -> Bool) -> Result<ClientFilter, ClientFilterError> {
        var f = ClientFilter(skip: caller)
        var i = 0
        while i < args.count {
            guard i + 1 < args.count else { return .failure(.init("ERR syntax error")) }
            let v = args[i + 1]
            switch asciiLowercased(args[i]) {
            case "id":
                guard let n = Int64(v), n > 0 else { return .failure(.init("ERR client-id should be greater than 0")) }
                f.ids = [n]
            case "type":
                guard let t = ClientType(named: v) else { return .failure(.init("ERR Unknown client type '\(v)'")) }
                f.type = t
            case "addr": f.addr = v
            case "laddr": f.laddr = v
            case "user":
                guard knowsUser(v) else { return .failure(.init("ERR No such user '\(v)'")) }
                f.user = v
            case "skipme":
                switch v.lowercased() {
                case "yes": f.skip = caller
                case "no": f.skip = nil
                default: return .failure(.init("ERR syntax error"))
                }
            case "maxage":
                guard let n = Int64(v) else { return .failure(.init("ERR value is not an integer or out of range")) }
                f.minAgeSeconds = n
            default:
                return .failure(.init("ERR syntax error"))
            }
            i += 2
        }
        return .success(f)
    }
}

/// A CLIENT LIST or CLIENT KILL argument Redis refuses: its error text.
struct ClientFilterError: Error, Equatable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// An option word with A–Z lowered and nothing else changed, as `matches` compares them.
func asciiLowercased(_ s: String) -> String {
    String(decoding: s.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
}
