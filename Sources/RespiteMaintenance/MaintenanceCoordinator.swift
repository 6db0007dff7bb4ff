// MaintenanceCoordinator: every maintenance decision for one upstream, as a pure state machine.
// (input, now, state) → actions: the shell feeds it what happened (a parsed push on a connection,
// a connection starting, ready, failing its dial or closing, a DNS answer, -READONLY, a tick),
// always with the time, and carries out what comes back (relax or restore a connection, hand off
// from one address to another, resolve a name, reconnect at a time, reload the slot map). It
// never reads a clock, dials or logs.
//
// MOVING (once per old address and sequence id; a replay inside the window is a duplicate):
// a literal target is handed off to at once, through its circuit breaker; an FQDN target is
// polled (every 500 ms) until it resolves to something other than the retiring address, or
// handed off by name at the window's end; a null endpoint reconnects to the configured address
// at time/2 (at once when the window is spent, or on -READONLY). Every connection to the old
// address stays relaxed through the window plus the post-window; connections opened meanwhile
// start relaxed. A failed dial to the handoff target is retried after a doubling delay, then
// falls back to the configured address; breakers count the target's dial outcomes.
// MIGRATING/FAILING_OVER/SMIGRATING relax the receiving connection (capped), the completion
// restores it after the post-window; a completion without a start changes nothing. SMIGRATED
// asks for one topology reload per sequence id. See docs/maintenance.md.

/// The maintenance state of one upstream and the decisions made on it.
public struct MaintenanceCoordinator<Address: HandoffAddress>: Sendable {
    public let settings: MaintenanceSettings
    /// The address the configuration names: where fallbacks and null-endpoint reconnects go.
    public let configured: Address
    /// Where new connections dial: the configured address, or the last handoff's target.
    public private(set) var dialAddress: Address
    /// Until when new connections start with relaxed timeouts (a maintenance window is open).
    public private(set) var relaxedUntil: Int64 = 0
    /// Failed dials to the current handoff target, and when the next one may go (ms).
    public private(set) var dialFailures = 0
    public private(set) var retryAt: Int64 = 0

    struct Tracked: Sendable {
        var address: Address
        var window = RelaxedWindow()
    }
    struct MovingKey: Hashable, Sendable {
        let address: Address
        let seq: Int64
    }
    struct DelayedReconnect: Sendable {
        var at: Int64
        let from: Address
        let seq: Int64
        let seconds: Int64
    }
    struct DNSPoll: Sendable {
        let query: DNSQuery<Address>
        let retiring: Endpoint?
        let seconds: Int64
        let started: Int64
        let deadline: Int64
        var next: Int64
        var resolving = false
    }

    /// Connections the pool has open, with their relaxed windows (the counting state; each
    /// connection holds only the deadline applied to it).
    private(set) var connections: [ConnectionID: Tracked] = [:]
    /// MOVINGs acted on, until when each is remembered.
    private(set) var movingSeen: [MovingKey: Int64] = [:]
    private(set) var delayed: [DelayedReconnect] = []
    private(set) var dnsPolls: [DNSPoll] = []
    public private(set) var breakers: [Address: CircuitBreaker] = [:]
    /// Old connections draining for a handoff, and each handoff's start and count left.
    private(set) var drainingFor: [ConnectionID: Int64] = [:]
    private(set) var handoffsInProgress: [Int64: (started: Int64, draining: Int)] = [:]
    /// SMIGRATED sequence ids whose topology reload was asked for, until when each is remembered.
    private(set) var reloadsAsked: [Int64: Int64] = [:]

    /// How long a SMIGRATED sequence id is remembered (every node broadcasts the same one).
    public static var topologyDedupeMs: Int64 { 120_000 }
    /// How often a polled name is resolved again.
    public static var dnsPollMs: Int64 { 500 }

    public init(settings: MaintenanceSettings, configured: Address) {
        self.settings = settings
        self.configured = configured
        self.dialAddress = configured
    }

