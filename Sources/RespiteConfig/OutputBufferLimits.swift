// OutputBufferLimits: Redis's per-class `client-output-buffer-limit` — a hard limit, and a soft
// limit that may be exceeded for a while — and the pure decision of when a client's unread
// output has gone past them.

/// The classes of client Redis limits separately.
public enum ClientClass: Int, Sendable, CaseIterable {
    case normal, replica, pubsub

    /// The name a configuration file uses (`slave` is accepted for `replica`, as Redis does).
    public var name: String {
        switch self {
        case .normal: return "normal"
        case .replica: return "replica"
        case .pubsub: return "pubsub"
        }
    }

    static func named(_ text: String) -> ClientClass? {
        switch text.lowercased() {
        case "normal": return .normal
        case "replica", "slave": return .replica
        case "pubsub": return .pubsub
        default: return nil
        }
    }
}

/// One class's limits: bytes of unread output (0 = no limit) and seconds past the soft limit.
public struct OutputBufferLimit: Sendable, Equatable {
    public var hard: Int
    public var soft: Int
    public var softSeconds: Int

    public init(hard: Int, soft: Int, softSeconds: Int) {
        self.hard = hard; self.soft = soft; self.softSeconds = softSeconds
    }

    /// Redis's checkClientOutputBufferLimits: whether a client with `used` bytes unread is past
    /// the limits at `nowMs`. `softSince` is when it went past the soft limit (0 = it is not),
    /// updated here; past it for more than `softSeconds` counts as past the limits.
    public func exceeded(used: Int, softSince: inout Int64, nowMs: Int64) -> Bool {
        let hardReached = hard > 0 && used >= hard
        var softReached = soft > 0 && used >= soft
        if softReached {
            if softSince == 0 {
                softSince = nowMs
                softReached = false
            } else if nowMs - softSince <= Int64(softSeconds) * 1000 {
                softReached = false
            }
        } else {
            softSince = 0
        }
        return hardReached || softReached
    }
}

/// The limits of every class.
public struct OutputBufferLimits: Sendable, Equatable {
    public var normal: OutputBufferLimit
    public var replica: OutputBufferLimit
    public var pubsub: OutputBufferLimit

    public init(normal: OutputBufferLimit, replica: OutputBufferLimit, pubsub: OutputBufferLimit) {
        self.normal = normal; self.replica = replica; self.pubsub = pubsub
    }

    public subscript(_ c: ClientClass) -> OutputBufferLimit {
        get {
            switch c {
            case .normal: return normal
            case .replica: return replica
            case .pubsub: return pubsub
            }
        }
        set {
            switch c {
            case .normal: normal = newValue
            case .replica: replica = newValue
            case .pubsub: pubsub = newValue
            }
        }
    }

    /// Applies `client-output-buffer-limit` arguments: groups of `<class> <hard> <soft>
    /// <soft-seconds>`, as redis.conf writes them; or one size, the older single hard limit
    /// for every class (soft limits off).
    mutating func apply(_ args: [String]) throws(ConfigReason) {
        let sizes = 0...1024 * ConfigValues.gb
        if args.count == 1 {
            let hard = try ConfigValues.bytes(args[0], in: sizes)
            for c in ClientClass.allCases { self[c] = OutputBufferLimit(hard: hard, soft: 0, softSeconds: 0) }
            return
        }
        guard !args.isEmpty, args.count % 4 == 0 else {
            throw ConfigReason("takes <class> <hard limit> <soft limit> <soft seconds> (one or more groups), got \(args.count) arguments")
        }
        var updated = self
        var i = 0
        while i < args.count {
            guard let c = ClientClass.named(args[i]) else {
                throw ConfigReason("names an invalid client class '\(args[i])' (normal, replica or pubsub)")
            }
            let hard = try ConfigValues.bytes(args[i + 1], in: sizes)
            let soft = try ConfigValues.bytes(args[i + 2], in: sizes)
            let seconds = try ConfigValues.integer(args[i + 3], in: 0...2_147_483_647)
            updated[c] = OutputBufferLimit(hard: hard, soft: soft, softSeconds: seconds)
            i += 4
        }
        self = updated
    }

    /// The value as configuration arguments, every class.
    func render() -> [String] {
        ClientClass.allCases.flatMap { c -> [String] in
            let l = self[c]
            return [c.name, ConfigValues.renderBytes(l.hard), ConfigValues.renderBytes(l.soft), String(l.softSeconds)]
        }
    }
}
