// RESP2Shaper: rewrites one complete RESP3 reply frame into the bytes Redis would have sent a
// RESP2 client, walking the frame in place and writing straight into the client's buffer.
//
// The mechanical mapping (Redis 7.0, networking.c): maps → flat arrays (`*2n`), sets and pushes
// → arrays, doubles and big numbers → bulk strings of the same text, booleans → `:1`/`:0`,
// verbatim strings → bulk strings without the `txt:` prefix, bulk errors → simple errors,
// attributes dropped, nulls → `$-1` or `*-1`. The per-command part comes in a `ReplyShape`.
// Nothing is allocated per element; recursion stops at `maxDepth`, and deeper values are walked
// with a counter instead.

/// Turns RESP3 reply frames into their RESP2 form. Stateless; safe from any thread.
public enum RESP2Shaper {
    /// Deepest nesting the shaper follows by recursion; deeper values are walked iteratively.
    public static let maxDepth = 512

    /// True iff `frame` holds any RESP3-only type (`_ , # ( = ! % ~ | >`). A frame that does not
    /// is valid RESP2 as it stands, apart from `ReplyShape.restructuresArrays` (see the overload).
    public static func needsShaping(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard let base = frame.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        var c = FrameCursor(p: base, n: frame.count, i: 0)
        // A RESP2-only frame is a sequence of tokens; walk them linearly, skipping bulk payloads.
        while c.i < c.n {
            let t = c.p[c.i]
            switch t {
            case RESPByte.plus, RESPByte.minus, RESPByte.colon, RESPByte.star:
                c.i += 1
                guard c.line() != nil else { return false }
            case RESPByte.dollar:
                c.i += 1
                guard let (s, l) = c.line(), let len = c.int(s, l) else { return false }
                if len > 0 { c.i += len + 2 } else if len == 0 { c.i += 2 }
            default:
                return true
            }
        }
        return false
    }

