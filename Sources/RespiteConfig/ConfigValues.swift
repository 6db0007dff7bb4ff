// ConfigValues: parsers and renderers for each kind of directive value (integers, octal modes,
// redis-style memory sizes, durations, addresses), each refusing bad text with a reason that
// names what was expected.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Text ⇄ value for every kind of directive value. Pure functions; reasons have the form
/// `must be …, got '…'` so a location can be put in front of them.
enum ConfigValues {
    static let kb = 1024
    static let mb = 1024 * 1024
    static let gb = 1024 * 1024 * 1024

    // MARK: Integers

    static func integer(_ text: String, in range: ClosedRange<Int>) throws(ConfigReason) -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw ConfigReason("must be an integer in \(range.lowerBound)..\(range.upperBound), got '\(text)'")
        }
        return value
    }

    static func octal(_ text: String, in range: ClosedRange<Int>) throws(ConfigReason) -> Int {
        guard !text.hasPrefix("-"), !text.hasPrefix("+"),
              let value = Int(text, radix: 8), range.contains(value) else {
            throw ConfigReason(
                "must be an octal mode in \(String(range.lowerBound, radix: 8))..\(String(range.upperBound, radix: 8)), got '\(text)'")
        }
        return value
    }

    static func renderOctal(_ value: Int) -> String {
        "0" + String(value, radix: 8)
    }

    // MARK: Memory sizes

    /// Bytes in `text`: digits, then optionally a unit as redis.conf reads them (case-insensitive):
    /// b, k = 1000, kb = 1024, m = 1000², mb = 1024², g = 1000³, gb = 1024³.
    static func bytes(_ text: String, in range: ClosedRange<Int>) throws(ConfigReason) -> Int {
        let failure = ConfigReason(
            "must be a size in \(renderBytes(range.lowerBound))..\(renderBytes(range.upperBound)) (bytes, or with unit k, kb, m, mb, g, gb), got '\(text)'")
        let lower = text.lowercased()
        let digits = lower.prefix { $0.isASCII && $0.isNumber }
        let unit = lower.dropFirst(digits.count)
        let multiplier: Int
        switch unit {
        case "", "b": multiplier = 1
        case "k": multiplier = 1000
        case "kb": multiplier = kb
        case "m": multiplier = 1000 * 1000
        case "mb": multiplier = mb
        case "g": multiplier = 1000 * 1000 * 1000
        case "gb": multiplier = gb
        default: throw failure
        }
        guard !digits.isEmpty, let number = Int(digits) else { throw failure }
        let (value, overflow) = number.multipliedReportingOverflow(by: multiplier)
        guard !overflow, range.contains(value) else { throw failure }
        return value
    }

    /// The shortest exact spelling of `value` bytes: `1gb`, `512mb`, `64kb` or a bare number.
    static func renderBytes(_ value: Int) -> String {
        if value != 0 {
            if value % gb == 0 { return "\(value / gb)gb" }
            if value % mb == 0 { return "\(value / mb)mb" }
            if value % kb == 0 { return "\(value / kb)kb" }
        }
        return "\(value)"
    }

    // MARK: Durations

    /// Milliseconds in `text`: digits, then optionally `ms`, `s` or `m` (minutes); a bare number
    /// is milliseconds.
    static func milliseconds(_ text: String, in range: ClosedRange<Int>) throws(ConfigReason) -> Int {
        let failure = ConfigReason(
            "must be a duration in \(renderMilliseconds(range.lowerBound))..\(renderMilliseconds(range.upperBound)) (a number with ms, s or m; bare = milliseconds), got '\(text)'")
        guard let value = duration(text, bareMultiplier: 1, allowMilliseconds: true), range.contains(value) else {
            throw failure
        }
        return value
    }

    /// Seconds in `text`: digits, then optionally `s` or `m` (minutes); a bare number is seconds.
    static func seconds(_ text: String, in range: ClosedRange<Int>) throws(ConfigReason) -> Int {
        let failure = ConfigReason(
            "must be a duration in \(range.lowerBound)..\(range.upperBound) seconds (a number with s or m; bare = seconds), got '\(text)'")
        guard let ms = duration(text, bareMultiplier: 1000, allowMilliseconds: false),
              range.contains(ms / 1000) else {
            throw failure
        }
        return ms / 1000
    }

    private static func duration(_ text: String, bareMultiplier: Int, allowMilliseconds: Bool) -> Int? {
        let lower = text.lowercased()
        let digits = lower.prefix { $0.isASCII && $0.isNumber }
        let unit = lower.dropFirst(digits.count)
        let multiplier: Int
        switch unit {
        case "": multiplier = bareMultiplier
        case "ms" where allowMilliseconds: multiplier = 1
        case "s": multiplier = 1000
        case "m": multiplier = 60_000
        default: return nil
        }
        guard !digits.isEmpty, let number = Int(digits) else { return nil }
        let (value, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : value
    }

    /// The shortest exact spelling of `value` milliseconds: `5m`, `2s`, `100ms` or `0`.
    static func renderMilliseconds(_ value: Int) -> String {
        if value == 0 { return "0" }
        if value % 60_000 == 0 { return "\(value / 60_000)m" }
        if value % 1000 == 0 { return "\(value / 1000)s" }
        return "\(value)ms"
    }

    // MARK: Addresses

    /// True when `text` is an IPv4 or IPv6 address literal.
    static func isAddressLiteral(_ text: String) -> Bool {
        var storage = in6_addr()
        return text.withCString { cstr in
            inet_pton(AF_INET, cstr, &storage) == 1 || inet_pton(AF_INET6, cstr, &storage) == 1
        }
    }

    /// `host:port`, `[ipv6]:port` or `unix:/path`.
    static func upstream(_ text: String) throws(ConfigReason) -> UpstreamAddress {
        let failure = ConfigReason("must be host:port, [ipv6]:port or unix:/path, got '\(text)'")
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw failure }
            guard path.utf8.count <= maxUnixPathBytes else {
                throw ConfigReason("unix socket path must be at most \(maxUnixPathBytes) bytes, got '\(text)'")
            }
            return .unix(path: path)
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw failure }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), isAddressLiteral(String(host)) else { throw failure }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw failure }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else {
                throw ConfigReason("IPv6 addresses must be in brackets, like [::1]:6379, got '\(text)'")
            }
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }),
              let port = Int(portText), (1...65535).contains(port) else {
            throw failure
        }
        return .tcp(host: String(host), port: port)
    }

    /// The longest unix socket path `sockaddr_un` holds, leaving room for the terminating NUL.
    static let maxUnixPathBytes = 107
}
