// CommandRoute: how the proxy treats a command — answered locally, multiplexed on a shared
// upstream connection, or pinned to a dedicated one — and the policy that assigns it.
//
// Route table. Every name below is an explicit decision in `RoutePolicy.explicit`; every other
// command is `.shared` unless its flags say it binds connection state, in which case it is
// refused (`.unsupported`) rather than guessed. A test checks that no built-in command falls
// into that refusal, so a regenerated table with a new stateful command fails until decided.
//
// | Route              | Commands                                                          |
// |--------------------|-------------------------------------------------------------------|
// | .local             | HELLO AUTH SELECT RESET QUIT READONLY READWRITE ACL|WHOAMI         |
// |                    | CLIENT (container) and CLIENT GETNAME SETNAME ID INFO REPLY         |
// |                    | NO-EVICT SETINFO NO-TOUCH MAINT_NOTIFICATIONS LIST KILL UNBLOCK    |
// |                    | (LIST, KILL and UNBLOCK act on Respite's own clients)              |
// |                    | (READONLY READWRITE: "cluster support disabled", as standalone)    |
// |                    | Each has a handler (CommandKind → RespiteProxy's LocalCommands)    |
// | .transaction       | MULTI EXEC DISCARD WATCH UNWATCH                                   |
// | .blocking          | BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP       |
// |                    | WAIT WAITAOF                                                       |
// | .blockingWithArg   | XREAD XREADGROUP (blocking only with a BLOCK option: BlockingSyntax) |
// | .subscribe         | SUBSCRIBE PSUBSCRIBE SSUBSCRIBE                                    |
// | .unsubscribe       | UNSUBSCRIBE PUNSUBSCRIBE SUNSUBSCRIBE                              |
// | .monitor           | MONITOR                                                            |
// | .tracking          | CLIENT TRACKING (REDIRECT ids are Respite's, translated)           |
// | .trackingState     | CLIENT CACHING GETREDIR TRACKINGINFO: go to the tracking connection |
// |                    | (ids translated back), answered locally when there is none         |
// | .replication       | SYNC PSYNC REPLCONF: the session becomes a raw byte relay on a     |
// |                    | fresh upstream connection of its own (redis-cli --rdb, --replica)  |
// | .unsupported       | ASKING RESTORE-ASKING (cluster-internal), SCRIPT DEBUG (the Lua    |
// |                    | debugger owns its connection)                                      |
// | .shared (explicit) | PUBLISH SPUBLISH PUBSUB subcommands, SAVE — flagged pubsub/no_multi |
// |                    | SHUTDOWN (as SCRIPT KILL and FUNCTION KILL: on a connection of its |
// |                    | own, so that SHUTDOWN NOSAVE reaches a server busy with a script)  |
// |                    | but stateless                                                      |
// | .shared (default)  | everything else, including CLIENT PAUSE UNPAUSE                    |
// |                    | HELP, CONFIG, CLUSTER (the proxy's cluster facade intercepts its   |
// |                    | own subset before routing), SCRIPT, FUNCTION, DEBUG                 |
//
// Busy interrupters: SCRIPT KILL, FUNCTION KILL and SHUTDOWN are the commands Redis runs while a
// script or function is busy in order to end it (`allow_busy`, and not merely allowed like
// HELLO or AUTH), and FUNCTION STATS shows the running function then. A shared connection may
// be stuck behind that very script, and a new one cannot SELECT its database while it runs, so
// they go on a connection of their own with no database (`CommandInfo.interruptsBusy`).
//
// Containers (commands with subcommands) route by subcommand; a subcommand the table does not
// know takes its container's route (so `CLIENT FOO` is answered locally, `CONFIG FOO` upstream).
// A name in neither table is forwarded as `CommandTable.unknownRoute` (`.shared`): the upstream
// answers `-ERR unknown command`, and Respite never refuses a command a newer server may know.

/// How the proxy handles one command.
public enum CommandRoute: Sendable, Equatable {
    /// Answered by Respite itself, never forwarded.
    case local
    /// Stateless: multiplexed and pipelined on a shared upstream connection.
    case shared
    /// Starts, continues or ends a transaction; pins an upstream connection until EXEC/DISCARD.
    case transaction
    /// Always blocks; runs on a pinned upstream connection.
    case blocking
    /// Blocks only when its syntax has a `BLOCK` option (XREAD, XREADGROUP; `BlockingSyntax`);
    /// shared otherwise.
    case blockingWithArg
    /// Enters pub/sub mode on a pinned connection.
    case subscribe
    /// Leaves pub/sub channels; meaningful only on the client's pinned pub/sub connection.
    case unsubscribe
    /// Streams every command the server sees; pins a connection for good.
    case monitor
    /// CLIENT TRACKING: client-side caching state; pins a connection that is never reused.
    case tracking
    /// Reads or qualifies the tracking state (CACHING, GETREDIR, TRACKINGINFO): sent on the
    /// client's tracking connection, answered locally when the client has none.
    case trackingState
    /// Replication (SYNC, PSYNC, REPLCONF): the session becomes a raw byte relay on a fresh
    /// upstream connection of its own, for the rest of its life.
    case replication
    /// Refused by the proxy with `-ERR <reason>`.
    case unsupported(reason: String)

    /// True for routes that hold a dedicated upstream connection while their state lives.
    public var pinsConnection: Bool {
        switch self {
        case .transaction, .blocking, .subscribe, .unsubscribe, .monitor, .tracking, .replication: return true
        case .local, .shared, .blockingWithArg, .trackingState, .unsupported: return false
        }
    }
}