    /// True iff `frame` must go through `shape(frame:shape:into:)` for a client of RESP2: it
    /// holds a RESP3-only type, or `shape` flattens pairs and the frame is an array holding arrays.
    public static func needsShaping(_ frame: UnsafeRawBufferPointer, shape: ReplyShape) -> Bool {
        if needsShaping(frame) { return true }
        guard shape.flattenPairs, let base = frame.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return false
        }
        var c = FrameCursor(p: base, n: frame.count, i: 0)
        guard c.i < c.n, c.p[0] == RESPByte.star else { return false }
        c.i = 1
        guard let (s, l) = c.line(), let n = c.int(s, l), n > 0 else { return false }
        for _ in 0..<n {
            guard c.i < c.n else { return false }
            if c.p[c.i] == RESPByte.star { return true }
            guard c.skip(depth: 0) else { return false }
        }
        return false
    }

    /// Appends the RESP2 rendering of one complete RESP3 reply `frame` to `out`.
    /// Returns false, leaving `out` as it was, when the frame is malformed or truncated.
    @discardableResult
    public static func shape(frame: UnsafeRawBufferPointer, shape: ReplyShape, into out: ByteBuffer) -> Bool {
        guard let base = frame.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        if frame.count == 3 && base[0] == UInt8(ascii: "_") {
            // A bare null, the commonest RESP3-only reply (GET of a missing key).
            out.append(shape.topNull == .array ? "*-1\r\n" as StaticString : "$-1\r\n")
            return true
        }
        var c = FrameCursor(p: base, n: frame.count, i: 0)
        let mark = out.writeIndex - out.readIndex
        var o = ShapeOutput(out, hint: frame.count + 64)
        if emitTop(&c, &o, shape) && c.i == c.n { o.finish(); return true }
        out.writeIndex = out.readIndex + mark
        return false
    }

    /// Appends the RESP2 rendering of an `EXEC` reply: element `i` is shaped as the reply of the
    /// `i`-th queued command, `elementShapes[i]` (`.plain` past the end). A null (aborted
    /// transaction) becomes `*-1`; an error (`-EXECABORT …`) passes through.
    @discardableResult
    public static func shapeExec(frame: UnsafeRawBufferPointer, elementShapes: [ReplyShape], into out: ByteBuffer) -> Bool {
        guard let base = frame.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        var c = FrameCursor(p: base, n: frame.count, i: 0)
        let mark = out.writeIndex - out.readIndex
        var o = ShapeOutput(out, hint: frame.count + 64)
        if emitExec(&c, &o, elementShapes) && c.i == c.n { o.finish(); return true }
        out.writeIndex = out.readIndex + mark
        return false
    }

    // MARK: - Walking

    private static func emitExec(_ c: inout FrameCursor, _ out: inout ShapeOutput, _ shapes: [ReplyShape]) -> Bool {
        guard c.skipAttributes(depth: 0), c.i < c.n else { return false }
        let t = c.p[c.i]
        guard t == RESPByte.star else {
            return emitTop(&c, &out, ReplyShape(topNull: .array))
        }
        c.i += 1
        guard let (s, l) = c.line(), let n = c.int(s, l) else { return false }
        guard n >= 0 else { out.literal("*-1\r\n"); return true }
        out.header(RESPByte.star, n)
        for k in 0..<n {
            guard emitTop(&c, &out, k < shapes.count ? shapes[k] : .plain) else { return false }
        }
        return true
    }

    /// One command's whole reply, with the command's shape rules.
    private static func emitTop(_ c: inout FrameCursor, _ out: inout ShapeOutput, _ shape: ReplyShape) -> Bool {
        guard c.skipAttributes(depth: 0), c.i < c.n else { return false }
        let t = c.p[c.i]
        let aggregate = t == RESPByte.star || t == RESPByte.tilde || t == RESPByte.push
        if aggregate && (shape.flattenPairs || shape.nullArrayElements != 0) {
            c.i += 1
            guard let (s, l) = c.line(), let n = c.int(s, l) else { return false }
            if n < 0 {
                out.literal("*-1\r\n")
                return true
            }
            if shape.flattenPairs { return emitFlattened(&c, &out, n, shape.nestedNull) }
            out.header(RESPByte.star, n)
            for k in 0..<n {
                let bit: UInt64 = k < 64 ? (1 << UInt64(k)) : 0
                let null: ReplyShape.Null = shape.nullArrayElements & bit != 0 ? .array : shape.nestedNull
                guard emit(&c, &out, null: null, nested: shape.nestedNull, depth: 1) else { return false }
            }
            return true
        }
        if t == RESPByte.percent && shape.mapAsPairs {
            c.i += 1
            guard let (s, l) = c.line(), let n = c.int(s, l), n >= 0 else { return false }
            out.header(RESPByte.star, n)
            for _ in 0..<n {
                out.literal("*2\r\n")
                guard emit(&c, &out, null: shape.nestedNull, nested: shape.nestedNull, depth: 2),
                      emit(&c, &out, null: shape.nestedNull, nested: shape.nestedNull, depth: 2)
                else { return false }
            }
            return true
        }
        return emit(&c, &out, null: shape.topNull, nested: shape.nestedNull, depth: 0)
    }

    /// A top-level array of `n` elements whose array elements are spliced in (RESP2's flat
    /// `member score member score`). Counts first, so the header is right before any element.
    private static func emitFlattened(_ c: inout FrameCursor, _ out: inout ShapeOutput, _ n: Int, _ nested: ReplyShape.Null) -> Bool {
        let start = c.i
        var total = 0
        for _ in 0..<n {
            guard c.skipAttributes(depth: 1), c.i < c.n else { return false }
            if let m = c.spliceCount() {
                total += m
            } else {
                total += 1
            }
            guard c.skip(depth: 1) else { return false }
        }
        c.i = start
        out.header(RESPByte.star, total)
        for _ in 0..<n {
            guard c.skipAttributes(depth: 1), c.i < c.n else { return false }
            if let m = c.spliceCount() {
                c.i += 1
                guard c.line() != nil else { return false }
                for _ in 0..<m {
                    guard emit(&c, &out, null: nested, nested: nested, depth: 2) else { return false }
                }
            } else {
                guard emit(&c, &out, null: nested, nested: nested, depth: 1) else { return false }
            }
        }
        return true
    }

    /// One value with the mechanical mapping; a null here renders as `null`, below as `nested`.
    /// Past `maxDepth` the walk goes on without recursion: Redis itself sends replies thousands
    /// of levels deep (a script returning a self-referencing table).
    private static func emit(_ c: inout FrameCursor, _ out: inout ShapeOutput, null: ReplyShape.Null, nested: ReplyShape.Null, depth: Int) -> Bool {
        if depth >= maxDepth { return emitWithoutRecursion(&c, &out, null: null, nested: nested) }
        guard let children = emitOne(&c, &out, null: null) else { return false }
        for _ in 0..<children {
            guard emit(&c, &out, null: nested, nested: nested, depth: depth + 1) else { return false }
        }
        return true
    }

    /// The same walk with a count of values still owed instead of a call stack: output and input
    /// are both in pre-order, so an aggregate only adds its elements to the count.
    private static func emitWithoutRecursion(_ c: inout FrameCursor, _ out: inout ShapeOutput, null: ReplyShape.Null, nested: ReplyShape.Null) -> Bool {
        guard let first = emitOne(&c, &out, null: null) else { return false }
        var owed = first
        while owed > 0 {
            owed -= 1
            guard let children = emitOne(&c, &out, null: nested) else { return false }
            owed += children
        }
        return true
    }

    /// Writes one value's scalar or aggregate header; returns how many element values follow it
    /// (0 for scalars and nulls), or nil when the frame is malformed.
    @inline(__always)
    private static func emitOne(_ c: inout FrameCursor, _ out: inout ShapeOutput, null: ReplyShape.Null) -> Int? {
        guard c.i < c.n else { return nil }
        if c.p[c.i] == RESPByte.pipe {
            guard c.skipAttributes(depth: 0), c.i < c.n else { return nil }
        }
        let at = c.i
        let t = c.p[at]
        c.i += 1
        guard let (s, l) = c.line() else { return nil }
        switch t {
        case RESPByte.plus, RESPByte.minus, RESPByte.colon:
            out.bytes(c.p + at, c.i - at)
        case RESPByte.dollar:
            guard let len = c.int(s, l) else { return nil }
            if len >= 0 {
                guard c.n - c.i >= len + 2, c.p[c.i + len] == RESPByte.cr, c.p[c.i + len + 1] == RESPByte.lf else { return nil }
                c.i += len + 2
            } else if len != -1 {
                return nil
            }
            out.bytes(c.p + at, c.i - at)
        case RESPByte.star, RESPByte.tilde, RESPByte.push:
            guard let n = c.int(s, l) else { return nil }
            if n < 0 {
                out.literal("*-1\r\n")
                return 0
            }
            out.header(RESPByte.star, n)
            return n
        case RESPByte.percent:
            guard let n = c.int(s, l), n >= 0, n <= Int.max / 2 else { return nil }
            out.header(RESPByte.star, n * 2)
            return n * 2
        case RESPByte.underscore:
            guard l == 0 else { return nil }
            out.literal(null == .array ? "*-1\r\n" : "$-1\r\n")
        case RESPByte.comma, RESPByte.lparen:
            out.header(RESPByte.dollar, l)
            out.bytes(c.p + s, l)
            out.literal("\r\n")
        case RESPByte.hash:
            guard l == 1 else { return nil }
            switch c.p[s] {
            case RESPByte.t: out.literal(":1\r\n")
            case RESPByte.f: out.literal(":0\r\n")
            default: return nil
            }
        case RESPByte.equals:
            guard let len = c.int(s, l), len >= 0, c.n - c.i >= len + 2 else { return nil }
            let body = c.i
            c.i += len + 2
            // `fmt:text`: the client gets the text.
            guard len >= 4, c.p[body + 3] == RESPByte.colon, c.p[body + len] == RESPByte.cr, c.p[body + len + 1] == RESPByte.lf else { return nil }
            out.header(RESPByte.dollar, len - 4)
            out.bytes(c.p + body + 4, len - 4)
            out.literal("\r\n")
        case RESPByte.bang:
            guard let len = c.int(s, l), len >= 0, c.n - c.i >= len + 2 else { return nil }
            let body = c.i
            c.i += len + 2
            guard c.p[body + len] == RESPByte.cr, c.p[body + len + 1] == RESPByte.lf else { return nil }
            out.ensure(len + 3)
            out.w[0] = RESPByte.minus
            for k in 0..<len {
                let b = c.p[body + k]
                out.w[k + 1] = (b == RESPByte.cr || b == RESPByte.lf) ? RESPByte.space : b
            }
            out.w += len + 1
            out.literal("\r\n")
        default:
            return nil
        }
        return 0
    }
}

