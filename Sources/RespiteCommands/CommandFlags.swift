// CommandFlags and ACLCategories: the per-command flag words Redis reports in `COMMAND`,
// as bit sets. Parsed from flag names once, when a table is built; never on the request path.

/// The flags Redis attaches to a command (`COMMAND` reply, element 3), one bit per flag.
public struct CommandFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let write = CommandFlags(rawValue: 1 << 0)
    public static let readonly = CommandFlags(rawValue: 1 << 1)
    public static let denyoom = CommandFlags(rawValue: 1 << 2)
    public static let module = CommandFlags(rawValue: 1 << 3)
    public static let admin = CommandFlags(rawValue: 1 << 4)
    public static let pubsub = CommandFlags(rawValue: 1 << 5)
    public static let noscript = CommandFlags(rawValue: 1 << 6)
    public static let blocking = CommandFlags(rawValue: 1 << 7)
    public static let loading = CommandFlags(rawValue: 1 << 8)
    public static let stale = CommandFlags(rawValue: 1 << 9)
    public static let skipMonitor = CommandFlags(rawValue: 1 << 10)
    public static let skipSlowlog = CommandFlags(rawValue: 1 << 11)
    public static let asking = CommandFlags(rawValue: 1 << 12)
    public static let fast = CommandFlags(rawValue: 1 << 13)
    public static let noAuth = CommandFlags(rawValue: 1 << 14)
    public static let mayReplicate = CommandFlags(rawValue: 1 << 15)
    public static let noMandatoryKeys = CommandFlags(rawValue: 1 << 16)
    public static let noAsyncLoading = CommandFlags(rawValue: 1 << 17)
    public static let noMulti = CommandFlags(rawValue: 1 << 18)
    public static let movableKeys = CommandFlags(rawValue: 1 << 19)
    public static let allowBusy = CommandFlags(rawValue: 1 << 20)
    /// Redis < 7 only: the command's output order is random.
    public static let random = CommandFlags(rawValue: 1 << 21)
    /// Redis < 7 only: the command's output is sorted for scripts.
    public static let sortForScript = CommandFlags(rawValue: 1 << 22)

    /// Flags that mean the command binds state to its connection when seen on a command Respite
    /// has no explicit policy for. `pubsub` on a module command means "publishes", so it only
    /// counts for non-module commands (see `RoutePolicy`).
    public static let connectionState: CommandFlags = [.blocking, .noMulti, .pubsub]

    /// The flag for one `COMMAND` flag word (lowercase, as Redis spells it), or `nil` when the
    /// word is one Respite does not model.
    public init?<S: StringProtocol>(name: S) {
        guard let flag = CommandFlags.byName.first(where: { $0.0 == name }) else { return nil }
        self = flag.1
    }

    /// Every modelled flag with its wire name, in bit order.
    public static let byName: [(String, CommandFlags)] = [
        ("write", .write), ("readonly", .readonly), ("denyoom", .denyoom), ("module", .module),
        ("admin", .admin), ("pubsub", .pubsub), ("noscript", .noscript), ("blocking", .blocking),
        ("loading", .loading), ("stale", .stale), ("skip_monitor", .skipMonitor),
        ("skip_slowlog", .skipSlowlog), ("asking", .asking), ("fast", .fast), ("no_auth", .noAuth),
        ("may_replicate", .mayReplicate), ("no_mandatory_keys", .noMandatoryKeys),
        ("no_async_loading", .noAsyncLoading), ("no_multi", .noMulti), ("movablekeys", .movableKeys),
        ("allow_busy", .allowBusy), ("random", .random), ("sort_for_script", .sortForScript),
    ]
}

/// The ACL categories Redis puts a command in (`COMMAND` reply, element 7), one bit each.
/// Categories Respite does not know (e.g. ones a module adds) are dropped.
public struct ACLCategories: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let keyspace = ACLCategories(rawValue: 1 << 0)
    public static let read = ACLCategories(rawValue: 1 << 1)
    public static let write = ACLCategories(rawValue: 1 << 2)
    public static let set = ACLCategories(rawValue: 1 << 3)
    public static let sortedset = ACLCategories(rawValue: 1 << 4)
    public static let list = ACLCategories(rawValue: 1 << 5)
    public static let hash = ACLCategories(rawValue: 1 << 6)
    public static let string = ACLCategories(rawValue: 1 << 7)
    public static let bitmap = ACLCategories(rawValue: 1 << 8)
    public static let hyperloglog = ACLCategories(rawValue: 1 << 9)
    public static let geo = ACLCategories(rawValue: 1 << 10)
    public static let stream = ACLCategories(rawValue: 1 << 11)
    public static let pubsub = ACLCategories(rawValue: 1 << 12)
    public static let admin = ACLCategories(rawValue: 1 << 13)
    public static let fast = ACLCategories(rawValue: 1 << 14)
    public static let slow = ACLCategories(rawValue: 1 << 15)
    public static let blocking = ACLCategories(rawValue: 1 << 16)
    public static let dangerous = ACLCategories(rawValue: 1 << 17)
    public static let connection = ACLCategories(rawValue: 1 << 18)
    public static let transaction = ACLCategories(rawValue: 1 << 19)
    public static let scripting = ACLCategories(rawValue: 1 << 20)

    /// The category for one name, with or without its leading `@`, lowercase.
    public init?<S: StringProtocol>(name: S) {
        let bare = name.first == "@" ? name.dropFirst() : name[...]
        guard let cat = ACLCategories.byName.first(where: { $0.0 == bare }) else { return nil }
        self = cat.1
    }

    /// Every modelled category with its name (without `@`), in bit order.
    public static let byName: [(String, ACLCategories)] = [
        ("keyspace", .keyspace), ("read", .read), ("write", .write), ("set", .set),
        ("sortedset", .sortedset), ("list", .list), ("hash", .hash), ("string", .string),
        ("bitmap", .bitmap), ("hyperloglog", .hyperloglog), ("geo", .geo), ("stream", .stream),
        ("pubsub", .pubsub), ("admin", .admin), ("fast", .fast), ("slow", .slow),
        ("blocking", .blocking), ("dangerous", .dangerous), ("connection", .connection),
        ("transaction", .transaction), ("scripting", .scripting),
    ]
}
