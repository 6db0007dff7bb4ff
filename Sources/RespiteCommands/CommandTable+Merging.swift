// CommandTable+Merging: folds a live `COMMAND` reply from the upstream into the table at
// start, so the proxy knows module commands and the exact metadata of the server it fronts.
//
// Wire format (Redis 7; RESP2 sends sets as arrays, older servers send fewer elements):
//   *N                             one entry per command
//     *10                          [name, arity, flags, first, last, step,
//       $3 get  :2  ~2 +readonly +fast  :1 :1 :1      acl-categories, tips, key-specs,
//       ~3 +@read +@string +@fast  *0  *1 %4…  *0     subcommands (entries of the same shape)]

import RESP

extension CommandTable {
    /// A table with every well-formed entry of `commandReply` added or updated. The upstream's
    /// metadata (arity, flags, keys, categories, tips) replaces the built-in one; routes come
    /// from `RoutePolicy`, so a command known only to the upstream is `.shared` unless its
    /// flags say it needs connection state, in which case it is `.unsupported`. Subcommands
    /// merge the same way. Malformed entries are skipped; a reply that is not an array (an
    /// error, say) leaves the table as it is.
    public func merging(commandReply: RESPValue) -> CommandTable {
        guard let items = Self.elements(commandReply) else { return self }
        var byName: [String: CommandInfo] = [:]
        for c in commands { byName[c.name] = c }
        for item in items {
            guard let info = Self.parseEntry(item, known: { byName[$0] }) else { continue }
            byName[info.name] = info
        }
        return CommandTable(commands: Array(byName.values))
    }

    /// Parses one `COMMAND` entry. `known` gives the current entry of a name, for
    /// `isBuiltin` and for keeping subcommands the reply does not list.
    static func parseEntry(_ value: RESPValue, known: (String) -> CommandInfo?) -> CommandInfo? {
        guard let e = elements(value), e.count >= 6,
              let rawName = text(e[0]), !rawName.isEmpty,
              case .integer(let arity) = e[1],
              let flagItems = elements(e[2]),
              case .integer(let first) = e[3], case .integer(let last) = e[4], case .integer(let step) = e[5]
        else { return nil }
        let name = rawName.lowercased()
        var flags: CommandFlags = []
        for item in flagItems {
            if let word = text(item), let flag = CommandFlags(name: word.lowercased()) { flags.insert(flag) }
        }
        var acl: ACLCategories = []
        if e.count > 6, let cats = elements(e[6]) {
            for item in cats {
                if let word = text(item), let cat = ACLCategories(name: word.lowercased()) { acl.insert(cat) }
            }
        }
        var tips: [String] = []
        if e.count > 7, let items = elements(e[7]) {
            tips = items.compactMap { text($0)?.lowercased() }
        }
        let previous = known(name)
        var subs: [String: CommandInfo] = [:]
        for s in previous?.subcommands ?? [] { subs[s.name] = s }
        if e.count > 9, let items = elements(e[9]) {
            for item in items {
                guard let sub = parseEntry(item, known: { subs[$0] }),
                      sub.containerName == name[...] else { continue }
                subs[sub.name] = sub
            }
        }
        return CommandInfo(name: name, arity: Int(arity), flags: flags, firstKey: Int(first),
                           lastKey: Int(last), keyStep: Int(step), aclCategories: acl, tips: tips,
                           subcommands: Array(subs.values), isBuiltin: previous?.isBuiltin ?? false)
    }

    /// Elements of an array or RESP3 set; `nil` for anything else.
    static func elements(_ value: RESPValue) -> [RESPValue]? {
        switch value {
        case .array(let items?): return items
        case .set(let items): return items
        default: return nil
        }
    }

    /// Text of a simple, bulk or verbatim string; `nil` for anything else.
    static func text(_ value: RESPValue) -> String? {
        switch value {
        case .simpleString(let b), .bulkString(let b?): return String(decoding: b, as: UTF8.self)
        case .verbatim(_, let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }
}
