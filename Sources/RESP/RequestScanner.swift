// RequestScanner: frames client requests in place, resumably, with Redis's own limits and
// Redis's own error texts.
//
// The session keeps one scanner and calls `scan` with a pointer to the start of the unconsumed
// bytes every time more arrive. The scanner remembers how far it got (offsets are relative to
// the frame start, so buffer compaction between calls is safe) and never rescans a bulk payload.
// When a frame completes it reports its length and the byte ranges of its arguments; it copies
// nothing. Inline commands (`PING\r\n`) are reported as `.inline` with the line's length; the
// caller splits them with `InlineSplitter`.
//
// It accepts exactly what Redis 7's own parser (processMultibulkBuffer, string2ll) accepts and
// refuses the rest with Redis's text: a frame Redis would refuse must never reach a shared
// upstream connection, where Redis would close it under every other client's requests.

/// Protocol limits for one direction of one connection. Defaults are Redis's.
public struct RESPLimits: Sendable, Equatable {
    /// Largest bulk string (`proto-max-bulk-len`).
    public var maxBulkLength: Int = 512 * 1024 * 1024
    /// Most elements in one request or reply aggregate (Redis 7 takes request counts up to INT_MAX).
    public var maxElements: Int = Int(Int32.max)
    /// Deepest reply nesting.
    public var maxDepth: Int = 128
    /// Longest inline request or protocol header line (Redis's PROTO_INLINE_MAX_SIZE).
    public var maxInline: Int = 64 * 1024
    /// Before authentication: largest bulk and most elements (Redis's hard-coded 16384 and 10).
    public var unauthenticatedMaxBulkLength: Int = 16384
    public var unauthenticatedMaxElements: Int = 10
    public init() {}

    /// For replies read from a Redis server: nesting and size limits protect a reader from its
    /// clients, but a reply is passed on as Redis made it (a script returning a self-referencing
    /// table nests ~8000 deep), so only framing errors break a connection. A line without its
    /// newline is still bounded, so a peer that is not Redis cannot grow a buffer forever.
    public static let serverReplies: RESPLimits = {
        var l = RESPLimits()
        l.maxDepth = Int.max
        l.maxElements = 1 << 50      // far past anything real, and no overflow in length sums
        l.maxBulkLength = 1 << 50
        l.maxInline = 512 * 1024 * 1024
        return l
    }()
}

/// A malformed frame; `message` is Redis's text after `-ERR `.
public struct RESPProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    /// The message as Redis writes it: one byte per character (the scanner names an offending
    /// byte by the character of the same value, so `\xfe` goes back out as the byte 0xfe).
    public var wire: [UInt8] { message.unicodeScalars.map { $0.value < 256 ? UInt8($0.value) : UInt8(ascii: "?") } }
}

/// The byte range of one argument, relative to the frame start.
public struct ArgRange: Sendable, Equatable {
    public var offset: Int32
    public var length: Int32
    @inlinable public init(offset: Int, length: Int) {
        self.offset = Int32(truncatingIfNeeded: offset)
        self.length = Int32(truncatingIfNeeded: length)
    }
}

/// The argument ranges of the last framed request: a view of the scanner's own storage, valid
/// until its next `scan` (copy it with `Array(_:)` to keep it longer).
public struct ArgList: RandomAccessCollection {
    @usableFromInline let base: UnsafePointer<ArgRange>
    public let count: Int
    @inlinable init(base: UnsafePointer<ArgRange>, count: Int) { self.base = base; self.count = count }
    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }
    @inlinable public subscript(i: Int) -> ArgRange {
        precondition(i >= 0 && i < count, "argument index out of range")
        return base[i]
    }
}

/// The scanner's argument storage: one block reused for every request (no per-request array
/// bookkeeping, no uniqueness checks).
public final class ArgStore {
    @usableFromInline var items: UnsafeMutablePointer<ArgRange>
    @usableFromInline var count = 0
    @usableFromInline var capacity = 16
    init() { items = .allocate(capacity: 16) }
    deinit { items.deallocate() }
    @inline(__always) func append(_ a: ArgRange) {
        if count == capacity { reserve(capacity * 2) }
        items[count] = a
        count &+= 1
    }
    func reserve(_ n: Int) {
        guard n > capacity else { return }
        let fresh = UnsafeMutablePointer<ArgRange>.allocate(capacity: n)
        fresh.update(from: items, count: count)
        items.deallocate()
        items = fresh
        capacity = n
    }
}

