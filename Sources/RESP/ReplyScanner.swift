// ReplyScanner: frames RESP2/RESP3 replies and pushes from an upstream, resumably, in place.
//
// It walks type bytes and headers, skips bulk payloads by length, and keeps an explicit stack
// of remaining element counts (hiredis's read.c idea), so bytes arriving one at a time or in
// one large read give the same frames. For each frame it reports its length, its top-level type
// (after any attribute), and whether any RESP3-only type occurs inside — RESP2 clients get the
// bytes unchanged when it does not.

/// A complete reply frame's summary.
public struct ReplyFrame: Equatable, Sendable {
    public var length: Int
    /// The top-level type byte (`+ - : $ * _ , # ( = ! % ~ >`), attributes skipped.
    public var type: UInt8
    /// Whether any RESP3-only type appears anywhere in the frame.
    public var hasRESP3: Bool
    /// Offset of the top-level value within the frame (non-zero only after an attribute).
    public var valueOffset: Int
    public init(length: Int, type: UInt8, hasRESP3: Bool, valueOffset: Int) {
        self.length = length; self.type = type; self.hasRESP3 = hasRESP3; self.valueOffset = valueOffset
    }
    @inlinable public var isPush: Bool { type == UInt8(ascii: ">") }
    @inlinable public var isError: Bool { type == UInt8(ascii: "-") || type == UInt8(ascii: "!") }
}

public enum ReplyScan: Equatable {
    case incomplete
    case frame(ReplyFrame)
    case error(RESPProtocolError)
}

/// Resumable framing of replies.
public struct ReplyScanner {
    public var limits: RESPLimits

