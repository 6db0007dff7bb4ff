// ConfigDirective: one row of the directive table — name, value kind, default, one-line
// documentation and reloadability — and how that row reads and renders its value.

/// One configuration directive: what it is called, what it accepts, its default, what it does,
/// and whether a SIGHUP reload may change it in a running process.
public struct ConfigDirective: Sendable {
    /// The name as written in a file (`port`) and, after `--`, on the command line.
    public let name: String
    /// The default exactly as a configuration file would spell it (`6380`, `512mb`, `""`).
    public let defaultText: String
    /// One line on what the directive does.
    public let summary: String
    /// True when a SIGHUP reload applies a changed value; false when a change needs a restart.
    public let reloadable: Bool
    let kind: Kind

    init(_ name: String, _ kind: Kind, default defaultText: String, reloadable: Bool, _ summary: String) {
        self.name = name
        self.kind = kind
        self.defaultText = defaultText
        self.reloadable = reloadable
        self.summary = summary
    }

    /// What the value looks like, for `--help`: `<port>`, `<size>`, `<addr> ...`.
    public var valueHint: String {
        switch kind {
        case .integer: return "<n>"
        case .octal: return "<mode>"
        case .bytes: return "<size>"
        case .milliseconds: return "<duration>"
        case .seconds: return "<seconds>"
        case let .optionalString(_, hint, _): return hint
        case .logLevel: return "<level>"
        case let .choice(_, names): return names.joined(separator: "|")
        case .bindAddresses: return "<addr> ..."
        case .upstream: return "<address>"
        case .outputBufferLimits: return "<class> <hard> <soft> <seconds> ..."
        }
    }

    /// The kinds of value a directive holds, each tied to the property it sets.
    enum Kind: Sendable {
        case integer(WritableKeyPath<RespiteConfiguration, Int> & Sendable, ClosedRange<Int>)
        case octal(WritableKeyPath<RespiteConfiguration, Int> & Sendable, ClosedRange<Int>)
        case bytes(WritableKeyPath<RespiteConfiguration, Int> & Sendable, ClosedRange<Int>)
        case milliseconds(WritableKeyPath<RespiteConfiguration, Int> & Sendable, ClosedRange<Int>)
        case seconds(WritableKeyPath<RespiteConfiguration, Int> & Sendable, ClosedRange<Int>)
        /// An empty argument stores `nil`; a non-empty one must pass the check, which returns
        /// the reason it was refused.
        case optionalString(WritableKeyPath<RespiteConfiguration, String?> & Sendable, hint: String,
                            check: (@Sendable (String) -> String?)?)
        case logLevel
        /// One of a fixed set of lowercase words.
        case choice(WritableKeyPath<RespiteConfiguration, String> & Sendable, [String])
        case bindAddresses
        case upstream
        /// `client-output-buffer-limit`: per-class limits, in groups of four words.
        case outputBufferLimits
    }

    /// Most `bind` addresses one directive takes, as redis-server allows.
    static let maxBindAddresses = 16

    /// Sets this directive's property of `config` from `args` (the words after the name).
    func apply(_ args: [String], to config: inout RespiteConfiguration) throws(ConfigReason) {
        if case .bindAddresses = kind {
            guard (1...Self.maxBindAddresses).contains(args.count) else {
                throw ConfigReason("takes 1 to \(Self.maxBindAddresses) addresses, got \(args.count)")
            }
            for address in args where !ConfigValues.isAddressLiteral(address) {
                throw ConfigReason("must be IPv4 or IPv6 addresses, got '\(address)'")
            }
            config.bind = args
            return
        }
        if case .outputBufferLimits = kind {
            try config.clientOutputBufferLimits.apply(args)
            return
        }
        guard args.count == 1 else {
            throw ConfigReason("takes 1 argument, got \(args.count)")
        }
        let text = args[0]
        switch kind {
        case let .integer(path, range):
            config[keyPath: path] = try ConfigValues.integer(text, in: range)
        case let .octal(path, range):
            config[keyPath: path] = try ConfigValues.octal(text, in: range)
        case let .bytes(path, range):
            config[keyPath: path] = try ConfigValues.bytes(text, in: range)
        case let .milliseconds(path, range):
            config[keyPath: path] = try ConfigValues.milliseconds(text, in: range)
        case let .seconds(path, range):
            config[keyPath: path] = try ConfigValues.seconds(text, in: range)
        case let .optionalString(path, _, check):
            if text.isEmpty {
                config[keyPath: path] = nil
            } else {
                if let check, let reason = check(text) { throw ConfigReason(reason) }
                config[keyPath: path] = text
            }
        case .logLevel:
            guard let level = LogLevel(rawValue: text.lowercased()) else {
                let names = LogLevel.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigReason("must be one of \(names), got '\(text)'")
            }
            config.logLevel = level
        case let .choice(path, names):
            guard names.contains(text.lowercased()) else {
                throw ConfigReason("must be one of \(names.joined(separator: ", ")), got '\(text)'")
            }
            config[keyPath: path] = text.lowercased()
        case .upstream:
            config.upstream = try ConfigValues.upstream(text)
        case .bindAddresses, .outputBufferLimits:
            break
        }
    }

    /// This directive's value in `config`, as the arguments a configuration file would hold.
    func render(_ config: RespiteConfiguration) -> [String] {
        switch kind {
        case let .integer(path, _): return [String(config[keyPath: path])]
        case let .octal(path, _): return [ConfigValues.renderOctal(config[keyPath: path])]
        case let .bytes(path, _): return [ConfigValues.renderBytes(config[keyPath: path])]
        case let .milliseconds(path, _): return [ConfigValues.renderMilliseconds(config[keyPath: path])]
        case let .seconds(path, _): return [String(config[keyPath: path])]
        case let .optionalString(path, _, _): return [config[keyPath: path] ?? ""]
        case .logLevel: return [config.logLevel.rawValue]
        case let .choice(path, _): return [config[keyPath: path]]
        case .bindAddresses: return config.bind
        case .upstream: return [config.upstream.description]
        case .outputBufferLimits: return config.clientOutputBufferLimits.render()
        }
    }
}