    /// Takes one input at `now` and returns what to do, in order.
    public mutating func handle(_ input: MaintenanceInput<Address>, now: Int64) -> [MaintenanceAction<Address>] {
        switch input {
        case .push(let event, let id, let address, let peer):
            return push(event, on: id, address: address, peer: peer, now: now)
        case .connectionStarting(let id, let address, let joinsWindow):
            return starting(id, address: address, joinsWindow: joinsWindow, now: now)
        case .connectionReady(_, let address):
            return address == configured ? [] : recordDial(address, ok: true, now: now)
        case .dialFailed(_, let address):
            return dialFailed(address, now: now)
        case .draining(let id, let seq):
            drainingFor[id] = seq
            handoffsInProgress[seq, default: (now, 0)].draining += 1
            return []
        case .connectionClosed(let id):
            return closed(id, now: now)
        case .readOnly(_, let address):
            return readOnly(address, now: now)
        case .resolved(let query, let addresses):
            return resolved(query, addresses: addresses, now: now)
        case .tick:
            return runDelayed(now: now) + runDNSPolls(now: now)
        }
    }

    /// The relaxed window the coordinator holds for `connection` (tests, diagnostics).
    public func window(_ connection: ConnectionID) -> RelaxedWindow? { connections[connection]?.window }

    // MARK: pushes

    private mutating func push(_ event: MaintenanceEvent, on id: ConnectionID, address: Address, peer: Endpoint?,
                               now: Int64) -> [MaintenanceAction<Address>] {
        if connections[id] == nil { connections[id] = Tracked(address: address) }
        switch event {
        case .moving(let seq, let seconds, let endpoint):
            return moving(from: address, seq: seq, seconds: seconds, endpoint: endpoint, peer: peer, now: now)
        case .migrating, .failingOver, .slotsMigrating:
            connections[id]!.window.start(now: now, capMs: settings.relaxedCapMs)
            return [.relax(connection: id, until: connections[id]!.window.until)]
        case .migrated, .failedOver:
            return complete(id, now: now)
        case .slotsMigrated(let seq):
            var actions = complete(id, now: now)
            reloadsAsked = reloadsAsked.filter { $0.value > now }
            if let seq {
                if reloadsAsked[seq] != nil { return actions }
                reloadsAsked[seq] = now + Self.topologyDedupeMs
            }
            actions.append(.reloadTopology(seq: seq))
            return actions
        case .unknown:
            return []
        }
    }

    private mutating func complete(_ id: ConnectionID, now: Int64) -> [MaintenanceAction<Address>] {
        guard connections[id]!.window.openStarts > 0 else { return [.ignoreCompletion(connection: id)] }
        connections[id]!.window.complete(now: now, postMs: settings.postWindowMs)
        if connections[id]!.window.openStarts > 0 { return [.relax(connection: id, until: connections[id]!.window.until)] }
        return [.restore(connection: id, at: connections[id]!.window.until)]
    }

    private mutating func moving(from: Address, seq: Int64, seconds: Int64, endpoint: Endpoint?, peer: Endpoint?,
                                 now: Int64) -> [MaintenanceAction<Address>] {
        let key = MovingKey(address: from, seq: seq)
        if let until = movingSeen[key], until > now { return [.ignoreDuplicate(address: from, seq: seq)] }
        let windowMs = max(seconds, 0) * 1000
        movingSeen[key] = now + max(windowMs * 2, 60_000)
        movingSeen = movingSeen.filter { $0.value > now }
        guard let endpoint else {
            // Null endpoint: reconnect to the configured address after half the window (at once
            // when the window has already run out).
            var actions = relaxAll(at: from, ms: windowMs + Int64(settings.postWindowMs), now: now)
            let at = now + windowMs / 2
            delayed.append(DelayedReconnect(at: at, from: from, seq: seq, seconds: seconds))
            actions.append(.reconnectAt(at, from: from, seq: seq))
            if at <= now { actions += runDelayed(now: now) }
            return actions
        }
        if Address.isAddressLiteral(endpoint.host) {
            return handOff(from: from, to: .tcp(host: endpoint.host, port: endpoint.port), seq: seq, seconds: seconds, now: now)
        }
        // An FQDN: DNS lags the MOVING, so resolving at once may still return the retiring
        // address. Poll until the name resolves to something else, bounded by the window.
        let query = DNSQuery(name: endpoint.host, port: endpoint.port, from: from, seq: seq)
        let deadline = now + max(windowMs, 1000)
        var actions: [MaintenanceAction<Address>] = [.awaitDNS(query, retiring: peer, deadline: deadline)]
        actions += relaxAll(at: from, ms: windowMs + Int64(settings.postWindowMs), now: now)
        dnsPolls.append(DNSPoll(query: query, retiring: peer, seconds: seconds, started: now, deadline: deadline, next: now))
        return actions + runDNSPolls(now: now)
    }

