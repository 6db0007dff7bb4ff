// MaintenanceSettings: how Respite takes part in maintenance notifications — whether it opts in
// (`maint-notifications disabled | enabled | auto`), which endpoint form it asks the server for
// (`maint-moving-endpoint-type`), and the timings of relaxed timeouts and handoffs. Defaults
// follow the most complete client implementation (reference §4).

/// Whether upstream connections opt in to maintenance notifications.
public enum MaintenanceMode: String, Sendable, CaseIterable {
    /// Never send the opt-in.
    case disabled
    /// Opt in; a refusal fails the connection with the server's reason.
    case enabled
    /// Opt in; a refusal means "not supported here" and the connection carries on without it.
    case auto
}

/// The form of MOVING endpoint to ask for. `auto` is resolved before anything is sent.
public enum MovingEndpointType: String, Sendable, CaseIterable {
    case auto
    case internalIP = "internal-ip"
    case internalFQDN = "internal-fqdn"
    case externalIP = "external-ip"
    case externalFQDN = "external-fqdn"
    case none

    /// Resolves `auto` from the configured upstream host: an IP literal asks for an IP, a name
    /// for an FQDN; private, loopback and link-local addresses (and names) count as internal.
    /// A unix-socket upstream (no host) asks for `none`: keep the configured address.
    public func resolved(upstreamHost: String?) -> MovingEndpointType {
        guard self == .auto else { return self }
        guard let host = upstreamHost, !host.isEmpty else { return .none }
        if let v4 = IPv4(host) { return v4.isPrivateOrLocal ? .internalIP : .externalIP }
        if host.contains(":") {
            let h = host.lowercased()
            let local = h == "::1" || h.hasPrefix("fc") || h.hasPrefix("fd") || h.hasPrefix("fe80")
            return local ? .internalIP : .externalIP
        }
        return host == "localhost" || !host.contains(".") ? .internalFQDN : .externalFQDN
    }
}

struct IPv4 {
    let a: Int, b: Int
    init?(_ s: String) {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: [Int] = []
        for p in parts { guard let n = Int(p), n >= 0, n <= 255 else { return nil }; v.append(n) }
        a = v[0]; b = v[1]
    }
    var isPrivateOrLocal: Bool {
        a == 10 || a == 127 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168)
            || (a == 169 && b == 254) || (a == 100 && b >= 64 && b <= 127)
    }
}

/// Maintenance behaviour and timings.
public struct MaintenanceSettings: Sendable, Equatable {
    public var mode: MaintenanceMode = .auto
    public var endpointType: MovingEndpointType = .auto
    /// Timeout while a migration or failover runs: `max(normal, relaxed)`.
    public var relaxedTimeoutMs = 10_000
    /// How long timeouts stay relaxed after the completion (or a handoff).
    public var postWindowMs = 20_000
    /// Longest relaxed window when the completion never comes.
    public var relaxedCapMs = 30_000
    /// One handoff attempt's budget (dial, handshake).
    public var handoffTimeoutMs = 15_000
    /// Attempts per handoff before falling back to a plain reconnect.
    public var handoffRetries = 3
    /// Consecutive dial failures that open an endpoint's circuit breaker.
    public var breakerThreshold = 5
    /// How long an open breaker stays open before it lets a probe through (half-open).
    public var breakerResetMs = 60_000
    /// Successful probes in half-open that close the breaker.
    public var breakerHalfOpenProbes = 3
    public init() {}
}
