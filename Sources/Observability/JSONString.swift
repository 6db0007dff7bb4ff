// JSONString: a JSON string literal from any Swift string, for the machine-readable output of
// Respite's tools (the simulator's API, the load tool's report). Cold path only.

public enum JSONString {
    /// `s` quoted and escaped as a JSON string literal (RFC 8259: quote, backslash and control
    /// characters escaped; everything else as is).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = Array("0123456789abcdef".unicodeScalars)
                    out += "\\u00" + String(hex[Int(u.value >> 4)]) + String(hex[Int(u.value & 15)])
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