    /// Relaxes every connection dialed to `address` for `ms`, and the ones opened meanwhile.
    private mutating func relaxAll(at address: Address, ms: Int64, now: Int64) -> [MaintenanceAction<Address>] {
        relaxedUntil = max(relaxedUntil, now + ms)
        var actions: [MaintenanceAction<Address>] = []
        for id in connections.keys.sorted() where connections[id]!.address == address {
            connections[id]!.window.extend(now: now, ms: Int(ms))
            actions.append(.relax(connection: id, until: connections[id]!.window.until))
        }
        return actions
    }

    // MARK: handoffs

    private mutating func handOff(from: Address, to requested: Address, seq: Int64, seconds: Int64,
                                  now: Int64) -> [MaintenanceAction<Address>] {
        var actions: [MaintenanceAction<Address>] = []
        var breaker = breakers[requested] ?? CircuitBreaker(threshold: settings.breakerThreshold,
                                                            resetMs: settings.breakerResetMs,
                                                            probes: settings.breakerHalfOpenProbes)
        let before = breaker.state
        let allowed = breaker.allow(now: now)
        breakers[requested] = breaker
        if before == .open && breaker.state == .halfOpen { actions.append(.breakerHalfOpen(target: requested)) }
        let target = allowed ? requested : configured
        if !allowed { actions.append(.refusedByBreaker(target: requested, instead: configured)) }
        dialAddress = target
        dialFailures = 0
        retryAt = 0
        // Connections opened during the window (replacements, new leases) start relaxed too.
        let windowMs = max(seconds, 1) * 1000
        relaxedUntil = max(relaxedUntil, now + windowMs + Int64(settings.postWindowMs))
        actions.append(.handOff(Handoff(from: from, to: target, seq: seq, drainDeadline: now + windowMs + 2000)))
        return actions
    }

    private mutating func runDelayed(now: Int64) -> [MaintenanceAction<Address>] {
        guard !delayed.isEmpty else { return [] }
        let due = delayed.filter { $0.at <= now }
        delayed.removeAll { $0.at <= now }
        var actions: [MaintenanceAction<Address>] = []
        for d in due { actions += handOff(from: d.from, to: configured, seq: d.seq, seconds: max(d.seconds / 2, 1), now: now) }
        return actions
    }

    /// `-READONLY` on a connection inside a null-endpoint window: its endpoint no longer fronts
    /// the primary, so the reconnect scheduled for half the window happens now.
    private mutating func readOnly(_ address: Address, now: Int64) -> [MaintenanceAction<Address>] {
        guard delayed.contains(where: { $0.from == address }) else { return [] }
        for i in delayed.indices where delayed[i].from == address { delayed[i].at = now }
        return [.reconnectNow(from: address)] + runDelayed(now: now)
    }

