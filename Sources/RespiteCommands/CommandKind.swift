// CommandKind: the commands the proxy acts on by identity, not only through their route — the
// ones it answers itself (every `.local` entry has a kind), the transaction controls, the
// unsubscribe family, the tracking subcommands and PING. Resolved from the name once, when a
// table entry is built (`CommandInfo.kind`), so the request path compares a byte, never a name.

/// Which command an entry is, for the commands the proxy treats one by one.
public enum CommandKind: UInt8, Sendable, CaseIterable {
    /// Any command the proxy handles by its route and flags alone.
    case other
    case hello, auth, select, reset, quit, readonly, readwrite, ping
    case aclWhoami
    /// The CLIENT container: reached by a subcommand the table does not list.
    case client
    case clientID, clientGetname, clientSetname, clientInfo, clientSetinfo, clientReply
    case clientNoEvict, clientNoTouch, clientMaintNotifications, clientList, clientKill, clientUnblock
    case clientTracking, clientCaching, clientGetredir, clientTrackinginfo
    case multi, exec, discard, watch, unwatch
    case unsubscribe, punsubscribe, sunsubscribe

    /// The name (`cmd` or `cmd|sub`, lowercase) of each kind but `.other`.
    public static let names: [CommandKind: String] = [
        .hello: "hello", .auth: "auth", .select: "select", .reset: "reset", .quit: "quit",
        .readonly: "readonly", .readwrite: "readwrite", .ping: "ping", .aclWhoami: "acl|whoami",
        .client: "client", .clientID: "client|id", .clientGetname: "client|getname",
        .clientSetname: "client|setname", .clientInfo: "client|info", .clientSetinfo: "client|setinfo",
        .clientReply: "client|reply", .clientNoEvict: "client|no-evict", .clientNoTouch: "client|no-touch",
        .clientMaintNotifications: "client|maint_notifications", .clientList: "client|list",
        .clientKill: "client|kill", .clientUnblock: "client|unblock", .clientTracking: "client|tracking",
        .clientCaching: "client|caching", .clientGetredir: "client|getredir",
        .clientTrackinginfo: "client|trackinginfo",
        .multi: "multi", .exec: "exec", .discard: "discard", .watch: "watch", .unwatch: "unwatch",
        .unsubscribe: "unsubscribe", .punsubscribe: "punsubscribe", .sunsubscribe: "sunsubscribe",
    ]

    /// The kind of a name (`cmd` or `cmd|sub`, lowercase); `.other` for any other.
    public init(name: String) { self = CommandKind.byName[name] ?? .other }

    private static let byName: [String: CommandKind] = {
        var m: [String: CommandKind] = [:]
        for (kind, name) in names { m[name] = kind }
        return m
    }()

    /// The kind of subcommand `sub` (any case) of `container`, for a subcommand the table does
    /// not list (one of a newer server than the generated table's: CLIENT SETINFO, NO-TOUCH,
    /// MAINT_NOTIFICATIONS on 7.0). Cold path: builds a String.
    public static func subcommand(of container: String, _ sub: UnsafeRawBufferPointer) -> CommandKind {
        CommandKind(name: container + "|" + String(decoding: sub, as: UTF8.self).lowercased())
    }

    /// Arity (Redis's, of the version that added them) of the subcommands Respite answers that
    /// the generated table may not list; checked before they are answered.
    public static let arityWhenUnlisted: [CommandKind: Int] = [.clientSetinfo: 4, .clientNoTouch: 3]

}
