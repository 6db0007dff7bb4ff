// RedisRequestModel: Redis 7.0's request parsing (networking.c: processInputBuffer,
// processMultibulkBuffer, processInlineBuffer; sds.c: sdssplitargs; util.c: string2ll),
// written again here from the C, independently of RequestScanner, over a whole buffer.
// The fuzz target checks that the scanner, fed the same bytes in any split, does the same.

/// What Redis makes of one request, or of the bytes left at the end.
enum RequestOutcome: Equatable, CustomStringConvertible {
    case command([[UInt8]])
    case empty                 // no command: `*0`, `*-1`, a blank line
    case error([UInt8])        // the reply text after `-ERR `; Redis then closes the connection
    case incomplete            // bytes left that do not make a request yet

    var description: String {
        switch self {
        case .command(let a): return "command \(a.map { String(decoding: $0, as: UTF8.self).debugDescription })"
        case .empty: return "empty"
        case .error(let e): return "error \(String(decoding: e, as: UTF8.self).debugDescription)"
        case .incomplete: return "incomplete"
        }
    }
}

enum RedisRequestModel {
    static let inlineMax = 64 * 1024          // PROTO_INLINE_MAX_SIZE
    static let maxBulk = 512 * 1024 * 1024    // proto-max-bulk-len
    static let intMax = Int(Int32.max)

    /// Every request in `q` in order, stopping at the first error. `q` is what Redis's query
    /// buffer holds once all bytes have arrived (followed, as in Redis, by a NUL).
    static func process(_ q: [UInt8], authenticated: Bool) -> [RequestOutcome] {
        var out: [RequestOutcome] = []
        var pos = 0
        while pos < q.count {
            let r = q[pos] == UInt8(ascii: "*") ? multibulk(q, &pos, authenticated) : inline(q, &pos)
            out.append(r)
            if case .error = r { return out }
            if case .incomplete = r { return out }
        }
        return out
    }

    /// strchr from `from`: the first `c`, or nil if a NUL (or the end) comes first.
    static func strchr(_ q: [UInt8], _ from: Int, _ c: UInt8) -> Int? {
        var i = from
        while i < q.count {
            if q[i] == c { return i }
            if q[i] == 0 { return nil }
            i += 1
        }
        return nil
    }

    /// util.c string2ll.
    static func string2ll(_ s: ArraySlice<UInt8>) -> Int? {
        let b = Array(s)
        if b.isEmpty || b.count > 20 { return nil }
        if b.count == 1 && b[0] == 48 { return 0 }
        var i = 0
        var negative = false
        if b[0] == 45 { negative = true; i = 1; if b.count == 1 { return nil } }
        guard b[i] >= 49 && b[i] <= 57 else { return nil }
        var v: UInt64 = UInt64(b[i] - 48)
        i += 1
        while i < b.count && b[i] >= 48 && b[i] <= 57 {
            if v > UInt64.max / 10 { return nil }
            v *= 10
            if v > UInt64.max - UInt64(b[i] - 48) { return nil }
            v += UInt64(b[i] - 48)
            i += 1
        }
        if i < b.count { return nil }
        if negative {
            if v > UInt64(Int64.max) + 1 { return nil }
            return v == UInt64(Int64.max) + 1 ? Int.min : -Int(v)
        }
        if v > UInt64(Int64.max) { return nil }
        return Int(v)
    }

    static func err(_ s: String) -> RequestOutcome { .error(Array(("Protocol error: " + s).utf8)) }

    static func multibulk(_ q: [UInt8], _ pos: inout Int, _ authenticated: Bool) -> RequestOutcome {
        let left = q.count - pos
        guard let nl = strchr(q, pos, 13) else {
            return left > inlineMax ? err("too big mbulk count string") : .incomplete
        }
        if nl - pos > left - 2 { return .incomplete }
        guard let ll = string2ll(q[(pos + 1)..<nl]), ll <= intMax else { return err("invalid multibulk length") }
        if ll > 10 && !authenticated { return err("unauthenticated multibulk length") }
        var p = nl + 2
        if ll <= 0 { pos = p; return .empty }
        var args: [[UInt8]] = []
        for _ in 0..<ll {
            guard let bnl = strchr(q, p, 13) else {
                return q.count - p > inlineMax ? err("too big bulk count string") : .incomplete
            }
            if bnl - p > q.count - p - 2 { return .incomplete }
            if q[p] != UInt8(ascii: "$") {
                // addReplyErrorFormat turns \r and \n into spaces.
                let c = q[p] == 13 || q[p] == 10 ? 32 : q[p]
                return .error(Array("Protocol error: expected '$', got '".utf8) + [c, 39])
            }
            guard let bl = string2ll(q[(p + 1)..<bnl]), bl >= 0, bl <= maxBulk else { return err("invalid bulk length") }
            if bl > 16384 && !authenticated { return err("unauthenticated bulk length") }
            p = bnl + 2
            if q.count - p < bl + 2 { return .incomplete }
            args.append(Array(q[p..<(p + bl)]))
            p += bl + 2
        }
        pos = p
        return .command(args)
    }

    static func inline(_ q: [UInt8], _ pos: inout Int) -> RequestOutcome {
        guard var nl = strchr(q, pos, 10) else {
            return q.count - pos > inlineMax ? err("too big inline request") : .incomplete
        }
        let next = nl + 1
        if nl != pos && q[nl - 1] == 13 { nl -= 1 }
        guard let argv = sdssplitargs(Array(q[pos..<nl])) else { return err("unbalanced quotes in request") }
        pos = next
        return argv.isEmpty ? .empty : .command(argv)
    }

    /// sds.c sdssplitargs over a line that holds no NUL (strchr stopped at the first one).
    static func sdssplitargs(_ line: [UInt8]) -> [[UInt8]]? {
        let s = line + [0]
        func isspace(_ c: UInt8) -> Bool { c == 32 || (c >= 9 && c <= 13) }
        func hexval(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var p = 0
        var argv: [[UInt8]] = []
        while true {
            while s[p] != 0 && isspace(s[p]) { p += 1 }
            if s[p] == 0 { return argv }
            var inq = false, insq = false, done = false
            var current: [UInt8] = []
            while !done {
                if inq {
                    if s[p] == 92 && s[p + 1] == 120, let h = hexval(s[p + 2]), let l = hexval(s[p + 3]) {
                        current.append(h * 16 + l); p += 3
                    } else if s[p] == 92 && s[p + 1] != 0 {
                        p += 1
                        switch s[p] {
                        case 110: current.append(10)
                        case 114: current.append(13)
                        case 116: current.append(9)
                        case 98: current.append(8)
                        case 97: current.append(7)
                        default: current.append(s[p])
                        }
                    } else if s[p] == 34 {
                        if s[p + 1] != 0 && !isspace(s[p + 1]) { return nil }
                        done = true
                    } else if s[p] == 0 {
                        return nil
                    } else {
                        current.append(s[p])
                    }
                } else if insq {
                    if s[p] == 92 && s[p + 1] == 39 {
                        p += 1; current.append(39)
                    } else if s[p] == 39 {
                        if s[p + 1] != 0 && !isspace(s[p + 1]) { return nil }
                        done = true
                    } else if s[p] == 0 {
                        return nil
                    } else {
                        current.append(s[p])
                    }
                } else {
                    switch s[p] {
                    case 32, 10, 13, 9, 0: done = true
                    case 34: inq = true
                    case 39: insq = true
                    default: current.append(s[p])
                    }
                }
                if s[p] != 0 { p += 1 }
            }
            argv.append(current)
        }
    }
}
