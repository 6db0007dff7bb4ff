// ReplyShapes: which commands' RESP2 replies differ from the mechanical RESP3 → RESP2 mapping,
// and how. Every rule here is pinned by Tests/RespiteCommandsTests/Fixtures/shaping-corpus.resp,
// captured from redis-server 7.0 answering the same commands in both protocols
// (scripts/capture-shaping-corpus.py). A command not listed is `ReplyShape.plain`.

import RESP

/// The per-command `ReplyShape` table.
public enum ReplyShapes {
    /// The shape of `command`'s reply (names lowercased; `subcommand` is the lowercased second
    /// argument of container commands such as `xinfo`, or nil). For commands whose RESP2 null
    /// depends on the argument count (LPOP/RPOP with a count), call
    /// `shape(command:subcommand:argumentCount:)` or `ReplyShape.resolved(argumentCount:)`.
    public static func shape(command: String, subcommand: String?) -> ReplyShape {
        switch command {
        // Blocking pops and multi-key pops answer "nothing" with `*-1` (addReplyNullArray),
        // BLMOVE and BRPOPLPUSH included: their timeout takes the list path.
        case "blpop", "brpop", "blmpop", "lmpop", "blmove", "brpoplpush",
             "bzpopmin", "bzpopmax", "bzmpop", "zmpop":
            return nullArray
        // Without a count LPOP/RPOP miss with `$-1`; with one (3 arguments) with `*-1`.
        case "lpop", "rpop":
            return countedPop
        case "exec":
            return nullArray
        // RESP3 nests [member, score] / [field, value] pairs; RESP2 keeps them flat.
        case "zrange", "zrevrange", "zrangebyscore", "zrevrangebyscore", "zpopmin", "zpopmax",
             "zrandmember", "hrandfield", "zunion", "zinter", "zdiff":
            return flatPairs
        // RESP3 maps stream name → entries; RESP2 sends [[name, entries], …]. A deleted entry
        // still pending in a group reads as [id, *-1].
        case "xread", "xreadgroup":
            return streamRead
        // A missing member's position is `*-1`.
        case "geopos":
            return ReplyShape(nestedNull: .array)
        // The summary form with nothing pending is [0, $-1, $-1, *-1].
        case "xpending":
            return ReplyShape(nullArrayElements: 1 << 3)
        default:
            return .plain
        }
    }

    /// The shape of `command`'s reply to a request of `argumentCount` arguments (name included).
    public static func shape(command: String, subcommand: String?, argumentCount: Int) -> ReplyShape {
        shape(command: command, subcommand: subcommand).resolved(argumentCount: argumentCount)
    }

    static let nullArray = ReplyShape(topNull: .array)
    static let countedPop = ReplyShape(nullArrayFromArgumentCount: 3)
    static let flatPairs = ReplyShape(flattenPairs: true)
    static let streamRead = ReplyShape(topNull: .array, nestedNull: .array, mapAsPairs: true)
}