/// The shaper's view of the output buffer: a cached write pointer, so writing an element costs
/// pointer arithmetic, not buffer method calls. Written bytes are committed by `finish` (or
/// before the buffer grows); the caller rolls back by resetting `writeIndex`.
struct ShapeOutput {
    let buffer: ByteBuffer
    var w: UnsafeMutablePointer<UInt8>
    var end: UnsafeMutablePointer<UInt8>

    init(_ buffer: ByteBuffer, hint: Int) {
        self.buffer = buffer
        buffer.reserve(hint)
        w = buffer.writePointer
        end = buffer.base + buffer.capacity
    }

    @inline(__always)
    mutating func ensure(_ n: Int) {
        if end - w < n { grow(n) }
    }

    @inline(never)
    mutating func grow(_ n: Int) {
        buffer.commit(w - buffer.writePointer)
        buffer.reserve(max(n, 4096))
        w = buffer.writePointer
        end = buffer.base + buffer.capacity
    }

    mutating func finish() {
        buffer.commit(w - buffer.writePointer)
    }

    @inline(__always)
    mutating func bytes(_ p: UnsafePointer<UInt8>, _ n: Int) {
        ensure(n)
        w.update(from: p, count: n)
        w += n
    }

    @inline(__always)
    mutating func literal(_ s: StaticString) {
        bytes(s.utf8Start, s.utf8CodeUnitCount)
    }

