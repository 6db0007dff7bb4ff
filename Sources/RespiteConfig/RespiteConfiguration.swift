// RespiteConfiguration: the typed, immutable settings a Respite process runs with.
//
// Values come from `ConfigDirectives.all` (the one table of directives): `defaults` is built by
// applying each directive's default text, files and flags apply their text on top, and
// `ConfigLoader` validates the result. Once loaded, a configuration is a plain value that may be
// shared across loops and threads.

/// Every setting of a Respite process, typed. Durations are milliseconds unless the property
/// name says seconds; sizes are bytes; `nil` means "not set".
public struct RespiteConfiguration: Sendable, Equatable {
    // Listeners.
    /// `bind`: addresses to listen on for TCP clients (IPv4 or IPv6 literals).
    public var bind: [String]
    /// `port`: TCP port to listen on; 0 disables TCP.
    public var port: Int
    /// `unixsocket`: path of a unix socket to listen on.
    public var unixSocket: String?
    /// `unixsocketperm`: permission bits of the unix socket (e.g. 0o700).
    public var unixSocketPerm: Int
    /// `tcp-backlog`: listen(2) backlog.
    public var tcpBacklog: Int
    /// `tcp-keepalive`: TCP keepalive idle time for client sockets, in seconds; 0 disables it.
    public var tcpKeepaliveSeconds: Int
    /// `timeout`: close a client idle for this many seconds; 0 = never.
    public var timeoutSeconds: Int
    /// `maxclients`: most client connections open at once.
    public var maxClients: Int
    /// `requirepass`: password clients must AUTH with.
    public var requirePass: String?
    /// `client-auth`: auto, passthrough or local.
    public var clientAuth: String

    // Upstream.
    /// `upstream`: the Redis endpoint Respite fronts.
    public var upstream: UpstreamAddress
    /// `upstream-user`: ACL user for the upstream handshake.
    public var upstreamUser: String?
    /// `upstream-password`: password for the upstream handshake.
    public var upstreamPassword: String?
    /// `upstream-client-name`: CLIENT SETNAME for upstream connections; `nil` sets none.
    public var upstreamClientName: String?
    /// `upstream-pool-size`: shared connections per upstream per db.
    public var upstreamPoolSize: Int
    /// `upstream-pinned-max`: most dedicated connections (MULTI, blocking, pub/sub sessions).
    public var upstreamPinnedMax: Int
    /// `upstream-control-max`: most short-lived upstream connections open at once.
    public var upstreamControlMax: Int
    /// `upstream-connect-timeout`: milliseconds allowed to connect and handshake.
    public var upstreamConnectTimeoutMs: Int
    /// `upstream-timeout`: deadline of the oldest in-flight request, in milliseconds; 0 = none.
    public var upstreamTimeoutMs: Int
    /// `upstream-stall-timeout`: when a shared connection stuck behind one request is set aside.
    public var upstreamStallTimeoutMs: Int
    /// `upstream-reconnect-min`: first reconnect backoff, in milliseconds.
    public var upstreamReconnectMinMs: Int
    /// `upstream-reconnect-max`: largest reconnect backoff, in milliseconds.
    public var upstreamReconnectMaxMs: Int
    /// `upstream-queue-limit`: requests that may wait for an upstream connection.
    public var upstreamQueueLimit: Int

    // Protocol and buffer limits.
    /// `proto-max-bulk-len`: largest bulk string, in bytes.
    public var protoMaxBulkLen: Int
    /// `proto-max-multibulk-len`: most elements in one request or reply aggregate.
    public var protoMaxMultibulkLen: Int
    /// `proto-max-nesting`: deepest reply nesting.
    public var protoMaxNesting: Int
    /// `proto-max-bulk-len-unauthenticated`: largest bulk string before AUTH, in bytes.
    public var protoMaxBulkLenUnauthenticated: Int
    /// `proto-max-multibulk-len-unauthenticated`: most request elements before AUTH.
    public var protoMaxMultibulkLenUnauthenticated: Int
    /// `client-query-buffer-limit`: largest unprocessed input of one client, in bytes.
    public var clientQueryBufferLimit: Int
    /// `client-output-buffer-limit`: per client class, the unread output past which a client is
    /// closed (hard, or soft for longer than its seconds), in bytes; 0 = unlimited.
    public var clientOutputBufferLimits: OutputBufferLimits
    /// `client-max-inflight`: requests one client may have awaiting upstream replies.
    public var clientMaxInflight: Int
    /// `client-output-high-water`: unread output above which a client's requests wait, in bytes.
    public var clientOutputHighWater: Int
    /// `proto-inline-max-size`: longest inline (non-RESP) request line, in bytes.
    public var protoInlineMaxSize: Int

    // Admin endpoint.
    /// `admin-port`: the admin HTTP endpoint's port; 0 = off.
    public var adminPort: Int
    /// `admin-bind`: the admin endpoint's address.
    public var adminBind: String?
    /// `admin-max-body-size`: largest admin request body, in bytes.
    public var adminMaxBodySize: Int
    /// `admin-max-headers-size`: largest admin request line and headers, in bytes.
    public var adminMaxHeadersSize: Int
    /// `admin-timeout`: seconds an admin connection may take or idle.
    public var adminTimeoutSeconds: Int

