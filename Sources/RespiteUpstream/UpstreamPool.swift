// UpstreamPool: the loop's directory of upstream nodes — each node's connections and health in
// a NodePool (UpstreamNodePool.swift), and what the nodes share: login identities
// (UpstreamIdentity.swift), the short-lived control connections (UpstreamPool+Control.swift),
// the maintenance coordinator whose actions it carries out (UpstreamPool+Maintenance.swift), one
// deferred event that flushes the pass's writes, and one coarse timer that checks deadlines (a
// passed one asks UpstreamLiveness whether the node still answers, rather than failing
// requests). A standalone upstream is a directory of one node; the cluster directory will map
// slots to nodes here, and the router will name the node a request goes to.
//
// Pinned connections are leased to one session for MULTI/WATCH, blocking commands, pub/sub,
// tracking and MONITOR, and return to their node's idle list when their state ends cleanly. A
// failed connect puts the node in backoff (`upstream-reconnect-min` doubling up to `-max`),
// during which requests fail fast with a clear error instead of hanging.

import EventLoop
import Observability
import RESP
import RespiteMaintenance

/// Where the upstream is.
public enum UpstreamAddress: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)
    public var description: String {
        switch self {
        case .tcp(let h, let p): return h.contains(":") ? "[\(h)]:\(p)" : "\(h):\(p)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

/// How to reach and use the upstream.
public struct UpstreamSettings: Sendable {
    public var address: UpstreamAddress = .tcp(host: "127.0.0.1", port: 6379)
    public var user: String?
    public var password: String?
    public var clientName = "respite"
    public var poolSize = 1
    public var pinnedMax = 1024
    /// Most short-lived connections (UpstreamPool+Control.swift) open at once.
    public var controlMax = 16
    public var idlePinnedMax = 64
    public var connectTimeoutMs = 2000
    public var timeoutMs = 5000
    /// A shared connection whose oldest request waited this long is set aside (0 = never).
    public var stallTimeoutMs = 100
    public var reconnectMinMs = 100
    public var reconnectMaxMs = 5000
    public var queueLimit = 100_000
    public var maintenance = MaintenanceSettings()
    public init() {}

    /// The endpoint type sent with the opt-in (`auto` resolved from the configured address).
    public var resolvedEndpointType: MovingEndpointType {
        switch address {
        case .tcp(let host, _): return maintenance.endpointType.resolved(upstreamHost: host)
        case .unix: return maintenance.endpointType.resolved(upstreamHost: nil)
        }
    }
}

/// Whether the upstream is usable, for the admin endpoint's `/readyz`.
public enum UpstreamReadiness: Equatable {
    case ready
    /// Not usable, and why (one line).
    case notReady(String)
}

/// Why no connection could be had.
public enum UpstreamUnavailable: Error {
    case down(String)
    case tooManyPinned(Int)
    case queueFull(Int)
}

public final class UpstreamPool {
    public let loop: Loop
    public var settings: UpstreamSettings
    /// The proxy that owns this pool (and outlives it). Not weak: a weak reference would give
    /// the proxy a side table and slow every retain and release of it on the request path.
    public unowned(unsafe) var delegate: (any UpstreamDelegate)?

    /// The nodes; a standalone upstream has one.
    public internal(set) var nodes: [NodePool] = []
    /// Interned login identities; 0 is Respite's own (its entry is a placeholder).
    var identities: [UpstreamIdentity] = [UpstreamIdentity(user: "", password: "", holders: 1)]
    /// The upstream refused the last connection of Respite's own identity for want of
    /// authentication (its default user needs a password Respite does not have).
    public var anonymousRejected = false
    /// Why Respite's own login (`upstream-user`/`upstream-password`) was last refused, at start
    /// or since; cleared when a connection of its identity completes its handshake.
    var ownLoginRefusal: String?
    /// When the tick next dials to see whether a refused own login is accepted again (ms).
    var loginRecheckAt: Int64 = 0
    /// Dedicated connections open now, on every node.
    public var pinnedCount: Int { nodes.reduce(0) { $0 + $1.pinnedCount } }
    /// Replication relays open now (a replica client's raw connection, RawRelay.swift): they
    /// count against `upstream-pinned-max` like dedicated connections.
    public var relayCount = 0
    /// Short-lived connections open now, the requests waiting for one, and the control
    /// commands queued or in flight (each runs once at a time).
    public internal(set) var controlCount = 0
    var controlQueue = Ring<ControlJob>(capacity: 16)
    var controlKeys: Set<[UInt8]> = []
    var nextID = 1
    var flushList: [UpstreamConnection] = []
    var flushEvent: Event?
    var tickEvent: Event?
    var all: [Int: UpstreamConnection] = [:]

    /// Every maintenance decision and its state (MOVINGs handled, windows, pending reconnects,
    /// DNS polls, breakers, handoff retries); UpstreamPool+Maintenance.swift carries them out.
    var maintenance: MaintenanceCoordinator<UpstreamAddress>
    /// Upstream client ids learnt before this time (ms, monotonic) may be stale: a maintenance
    /// event came, and until its window is over an endpoint may move a live connection to another
    /// server under the same address (a proxy switching shards), where the id names nobody.
    public internal(set) var idsTrustedFrom: Int64 = 0
    /// Where new connections dial: the configured address, or the target of the last MOVING
    /// (until a dial there fails, when it falls back to the configured address).
    public var dialAddress: UpstreamAddress { maintenance.dialAddress }
    /// Name lookups for every socket dialed from this pool (the loop's, evdns).
    var resolver: Resolver { loop.resolver }
    public internal(set) var stats = MaintenanceStats()

    /// The last error of the (standalone) node, for requests that could not be sent.
    public var lastError: String { nodes[0].lastError }
    /// Until when (ms) the upstream holds write commands (a `CLIENT PAUSE` seen on the way
    /// through); 0 = not paused. Sessions send held commands on connections of their own.
    public var writesPausedUntil: Int64 = 0
    /// Cached coarse clock, refreshed by the tick and by callers.
    public var now: Int64 = monotonicMs()

    public init(loop: Loop, settings: UpstreamSettings) {
        self.loop = loop
        self.settings = settings
        self.maintenance = MaintenanceCoordinator(settings: settings.maintenance, configured: settings.address)
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        flushEvent = loop.deferred(poolFlush, ctx)
        tickEvent = loop.timer(persist: true, poolTick, ctx)
        tickEvent!.add(timeoutMs: 100)
        nodes = [NodePool(directory: self, node: 0)]
    }

    /// The node a request goes to. Standalone: the one node.
    @inline(__always) var node: NodePool { nodes[0] }

    /// A new connection of `node`, known to the directory (not started).
    func newConnection(db: Int, identity: Int32, pinned: Bool, address: UpstreamAddress, node: NodePool,
                       oneShot: Bool = false) -> UpstreamConnection {
        let c = UpstreamConnection(id: nextID, db: db, identity: identity, pinned: pinned, address: address, pool: self,
                                   node: node, oneShot: oneShot)
        nextID += 1
        all[c.id] = c
        return c
    }

    /// Connections open now (shared and pinned).
    public var connectionCount: Int { all.count }

    /// The shared connection for `db` that a client with `affinity` uses (on the node).
    public func sharedConnection(db: Int, identity: Int32 = 0, affinity: Int) throws(UpstreamUnavailable) -> UpstreamConnection {
        try node.sharedConnection(db: db, identity: identity, affinity: affinity)
    }

    /// Starts a new connection, relaxed when it opens inside a maintenance window. While a
    /// handoff target is being retried the dial waits out the retry delay; requests queue on the
    /// connection meanwhile instead of failing.
    func startConnection(_ c: UpstreamConnection) {
        let delay = maintenanceStarting(c, joinsWindow: true, now: monotonicMs())
        if delay > 0 {
            c.start(afterMs: delay)
        } else {
            c.start()
        }
    }

    /// Leases a dedicated connection on `db` to `session` (on the node).
    public func leasePinned(db: Int, identity: Int32 = 0, session: Int32) throws(UpstreamUnavailable) -> UpstreamConnection {
        try node.leasePinned(db: db, identity: identity, session: session)
    }

    /// Returns a pinned connection to its node; it is kept for reuse only when its state is clean.
    public func release(_ c: UpstreamConnection, reusable: Bool) {
        c.node.release(c, reusable: reusable)
    }

    func queueFlush(_ c: UpstreamConnection) {
        flushList.append(c)
        if flushList.count == 1 { flushEvent?.activate() }
    }

    func runFlush() {
        var i = 0
        while i < flushList.count {
            flushList[i].flush()
            i += 1
        }
        flushList.removeAll(keepingCapacity: true)
        if !controlQueue.isEmpty { startQueuedControl() }
    }

    /// Whether the upstream is usable now, from what is known — never by dialing: the node
    /// is not in backoff, its last dial completed its handshake (before any dial, the startup
    /// probe got through), and Respite's own configured login was not refused. An upstream that
    /// refuses only the anonymous login, when Respite has none of its own, is usable: clients
    /// log in themselves.
    public var upstreamReadiness: UpstreamReadiness {
        // Unreachable is the fresher fact: a refused login is only known while the node answers.
        if !node.reachable || node.downUntil > monotonicMs() {
            return .notReady("upstream \(dialAddress) unavailable: \(node.lastError.isEmpty ? "not reachable" : node.lastError)")
        }
        if let refusal = ownLoginRefusal {
            return .notReady("upstream \(dialAddress) refused Respite's login: \(refusal)")
        }
        return .ready
    }

    /// What the blocking probe at start found (UpstreamProbe.swift), before any connection of
    /// the loop: the anonymous login refused (clients log in themselves), Respite's own login
    /// refused, or the upstream not reachable — the node then counts as unreachable, and the
    /// tick dials it until it answers.
    public func noteStartupProbe(error: String?) {
        guard let error else { return }
        let prefix = "HELLO 3 refused: "
        if error.hasPrefix(prefix + "NOAUTH") { anonymousRejected = true }
        if error.hasPrefix(prefix + "WRONGPASS") || error.hasPrefix(prefix + "NOAUTH") || error.hasPrefix(prefix + "NOPERM") {
            // The upstream answered. Respite's own login refused: the tick dials at once to
            // see whether it still is.
            if settings.password != nil || settings.user != nil { ownLoginRefusal = String(error.dropFirst(prefix.count)) }
            return
        }
        node.lastError = error
        node.markUnreachable(error, address: dialAddress)
    }

    func connectionReady(_ c: UpstreamConnection) {
        if c.identity == 0 {
            if ownLoginRefusal != nil {
                Log.notice("The upstream accepts Respite's own login again")
                ownLoginRefusal = nil
            }
            anonymousRejected = false
        }
        c.node.connectionReady(c)
        if c.address != settings.address { maintenanceReady(c) }
    }

    func connectionClosed(_ c: UpstreamConnection) {
        all[c.id] = nil
        var dialFailed = false
        defer { maintenanceClosed(c, dialFailed: dialFailed) }
        c.node.forget(c)
        if c.control {
            controlCount -= 1
            if let key = c.controlKey { controlKeys.remove(key) }
            if !controlQueue.isEmpty { flushEvent?.activate() }
        }
        if c.pinned && c.leasedTo >= 0 { delegate?.upstreamPinnedClosed(c) }
        if c.authRejected {
            // The upstream refused the login, not the connection: no backoff. Respite's own
            // identity refused means clients that have not logged in get NOAUTH; a client
            // identity refused (user deleted, password changed) ends its clients' sessions, as
            // Redis ends the connections of a deleted user.
            if c.identity == 0 || c.ownLoginRejected {
                if !anonymousRejected && settings.password != nil {
                    Log.warning("The upstream refused Respite's own login (upstream-user/upstream-password): \(c.closeReason); clients that have not logged in get NOAUTH")
                }
                anonymousRejected = true
                if settings.password != nil || settings.user != nil {
                    ownLoginRefusal = c.closeReason
                    loginRecheckAt = monotonicMs() + Int64(settings.reconnectMaxMs)
                }
            }
            else if c.identity > 0 { delegate?.upstreamIdentityRejected(c.identity) }
        }
        dialFailed = c.node.noteClosed(c)
    }

    func tick() {
        now = monotonicMs()
        for c in Array(all.values) { c.checkDeadline(now: now) }
        for n in nodes {
            if settings.stallTimeoutMs > 0 { n.setAsideStalledShared(now: now) }
            n.checkLiveness(now: now)
            n.redialIfUnreachable(now: now)
        }
        if ownLoginRefusal != nil && node.reachable && now >= loginRecheckAt {
            // Is Respite's own login accepted again (its password set back)? One dial each
            // `upstream-reconnect-max`, since a refused login has no backoff.
            loginRecheckAt = now + Int64(settings.reconnectMaxMs)
            let key = UpstreamPool.key(identity: 0, db: 0)
            if (node.shared[key]?.first ?? nil)?.state ?? .closed == .closed {
                _ = try? node.sharedConnection(db: 0, identity: 0, affinity: 0)
            }
        }
        maintenanceTick(now: now)
    }

    /// Closes every connection (shutdown).
    public func closeAll(reason: String) {
        for n in nodes { n.probe?.stop(); n.probe = nil }
        for c in Array(all.values) { c.close(reason: reason) }
        tickEvent?.free(); tickEvent = nil
        flushEvent?.free(); flushEvent = nil
    }
}

let poolFlush: EventCallback = { _, _, ctx in
    Unmanaged<UpstreamPool>.fromOpaque(ctx!).takeUnretainedValue().runFlush()
}
let poolTick: EventCallback = { _, _, ctx in
    Unmanaged<UpstreamPool>.fromOpaque(ctx!).takeUnretainedValue().tick()
}