    /// `type` + decimal `n` (n >= 0) + CRLF.
    @inline(__always)
    mutating func header(_ type: UInt8, _ n: Int) {
        ensure(24)
        w[0] = type
        var digits = 1
        var v = n / 10
        while v > 0 { digits += 1; v /= 10 }
        v = n
        var k = digits
        repeat {
            w[k] = UInt8(truncatingIfNeeded: v % 10) &+ 48
            v /= 10
            k -= 1
        } while k > 0
        w[digits + 1] = RESPByte.cr
        w[digits + 2] = RESPByte.lf
        w += digits + 3
    }
}

/// A read position inside one frame, with bounds-checked token helpers.
struct FrameCursor {
    let p: UnsafePointer<UInt8>
    let n: Int
    var i: Int

    /// Reads up to CRLF from `i`; returns the line's start and length and moves past the CRLF.
    @inline(__always)
    mutating func line() -> (Int, Int)? {
        var k = i
        while k + 1 < n {
            if p[k] == RESPByte.cr {
                guard p[k + 1] == RESPByte.lf else { return nil }
                let r = (i, k - i)
                i = k + 2
                return r
            }
            k += 1
        }
        return nil
    }

    /// The signed decimal at `p[s..<s+l]`, or nil when it is not one.
    @inline(__always)
    func int(_ s: Int, _ l: Int) -> Int? {
        guard l > 0 else { return nil }
        var k = s
        var neg = false
        if p[k] == RESPByte.minus { neg = true; k += 1 }
        // Leading zeros, as the reply scanner and the decoder take them (Redis sends none).
        while k < s + l - 1 && p[k] == 48 { k += 1 }
        guard s + l - k > 0, s + l - k <= 18 else { return nil }  // 18 digits cannot overflow
        var v = 0
        while k < s + l {
            let d = Int(p[k]) &- 48
            guard d >= 0 && d <= 9 else { return nil }
            v = v * 10 + d
            k += 1
        }
        return neg ? -v : v
    }

