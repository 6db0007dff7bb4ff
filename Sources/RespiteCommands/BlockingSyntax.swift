// BlockingSyntax: whether one call of a blocking command can block its connection, and which
// argument holds its timeout — read from the command's real syntax, as Redis parses it, never by
// looking for a word anywhere in the arguments (a key, group or consumer may be named `block`
// or `streams`).
//
// | Rule          | Commands                                   | Timeout                       |
// |---------------|--------------------------------------------|-------------------------------|
// | .timeoutLast  | BLPOP BRPOP BZPOPMIN BZPOPMAX BLMOVE        | last argument, seconds        |
// |               | BRPOPLPUSH                                  |                               |
// | .timeoutLast  | WAIT WAITAOF (not flagged `blocking`, yet   | last argument, milliseconds   |
// |               | they hold their connection until replicas) |                               |
// | .timeoutFirst | BLMPOP BZMPOP (timeout numkeys key …)       | argument 1, seconds           |
// | .streamRead   | XREAD XREADGROUP: only with a BLOCK option  | BLOCK's argument, milliseconds|
//
// XREAD and XREADGROUP are parsed as xreadCommand (t_stream.c) does: options in any order,
// GROUP takes two arguments (XREADGROUP only), COUNT and BLOCK one, NOACK none (XREADGROUP
// only), and STREAMS ends the options — everything after it is keys and IDs. An option Redis 7
// does not know is a syntax error there; a newer server may know it, and its arity is unknown
// here, so such a call counts as blocking whenever any later argument spells BLOCK (a lease
// spent on an error reply is cheap; a blocked shared connection is not).

/// How a blocking command's arguments say whether, and for how long, it blocks.
public enum BlockingRule: Sendable, Equatable {
    /// Always blocks; the timeout is the last argument.
    case timeoutLast(millis: Bool)
    /// Always blocks; the timeout is the first argument.
    case timeoutFirst
    /// Blocks only with a BLOCK option before STREAMS (`group`: XREADGROUP's options too).
    case streamRead(group: Bool)
}

/// A call that can block: where its timeout is, when known.
public struct BlockingCall: Sendable, Equatable {
    /// Argument index of the timeout (nil: not known for sure, so never rewritten).
    public let timeoutIndex: Int?
    /// True when the timeout is in milliseconds (XREAD BLOCK, WAIT), false for seconds.
    public let millis: Bool
    public init(timeoutIndex: Int?, millis: Bool) { self.timeoutIndex = timeoutIndex; self.millis = millis }
}

public enum BlockingSyntax {
    /// The rule of every command that can block its connection, by lowercase name.
    public static let rules: [String: BlockingRule] = [
        "blpop": .timeoutLast(millis: false), "brpop": .timeoutLast(millis: false),
        "bzpopmin": .timeoutLast(millis: false), "bzpopmax": .timeoutLast(millis: false),
        "blmove": .timeoutLast(millis: false), "brpoplpush": .timeoutLast(millis: false),
        "wait": .timeoutLast(millis: true), "waitaof": .timeoutLast(millis: true),
        "blmpop": .timeoutFirst, "bzmpop": .timeoutFirst,
        "xread": .streamRead(group: false), "xreadgroup": .streamRead(group: true),
    ]

    /// Whether a call with `argc` arguments (the name is argument 0; `arg(i)` gives argument
    /// `i`) can block, and where its timeout is. Nil: it answers at once.
    public static func call(_ rule: BlockingRule, argc: Int, _ arg: (Int) -> UnsafeRawBufferPointer) -> BlockingCall? {
        switch rule {
        case .timeoutLast(let millis):
            return BlockingCall(timeoutIndex: argc >= 2 ? argc - 1 : nil, millis: millis)
        case .timeoutFirst:
            return BlockingCall(timeoutIndex: argc >= 2 ? 1 : nil, millis: false)
        case .streamRead(let group):
            return streamRead(group: group, argc: argc, arg)
        }
    }

    /// The same for arguments held as byte arrays (tests, re-issued commands).
    public static func call(_ rule: BlockingRule, _ args: [[UInt8]]) -> BlockingCall? {
        var bytes: [UInt8] = []
        var starts: [Int] = []
        for a in args { starts.append(bytes.count); bytes += a }
        return bytes.withUnsafeBytes { all in
            call(rule, argc: args.count) { i in UnsafeRawBufferPointer(rebasing: all[starts[i]..<(starts[i] + args[i].count)]) }
        }
    }

    /// xreadCommand's option loop.
    static func streamRead(group: Bool, argc: Int, _ arg: (Int) -> UnsafeRawBufferPointer) -> BlockingCall? {
        var timeout: Int? = nil
        var i = 1
        while i < argc {
            let more = argc - i - 1
            let o = arg(i)
            if equalsIgnoringCase(o, "block") && more >= 1 {
                i += 1
                timeout = i
            } else if equalsIgnoringCase(o, "count") && more >= 1 {
                i += 1
            } else if equalsIgnoringCase(o, "streams") && more >= 1 {
                break
            } else if equalsIgnoringCase(o, "group") && more >= 2 {
                if !group { return nil }          // "The GROUP option is only supported by XREADGROUP"
                i += 2
            } else if equalsIgnoringCase(o, "noack") {
                if !group { return nil }          // "The NOACK option is only supported by XREADGROUP"
            } else {
                // Redis 7 answers a syntax error; a newer server may take an option unknown here.
                var j = i + 1
                while j < argc {
                    if equalsIgnoringCase(arg(j), "block") { return BlockingCall(timeoutIndex: nil, millis: true) }
                    j += 1
                }
                return timeout.map { BlockingCall(timeoutIndex: $0, millis: true) }
            }
            i += 1
        }
        return timeout.map { BlockingCall(timeoutIndex: $0, millis: true) }
    }

    @inline(__always) static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard a.count == n else { return false }
        let p = s.utf8Start
        var k = 0
        while k < n {
            var c = a[k]
            if c >= 65 && c <= 90 { c += 32 }
            if c != p[k] { return false }
            k += 1
        }
        return true
    }
}
