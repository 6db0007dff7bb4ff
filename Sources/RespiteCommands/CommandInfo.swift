// CommandInfo: everything Respite knows about one command or subcommand — Redis's metadata
// (arity, flags, key positions, ACL categories, tips) plus Respite's decisions (route, RESP2
// reply shape). Immutable values built when a table is built; shared by every loop thread.

import RESP

/// One command (`get`) or subcommand (`config|get`), as the command table holds it.
public struct CommandInfo: Sendable {
    /// Lowercase name as Redis spells it: `get`, or `parent|sub` for a subcommand.
    public let name: String
    /// Redis arity: `n` means exactly `n` arguments (name included); `-n` means at least `n`.
    public let arity: Int
    public let flags: CommandFlags
    /// Argument index of the first key (0: no keys at fixed positions).
    public let firstKey: Int
    /// Argument index of the last key; negative counts from the end (-1: last argument).
    public let lastKey: Int
    /// Distance between keys (2 for MSET's key-value pairs).
    public let keyStep: Int
    public let aclCategories: ACLCategories
    /// Command tips, lowercase (`request_policy:all_shards`, `nondeterministic_output`).
    public let tips: [String]
    /// How the proxy treats the command.
    public let route: CommandRoute
    /// How a RESP3 reply to this command is written to a RESP2 client.
    public let shape: ReplyShape
    /// Refused inside MULTI (`RoutePolicy.refusedInTransaction`).
    public let refusedInTransaction: Bool
    /// The reply carries upstream secrets, masked under Respite's own identity (SecretReplies).
    public let secretMask: SecretMask?
    /// Ends a busy script or function (`SCRIPT KILL`, `FUNCTION KILL`, `SHUTDOWN`): sent on a
    /// connection of its own, never queued behind the script it is meant to stop.
    public let interruptsBusy: Bool
    /// `CLIENT PAUSE` (1) or `CLIENT UNPAUSE` (-1), which the proxy notes on the way through
    /// (`RoutePolicy.pauseControls`); 0 for every other command.
    public let pauseControl: Int8
    /// Runs a script or function (`RoutePolicy.scriptRunners`): sent on a connection of the
    /// client's own, never queued ahead of other clients' requests on a shared one.
    public let runsScript: Bool
    /// Held by `CLIENT PAUSE WRITE`: Redis holds write and may-replicate commands (scripts,
    /// PUBLISH, PFCOUNT) and lets the rest run.
    public let heldByWritePause: Bool
    /// How its arguments say whether a call blocks and where its timeout is
    /// (`BlockingSyntax.rules`); nil for commands that never block their connection.
    public let blocking: BlockingRule?
    /// Which command it is, for the commands the proxy treats one by one (`CommandKind`).
    public let kind: CommandKind
    /// The CLIENT container or one of its subcommands (on Redis, a CLIENT command leaves a
    /// pending CLIENT CACHING flag in place; any other consumes it).
    public let isClientCommand: Bool
    /// Queued inside MULTI and answered there for Respite's own client
    /// (`RoutePolicy.answeredInTransaction`).
    public let answeredInTransaction: Bool
    /// Subcommands, sorted by name. Empty for plain commands.
    public internal(set) var subcommands: [CommandInfo]
    /// True when the built-in table knows the command; false for commands learned only from
    /// the upstream's `COMMAND` reply (module commands, commands of a newer server).
    public let isBuiltin: Bool

    /// FNV-1a state after hashing `name|`, so a subcommand lookup hashes only its own bytes.
    let subcommandSeed: UInt64

    public init(name: String, arity: Int, flags: CommandFlags, firstKey: Int, lastKey: Int,
                keyStep: Int, aclCategories: ACLCategories = [], tips: [String] = [],
                subcommands: [CommandInfo] = [], isBuiltin: Bool,
                route: CommandRoute? = nil, shape: ReplyShape? = nil) {
        self.name = name
        self.arity = arity
        self.flags = flags
        self.firstKey = firstKey
        self.lastKey = lastKey
        self.keyStep = keyStep
        self.aclCategories = aclCategories
        self.tips = tips
        self.subcommands = subcommands.sorted { $0.name < $1.name }
        self.isBuiltin = isBuiltin
        self.route = route ?? RoutePolicy.route(name: name, flags: flags)
        self.refusedInTransaction = RoutePolicy.refusedInTransaction.contains(name)
        self.answeredInTransaction = RoutePolicy.answeredInTransaction.contains(name)
        self.kind = CommandKind(name: name)
        self.isClientCommand = name == "client" || name.hasPrefix("client|")
        self.secretMask = SecretReplies.commands[name]
        self.interruptsBusy = RoutePolicy.busyInterrupters.contains(name)
        self.pauseControl = RoutePolicy.pauseControls[name] ?? 0
        self.runsScript = RoutePolicy.scriptRunners.contains(name)
        self.blocking = BlockingSyntax.rules[name]
        self.heldByWritePause = !flags.isDisjoint(with: [.write, .mayReplicate]) || RoutePolicy.mayReplicate.contains(name)
        if let shape {
            self.shape = shape
        } else if let bar = name.utf8.firstIndex(of: UInt8(ascii: "|")) {
            let next = name.utf8.index(after: bar)
            self.shape = ReplyShapes.shape(command: String(name[..<bar]), subcommand: String(name[next...]))
        } else {
            self.shape = ReplyShapes.shape(command: name, subcommand: nil)
        }
        var seed = CommandHash.offsetBasis
        for byte in name.utf8 { seed = CommandHash.step(seed, byte) }
        self.subcommandSeed = CommandHash.step(seed, UInt8(ascii: "|"))
    }

    /// True for `parent|sub` entries.
    public var isSubcommand: Bool { name.utf8.contains(UInt8(ascii: "|")) }

    /// The container's name for a subcommand (`config` for `config|get`), else `name`.
    public var containerName: Substring {
        guard let bar = name.firstIndex(of: "|") else { return name[...] }
        return name[..<bar]
    }

    /// True when `argc` arguments (name included) satisfy the arity.
    @inlinable public func accepts(argc: Int) -> Bool {
        arity >= 0 ? argc == arity : argc >= -arity
    }

    /// The fixed key positions for a request of `argc` arguments, with a negative last index
    /// resolved against `argc`; `nil` when the command has no fixed-position keys or `argc` is
    /// too short to hold one. Commands with `.movableKeys` may have keys elsewhere too (their
    /// key specs say where); this covers only the legacy first/last/step range.
    @inlinable public func keyIndexes(argc: Int) -> (first: Int, last: Int, step: Int)? {
        guard firstKey > 0, firstKey < argc else { return nil }
        var last = lastKey < 0 ? argc + lastKey : lastKey
        if last >= argc { last = argc - 1 }
        guard last >= firstKey else { return nil }
        return (firstKey, last, keyStep > 0 ? keyStep : 1)
    }
}
