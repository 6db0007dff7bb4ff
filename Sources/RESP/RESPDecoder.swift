// RESPDecoder: builds a RESPValue from one RESP2/RESP3 frame, for the few replies Respite reads
// itself (handshake, COMMAND, maintenance pushes). A pure function over bytes: it returns nil
// while the frame is incomplete and throws on bytes that can never become a valid frame. It is
// not resumable (callers retry with more bytes); the data path uses the scanners instead.

/// Why bytes are not valid RESP, with the offset of the offending byte.
public struct RESPDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A short human message, e.g. "invalid bulk length".
    public let message: String
    /// Offset from the start of the input where the problem was seen.
    public let offset: Int

    public init(_ message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    public var description: String { "\(message) at byte \(offset)" }
}

extension RESPValue {
    /// Decodes one value from the start of `bytes`.
    ///
    /// - Returns: the value and how many bytes it used, or nil when `bytes` holds only the start
    ///   of a value. Attributes (`|`) are read and dropped; the value after them is returned.
    /// - Throws: `RESPDecodeError` for malformed input, or nesting deeper than `maxDepth`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 128) throws -> (value: RESPValue, consumed: Int)? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else { return nil }
        var d = RESPDecoding(p: base, n: bytes.count, i: 0, maxDepth: maxDepth)
        guard let v = try d.value(depth: 0) else { return nil }
        return (v, d.i)
    }

    /// Decodes one value from the start of `bytes` (see the buffer-pointer form).
    public static func decode(_ bytes: [UInt8], maxDepth: Int = 128) throws -> (value: RESPValue, consumed: Int)? {
        try bytes.withUnsafeBytes { try decode($0, maxDepth: maxDepth) }
    }
}

/// The decoder's read position. Every method returns nil for "need more bytes".
struct RESPDecoding {
    let p: UnsafePointer<UInt8>
    let n: Int
    var i: Int
    let maxDepth: Int

    static let maxLength = Int(Int32.max)

    mutating func value(depth: Int) throws -> RESPValue? {
        guard depth <= maxDepth else { throw RESPDecodeError("nesting too deep", offset: i) }
        // Attributes (`|`) before the value are read and dropped in a loop: a run of them must
        // not cost a stack frame each.
        while i < n && p[i] == RESPByte.pipe {
            let at = i
            i += 1
            guard let count = try integer("invalid attribute length") else { return nil }
            guard count >= 0, count <= Self.maxLength else {
                throw RESPDecodeError("invalid attribute length", offset: at)
            }
            for _ in 0..<(count * 2) {
                guard try value(depth: depth + 1) != nil else { return nil }
            }
        }
        guard i < n else { return nil }
        let at = i
        let t = p[i]
        i += 1
        switch t {
        case RESPByte.plus:
            guard let (s, l) = try line() else { return nil }
            return .simpleString(bytes(s, l))
        case RESPByte.minus:
            guard let (s, l) = try line() else { return nil }
            return .error(bytes(s, l))
        case RESPByte.colon:
            guard let v = try integer("invalid integer") else { return nil }
            return .integer(Int64(v))
        case RESPByte.dollar:
            guard let len = try integer("invalid bulk length") else { return nil }
            if len == -1 { return .bulkString(nil) }
            guard let body = try payload(len, what: "bulk") else { return nil }
            return .bulkString(body)
        case RESPByte.bang:
            guard let len = try integer("invalid bulk error length") else { return nil }
            guard let body = try payload(len, what: "bulk error") else { return nil }
            return .bulkError(body)
        case RESPByte.equals:
            guard let len = try integer("invalid verbatim length") else { return nil }
            let start = i
            guard let body = try payload(len, what: "verbatim") else { return nil }
            guard body.count >= 4, body[3] == RESPByte.colon else {
                throw RESPDecodeError("invalid verbatim string", offset: start)
            }
            return .verbatim(format: Array(body[0..<3]), text: Array(body[4...]))
        case RESPByte.star:
            guard let count = try integer("invalid multibulk length") else { return nil }
            if count == -1 { return .array(nil) }
            guard let items = try elements(count, at: at, depth: depth) else { return nil }
            return .array(items)
        case RESPByte.tilde, RESPByte.push, RESPByte.percent:
            guard let count = try integer("invalid aggregate length") else { return nil }
            guard count >= 0, count <= Self.maxLength else {
                throw RESPDecodeError("invalid aggregate length", offset: at)
            }
            guard let items = try elements(t == RESPByte.percent ? count * 2 : count, at: at, depth: depth) else { return nil }
            return t == RESPByte.tilde ? .set(items) : t == RESPByte.push ? .push(items) : .map(items)
        case RESPByte.underscore:
            guard let (_, l) = try line() else { return nil }
            guard l == 0 else { throw RESPDecodeError("invalid null", offset: at) }
            return .null
        case RESPByte.hash:
            guard let (s, l) = try line() else { return nil }
            guard l == 1, p[s] == RESPByte.t || p[s] == RESPByte.f else {
                throw RESPDecodeError("invalid boolean", offset: at)
            }
            return .boolean(p[s] == RESPByte.t)
        case RESPByte.comma:
            guard let (s, l) = try line() else { return nil }
            guard l > 0 else { throw RESPDecodeError("invalid double", offset: at) }
            return .double(bytes(s, l))
        case RESPByte.lparen:
            guard let (s, l) = try line() else { return nil }
            var k = s
            if k < s + l && (p[k] == RESPByte.minus || p[k] == RESPByte.plus) { k += 1 }
            guard k < s + l, (k..<(s + l)).allSatisfy({ p[$0] >= 48 && p[$0] <= 57 }) else {
                throw RESPDecodeError("invalid big number", offset: at)
            }
            return .bigNumber(bytes(s, l))
        default:
            throw RESPDecodeError("invalid type byte", offset: at)
        }
    }