public enum RequestScan: Equatable {
    /// More bytes are needed; nothing to consume yet.
    case incomplete
    /// A multibulk request of `length` bytes; its arguments are in `scanner.args`.
    case frame(length: Int)
    /// An inline request line of `length` bytes (including the newline).
    case inline(length: Int)
    /// `length` bytes that carry no command (empty line, `*0`, `*-1`): consume and go on.
    case empty(length: Int)
    case error(RESPProtocolError)
}

/// Resumable framing of client requests (multibulk and inline).
public struct RequestScanner {
    public var limits: RESPLimits
    /// Whether the client has authenticated (lower limits apply before).
    public var authenticated: Bool = true
    /// Argument ranges of the last complete frame (valid until the next `scan`).
    @inlinable public var args: ArgList { ArgList(base: UnsafePointer(argStore.items), count: argStore.count) }
    @usableFromInline let argStore = ArgStore()

    private var pos = 0              // bytes of the current frame already scanned
    private var argsLeft = -1        // -1: the `*N` header is not read yet
    private var bulkEnd = -1         // end of the current bulk payload (+CRLF), or -1

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    /// Forgets a partially scanned frame.
    public mutating func reset() {
        pos = 0; argsLeft = -1; bulkEnd = -1
        argStore.count = 0
    }

    /// Scans the unconsumed bytes `p[0..<n]`, which start at the current frame.
    public mutating func scan(_ p: UnsafePointer<UInt8>, _ n: Int) -> RequestScan {
        if argsLeft < 0 && pos == 0 {
            if n == 0 { return .incomplete }
            if p[0] != UInt8(ascii: "*") { return scanInline(p, n) }
            // The multibulk header: up to the first `\r`, which must have one byte after it.
            guard let cr = findCR(p, from: 1, n) else {
                if n > limits.maxInline { return fail("too big mbulk count string") }
                return .incomplete
            }
            if cr + 1 >= n { return .incomplete }
            guard let count = string2ll(p, 1, cr), count <= Int(Int32.max) else {
                return fail("invalid multibulk length")
            }
            if count > limits.maxElements { return fail("invalid multibulk length") }
            if !authenticated && count > limits.unauthenticatedMaxElements {
                return fail("unauthenticated multibulk length")
            }
            let nl = cr + 1
            argStore.count = 0
            if count <= 0 { let len = nl + 1; reset(); return .empty(length: len) }
            argsLeft = count
            pos = nl + 1
            if count <= 1024 { argStore.reserve(count) }
        }
        while argsLeft > 0 {
            if bulkEnd < 0 {
                if pos >= n { return .incomplete }
                // The common case in one pass: `$`, a canonical length (no sign, no leading zero,
                // at most 18 digits), `\r` and one more byte.
                if p[pos] == UInt8(ascii: "$") {
                    var j = pos + 1
                    var len = 0
                    while j < n && j - pos <= 18 {
                        let d = Int(p[j]) &- 48
                        if d < 0 || d > 9 { break }
                        len = len &* 10 &+ d
                        j &+= 1
                    }
                    let digits = j - pos - 1
                    if j + 1 < n && p[j] == 13 && digits > 0 && (digits == 1 || p[pos + 1] != 48)
                        && len <= limits.maxBulkLength && (authenticated || len <= limits.unauthenticatedMaxBulkLength) {
                        let start = j + 2
                        argStore.append(ArgRange(offset: start, length: len))
                        bulkEnd = start + len + 2
                        if n < bulkEnd { return .incomplete }
                        pos = bulkEnd
                        bulkEnd = -1
                        argsLeft -= 1
                        continue
                    }
                    // Anything unusual takes the general path below, with Redis's error texts.
                }
                guard let cr = findCR(p, from: pos, n) else {
                    if n - pos > limits.maxInline { return fail("too big bulk count string") }
                    return .incomplete
                }
                if cr + 1 >= n { return .incomplete }
                if p[pos] != UInt8(ascii: "$") {
                    return fail("expected '$', got '\(printable(p[pos]))'")
                }
                guard let len = string2ll(p, pos + 1, cr), len >= 0, len <= limits.maxBulkLength else {
                    return fail("invalid bulk length")
                }
                if !authenticated && len > limits.unauthenticatedMaxBulkLength {
                    return fail("unauthenticated bulk length")
                }
                let nl = cr + 1
                let start = nl + 1
                argStore.append(ArgRange(offset: start, length: len))
                bulkEnd = start + len + 2
            }
            if n < bulkEnd { return .incomplete }
            pos = bulkEnd
            bulkEnd = -1
            argsLeft -= 1
        }
        let len = pos
        pos = 0; argsLeft = -1
        return .frame(length: len)
    }

