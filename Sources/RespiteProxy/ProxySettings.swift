// ProxySettings: the client-facing half of the configuration, as the proxy uses it, built once
// from a RespiteConfiguration. Immutable after start.

import RESP
import RespiteConfig
import RespiteMaintenance
import RespiteUpstream

/// Client-facing settings plus the upstream's.
public struct ProxySettings: Sendable {
    public var bind: [String] = ["127.0.0.1"]
    public var port = 6380
    public var unixSocket: String?
    public var unixSocketPerm = 0o700
    public var tcpBacklog: Int32 = 511
    public var tcpKeepaliveSeconds = 300
    public var idleTimeoutSeconds = 0
    /// `shutdown-timeout`: how long a drain waits for busy and pinned clients, in seconds.
    public var shutdownTimeoutSeconds = 10
    public var maxClients = 10000
    public var requirePass: String?
    /// Clients' AUTH is checked by the upstream and their commands run as their ACL user
    /// (`client-auth passthrough`, or `auto` without `requirepass`).
    public var passthroughAuth = true
    public var databases = 16
    public var clientLimits = RESPLimits()
    public var queryBufferLimit = 1024 * 1024 * 1024
    /// `client-output-buffer-limit`, per client class.
    public var outputLimits = RespiteConfiguration.defaults.clientOutputBufferLimits
    /// Requests one client may have in flight before Respite stops reading more of its input.
    public var maxInFlightPerClient = 1024
    /// Unread output above which a client's further requests wait (its replies are not read).
    public var outputHighWater = 4 * 1024 * 1024
    public var upstream = UpstreamSettings()

    public init() {}

    /// Maps the parsed configuration onto the proxy's settings.
    public init(_ c: RespiteConfiguration) {
        bind = c.bind
        port = c.port
        unixSocket = c.unixSocket
        unixSocketPerm = c.unixSocketPerm
        tcpBacklog = Int32(clamping: c.tcpBacklog)
        tcpKeepaliveSeconds = c.tcpKeepaliveSeconds
        idleTimeoutSeconds = c.timeoutSeconds
        shutdownTimeoutSeconds = c.shutdownTimeoutSeconds
        maxClients = c.maxClients
        requirePass = c.requirePass
        passthroughAuth = c.clientAuth == "passthrough" || (c.clientAuth == "auto" && c.requirePass == nil)
        if passthroughAuth { requirePass = nil }
        databases = c.databases
        var l = RESPLimits()
        l.maxBulkLength = c.protoMaxBulkLen
        l.maxElements = c.protoMaxMultibulkLen
        l.maxDepth = c.protoMaxNesting
        l.maxInline = c.protoInlineMaxSize
        l.unauthenticatedMaxBulkLength = c.protoMaxBulkLenUnauthenticated
        l.unauthenticatedMaxElements = c.protoMaxMultibulkLenUnauthenticated
        clientLimits = l
        queryBufferLimit = c.clientQueryBufferLimit
        outputLimits = c.clientOutputBufferLimits
        maxInFlightPerClient = c.clientMaxInflight
        outputHighWater = c.clientOutputHighWater
        var u = UpstreamSettings()
        switch c.upstream {
        case .tcp(let host, let port): u.address = .tcp(host: host, port: port)
        case .unix(let path): u.address = .unix(path: path)
        }
        u.user = c.upstreamUser
        u.password = c.upstreamPassword
        u.clientName = c.upstreamClientName ?? ""
        u.poolSize = c.upstreamPoolSize
        u.pinnedMax = c.upstreamPinnedMax
        u.controlMax = c.upstreamControlMax
        u.connectTimeoutMs = c.upstreamConnectTimeoutMs
        u.timeoutMs = c.upstreamTimeoutMs
        u.stallTimeoutMs = c.upstreamStallTimeoutMs
        u.reconnectMinMs = c.upstreamReconnectMinMs
        u.reconnectMaxMs = c.upstreamReconnectMaxMs
        u.queueLimit = c.upstreamQueueLimit
        var m = MaintenanceSettings()
        m.mode = MaintenanceMode(rawValue: c.maintNotifications) ?? .auto
        m.endpointType = MovingEndpointType(rawValue: c.maintMovingEndpointType) ?? .auto
        m.relaxedTimeoutMs = c.maintRelaxedTimeoutMs
        m.postWindowMs = c.maintPostWindowMs
        m.relaxedCapMs = c.maintRelaxedCapMs
        m.handoffRetries = c.maintHandoffRetries
        m.handoffTimeoutMs = c.maintHandoffTimeoutMs
        m.breakerThreshold = c.maintBreakerThreshold
        m.breakerResetMs = c.maintBreakerResetMs
        u.maintenance = m
        upstream = u
    }
}
