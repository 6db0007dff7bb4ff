// ConfigTokenizer: splits one configuration line into arguments the way redis.conf does
// (redis's `sdssplitargs`), and quotes arguments back for `--help` and rendering.

/// Splits a configuration line into arguments, and quotes arguments back into a line.
///
/// Arguments are separated by blanks. `"double quotes"` understand `\n \r \t \b \a`, `\xHH`
/// and `\` before any other character; `'single quotes'` understand only `\'`. A closing quote
/// must be followed by a blank or the end of the line. Quotes may start in the middle of an
/// argument (`a"b c"` is `ab c`), as in redis.conf.
public enum ConfigTokenizer {
    /// The arguments of `line`; throws the reason when quotes are unbalanced or a value is not
    /// valid UTF-8.
    static func split(_ line: some Collection<UInt8>) throws(ConfigReason) -> [String] {
        let bytes = Array(line)
        var args: [String] = []
        var i = 0
        let n = bytes.count

        func isBlank(_ b: UInt8) -> Bool {
            b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C
        }

        while true {
            while i < n, isBlank(bytes[i]) { i += 1 }
            if i >= n { break }
            var current: [UInt8] = []
            var inDouble = false
            var inSingle = false
            var done = false
            while !done {
                let c: UInt8? = i < n ? bytes[i] : nil
                let next: UInt8? = i + 1 < n ? bytes[i + 1] : nil
                if inDouble {
                    guard let c else { throw ConfigReason("unterminated quoted string") }
                    if c == UInt8(ascii: "\\"), next == UInt8(ascii: "x"), i + 3 < n,
                       let hi = hexValue(bytes[i + 2]), let lo = hexValue(bytes[i + 3]) {
                        current.append(hi << 4 | lo)
                        i += 3
                    } else if c == UInt8(ascii: "\\"), let escaped = next {
                        i += 1
                        switch escaped {
                        case UInt8(ascii: "n"): current.append(0x0A)
                        case UInt8(ascii: "r"): current.append(0x0D)
                        case UInt8(ascii: "t"): current.append(0x09)
                        case UInt8(ascii: "b"): current.append(0x08)
                        case UInt8(ascii: "a"): current.append(0x07)
                        default: current.append(escaped)
                        }
                    } else if c == UInt8(ascii: "\"") {
                        if let next, !isBlank(next) {
                            throw ConfigReason("closing quote must be followed by a space or the end of the line")
                        }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else if inSingle {
                    guard let c else { throw ConfigReason("unterminated quoted string") }
                    if c == UInt8(ascii: "\\"), next == UInt8(ascii: "'") {
                        i += 1
                        current.append(UInt8(ascii: "'"))
                    } else if c == UInt8(ascii: "'") {
                        if let next, !isBlank(next) {
                            throw ConfigReason("closing quote must be followed by a space or the end of the line")
                        }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else {
                    guard let c, !isBlank(c) else {
                        done = true
                        break
                    }
                    if c == UInt8(ascii: "\"") {
                        inDouble = true
                    } else if c == UInt8(ascii: "'") {
                        inSingle = true
                    } else {
                        current.append(c)
                    }
                }
                if i < n { i += 1 }
            }
            guard let text = String(validating: current, as: UTF8.self) else {
                throw ConfigReason("argument \(args.count + 1) is not valid UTF-8")
            }
            args.append(text)
        }
        return args
    }

    /// `arg` as it would be written in a configuration file: bare when that reads back the same,
    /// otherwise in double quotes with escapes.
    public static func quote(_ arg: String) -> String {
        let needsQuotes = arg.isEmpty || arg.utf8.contains { b in
            b <= 0x20 || b == 0x7F || b == UInt8(ascii: "\"") || b == UInt8(ascii: "'")
                || b == UInt8(ascii: "\\") || b == UInt8(ascii: "#")
        }
        if !needsQuotes { return arg }
        var out = "\""
        for scalar in arg.unicodeScalars {
            switch scalar.value {
            case 0x5C: out += "\\\\"
            case 0x22: out += "\\\""
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x07: out += "\\a"
            case 0..<0x20, 0x7F:
                let digits = Array("0123456789abcdef".unicodeScalars)
                out += "\\x"
                out.unicodeScalars.append(digits[Int(scalar.value >> 4)])
                out.unicodeScalars.append(digits[Int(scalar.value & 0xF)])
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Public entry for callers outside the module (tests, tools): the arguments of `line`.
    public static func arguments(of line: String) throws -> [String] {
        do {
            return try split(line.utf8)
        } catch {
            throw ConfigError(error.text)
        }
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
