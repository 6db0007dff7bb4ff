// LoadOptions: what one load run does — target, mode, client count, length, pipeline depth,
// protocol, key prefix, timeout and outputs — and the command-line parser that fills it.

/// The traffic shape of a run.
public enum LoadMode: String, Sendable, CaseIterable {
    /// Every client a long-lived connection doing SETs of unique keys plus INCR of its counter.
    case basic
    /// Tiny pools cycling fast (connect, a few commands, a pipeline, disconnect) beside
    /// long-lived connections.
    case advanced
    /// A thundering herd at start, synchronized bursts after idle gaps, and connection churn.
    case detect
}

/// Settings for one `LoadEngine` run.
public struct LoadOptions: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 6379
    /// Connect over this unix socket instead of TCP when set.
    public var unixPath: String? = nil
    public var mode: LoadMode = .basic
    public var clients: Int = 50
    /// Run length; when both this and `requests` are nil the run lasts 10 s.
    public var durationMs: Int? = nil
    /// Total requests to issue (the run ends when they are all answered or timed out).
    public var requests: Int? = nil
    /// Commands written per batch; a client waits for the whole batch before the next one.
    public var pipeline: Int = 1
    /// 2 or 3; with 3 every connection opens with `HELLO 3`.
    public var resp: Int = 2
    public var keyPrefix: String = "respite-load"
    /// A reply later than this is a timeout, and the connection is dropped and reopened.
    public var timeoutMs: Int = 5000
    /// Where to write the JSON report (acknowledged keys included), if anywhere.
    public var jsonPath: String? = nil
    /// No live line once per second.
    public var quiet: Bool = false
    /// Handle SIGINT and SIGTERM by ending the run early (the executable sets this).
    public var handleSignals: Bool = false

    public init() {}

    /// The run length actually used.
    public var effectiveDurationMs: Int? {
        if let d = durationMs { return d }
        return requests == nil ? 10_000 : nil
    }

    /// Where the run connects, for reports.
    public var target: String { unixPath.map { "unix:" + $0 } ?? "\(host):\(port)" }
}

/// A bad command line; `description` says what was wrong.
public struct LoadUsageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

extension LoadOptions {
    public static let usage = """
        usage: respite-load [--host H] [--port P] [--unix PATH] [--mode basic|advanced|detect]
                            [--clients N] [--duration S | --requests N] [--pipeline K] [--resp 2|3]
                            [--key-prefix PFX] [--timeout-ms T] [--json FILE] [--quiet]
          --host H          server address (default 127.0.0.1)
          --port P          server port (default 6379)
          --unix PATH       connect over a unix socket instead of TCP
          --mode M          basic (default), advanced, or detect
          --clients N       connections driven at once (default 50)
          --duration S      seconds to run, fractions allowed (default 10 unless --requests)
          --requests N      total requests to issue, then stop
          --pipeline K      commands written per batch (default 1)
          --resp 2|3        protocol; 3 sends HELLO 3 on every connection (default 2)
          --key-prefix PFX  keys are PFX:<client>:<n>, counters PFX:<client>:counter
          --timeout-ms T    per-request timeout in milliseconds (default 5000)
          --json FILE       write the full report, acknowledged keys included, to FILE
          --quiet           no live line once per second
        """

    /// Parses arguments (without the program name); nil when help was asked for.
    public static func parse(_ args: [String]) throws -> LoadOptions? {
        var o = LoadOptions()
        var i = 0
        func value(_ flag: String) throws -> String {
            i += 1
            guard i < args.count else { throw LoadUsageError("\(flag) needs a value") }
            return args[i]
        }
        func positive(_ flag: String, _ s: String, allowZero: Bool = false) throws -> Int {
            guard let n = Int(s), allowZero ? n >= 0 : n > 0 else {
                throw LoadUsageError("\(flag) wants a positive integer, got '\(s)'")
            }
            return n
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "-h", "--help": return nil
            case "--host": o.host = try value(a)
            case "--port":
                let s = try value(a)
                guard let p = Int(s), p > 0, p < 65536 else { throw LoadUsageError("--port wants 1-65535, got '\(s)'") }
                o.port = p
            case "--unix": o.unixPath = try value(a)
            case "--mode":
                let s = try value(a)
                guard let m = LoadMode(rawValue: s) else { throw LoadUsageError("--mode wants basic, advanced or detect, got '\(s)'") }
                o.mode = m
            case "--clients": o.clients = try positive(a, try value(a))
            case "--duration":
                let s = try value(a)
                guard let d = Double(s), d > 0, d < 1e7 else { throw LoadUsageError("--duration wants seconds > 0, got '\(s)'") }
                o.durationMs = Int(d * 1000)
            case "--requests": o.requests = try positive(a, try value(a))
            case "--pipeline": o.pipeline = try positive(a, try value(a))
            case "--resp":
                let s = try value(a)
                guard s == "2" || s == "3" else { throw LoadUsageError("--resp wants 2 or 3, got '\(s)'") }
                o.resp = Int(s)!
            case "--key-prefix":
                let s = try value(a)
                guard !s.isEmpty, !s.utf8.contains(where: { $0 <= 32 }) else { throw LoadUsageError("--key-prefix must be non-empty with no spaces") }
                o.keyPrefix = s
            case "--timeout-ms": o.timeoutMs = try positive(a, try value(a))
            case "--json": o.jsonPath = try value(a)
            case "--quiet", "-q": o.quiet = true
            default: throw LoadUsageError("unknown option '\(a)'")
            }
            i += 1
        }
        if o.durationMs != nil && o.requests != nil { throw LoadUsageError("--duration and --requests are exclusive") }
        return o
    }
}