    private mutating func starting(_ id: ConnectionID, address: Address, joinsWindow: Bool, now: Int64) -> [MaintenanceAction<Address>] {
        connections[id] = Tracked(address: address)
        guard joinsWindow else { return [] }
        var actions: [MaintenanceAction<Address>] = []
        if relaxedUntil > now {
            connections[id]!.window.extend(now: now, ms: Int(relaxedUntil - now))
            actions.append(.relax(connection: id, until: connections[id]!.window.until))
        }
        if retryAt > now && address == dialAddress { actions.append(.delayDial(connection: id, ms: Int(retryAt - now))) }
        return actions
    }

    /// A dial to the handoff target failed: retry after a doubling delay (requests wait on the
    /// retrying connection), and after `handoffRetries` failures fall back to the configured
    /// address. A failed dial to an address no longer dialed belongs to a handoff already given
    /// up (or superseded): it changes nothing. The configured address has the pool's own backoff.
    private mutating func dialFailed(_ address: Address, now: Int64) -> [MaintenanceAction<Address>] {
        guard address != configured, address == dialAddress else { return [] }
        var actions = recordDial(address, ok: false, now: now)
        dialFailures += 1
        let limit = settings.handoffRetries
        if dialFailures >= limit {
            actions.append(.fallBackToConfigured(target: address, attempts: dialFailures, configured: configured))
            dialAddress = configured
            dialFailures = 0
            retryAt = 0
            return actions
        }
        let delay = min(100 << (dialFailures - 1), settings.handoffTimeoutMs)
        retryAt = now + Int64(delay)
        actions.append(.retryDial(target: address, attempt: dialFailures + 1, of: limit, inMs: delay))
        return actions
    }

    private mutating func recordDial(_ address: Address, ok: Bool, now: Int64) -> [MaintenanceAction<Address>] {
        guard var b = breakers[address] else { return [] }
        let before = b.state
        if ok { b.recordSuccess() } else { b.recordFailure(now: now) }
        breakers[address] = b
        return b.state != before ? [.breakerChanged(target: address, state: b.state)] : []
    }

    private mutating func closed(_ id: ConnectionID, now: Int64) -> [MaintenanceAction<Address>] {
        connections[id] = nil
        guard let seq = drainingFor.removeValue(forKey: id), var h = handoffsInProgress[seq] else { return [] }
        h.draining -= 1
        if h.draining > 0 { handoffsInProgress[seq] = h; return [] }
        handoffsInProgress[seq] = nil
        return [.handoffDrained(seq: seq, tookMs: now - h.started)]
    }

    // MARK: DNS

    private mutating func runDNSPolls(now: Int64) -> [MaintenanceAction<Address>] {
        var actions: [MaintenanceAction<Address>] = []
        for i in dnsPolls.indices where !dnsPolls[i].resolving && dnsPolls[i].next <= now {
            dnsPolls[i].resolving = true
            actions.append(.resolve(dnsPolls[i].query))
        }
        return actions
    }

    /// Hands off once the name no longer means the retiring address, or by name at the
    /// window's end; otherwise asks again after `dnsPollMs`.
    private mutating func resolved(_ query: DNSQuery<Address>, addresses: [String], now: Int64) -> [MaintenanceAction<Address>] {
        guard let i = dnsPolls.firstIndex(where: { $0.query == query }) else { return [] }
        let poll = dnsPolls[i]
        let fresh = addresses.filter { !($0 == poll.retiring?.host && query.port == poll.retiring?.port) }
        if let pick = fresh.first(where: { !$0.contains(":") }) ?? fresh.first {
            dnsPolls.remove(at: i)
            return [.dnsCaughtUp(query, address: pick, afterMs: now - poll.started)]
                + handOff(from: query.from, to: .tcp(host: pick, port: query.port), seq: query.seq, seconds: poll.seconds, now: now)
        }
        if now >= poll.deadline {
            dnsPolls.remove(at: i)
            return [.dnsUnchanged(query, afterMs: now - poll.started)]
                + handOff(from: query.from, to: .tcp(host: query.name, port: query.port), seq: query.seq, seconds: poll.seconds, now: now)
        }
        dnsPolls[i].resolving = false
        dnsPolls[i].next = now + Self.dnsPollMs
        return []
    }
}