    /// When the value at `i` is an array, set or push of `m >= 0` elements, returns `m`.
    func spliceCount() -> Int? {
        guard i < n else { return nil }
        let t = p[i]
        guard t == RESPByte.star || t == RESPByte.tilde || t == RESPByte.push else { return nil }
        var c = self
        c.i += 1
        guard let (s, l) = c.line(), let m = c.int(s, l), m >= 0 else { return nil }
        return m
    }

    /// Steps over any attributes (`|n` and its 2n values) before a value.
    @inline(never)
    mutating func skipAttributes(depth: Int) -> Bool {
        while i < n && p[i] == RESPByte.pipe {
            i += 1
            guard let (s, l) = line(), let m = int(s, l), m >= 0, m <= Int.max / 2 else { return false }
            for _ in 0..<(m * 2) {
                guard skip(depth: depth + 1) else { return false }
            }
        }
        return true
    }

    /// Steps over one whole value (attributes included).
    mutating func skip(depth: Int) -> Bool {
        guard depth <= RESP2Shaper.maxDepth, i < n else { return false }
        if p[i] == RESPByte.pipe {
            guard skipAttributes(depth: depth), i < n else { return false }
        }
        let t = p[i]
        i += 1
        guard let (s, l) = line() else { return false }
        switch t {
        case RESPByte.plus, RESPByte.minus, RESPByte.colon, RESPByte.underscore, RESPByte.comma, RESPByte.hash, RESPByte.lparen:
            return true
        case RESPByte.dollar, RESPByte.equals, RESPByte.bang:
            guard let len = int(s, l) else { return false }
            if len < 0 { return t == RESPByte.dollar && len == -1 }
            guard n - i >= len + 2 else { return false }
            i += len + 2
            return true
        case RESPByte.star, RESPByte.tilde, RESPByte.push, RESPByte.percent:
            guard let m = int(s, l) else { return false }
            if m < 0 { return t == RESPByte.star }
            guard m <= Int.max / 2 else { return false }
            let count = t == RESPByte.percent ? m * 2 : m
            for _ in 0..<count {
                guard skip(depth: depth + 1) else { return false }
            }
            return true
        default:
            return false
        }
    }
}

/// RESP type bytes and punctuation.
enum RESPByte {
    static let plus = UInt8(ascii: "+")
    static let minus = UInt8(ascii: "-")
    static let colon = UInt8(ascii: ":")
    static let dollar = UInt8(ascii: "$")
    static let star = UInt8(ascii: "*")
    static let underscore = UInt8(ascii: "_")
    static let comma = UInt8(ascii: ",")
    static let hash = UInt8(ascii: "#")
    static let lparen = UInt8(ascii: "(")
    static let equals = UInt8(ascii: "=")
    static let bang = UInt8(ascii: "!")
    static let percent = UInt8(ascii: "%")
    static let tilde = UInt8(ascii: "~")
    static let pipe = UInt8(ascii: "|")
    static let push = UInt8(ascii: ">")
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let t = UInt8(ascii: "t")
    static let f = UInt8(ascii: "f")
}
