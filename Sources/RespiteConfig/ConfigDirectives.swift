// ConfigDirectives: THE table of Respite's configuration directives. Parsing, `--help`,
// `RespiteConfiguration.defaults`, `config/respite.conf` and `docs/configuration.md` all derive
// from (or are tested against) this one list. Add a directive here and nowhere else.

/// The table of every configuration directive, in the order `--help` and the docs list them.
public enum ConfigDirectives {
    /// Every directive Respite understands.
    public static let all: [ConfigDirective] = [
        // Listeners: fixed for the life of the process.
        .init("bind", .bindAddresses, default: "127.0.0.1", reloadable: false,
              "IPv4/IPv6 addresses to listen on for TCP clients (up to 16)"),
        .init("port", .integer(\.port, 0...65535), default: "6380", reloadable: false,
              "TCP port to listen on; 0 disables TCP"),
        .init("unixsocket", .optionalString(\.unixSocket, hint: "<path>", check: unixPathCheck),
              default: "\"\"", reloadable: false,
              "unix socket path to listen on; empty = none"),
        .init("unixsocketperm", .octal(\.unixSocketPerm, 0...0o777), default: "0700", reloadable: false,
              "permission bits of the unix socket, in octal"),
        .init("tcp-backlog", .integer(\.tcpBacklog, 1...65535), default: "511", reloadable: false,
              "listen() backlog of the TCP and unix listeners"),

        // Clients.
        .init("tcp-keepalive", .seconds(\.tcpKeepaliveSeconds, 0...32767), default: "300", reloadable: true,
              "TCP keepalive idle time for new client sockets, in seconds; 0 = off"),
        .init("timeout", .seconds(\.timeoutSeconds, 0...2_147_483_647), default: "0", reloadable: true,
              "close clients idle for this many seconds; 0 = never"),
        .init("maxclients", .integer(\.maxClients, 1...1_000_000), default: "10000", reloadable: true,
              "most client connections open at once; more are refused with -ERR"),
        .init("requirepass", .optionalString(\.requirePass, hint: "<password>", check: nil),
              default: "\"\"", reloadable: true,
              "password clients must AUTH with; empty = no password"),
        .init("client-auth", .choice(\.clientAuth, ["auto", "passthrough", "local"]), default: "auto", reloadable: false,
              "who checks a client's AUTH: passthrough (the upstream, as that ACL user), local (requirepass), auto = local when requirepass is set"),

        // Upstream.
        .init("upstream", .upstream, default: "127.0.0.1:6379", reloadable: false,
              "Redis to front: host:port, [ipv6]:port or unix:/path"),
        .init("upstream-user", .optionalString(\.upstreamUser, hint: "<user>", check: nil),
              default: "\"\"", reloadable: true,
              "ACL user for the upstream handshake (HELLO 3 AUTH); empty = default user"),
        .init("upstream-password", .optionalString(\.upstreamPassword, hint: "<password>", check: nil),
              default: "\"\"", reloadable: true,
              "password for the upstream handshake; empty = no AUTH"),
        .init("upstream-client-name", .optionalString(\.upstreamClientName, hint: "<name>", check: clientNameCheck),
              default: "respite", reloadable: true,
              "CLIENT SETNAME of upstream connections; empty = none"),
        .init("upstream-pool-size", .integer(\.upstreamPoolSize, 1...64), default: "1", reloadable: false,
              "shared connections per upstream per database"),
        .init("upstream-pinned-max", .integer(\.upstreamPinnedMax, 0...1_000_000), default: "1024", reloadable: true,
              "most dedicated upstream connections (MULTI, blocking, pub/sub sessions)"),
        .init("upstream-control-max", .integer(\.upstreamControlMax, 1...1_000_000), default: "16", reloadable: true,
              "most short-lived upstream connections at once (SCRIPT KILL, FUNCTION KILL, SHUTDOWN, FUNCTION STATS, AUTH checks, relayed CLIENT UNBLOCK); past it they wait (CLIENT UNBLOCK) or fail with -ERR"),
        .init("upstream-connect-timeout", .milliseconds(\.upstreamConnectTimeoutMs, 1...3_600_000),
              default: "2s", reloadable: true,
              "time allowed to connect to the upstream and finish the handshake"),
        .init("upstream-timeout", .milliseconds(\.upstreamTimeoutMs, 0...86_400_000), default: "5s", reloadable: true,
              "how long the upstream may not answer at all (a late reply triggers a liveness PING on another connection; only no answer fails requests); 0 = none"),
        .init("upstream-stall-timeout", .milliseconds(\.upstreamStallTimeoutMs, 0...86_400_000), default: "100ms", reloadable: true,
              "a shared connection whose oldest request has waited this long takes no new requests: other clients' go on a fresh one, so one slow script, paused write or long KEYS stalls only its own client; 0 = never"),
        .init("upstream-reconnect-min", .milliseconds(\.upstreamReconnectMinMs, 1...3_600_000),
              default: "100ms", reloadable: true,
              "first delay before reconnecting to the upstream; doubles up to the max"),
        .init("upstream-reconnect-max", .milliseconds(\.upstreamReconnectMaxMs, 1...3_600_000),
              default: "5s", reloadable: true,
              "longest delay between reconnect attempts"),
        .init("upstream-queue-limit", .integer(\.upstreamQueueLimit, 0...100_000_000),
              default: "100000", reloadable: true,
              "requests that may wait for an upstream connection; more fail with -ERR"),

        // Protocol and buffer limits (Redis's defaults).
        .init("proto-max-bulk-len", .bytes(\.protoMaxBulkLen, ConfigValues.mb...1024 * ConfigValues.gb),
              default: "512mb", reloadable: true,
              "largest bulk string in a client's request (replies from the upstream pass as Redis made them)"),
        .init("proto-max-multibulk-len", .integer(\.protoMaxMultibulkLen, 1...2_147_483_647),
              default: "2147483647", reloadable: true,
              "most elements in one client request (replies from the upstream pass as Redis made them)"),
        .init("proto-max-nesting", .integer(\.protoMaxNesting, 1...4096), default: "128", reloadable: true,
              "deepest nesting of aggregates in frames read from clients; replies from the upstream pass as Redis made them (a script can return thousands of levels)"),
        .init("proto-max-bulk-len-unauthenticated", .bytes(\.protoMaxBulkLenUnauthenticated, 1...1024 * ConfigValues.gb),
              default: "16384", reloadable: true,
              "largest bulk string a client may send before it authenticates"),
        .init("proto-max-multibulk-len-unauthenticated",
              .integer(\.protoMaxMultibulkLenUnauthenticated, 1...2_147_483_647),
              default: "10", reloadable: true,
              "most request elements a client may send before it authenticates"),
        .init("client-query-buffer-limit", .bytes(\.clientQueryBufferLimit, ConfigValues.mb...1024 * ConfigValues.gb),
              default: "1gb", reloadable: true,
              "largest unprocessed input of one client; beyond it the client is closed"),
        .init("client-output-buffer-limit", .outputBufferLimits,
              default: "normal 256mb 64mb 60 replica 256mb 64mb 60 pubsub 32mb 8mb 60", reloadable: true,
              "per client class (normal, replica, pubsub): unread output at which a client is closed (hard), or past which it is closed after the seconds (soft); 0 = no limit; may be repeated, one class a line"),
        .init("client-max-inflight", .integer(\.clientMaxInflight, 1...1_000_000), default: "1024", reloadable: true,
              "requests one client may have awaiting upstream replies before Respite reads no more of its input"),
        .init("client-output-high-water", .bytes(\.clientOutputHighWater, 64 * 1024...1024 * ConfigValues.gb),
              default: "4mb", reloadable: true,
              "unread output of one client, and replies expected for its requests in flight, above which its next requests wait"),
        .init("proto-inline-max-size", .bytes(\.protoInlineMaxSize, 1...ConfigValues.gb),
              default: "64kb", reloadable: true,
              "longest inline (non-RESP) request line"),

        // Admin endpoint.
        .init("admin-port", .integer(\.adminPort, 0...65535), default: "0", reloadable: false,
              "port of the admin HTTP endpoint on admin-bind (/metrics, /healthz, /readyz); 0 = off"),
        .init("admin-bind", .optionalString(\.adminBind, hint: "<addr>", check: { ConfigValues.isAddressLiteral($0) ? nil : "must be an IPv4 or IPv6 address, got '\($0)'" }),
              default: "127.0.0.1", reloadable: false,
              "address the admin endpoint listens on"),

        .init("admin-max-body-size", .bytes(\.adminMaxBodySize, 0...ConfigValues.gb), default: "64kb", reloadable: false,
              "largest request body the admin endpoint reads; a larger one is refused (413) and its connection closed"),
        .init("admin-max-headers-size", .bytes(\.adminMaxHeadersSize, 256...ConfigValues.mb), default: "8kb", reloadable: false,
              "largest request line and headers the admin endpoint reads; larger ones are refused and the connection closed"),
        .init("admin-timeout", .seconds(\.adminTimeoutSeconds, 1...3600), default: "10", reloadable: false,
              "seconds an admin connection may take to send its request or be idle before it is closed"),

        // Maintenance notifications.
        .init("maint-notifications", .choice(\.maintNotifications, ["disabled", "enabled", "auto"]),
              default: "auto", reloadable: false,
              "opt in to maintenance notifications upstream: disabled, enabled (a refusal fails the connection) or auto (a refusal means not supported)"),
        .init("maint-moving-endpoint-type",
              .choice(\.maintMovingEndpointType, ["auto", "internal-ip", "internal-fqdn", "external-ip", "external-fqdn", "none"]),
              default: "auto", reloadable: false,
              "endpoint form to ask MOVING for; auto picks from the upstream address; none keeps the configured address"),
        .init("maint-relaxed-timeout", .milliseconds(\.maintRelaxedTimeoutMs, 0...3_600_000), default: "10s", reloadable: true,
              "upstream timeout during a migration, failover or handoff: max(upstream-timeout, this)"),
        .init("maint-post-window", .milliseconds(\.maintPostWindowMs, 0...3_600_000), default: "20s", reloadable: true,
              "how long timeouts stay relaxed after a maintenance completes or a handoff"),
        .init("maint-relaxed-cap", .milliseconds(\.maintRelaxedCapMs, 1000...86_400_000), default: "30s", reloadable: true,
              "longest relaxed window when the completion never arrives"),
        .init("maint-handoff-retries", .integer(\.maintHandoffRetries, 1...10), default: "3", reloadable: true,
              "dial attempts to a MOVING target before reconnecting to the configured upstream instead"),
        .init("maint-handoff-timeout", .milliseconds(\.maintHandoffTimeoutMs, 100...600_000), default: "15s", reloadable: true,
              "longest delay between handoff dial attempts"),
        .init("maint-breaker-threshold", .integer(\.maintBreakerThreshold, 1...1000), default: "5", reloadable: true,
              "failed dials to a handoff target that open its circuit breaker"),
        .init("maint-breaker-reset", .milliseconds(\.maintBreakerResetMs, 100...3_600_000), default: "60s", reloadable: true,
              "how long an open breaker refuses handoffs before letting a probe through"),

        // Process.
        .init("loglevel", .logLevel, default: "notice", reloadable: true,
              "least severe level logged: debug, verbose, notice or warning"),
        .init("logfile", .optionalString(\.logFile, hint: "<path>", check: nil),
              default: "\"\"", reloadable: false,
              "file to append the log to; empty = stderr"),
        .init("pidfile", .optionalString(\.pidFile, hint: "<path>", check: nil),
              default: "\"\"", reloadable: false,
              "file to write the process id to; empty = none"),
        .init("databases", .integer(\.databases, 1...2_147_483_647), default: "16", reloadable: false,
              "databases SELECT accepts when the upstream cannot be asked"),
        .init("shutdown-timeout", .seconds(\.shutdownTimeoutSeconds, 0...86_400), default: "10", reloadable: true,
              "seconds a SIGTERM/SIGINT drain waits for busy and pinned clients (BLPOP, MULTI, pub/sub) before closing them; 0 = close at once"),
    ]

