// ConfigError: the one-line message that stops Respite at start when its configuration is bad.

/// A configuration problem, described in one line that names where it is and why, such as
/// `respite.conf:7: 'port' must be an integer in 0..65535, got 'abc'` or
/// `--port: must be an integer in 0..65535, got 'abc'`.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The whole message, location first.
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Why one value or line was refused, before a location is put in front of it.
struct ConfigReason: Error, Equatable {
    let text: String

    init(_ text: String) {
        self.text = text
    }
}
