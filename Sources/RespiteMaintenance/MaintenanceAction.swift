// MaintenanceAction: what the maintenance coordinator asks its shell to do (or to note), and the
// inputs it is fed. Both are plain values: the coordinator never touches a socket, a timer or
// the clock; the shell (UpstreamPool+Maintenance.swift) carries the actions out.

/// A connection as the coordinator knows it: the pool's connection id.
public typealias ConnectionID = Int

/// An upstream address the coordinator can compare, name and build from a resolved host.
public protocol HandoffAddress: Hashable, Sendable, CustomStringConvertible {
    static func tcp(host: String, port: Int) -> Self
    /// Whether `host` is an IP literal (a MOVING endpoint that needs no DNS).
    static func isAddressLiteral(_ host: String) -> Bool
}

/// One DNS lookup of a MOVING target named by FQDN, keyed by the handoff it serves.
public struct DNSQuery<Address: HandoffAddress>: Hashable, Sendable {
    public let name: String
    public let port: Int
    /// The address the old connections dialed, and the MOVING's sequence id.
    public let from: Address
    public let seq: Int64
}

/// A handoff to carry out: every connection dialed to `from` moves to `to`.
public struct Handoff<Address: HandoffAddress>: Hashable, Sendable {
    public let from: Address
    /// Where connections go: the requested target, or the configured address when the target's
    /// circuit breaker refused it.
    public let to: Address
    public let seq: Int64
    /// When old connections stop waiting for their in-flight replies (ms).
    public let drainDeadline: Int64
}

/// What happened, as the shell reports it. Every input comes with `now` (ms, monotonic).
public enum MaintenanceInput<Address: HandoffAddress>: Sendable {
    /// A parsed maintenance push arrived on `connection`, dialed to `address`, whose socket
    /// reached `peer` (nil when unknown).
    case push(MaintenanceEvent, connection: ConnectionID, address: Address, peer: Endpoint?)
    /// A connection is about to dial `address`. `joinsWindow`: it serves clients (shared, pinned,
    /// a handoff replacement) and so starts relaxed inside a maintenance window and waits out a
    /// handoff retry delay; short-lived control connections are only tracked.
    case connectionStarting(ConnectionID, address: Address, joinsWindow: Bool)
    /// A connection finished its handshake.
    case connectionReady(ConnectionID, address: Address)
    /// A connection never got through its handshake and closed (not a refused login).
    case dialFailed(ConnectionID, address: Address)
    /// An old connection of handoff `seq` stops taking requests and drains.
    case draining(ConnectionID, seq: Int64)
    /// A connection closed, announced or not.
    case connectionClosed(ConnectionID)
    /// `-READONLY` was answered on a connection dialed to `address`.
    case readOnly(ConnectionID, address: Address)
    /// The answer to a `.resolve(query)` (empty when the lookup failed).
    case resolved(DNSQuery<Address>, addresses: [String])
    /// Time passed (the pool's coarse timer).
    case tick
}

/// What the shell does (or logs) in answer, in order.
public enum MaintenanceAction<Address: HandoffAddress>: Hashable, Sendable {
    /// Relax `connection`'s timeouts until `until` (a start, or a window extended).
    case relax(connection: ConnectionID, until: Int64)
    /// `connection`'s maintenance completed: its timeouts return to normal at `at`.
    case restore(connection: ConnectionID, at: Int64)
    /// A completion with no open start on `connection` (a retained replay, or a completion
    /// without its start): nothing changes.
    case ignoreCompletion(connection: ConnectionID)
    /// A MOVING already acted on for this address and sequence id (the server repeats it to a
    /// replacement that opts in inside the window): nothing changes.
    case ignoreDuplicate(address: Address, seq: Int64)
    /// A MOVING to an FQDN: poll DNS until the name stops meaning `retiring` (the address the old
    /// connections reached), handing off by name at `deadline` at the latest.
    case awaitDNS(DNSQuery<Address>, retiring: Endpoint?, deadline: Int64)
    /// Look `query.name` up now; report the answer as `.resolved`.
    case resolve(DNSQuery<Address>)
    /// The polled name now resolves to `address`: the handoff goes there (it follows).
    case dnsCaughtUp(DNSQuery<Address>, address: String, afterMs: Int64)
    /// The window ended with the name still meaning the retiring address: hand off by name, so
    /// every later dial resolves it again (it follows).
    case dnsUnchanged(DNSQuery<Address>, afterMs: Int64)
    /// A null-endpoint MOVING: connections to `from` reconnect to the configured address at `at`.
    case reconnectAt(Int64, from: Address, seq: Int64)
    /// `-READONLY` inside a null-endpoint window: the scheduled reconnect for `from` runs now
    /// (the handoff follows).
    case reconnectNow(from: Address)
    /// The handoff target's breaker is half-open: this handoff is its probe.
    case breakerHalfOpen(target: Address)
    /// The handoff target's breaker is open: the handoff goes to `instead` (the configured address).
    case refusedByBreaker(target: Address, instead: Address)
    /// A target's breaker changed state after a dial's outcome.
    case breakerChanged(target: Address, state: BreakerState)
    /// Carry out a handoff. New connections dial `handoff.to` from now on.
    case handOff(Handoff<Address>)
    /// Start this connection's dial after `ms` (a handoff target is being retried).
    case delayDial(connection: ConnectionID, ms: Int)
    /// A dial to the handoff target failed; attempt `attempt` of `of` goes after `inMs`.
    case retryDial(target: Address, attempt: Int, of: Int, inMs: Int)
    /// The handoff target stayed unreachable after `attempts` dials: new connections dial the
    /// configured address again.
    case fallBackToConfigured(target: Address, attempts: Int, configured: Address)
    /// Every old connection of handoff `seq` has drained or closed.
    case handoffDrained(seq: Int64, tookMs: Int64)
    /// Cluster slots moved (SMIGRATED): reload the slot map, once per event sequence id.
    case reloadTopology(seq: Int64?)
}