    private var pos = 0
    private var bulkEnd = -1
    /// Remaining elements per open aggregate; negative counts mark attribute levels.
    private let stack: CountStack
    private var hasRESP3 = false
    private var topType: UInt8 = 0
    private var valueOffset = 0
    private var attributeAtTop = false

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
        stack = CountStack(capacity: min(max(1, limits.maxDepth), 128) + 1)
    }

    public mutating func reset() {
        pos = 0; bulkEnd = -1; stack.count = 0
        hasRESP3 = false; topType = 0; valueOffset = 0; attributeAtTop = false
    }

    /// Scans `p[0..<n]`, the unconsumed bytes starting at the current frame.
    public mutating func scan(_ p: UnsafePointer<UInt8>, _ n: Int) -> ReplyScan {
        while true {
            if bulkEnd >= 0 {
                if n < bulkEnd { return .incomplete }
                pos = bulkEnd
                bulkEnd = -1
                if elementDone() { return finish() }
                continue
            }
            if pos >= n { return .incomplete }
            if stack.count > 0 && p[pos] == UInt8(ascii: "$") && stack.items[stack.count - 1] > 1 {
                skipBulkRun(p, n)
                if pos >= n { return .incomplete }
            }
            let t = p[pos]
            // Length and count headers are read in one pass: digits up to `\r\n`. Other lines
            // are searched for their newline.
            var nl = 0
            var number = 0
            if t == UInt8(ascii: "$") || t == UInt8(ascii: "*") || t == UInt8(ascii: "%") || t == UInt8(ascii: "~")
                || t == UInt8(ascii: ">") || t == UInt8(ascii: "|") || t == UInt8(ascii: "!") || t == UInt8(ascii: "=") {
                var j = pos + 1
                var neg = false
                if j < n && p[j] == 45 { neg = true; j &+= 1 }
                let digits = j
                // A header (leading zeros and all) is held to `maxInline` at the same byte
                // whether the rest of it is here or not.
                let longest = pos &+ limits.maxInline
                let stop = min(n, longest)
                while j < stop {
                    let d = Int(p[j]) &- 48
                    if d < 0 || d > 9 { break }
                    if number > (Int.max - 9) / 10 { return fail("invalid length") }
                    number = number &* 10 &+ d
                    j &+= 1
                }
                if j >= longest { return fail("reply header too long") }
                if j + 1 >= n { return .incomplete }
                if j == digits || p[j] != 13 || p[j + 1] != 10 {
                    return fail(t == UInt8(ascii: "$") || t == UInt8(ascii: "!") || t == UInt8(ascii: "=")
                                ? "invalid bulk length" : "invalid aggregate length")
                }
                if neg { number = -number }
                nl = j + 1
            } else {
                // The verdict must not depend on how the bytes arrive: an unknown type byte fails
                // before its line is looked for, and a line is held to `maxInline` whether its
                // newline is already here or not.
                guard t == UInt8(ascii: "+") || t == UInt8(ascii: "-") || t == UInt8(ascii: ":") || t == UInt8(ascii: "_")
                    || t == UInt8(ascii: ",") || t == UInt8(ascii: "#") || t == UInt8(ascii: "(") else {
                    return fail("unexpected reply type byte \(t)")
                }
                guard let found = findNewline(p, from: pos, n) else {
                    if n - pos > limits.maxInline { return fail("reply header too long") }
                    return .incomplete
                }
                if found - pos > limits.maxInline { return fail("reply header too long") }
                nl = found
            }
            if stack.count == 0 && !attributeAtTop { topType = t; valueOffset = pos }
            else if stack.count == 0 && attributeAtTop { topType = t; valueOffset = pos; attributeAtTop = false }
            switch t {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"):
                if nl == 0 || p[nl - 1] != 13 { return fail("invalid line") }
                pos = nl + 1
                if elementDone() { return finish() }
            case UInt8(ascii: "_"), UInt8(ascii: ","), UInt8(ascii: "#"), UInt8(ascii: "("):
                hasRESP3 = true
                if nl == 0 || p[nl - 1] != 13 { return fail("invalid line") }
                pos = nl + 1
                if elementDone() { return finish() }
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                if t != UInt8(ascii: "$") { hasRESP3 = true }
                let len = number
                guard len >= -1 else { return fail("invalid bulk length") }
                if len > limits.maxBulkLength { return fail("bulk length \(len) exceeds proto-max-bulk-len") }
                if len == -1 {
                    pos = nl + 1
                    if elementDone() { return finish() }
                } else {
                    bulkEnd = nl + 1 + len + 2
                }
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: ">"), UInt8(ascii: "|"):
                if t != UInt8(ascii: "*") { hasRESP3 = true }
                let count = number
                guard count >= -1 else { return fail("invalid aggregate length") }
                if count > limits.maxElements { return fail("aggregate of \(count) elements exceeds proto-max-multibulk-len") }
                pos = nl + 1
                let isMap = t == UInt8(ascii: "%") || t == UInt8(ascii: "|")
                let elements = isMap ? count * 2 : count
                if t == UInt8(ascii: "|") {
                    if stack.count >= limits.maxDepth { return fail("reply nesting exceeds proto-max-nesting") }
                    if stack.count == 0 { attributeAtTop = true }
                    if elements <= 0 { attributeDone(); continue }
                    stack.push(-elements)
                } else if elements <= 0 {
                    if elementDone() { return finish() }
                } else {
                    if stack.count >= limits.maxDepth { return fail("reply nesting exceeds proto-max-nesting") }
                    stack.push(elements)
                }
            default:
                return fail("unexpected reply type byte \(t)")
            }
        }
    }

    /// Skips complete bulk strings inside an open aggregate (LRANGE, MGET, HGETALL replies)
    /// without the general loop's bookkeeping. It stops before the aggregate's last element and
    /// at anything else — another type, a null, a long or malformed header, an incomplete
    /// payload, a bulk over the limit — which the general path then reads (and reports) as usual.
    @inline(__always)
    private mutating func skipBulkRun(_ p: UnsafePointer<UInt8>, _ n: Int) {
        let top = stack.items + (stack.count - 1)
        var left = top.pointee
        var q = pos
        let maxBulk = limits.maxBulkLength
        while left > 1 && q &+ 4 <= n && p[q] == UInt8(ascii: "$") {
            var j = q &+ 1
            var len = 0
            let digitsEnd = min(n, j &+ 18)
            while j < digitsEnd {
                let d = Int(p[j]) &- 48
                if d < 0 || d > 9 { break }
                len = len &* 10 &+ d
                j &+= 1
            }
            if j == q &+ 1 || j &+ 1 >= n || p[j] != 13 || p[j &+ 1] != 10 || len > maxBulk { break }
            let end = j &+ 2 &+ len &+ 2
            if end > n { break }
            q = end
            left &-= 1
        }
        pos = q
        top.pointee = left
    }

    /// Counts one finished element; true when the whole frame is done.
    private mutating func elementDone() -> Bool {
        let p = stack.items
        while stack.count > 0 {
            let i = stack.count - 1
            let top = p[i]
            if top > 0 {
                if top == 1 { stack.count = i; continue }
                p[i] = top - 1
                return false
            } else {
                // Attribute level (negative count).
                if top == -1 { stack.count = i; attributeDone(); return false }
                p[i] = top + 1
                return false
            }
        }
        return true
    }

    /// An attribute finished: the value it annotates follows and is the real element.
    private mutating func attributeDone() {
        if stack.count == 0 { attributeAtTop = true }
    }

    private mutating func finish() -> ReplyScan {
        let f = ReplyFrame(length: pos, type: topType, hasRESP3: hasRESP3, valueOffset: valueOffset)
        pos = 0; hasRESP3 = false; topType = 0; valueOffset = 0; attributeAtTop = false
        return .frame(f)
    }

    private mutating func fail(_ what: String) -> ReplyScan {
        reset()
        return .error(RESPProtocolError("Protocol error: " + what))
    }
}

/// The open aggregates' remaining element counts: one block, so framing never allocates or
/// checks uniqueness per element. It starts small and doubles when a reply nests deeper (only
/// the nesting limit bounds it: upstream scanners allow what Redis itself sends, thousands of
/// levels for a script returning a self-referencing table).
final class CountStack {
    private(set) var items: UnsafeMutablePointer<Int>
    var count = 0
    private(set) var capacity: Int
    init(capacity: Int) {
        self.capacity = capacity
        items = UnsafeMutablePointer<Int>.allocate(capacity: capacity)
    }
    deinit { items.deallocate() }
    @inline(__always) func push(_ v: Int) {
        if count == capacity { grow() }
        items[count] = v; count += 1
    }
    private func grow() {
        let bigger = UnsafeMutablePointer<Int>.allocate(capacity: capacity * 2)
        bigger.initialize(from: items, count: count)
        items.deallocate()
        items = bigger
        capacity *= 2
    }
}
