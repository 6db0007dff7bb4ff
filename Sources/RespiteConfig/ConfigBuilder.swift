// ConfigBuilder: applies configuration files and flags, one directive at a time, on top of the
// defaults, remembering where each directive was last set so errors can point at it; then
// checks the rules that tie directives together.

/// Accumulates directives from files and flags into a configuration. Later settings win.
struct ConfigBuilder {
    /// Deepest chain of `include`s followed before giving up (an include cycle ends here).
    static let maxIncludeDepth = 16

    private(set) var config = RespiteConfiguration.defaults
    /// Directive name → where it was last set (`file:line` or `--name`) and in which order.
    private var origins: [String: (order: Int, location: String)] = [:]
    private var applied = 0

    /// Reads `path` and applies its lines. `includedFrom` is the `file:line` of the `include`
    /// that named it, or `nil` for the file given on the command line.
    mutating func applyFile(_ path: String, includedFrom: String?, depth: Int) throws(ConfigError) {
        let bytes: [UInt8]
        do {
            bytes = try ConfigFileReader.contents(of: path)
        } catch {
            if let includedFrom {
                throw ConfigError("\(includedFrom): cannot read included file '\(path)': \(error.text)")
            }
            throw ConfigError("cannot read configuration file '\(path)': \(error.text)")
        }
        try applyText(bytes, file: path, depth: depth)
    }

    /// Applies every line of a configuration file's `bytes`, naming `file` in errors.
    mutating func applyText(_ bytes: [UInt8], file: String, depth: Int) throws(ConfigError) {
        var lineNumber = 0
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let location = "\(file):\(lineNumber)"
            let line = rawLine.drop { isBlank($0) }
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            let words: [String]
            do {
                words = try ConfigTokenizer.split(line)
            } catch {
                throw ConfigError("\(location): \(error.text)")
            }
            guard let first = words.first else { continue }
            let name = first.lowercased()
            let args = Array(words.dropFirst())
            if name == "include" {
                guard args.count == 1, !args[0].isEmpty else {
                    throw ConfigError("\(location): 'include' takes 1 file name, got \(args.count) arguments")
                }
                guard depth < Self.maxIncludeDepth else {
                    throw ConfigError("\(location): includes nested deeper than \(Self.maxIncludeDepth) (an include cycle?)")
                }
                try applyFile(ConfigFileReader.resolve(args[0], relativeTo: file), includedFrom: location, depth: depth + 1)
                continue
            }
            guard let directive = ConfigDirectives.named(name) else {
                throw ConfigError("\(location): unknown directive '\(first)'")
            }
            do {
                try directive.apply(args, to: &config)
            } catch {
                throw ConfigError("\(location): '\(directive.name)' \(error.text)")
            }
            record(directive.name, at: location)
        }
    }

    /// Applies one `--name value ...` flag. `--include FILE` reads FILE (relative to the
    /// working directory).
    mutating func applyFlag(_ rawName: String, _ values: [String]) throws(ConfigError) {
        let name = rawName.lowercased()
        let location = "--\(rawName)"
        if name == "include" {
            guard values.count == 1, !values[0].isEmpty else {
                throw ConfigError("\(location): takes 1 file name, got \(values.count) arguments")
            }
            try applyFile(values[0], includedFrom: location, depth: 1)
            return
        }
        guard let directive = ConfigDirectives.named(name) else {
            throw ConfigError("unknown option '--\(rawName)' (see --help)")
        }
        do {
            try directive.apply(values, to: &config)
        } catch {
            throw ConfigError("\(location): \(error.text)")
        }
        record(directive.name, at: location)
    }

    /// The configuration, once the rules between directives hold.
    func validated() throws(ConfigError) -> RespiteConfiguration {
        // One throw site: with a throw per rule, the release build (Swift 6.3) returned an
        // uninitialised error from here once the rules grew to six.
        if let broken = brokenRule() { throw broken }
        return config
    }

    /// The first rule between directives that the configuration breaks, as a located error.
    private func brokenRule() -> ConfigError? {
        if config.port == 0 && config.unixSocket == nil {
            return failure(["port", "unixsocket"], "no listener: 'port' is 0 and 'unixsocket' is not set")
        }
        if config.upstreamReconnectMinMs > config.upstreamReconnectMaxMs {
            return failure(["upstream-reconnect-min", "upstream-reconnect-max"],
                          "'upstream-reconnect-min' (\(ConfigValues.renderMilliseconds(config.upstreamReconnectMinMs))) "
                          + "must not exceed 'upstream-reconnect-max' (\(ConfigValues.renderMilliseconds(config.upstreamReconnectMaxMs)))")
        }
        if config.clientAuth == "passthrough" && config.requirePass != nil {
            return failure(["client-auth", "requirepass"], "'client-auth passthrough' lets the upstream check logins; 'requirepass' needs 'client-auth local' (or auto)")
        }
        if config.upstreamUser != nil && config.upstreamPassword == nil {
            return failure(["upstream-user", "upstream-password"], "'upstream-user' needs 'upstream-password'")
        }
        if config.protoMaxBulkLenUnauthenticated > config.protoMaxBulkLen {
            return failure(["proto-max-bulk-len-unauthenticated", "proto-max-bulk-len"],
                          "'proto-max-bulk-len-unauthenticated' (\(config.protoMaxBulkLenUnauthenticated)) "
                          + "must not exceed 'proto-max-bulk-len' (\(config.protoMaxBulkLen))")
        }
        if config.protoMaxMultibulkLenUnauthenticated > config.protoMaxMultibulkLen {
            return failure(["proto-max-multibulk-len-unauthenticated", "proto-max-multibulk-len"],
                          "'proto-max-multibulk-len-unauthenticated' (\(config.protoMaxMultibulkLenUnauthenticated)) "
                          + "must not exceed 'proto-max-multibulk-len' (\(config.protoMaxMultibulkLen))")
        }
        return nil
    }

    private mutating func record(_ name: String, at location: String) {
        applied += 1
        origins[name] = (applied, location)
    }

    /// An error located where the last of `names` was set.
    private func failure(_ names: [String], _ message: String) -> ConfigError {
        let latest = names.compactMap { origins[$0] }.max { $0.order < $1.order }
        return ConfigError("\(latest?.location ?? "configuration"): \(message)")
    }

    private func isBlank(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0B || b == 0x0C
    }
}