    private mutating func elements(_ count: Int, at: Int, depth: Int) throws -> [RESPValue]? {
        guard count >= 0, count <= Self.maxLength * 2 else {
            throw RESPDecodeError("invalid multibulk length", offset: at)
        }
        var items: [RESPValue] = []
        items.reserveCapacity(min(count, 1024))
        for _ in 0..<count {
            guard let v = try value(depth: depth + 1) else { return nil }
            items.append(v)
        }
        return items
    }

    /// `len` bytes then CRLF.
    private mutating func payload(_ len: Int, what: String) throws -> [UInt8]? {
        guard len >= 0, len <= Self.maxLength else { throw RESPDecodeError("invalid \(what) length", offset: i) }
        if n - i < len + 2 {
            // Say early when the bytes after the payload that did arrive are not CRLF.
            if n - i == len + 1, p[i + len] != RESPByte.cr {
                throw RESPDecodeError("\(what) not terminated by CRLF", offset: i + len)
            }
            return nil
        }
        guard p[i + len] == RESPByte.cr, p[i + len + 1] == RESPByte.lf else {
            throw RESPDecodeError("\(what) not terminated by CRLF", offset: i + len)
        }
        let b = bytes(i, len)
        i += len + 2
        return b
    }

    /// The line from `i` up to CRLF; moves past the CRLF. CR or LF alone inside throws.
    private mutating func line() throws -> (Int, Int)? {
        var k = i
        while k < n {
            let b = p[k]
            if b == RESPByte.cr {
                guard k + 1 < n else { return nil }
                guard p[k + 1] == RESPByte.lf else { throw RESPDecodeError("expected LF after CR", offset: k + 1) }
                let r = (i, k - i)
                i = k + 2
                return r
            }
            if b == RESPByte.lf { throw RESPDecodeError("LF without CR", offset: k) }
            k += 1
        }
        return nil
    }

    /// A signed decimal line. Rejects bad digits as soon as they arrive.
    private mutating func integer(_ message: String) throws -> Int? {
        let start = i
        var k = i
        var v: Int = 0
        var neg = false
        var digits = 0
        while k < n {
            let b = p[k]
            if b == RESPByte.cr {
                guard k + 1 < n else { return nil }
                guard p[k + 1] == RESPByte.lf, digits > 0 else { throw RESPDecodeError(message, offset: start) }
                i = k + 2
                return v
            }
            if k == start && b == RESPByte.minus {
                neg = true
            } else {
                let d = Int(b) &- 48
                guard d >= 0 && d <= 9 else { throw RESPDecodeError(message, offset: start) }
                // Negative numbers accumulate downwards, so LLONG_MIN (which Redis sends) fits.
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = neg ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
                guard !o1 && !o2 else { throw RESPDecodeError(message, offset: start) }
                v = a
                digits += 1
            }
            k += 1
        }
        return nil
    }

    private func bytes(_ s: Int, _ l: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: p + s, count: l))
    }
}

// MARK: - Convenience accessors

extension RESPValue {
    /// The bytes of a simple string, bulk string or verbatim string (text only).
    public var bytesValue: [UInt8]? {
        switch self {
        case .simpleString(let b): return b
        case .bulkString(let b): return b
        case .verbatim(_, let text): return text
        default: return nil
        }
    }

    /// `bytesValue` as UTF-8 text (invalid sequences repaired).
    public var stringValue: String? {
        bytesValue.map { String(decoding: $0, as: UTF8.self) }
    }

    /// An integer reply's value.
    public var intValue: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }

    /// A double reply's value, or an integer's, or a string holding a number (RESP2 scores).
    public var doubleValue: Double? {
        switch self {
        case .integer(let n): return Double(n)
        case .double(let t), .simpleString(let t), .bulkString(let t?):
            return Double(String(decoding: t, as: UTF8.self))
        default: return nil
        }
    }

    /// A boolean reply's value, or RESP2's `:1`/`:0`.
    public var boolValue: Bool? {
        switch self {
        case .boolean(let b): return b
        case .integer(let n) where n == 0 || n == 1: return n == 1
        default: return nil
        }
    }

    /// The elements of an array, set or push.
    public var arrayElements: [RESPValue]? {
        switch self {
        case .array(let items?), .set(let items), .push(let items): return items
        default: return nil
        }
    }

    /// A map's pairs, or those of an even-length array (a map as RESP2 sends it).
    public var mapPairs: [(key: RESPValue, value: RESPValue)]? {
        let flat: [RESPValue]
        switch self {
        case .map(let items): flat = items
        case .array(let items?) where items.count % 2 == 0: flat = items
        default: return nil
        }
        return stride(from: 0, to: flat.count, by: 2).map { (key: flat[$0], value: flat[$0 + 1]) }
    }

    /// True for `_`, `$-1` and `*-1`.
    public var isNull: Bool {
        switch self {
        case .null, .bulkString(nil), .array(nil): return true
        default: return false
        }
    }

    /// The text of an error or bulk error, e.g. `ERR unknown command`.
    public var errorMessage: String? {
        switch self {
        case .error(let b), .bulkError(let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }
}
