// CommandTable: name → CommandInfo for every command and subcommand Respite knows, built once
// (from the generated built-in table, then merged with the upstream's `COMMAND` reply) and
// read by every loop thread. Lookups take raw request bytes, fold ASCII case while hashing
// (FNV-1a) into an open-addressed index, and confirm with a byte compare: no allocation, no
// String on the request path.

import RESP

/// Index of an entry in one `CommandTable` (commands and subcommands share the space).
public struct CommandID: Hashable, Sendable {
    public let rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }
}

/// The command table: an immutable value, safe to share across threads.
public struct CommandTable: Sendable {
    /// Route for a name in neither the built-in table nor the upstream's: forward it on a shared
    /// connection and let the upstream answer (`-ERR unknown command` or, for a command a newer
    /// server knows, the real reply). Never a silent refusal, never a local guess.
    public static let unknownRoute: CommandRoute = .shared

    /// The table generated from a real redis-server (see `BuiltinCommands.swift`).
    public static let builtin = CommandTable(commands: BuiltinCommands.parse())

    /// Top-level commands, sorted by name; each carries its subcommands.
    public let commands: [CommandInfo]
    /// Every entry, commands and subcommands; `CommandID` indexes this array.
    public let entries: [CommandInfo]

    /// The hash index over `entries`, immutable after init.
    private let index: CommandIndex

    /// Builds a table from top-level commands (subcommands nested in them). On duplicate
    /// names the later command wins.
    public init(commands: [CommandInfo]) {
        var unique: [String: CommandInfo] = [:]
        for c in commands { unique[c.name] = c }
        let sorted = unique.values.sorted { $0.name < $1.name }
        self.commands = sorted

        var entries: [CommandInfo] = []
        var parent: [Int32] = []
        for c in sorted {
            let id = Int32(entries.count)
            entries.append(c)
            parent.append(-1)
            for s in c.subcommands {
                entries.append(s)
                parent.append(id)
            }
        }
        self.entries = entries
        self.index = CommandIndex(names: entries.map(\.name), parent: parent)
    }

    /// Number of top-level commands.
    public var count: Int { commands.count }

    /// The entry for an id from this table.
    @inlinable public subscript(id: CommandID) -> CommandInfo { entries[Int(id.rawValue)] }

    /// Finds a top-level command by name, case-insensitively, over raw bytes. Never matches a
    /// subcommand (`config|get` sent as a command name is not found).
    public func lookupID(_ name: UnsafeRawBufferPointer) -> CommandID? {
        let h = CommandHash.hash(name)
        guard let i = index.probe(h, name, suffixFrom: 0), index.parent[i] < 0 else { return nil }
        return CommandID(rawValue: Int32(i))
    }

    /// Finds a top-level command by name, case-insensitively, over raw bytes.
    public func lookup(_ name: UnsafeRawBufferPointer) -> CommandInfo? {
        guard let id = lookupID(name) else { return nil }
        return entries[Int(id.rawValue)]
    }

    /// Finds subcommand `sub` of `command` (from any table), case-insensitively, over raw bytes.
    public func lookupSubcommandID(_ command: CommandInfo, _ sub: UnsafeRawBufferPointer) -> CommandID? {
        if command.subcommands.isEmpty { return nil }
        let h = CommandHash.hash(sub, seed: command.subcommandSeed)
        let prefix = command.name.utf8.count + 1
        guard let i = index.probe(h, sub, suffixFrom: prefix) else { return nil }
        let p = Int(index.parent[i])
        guard p >= 0, entries[p].name == command.name else { return nil }
        return CommandID(rawValue: Int32(i))
    }

    /// Finds subcommand `sub` of `command`, case-insensitively, over raw bytes.
    public func lookupSubcommand(_ command: CommandInfo, _ sub: UnsafeRawBufferPointer) -> CommandInfo? {
        guard let id = lookupSubcommandID(command, sub) else { return nil }
        return entries[Int(id.rawValue)]
    }

    /// Convenience lookup by name (`"get"`, `"config|get"`), for setup code and tests.
    public func lookup(name: String) -> CommandInfo? {
        var bytes = Array(name.utf8)
        guard let bar = bytes.firstIndex(of: UInt8(ascii: "|")) else {
            return bytes.withUnsafeBytes { lookup($0) }
        }
        let sub = Array(bytes[(bar + 1)...])
        bytes.removeSubrange(bar...)
        guard let command = bytes.withUnsafeBytes({ lookup($0) }) else { return nil }
        return sub.withUnsafeBytes { lookupSubcommand(command, $0) }
    }

    /// Resolves fixed key positions of `info` for a request of `argc` arguments (see
    /// `CommandInfo.keyIndexes(argc:)`).
    @inlinable public func keyIndexes(argc: Int, info: CommandInfo) -> (first: Int, last: Int, step: Int)? {
        info.keyIndexes(argc: argc)
    }

}

/// The open-addressed hash index behind `CommandTable`: plain memory, written once in `init`
/// and only read afterwards, so sharing it across threads is safe.
private final class CommandIndex: @unchecked Sendable {
    /// Entry index per slot, -1 when empty; slot count is a power of two, at most half full.
    let slots: UnsafeMutablePointer<Int32>
    let mask: Int
    /// Full-name hash of each entry (for subcommands: the hash of `parent|sub`).
    let hashes: UnsafeMutablePointer<UInt64>
    /// Lowercase names of all entries, back to back; entry `i` is `names[start[i]..<start[i+1]]`.
    let names: UnsafeMutablePointer<UInt8>
    let start: UnsafeMutablePointer<Int32>
    /// Container entry of each subcommand, -1 for top-level commands.
    let parent: UnsafeMutablePointer<Int32>
    let count: Int

    init(names entryNames: [String], parent entryParent: [Int32]) {
        count = entryNames.count
        let total = entryNames.reduce(0) { $0 + $1.utf8.count }
        names = .allocate(capacity: max(total, 1))
        start = .allocate(capacity: count + 1)
        hashes = .allocate(capacity: max(count, 1))
        parent = .allocate(capacity: max(count, 1))
        var size = 16
        while size < count * 2 { size <<= 1 }
        mask = size - 1
        slots = .allocate(capacity: size)
        slots.initialize(repeating: -1, count: size)

        var at = 0
        for (i, name) in entryNames.enumerated() {
            start[i] = Int32(at)
            var h = CommandHash.offsetBasis
            for b in name.utf8 {
                names[at] = CommandHash.lower(b)
                at += 1
                h = CommandHash.step(h, b)
            }
            hashes[i] = h
            parent[i] = entryParent[i]
            var s = Int(truncatingIfNeeded: h) & mask
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(i)
        }
        start[count] = Int32(at)
    }

    deinit {
        slots.deallocate()
        hashes.deallocate()
        names.deallocate()
        start.deallocate()
        parent.deallocate()
    }

    /// Finds the entry with hash `h` whose name, from byte `suffixFrom` on, equals `key` with
    /// ASCII case folded.
    func probe(_ h: UInt64, _ key: UnsafeRawBufferPointer, suffixFrom: Int) -> Int? {
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let i = Int(slots[s])
            if i < 0 { return nil }
            if hashes[i] == h {
                let from = Int(start[i]) + suffixFrom
                if Int(start[i + 1]) - from == key.count && equalFolded(from, key) { return i }
            }
            s = (s + 1) & mask
        }
    }

    @inline(__always)
    private func equalFolded(_ from: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        var j = 0
        while j < key.count {
            if names[from + j] != CommandHash.lower(key[j]) { return false }
            j += 1
        }
        return true
    }
}