    private mutating func scanInline(_ p: UnsafePointer<UInt8>, _ n: Int) -> RequestScan {
        guard let nl = findLF(p, from: 0, n) else {
            if n > limits.maxInline { return fail("too big inline request") }
            return .incomplete
        }
        if nl > limits.maxInline { return fail("too big inline request") }
        var onlySpace = true
        var i = 0
        while i < nl { let c = p[i]; if c != 32 && c != 9 && c != 13 { onlySpace = false; break }; i += 1 }
        if onlySpace { return .empty(length: nl + 1) }
        return .inline(length: nl + 1)
    }

    private mutating func fail(_ what: String) -> RequestScan {
        reset()
        return .error(RESPProtocolError("Protocol error: " + what))
    }
}

/// Index of the first `\n` in `p[from..<n]`, or nil. The byte before it is normally `\r`.
@inlinable func findNewline(_ p: UnsafePointer<UInt8>, from: Int, _ n: Int) -> Int? {
    if from >= n { return nil }
    guard let hit = memchrNL(p + from, n - from) else { return nil }
    return hit - p
}

@inlinable func memchrNL(_ p: UnsafePointer<UInt8>, _ n: Int) -> UnsafePointer<UInt8>? {
    // RESP header lines are a few bytes: a plain loop beats a call to memchr here.
    var i = 0
    while i < n {
        if p[i] == 10 { return p + i }
        i &+= 1
    }
    return nil
}

/// Redis searches header lines with `strchr` on its NUL-terminated query buffer: the first `\r`
/// (`\n` for inline lines) counts only if no NUL byte comes before it. Index of that byte in
/// `p[from..<n]`, or nil (not there yet, or hidden behind a NUL: Redis then waits for more).
@inline(__always) @usableFromInline func findCR(_ p: UnsafePointer<UInt8>, from: Int, _ n: Int) -> Int? {
    findByte(13, p, from: from, n)
}

@inline(__always) @usableFromInline func findLF(_ p: UnsafePointer<UInt8>, from: Int, _ n: Int) -> Int? {
    findByte(10, p, from: from, n)
}

@inline(__always) @usableFromInline func findByte(_ b: UInt8, _ p: UnsafePointer<UInt8>, from: Int, _ n: Int) -> Int? {
    var i = from
    while i < n {
        let c = p[i]
        if c == b { return i }
        if c == 0 { return nil }
        i &+= 1
    }
    return nil
}

/// Redis's `string2ll` on `p[from..<end]`: an optional `-`, then `0` alone or a digit 1-9 and
/// more digits; nothing else (no `+`, no leading zeros, no `-0`, no spaces), under 21 bytes,
/// within a signed 64-bit integer. Nil when Redis would refuse the number.
@inline(__always) @usableFromInline func string2ll(_ p: UnsafePointer<UInt8>, _ from: Int, _ end: Int) -> Int? {
    let slen = end - from
    if slen <= 0 || slen >= 21 { return nil }
    if slen == 1 && p[from] == 48 { return 0 }
    var i = from
    var neg = false
    if p[i] == 45 { neg = true; i &+= 1; if i == end { return nil } }
    guard p[i] >= 49 && p[i] <= 57 else { return nil }
    var v = UInt64(p[i] &- 48)
    i &+= 1
    while i < end {
        let c = p[i]
        guard c >= 48 && c <= 57 else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(UInt64(c &- 48))
        if o1 || o2 { return nil }
        v = a
        i &+= 1
    }
    if neg {
        if v > UInt64(Int64.max) + 1 { return nil }
        return v == UInt64(Int64.max) + 1 ? Int.min : -Int(v)
    }
    if v > UInt64(Int64.max) { return nil }
    return Int(v)
}

/// The offending byte as Redis's error names it: CR and LF become spaces (a reply line must not
/// hold them), any other byte stays itself (see `RESPProtocolError.wire`).
@inline(__always) func printable(_ c: UInt8) -> String {
    c == 13 || c == 10 ? " " : String(UnicodeScalar(c))
}