    /// The directive called `name` (case-insensitive), or `nil`.
    public static func named(_ name: String) -> ConfigDirective? {
        let lower = name.lowercased()
        return all.first { $0.name == lower }
    }

    /// Builds `RespiteConfiguration.defaults` by applying every directive's default text.
    /// A default that does not parse is a defect in this table, caught by the module's tests.
    static func makeDefaults() -> RespiteConfiguration {
        var config = RespiteConfiguration(placeholder: ())
        for directive in all {
            do {
                try directive.apply(try ConfigTokenizer.split(directive.defaultText.utf8), to: &config)
            } catch {
                fatalError("default of '\(directive.name)' does not parse: \(error.text)")
            }
        }
        return config
    }

    private static let unixPathCheck: @Sendable (String) -> String? = { path in
        path.utf8.count <= ConfigValues.maxUnixPathBytes
            ? nil
            : "must be a path of at most \(ConfigValues.maxUnixPathBytes) bytes, got '\(path)'"
    }

    /// Redis refuses client names with spaces, newlines or other characters outside '!'...'~'.
    private static let clientNameCheck: @Sendable (String) -> String? = { name in
        name.utf8.allSatisfy { (0x21...0x7E).contains($0) }
            ? nil
            : "must not contain spaces, newlines or special characters, got '\(name)'"
    }
}
