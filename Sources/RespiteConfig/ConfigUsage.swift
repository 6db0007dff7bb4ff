// ConfigUsage: the `--help` text, derived from the directive table.

extension ConfigLoader {
    /// The usage text `--help` prints: the command line, the options, and every directive with
    /// its default and whether SIGHUP reloads it.
    public static func usage() -> String {
        var lines = [
            "Usage: respite [--config FILE | FILE] [--directive value ...]",
            "       respite --test-config [FILE] [--directive value ...]",
            "       respite --help | --version",
            "",
            "Respite reads FILE (redis.conf syntax), then applies each --directive flag, which",
            "overrides the file. With no configuration it listens on 127.0.0.1:6380 and",
            "forwards to the Redis at 127.0.0.1:6379.",
            "",
            "Options:",
            "  --config FILE        read the configuration from FILE",
            "  --test-config        check the configuration, report OK or the error, and exit",
            "  --include FILE       read FILE at this point of the command line",
            "  --help, -h           print this help and exit",
            "  --version, -v        print the version and exit",
            "",
            "Directives (each also a file line `directive value`; R = reloaded by SIGHUP):",
        ]
        let rows = ConfigDirectives.all.map { directive in
            (left: "  --\(directive.name) \(directive.valueHint)", directive: directive)
        }
        let width = rows.map(\.left.count).max() ?? 0
        // A default of several words (client-output-buffer-limit) goes on a line of its own.
        let oneWord = ConfigDirectives.all.map(\.defaultText).filter { !$0.contains(" ") }
        let defaultWidth = oneWord.map(\.count).max() ?? 0
        for row in rows {
            let left = row.left.padding(to: width)
            let long = row.directive.defaultText.contains(" ")
            let def = (long ? "(below)" : row.directive.defaultText).padding(to: defaultWidth)
            let reload = row.directive.reloadable ? "R" : " "
            lines.append("\(left)  \(def)  \(reload)  \(row.directive.summary)")
            if long { lines.append("      default: \(row.directive.defaultText)") }
        }
        lines.append("")
        lines.append("Sizes take redis units (1k = 1000, 1kb = 1024, m, mb, g, gb); durations take ms, s or m")
        lines.append("(a bare number is milliseconds, or seconds for tcp-keepalive and timeout).")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
