// InlineSplitter: splits an inline request line the way Redis's sdssplitargs does — spaces
// separate arguments, "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes'
// take only \'. Inline commands are rare (telnet, scripts), so this cold path may allocate.

public enum InlineSplitter {
    /// Splits `line` (without its trailing newline). Nil means unbalanced quotes.
    public static func split(_ line: UnsafeRawBufferPointer) -> [[UInt8]]? {
        var out: [[UInt8]] = []
        var i = 0
        let n = line.count
        func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 10 || c == 13 || c == 9 || c == 11 || c == 12 }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        while true {
            while i < n && isSpace(line[i]) { i += 1 }
            if i >= n { return out }
            var current: [UInt8] = []
            var inDouble = false, inSingle = false, done = false
            while !done {
                if inDouble {
                    if i >= n { return nil }
                    let c = line[i]
                    if c == 92 && i + 3 < n && line[i + 1] == 120, let h = hex(line[i + 2]), let l = hex(line[i + 3]) {
                        current.append(h * 16 + l); i += 3
                    } else if c == 92 && i + 1 < n {
                        i += 1
                        switch line[i] {
                        case 110: current.append(10)
                        case 114: current.append(13)
                        case 116: current.append(9)
                        case 98: current.append(8)
                        case 97: current.append(7)
                        default: current.append(line[i])
                        }
                    } else if c == 34 {
                        // A closing quote must be followed by a space or the end.
                        if i + 1 < n && !isSpace(line[i + 1]) { return nil }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else if inSingle {
                    if i >= n { return nil }
                    let c = line[i]
                    if c == 92 && i + 1 < n && line[i + 1] == 39 {
                        i += 1; current.append(39)
                    } else if c == 39 {
                        if i + 1 < n && !isSpace(line[i + 1]) { return nil }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else {
                    if i >= n { done = true; break }
                    let c = line[i]
                    // Outside quotes only these end an argument (not \v or \f, as in sdssplitargs).
                    if c == 32 || c == 10 || c == 13 || c == 9 { done = true }
                    else if c == 34 { inDouble = true }
                    else if c == 39 { inSingle = true }
                    else { current.append(c) }
                }
                if i < n { i += 1 }
            }
            out.append(current)
        }
    }

    /// Encodes arguments as one multibulk request.
    public static func encode(_ args: [[UInt8]], into out: ByteBuffer) {
        out.append(UInt8(ascii: "*")); out.appendDecimal(args.count); out.append("\r\n" as StaticString)
        for a in args {
            out.append(UInt8(ascii: "$")); out.appendDecimal(a.count); out.append("\r\n" as StaticString)
            out.append(a); out.append("\r\n" as StaticString)
        }
    }
}