    // Maintenance notifications.
    /// `maint-notifications`: disabled, enabled or auto.
    public var maintNotifications: String
    /// `maint-moving-endpoint-type`: auto, internal-ip, internal-fqdn, external-ip, external-fqdn or none.
    public var maintMovingEndpointType: String
    /// `maint-relaxed-timeout`, in milliseconds.
    public var maintRelaxedTimeoutMs: Int
    /// `maint-post-window`, in milliseconds.
    public var maintPostWindowMs: Int
    /// `maint-relaxed-cap`, in milliseconds.
    public var maintRelaxedCapMs: Int
    /// `maint-handoff-retries`: dial attempts to a MOVING target before falling back.
    public var maintHandoffRetries: Int
    /// `maint-handoff-timeout`, in milliseconds.
    public var maintHandoffTimeoutMs: Int
    /// `maint-breaker-threshold`: failed dials that open a handoff target's breaker.
    public var maintBreakerThreshold: Int
    /// `maint-breaker-reset`, in milliseconds.
    public var maintBreakerResetMs: Int

    // Process.
    /// `loglevel`: least severe level that is logged.
    public var logLevel: LogLevel
    /// `logfile`: file to log to; `nil` logs to stderr.
    public var logFile: String?
    /// `pidfile`: file to write the process id to.
    public var pidFile: String?
    /// `databases`: number of databases SELECT accepts when the upstream cannot be asked.
    public var databases: Int
    /// `shutdown-timeout`: seconds a SIGTERM/SIGINT drain waits for clients still busy or
    /// pinned before closing them; 0 closes them at once.
    public var shutdownTimeoutSeconds: Int

    /// Placeholder values, every one overwritten by the table's defaults in `defaults`.
    init(placeholder: Void) {
        bind = []; port = 0; unixSocket = nil; unixSocketPerm = 0; tcpBacklog = 0
        tcpKeepaliveSeconds = 0; timeoutSeconds = 0; maxClients = 0; requirePass = nil; clientAuth = ""
        upstream = .unix(path: ""); upstreamUser = nil; upstreamPassword = nil
        upstreamClientName = nil; upstreamPoolSize = 0; upstreamPinnedMax = 0; upstreamControlMax = 0
        upstreamConnectTimeoutMs = 0; upstreamTimeoutMs = 0; upstreamStallTimeoutMs = 0; upstreamReconnectMinMs = 0
        upstreamReconnectMaxMs = 0; upstreamQueueLimit = 0
        protoMaxBulkLen = 0; protoMaxMultibulkLen = 0; protoMaxNesting = 0
        protoMaxBulkLenUnauthenticated = 0; protoMaxMultibulkLenUnauthenticated = 0
        clientQueryBufferLimit = 0; clientOutputBufferLimits = OutputBufferLimits(normal: .init(hard: 0, soft: 0, softSeconds: 0), replica: .init(hard: 0, soft: 0, softSeconds: 0), pubsub: .init(hard: 0, soft: 0, softSeconds: 0)); protoInlineMaxSize = 0
        clientMaxInflight = 0; clientOutputHighWater = 0
        maintNotifications = ""; maintMovingEndpointType = ""; maintRelaxedTimeoutMs = 0; maintPostWindowMs = 0
        maintRelaxedCapMs = 0; maintBreakerThreshold = 0; maintBreakerResetMs = 0
        maintHandoffRetries = 0; maintHandoffTimeoutMs = 0
        adminPort = 0; adminBind = nil; adminMaxBodySize = 0; adminMaxHeadersSize = 0; adminTimeoutSeconds = 0
        logLevel = .notice; logFile = nil; pidFile = nil; databases = 0; shutdownTimeoutSeconds = 0
    }

    /// The configuration Respite runs with when given none: every directive at its default
    /// (listen on 127.0.0.1:6380, forward to 127.0.0.1:6379).
    public static let defaults: RespiteConfiguration = ConfigDirectives.makeDefaults()

    /// Names of the directives whose values differ between `self` and `other`, in table order.
    /// A reload compares the running configuration with the newly loaded one and refuses
    /// (or warns about) changes to directives that are not `reloadable`.
    public func changedDirectives(comparedTo other: RespiteConfiguration) -> [ConfigDirective] {
        ConfigDirectives.all.filter { $0.render(self) != $0.render(other) }
    }

    /// The value of directive `name` as config-file arguments, or `nil` for an unknown name.
    public func value(of name: String) -> [String]? {
        ConfigDirectives.named(name)?.render(self)
    }
}

/// Where the upstream Redis listens: a TCP host and port, or a unix socket path.
public enum UpstreamAddress: Sendable, Equatable, CustomStringConvertible {
    /// `host:port` or `[ipv6]:port`; `host` is a name or an address literal without brackets.
    case tcp(host: String, port: Int)
    /// `unix:/path`.
    case unix(path: String)

    /// The address as written in a configuration file.
    public var description: String {
        switch self {
        case let .tcp(host, port):
            return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case let .unix(path):
            return "unix:\(path)"
        }
    }
}

/// Log severity, least to most severe, as redis-server names them.
public enum LogLevel: String, Sendable, Equatable, Comparable, CaseIterable {
    case debug, verbose, notice, warning

    private var rank: Int {
        switch self {
        case .debug: return 0
        case .verbose: return 1
        case .notice: return 2
        case .warning: return 3
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rank < rhs.rank }
}
