// ConfigLoader: turns Respite's command line into a validated configuration and an action.
//
//   respite [--config FILE | FILE] [--directive value ...]
//   respite --test-config [FILE] [--directive value ...]
//   respite --help | --version
//
// The file is read first (with its includes), then every `--directive` flag is applied in
// order, so flags override the file. The result is checked as a whole before it is returned.

/// What the command line asked for, and the configuration to do it with.
public struct LoadedConfig: Sendable, Equatable {
    /// What the process should do.
    public enum Action: Sendable, Equatable {
        /// Start the proxy with `configuration`.
        case run
        /// Print `ConfigLoader.usage()` and exit 0.
        case help
        /// Print `ConfigLoader.versionText` and exit 0.
        case version
        /// The configuration parsed and validated: report that it is OK and exit 0.
        case testConfig
    }

    public let action: Action
    /// The validated configuration; `RespiteConfiguration.defaults` for `help` and `version`.
    public let configuration: RespiteConfiguration
    /// The configuration file as given on the command line, if any (a reload reads it again).
    public let configFile: String?
}

/// Reads Respite's command line and configuration files. Pure apart from reading files.
public enum ConfigLoader {
    /// Respite's version.
    public static let version = "0.1.0"

    /// What `--version` prints.
    public static var versionText: String { "respite \(version)" }

    /// Loads the configuration `arguments` describe (the command line without argv[0]).
    /// Throws a `ConfigError` whose description is the one-line reason.
    public static func load(arguments: [String]) throws -> LoadedConfig {
        if arguments.contains("--help") || arguments.first == "-h" {
            return LoadedConfig(action: .help, configuration: .defaults, configFile: nil)
        }
        if arguments.contains("--version") || arguments.first == "-v" {
            return LoadedConfig(action: .version, configuration: .defaults, configFile: nil)
        }
        var action = LoadedConfig.Action.run
        var file: String?
        var flags: [(name: String, values: [String])] = []

        func setFile(_ path: String) throws {
            if let file {
                throw ConfigError("configuration file given twice: '\(file)' and '\(path)'")
            }
            file = path
        }

        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            i += 1
            if arg == "--test-config" {
                action = .testConfig
            } else if arg == "--config" {
                guard i < arguments.count, !arguments[i].hasPrefix("--") else {
                    throw ConfigError("--config: takes a file name")
                }
                try setFile(arguments[i])
                i += 1
            } else if arg.hasPrefix("--") {
                var values: [String] = []
                while i < arguments.count, !arguments[i].hasPrefix("--") {
                    values.append(arguments[i])
                    i += 1
                }
                flags.append((String(arg.dropFirst(2)), values))
            } else if arg.hasPrefix("-"), arg.count > 1 {
                throw ConfigError("unknown option '\(arg)' (see --help)")
            } else if file == nil {
                try setFile(arg)
            } else {
                throw ConfigError("unexpected argument '\(arg)' (see --help)")
            }
        }

        var builder = ConfigBuilder()
        if let file {
            try builder.applyFile(file, includedFrom: nil, depth: 0)
        }
        for flag in flags {
            try builder.applyFlag(flag.name, flag.values)
        }
        return LoadedConfig(action: action, configuration: try builder.validated(), configFile: file)
    }

    /// Parses configuration `text` as if read from `file` (which names it in errors and anchors
    /// relative includes), on top of the defaults, and validates the result.
    public static func parse(text: String, file: String) throws -> RespiteConfiguration {
        var builder = ConfigBuilder()
        try builder.applyText(Array(text.utf8), file: file, depth: 0)
        return try builder.validated()
    }
}