/// The explicit route decisions, and the rule for commands without one.
public enum RoutePolicy {
    /// Routes decided by name (`cmd` or `cmd|sub`, lowercase). See the table at the top of
    /// this file.
    public static let explicit: [String: CommandRoute] = {
        var routes: [String: CommandRoute] = [:]
        func set(_ route: CommandRoute, _ names: String...) { for n in names { routes[n] = route } }
        set(.local, "hello", "auth", "select", "reset", "quit", "readonly", "readwrite", "acl|whoami",
            "client", "client|getname", "client|setname", "client|id", "client|info", "client|reply",
            "client|no-evict", "client|setinfo", "client|no-touch", "client|maint_notifications",
            "client|list", "client|kill", "client|unblock")
        set(.transaction, "multi", "exec", "discard", "watch", "unwatch")
        set(.blocking, "blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax",
            "bzmpop", "wait", "waitaof")
        set(.blockingWithArg, "xread", "xreadgroup")
        set(.subscribe, "subscribe", "psubscribe", "ssubscribe")
        set(.unsubscribe, "unsubscribe", "punsubscribe", "sunsubscribe")
        set(.monitor, "monitor")
        set(.tracking, "client|tracking")
        set(.trackingState, "client|caching", "client|getredir", "client|trackinginfo")
        set(.replication, "sync", "psync", "replconf")
        set(.unsupported(reason: "cluster-internal command; the proxy follows redirects itself"),
            "asking", "restore-asking")
        set(.unsupported(reason: "SCRIPT DEBUG needs connection state the proxy does not pin"),
            "script|debug")
        set(.shared, "publish", "spublish", "pubsub", "pubsub|channels", "pubsub|numpat",
            "pubsub|numsub", "pubsub|shardchannels", "pubsub|shardnumsub", "pubsub|help", "save",
            "shutdown")
        return routes
    }()

    /// Commands that must not be queued in a transaction: inside MULTI the server would run them
    /// on Respite's upstream connection, not for the client. CLIENT KILL would kill Respite's
    /// connections and other clients' blocked ones, CLIENT UNBLOCK would take a Respite id for a
    /// server id; CLIENT INFO, LIST, GETREDIR and TRACKINGINFO would describe
    /// Respite's connection; CLIENT REPLY OFF would silence it for good (Redis itself sends a
    /// truncated EXEC reply then); NO-EVICT, NO-TOUCH, SETINFO, HELLO and AUTH would change the
    /// connection instead of the client; a SUBSCRIBE run by EXEC would leave the connection
    /// subscribed behind Respite's back (and pooled for another client), an UNSUBSCRIBE would end
    /// subscriptions Respite tracks. Refused there with an error, and the transaction is aborted
    /// at EXEC as Redis aborts one with a command refused while queueing. SELECT and CLIENT
    /// SETNAME are queued and applied to the client when EXEC succeeds, CLIENT ID and GETNAME
    /// answered for it in EXEC's reply (`answeredInTransaction`); CLIENT TRACKING is queued
    /// with its REDIRECT id translated; CLIENT PAUSE and UNPAUSE act on the whole server, as
    /// direct.
    public static let refusedInTransaction: Set<String> = [
        "client|kill", "client|unblock", "client|info", "client|list",
        "client|reply", "client|no-evict", "client|no-touch", "client|setinfo", "client|maint_notifications",
        "client|getredir", "client|trackinginfo", "hello", "auth",
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
    ]
    /// Commands Respite answers for its own client inside a transaction too: queued upstream
    /// (so EXEC's reply keeps its shape and the server's checks apply), and the server's answer
    /// about its connection replaced by Respite's about the client.
    public static let answeredInTransaction: Set<String> = ["client|id", "client|getname"]
    /// Commands that run a script or function: it may keep the server busy for seconds, and
    /// Redis answers nothing else on its connection meanwhile. Each goes on a dedicated
    /// connection leased for it (reused, not dialled), so a long script stalls only the client
    /// that runs it, and other clients get from Redis what they would direct (`-BUSY`).
    public static let scriptRunners: Set<String> = ["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"]
    /// Commands Redis marks MAY_REPLICATE, a flag its `COMMAND` reply does not show: a
    /// `CLIENT PAUSE WRITE` holds them like writes.
    public static let mayReplicate: Set<String> = ["eval", "evalsha", "fcall", "pfcount", "publish", "spublish"]
    /// Commands that start (1) or end (-1) a client pause: while Redis holds writes, Respite
    /// sends each held command on a connection of its own, so a held write stalls only the
    /// client that sent it, as direct, never the shared connection's other clients.
    public static let pauseControls: [String: Int8] = ["client|pause": 1, "client|unpause": -1]
    /// Commands that end a busy script, or that Redis answers while one runs without needing a
    /// database (FUNCTION STATS, which shows the running function): see the note at the top of
    /// this file.
    public static let busyInterrupters: Set<String> = ["script|kill", "function|kill", "function|stats", "shutdown"]

    /// The route for `name` (`cmd` or `cmd|sub`, lowercase) with `flags`: the explicit decision
    /// when there is one; otherwise `.shared`, unless the flags say the command binds state to
    /// its connection (blocking, no_multi, or pubsub on a non-module command), which is refused
    /// rather than guessed.
    public static func route(name: String, flags: CommandFlags) -> CommandRoute {
        if let route = explicit[name] { return route }
        if isDerivedStateful(flags) {
            return .unsupported(reason: "'\(name)' needs connection state the proxy does not pin")
        }
        return .shared
    }

    /// True when `route(name:flags:)` would refuse a command with no explicit decision.
    public static func isDerivedStateful(_ flags: CommandFlags) -> Bool {
        var stateful = flags.intersection(CommandFlags.connectionState)
        if flags.contains(.module) { stateful.remove(.pubsub) }
        return !stateful.isEmpty
    }
}
