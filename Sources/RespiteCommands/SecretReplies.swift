// SecretReplies: the replies that carry the upstream's secrets, and how they are masked when a
// command runs with Respite's own upstream identity (`client-auth local`, or a client that has
// not logged in under pass-through). There the app did not authenticate to Redis as itself, so
// Redis's secrets are not its to read: a non-empty secret is replaced by `(redacted)`, Redis's
// own word for a hidden secret (SLOWLOG, MONITOR and the ACL log show it so). Empty values stay
// empty: they hide nothing, and tools that compare CONFIG GET with CONFIG SET see no change.

import RESP

/// What to mask in one command's reply.
public enum SecretMask: Sendable, Equatable {
    /// CONFIG GET: the values of `SecretReplies.configParameters`.
    case configGet
    /// ACL GETUSER: the password hashes under `passwords`.
    case aclGetUser
    /// ACL LIST: the `#<hash>` rules of every user.
    case aclList
}

public enum SecretReplies {
    /// Redis 7.0's configuration parameters that hold credentials: those it flags as sensitive
    /// (requirepass, masterauth, masteruser — redacted in its own SLOWLOG) and the TLS key
    /// passphrases.
    public static let configParameters: Set<String> = [
        "requirepass", "masterauth", "masteruser", "tls-key-file-pass", "tls-client-key-file-pass",
    ]
    /// The commands whose replies are masked (`cmd|sub`, lowercase).
    public static let commands: [String: SecretMask] = [
        "config|get": .configGet, "acl|getuser": .aclGetUser, "acl|list": .aclList,
    ]
    public static let redacted: [UInt8] = Array("(redacted)".utf8)

    /// `value` (one reply to a command of `kind`) with its secrets replaced; nil when it holds
    /// none, so the reply can go out as it came.
    public static func mask(_ value: RESPValue, _ kind: SecretMask) -> RESPValue? {
        switch kind {
        case .configGet:
            return maskPairs(value) { key, v in
                guard let name = key.bytesValue, configParameters.contains(String(decoding: name, as: UTF8.self).lowercased()),
                      let b = v.bytesValue, !b.isEmpty, b != redacted else { return nil }
                return .bulkString(redacted)
            }
        case .aclGetUser:
            return maskPairs(value) { key, v in
                guard key.bytesValue == Array("passwords".utf8), let hashes = v.arrayElements, !hashes.isEmpty else { return nil }
                let masked = hashes.map { _ in RESPValue.bulkString(redacted) }
                if case .set = v { return .set(masked) }
                return .array(masked)
            }
        case .aclList:
            guard case .array(let lines?) = value else { return nil }
            var changed = false
            let out: [RESPValue] = lines.map { line in
                guard let b = line.bytesValue, let m = maskHashRules(b) else { return line }
                changed = true
                return .bulkString(m)
            }
            return changed ? .array(out) : nil
        }
    }

    /// A map (RESP3) or flat key-value array (RESP2) with the values `replace` returns.
    static func maskPairs(_ value: RESPValue, _ replace: (RESPValue, RESPValue) -> RESPValue?) -> RESPValue? {
        var items: [RESPValue]
        let isMap: Bool
        switch value {
        case .map(let i): items = i; isMap = true
        case .array(let i?): items = i; isMap = false
        default: return nil
        }
        var changed = false
        var k = 0
        while k + 1 < items.count {
            if let v = replace(items[k], items[k + 1]) { items[k + 1] = v; changed = true }
            k += 2
        }
        guard changed else { return nil }
        return isMap ? .map(items) : .array(items)
    }

    /// An ACL rule line with each `#<hash>` rule's hash redacted; nil when it has none.
    static func maskHashRules(_ line: [UInt8]) -> [UInt8]? {
        let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        var changed = false
        var out: [UInt8] = []
        for (n, w) in words.enumerated() {
            if n > 0 { out.append(UInt8(ascii: " ")) }
            if w.count > 1 && w.first == UInt8(ascii: "#") && Array(w.dropFirst()) != redacted {
                out.append(UInt8(ascii: "#")); out += redacted; changed = true
            } else {
                out += w
            }
        }
        return changed ? out : nil
    }
}
