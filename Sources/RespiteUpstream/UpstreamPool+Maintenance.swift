// UpstreamPool+Maintenance: acting on maintenance notifications for one upstream.
//
// MOVING (pool-wide, once per old address and sequence id): every connection to the retiring
// address is handed off — a shared connection's slot gets a replacement dialing the target
// (requests queue there until its handshake is done), while the old one drains its in-flight
// replies and closes; idle pinned connections close; leased pinned ones retire when their
// session releases them. New connections dial the target from then on. An FQDN target is
// resolved (evdns) until it no longer means the retiring address. A null endpoint means
// "reconnect to the configured address after time/2" (at once on -READONLY). A MOVING repeated
// to a replacement that opts in inside the window is recognised and ignored. Dials to a target
// are retried with a doubling delay, then fall back to the configured address; each target has
// a circuit breaker that half-opens by time.
// MIGRATING/FAILING_OVER relax the receiving connection's timeouts until the completion plus a
// post-window (capped when the completion never comes).

import EventLoop
import Observability
import RESP
import RespiteMaintenance

/// A MOVING target named by FQDN, polled until DNS has caught up.
struct DNSPoll {
    let name: String
    let port: Int
    /// The address the old connections reached: the one DNS must stop returning.
    let retiring: (host: String, port: Int)?
    let from: UpstreamAddress
    let seq: Int64
    let seconds: Int64
    let started: Int64
    let deadline: Int64
    var next: Int64
    var resolving = false
}

/// Counters of maintenance activity, summed per upstream.
public struct MaintenanceStats: Sendable {
    public var events: [String: Int] = [:]
    public var duplicatesIgnored = 0
    public var handoffs = 0
    public var handoffConnections = 0
    public var fallbacks = 0
    public var breakerRefusals = 0
    public var optInRefusals = 0
    public var relaxedWindows = 0
    /// Requests sent again (lost before they ran, or refused with a did-not-run error).
    public var retries = 0
    /// Writes that failed because their outcome is unknown.
    public var unknownOutcomes = 0
}

extension UpstreamPool {
    public func countRetry() { stats.retries += 1 }
    public func countUnknownOutcome() { stats.unknownOutcomes += 1 }

    func maintenanceRefused(_ c: UpstreamConnection, _ text: String) {
        stats.optInRefusals += 1
        if stats.optInRefusals == 1 {
            Log.notice("maintenance: \(c.address) does not support maintenance notifications (\(text)); carrying on without them (maint-notifications auto)")
        }
    }

    /// A maintenance push arrived on `c`.
    func maintenancePush(_ c: UpstreamConnection, _ frame: UnsafeRawBufferPointer) {
        guard let event = MaintenanceEvent.parse(frame) else {
            Log.verbose("maintenance: dropped a malformed push on upstream connection \(c.id)")
            return
        }
        stats.events[event.typeName, default: 0] += 1
        let t = monotonicMs()
        switch event {
        case .moving(let seq, let seconds, let endpoint):
            moving(on: c, seq: seq, seconds: seconds, endpoint: endpoint, now: t)
        case .migrating(let seq, _), .failingOver(let seq, _):
            c.relaxed.start(now: t, capMs: settings.maintenance.relaxedCapMs)
            stats.relaxedWindows += 1
            Log.notice("maintenance: event=\(event.typeName) seq=\(seq.map(String.init) ?? "-") conn=\(c.id) action=relax-timeouts timeout=\(max(settings.timeoutMs, settings.maintenance.relaxedTimeoutMs))ms")
        case .migrated(let seq), .failedOver(let seq):
            let wasRelaxed = c.relaxed.openStarts > 0
            c.relaxed.complete(now: t, postMs: settings.maintenance.postWindowMs)
            Log.notice("maintenance: event=\(event.typeName) seq=\(seq.map(String.init) ?? "-") conn=\(c.id) action=\(wasRelaxed ? "restore-timeouts-after \(settings.maintenance.postWindowMs)ms" : "none (no open start: a replayed completion)")")
        case .slotsMigrating(let seq, _):
            c.relaxed.start(now: t, capMs: settings.maintenance.relaxedCapMs)
            Log.notice("maintenance: event=SMIGRATING seq=\(seq.map(String.init) ?? "-") conn=\(c.id) action=relax-timeouts")
        case .slotsMigrated(let seq):
            c.relaxed.complete(now: t, postMs: settings.maintenance.postWindowMs)
            Log.notice("maintenance: event=SMIGRATED seq=\(seq.map(String.init) ?? "-") conn=\(c.id) action=restore-timeouts (standalone upstream: no slot map to reload)")
        case .unknown(let type):
            Log.verbose("maintenance: ignored unknown push type \(type) on upstream connection \(c.id)")
        }
    }

    private func moving(on c: UpstreamConnection, seq: Int64, seconds: Int64, endpoint: Endpoint?, now: Int64) {
        let key = "\(c.address)|\(seq)"
        if let until = movingSeen[key], until > now {
            stats.duplicatesIgnored += 1
            Log.verbose("maintenance: event=MOVING seq=\(seq) conn=\(c.id) action=ignored (already handled for \(c.address))")
            return
        }
        let windowMs = max(Int64(seconds), 0) * 1000
        movingSeen[key] = now + max(windowMs * 2, 60_000)
        movingSeen = movingSeen.filter { $0.value > now }
        let from = c.address
        if let endpoint, !Socket.isAddressLiteral(endpoint.host) {
            // An FQDN: DNS lags the MOVING, so resolving at once may still return the retiring
            // address. Poll until the name resolves to something else, bounded by the window.
            let retiring = c.peer
            Log.notice("maintenance: event=MOVING seq=\(seq) time=\(seconds)s endpoint=\(endpoint) conn=\(c.id) action=resolve-then-handoff retiring=\(retiring.map { "\($0.host):\($0.port)" } ?? "?")")
            for conn in all.values where conn.address == from { conn.relaxed.extend(now: now, ms: Int(windowMs) + settings.maintenance.postWindowMs) }
            relaxedUntil = max(relaxedUntil, now + windowMs + Int64(settings.maintenance.postWindowMs))
            dnsPolls.append(DNSPoll(name: endpoint.host, port: endpoint.port, retiring: retiring, from: from, seq: seq,
                                    seconds: seconds, started: now, deadline: now + max(windowMs, 1000), next: now))
            runDNSPolls(now: now)
        } else if let endpoint {
            let to = UpstreamAddress.tcp(host: endpoint.host, port: endpoint.port)
            Log.notice("maintenance: event=MOVING seq=\(seq) time=\(seconds)s endpoint=\(endpoint) conn=\(c.id) action=handoff from=\(from)")
            handOff(from: from, to: to, seq: seq, seconds: seconds, now: now)
        } else {
            // Null endpoint: reconnect to the configured address after half the window (at
            // once when the window has already run out).
            let delay = max(windowMs / 2, 0)
            Log.notice("maintenance: event=MOVING seq=\(seq) time=\(seconds)s endpoint=null conn=\(c.id) action=reconnect-in \(delay)ms to=\(settings.address)")
            for conn in all.values where conn.address == from { conn.relaxed.extend(now: now, ms: Int(windowMs) + settings.maintenance.postWindowMs) }
            relaxedUntil = max(relaxedUntil, now + windowMs + Int64(settings.maintenance.postWindowMs))
            delayedHandoffs.append((at: now + delay, from: from, to: settings.address, seq: seq, seconds: seconds))
            if delay == 0 { runDelayedHandoffs(now: now) }
        }
    }

    /// A connection in a null-endpoint MOVING window answered `-READONLY`: its endpoint no longer
    /// fronts the primary, so the reconnect scheduled for half the window happens now.
    public func readOnlyDuringMaintenance(_ c: UpstreamConnection) {
        let now = monotonicMs()
        guard delayedHandoffs.contains(where: { $0.from == c.address }) else { return }
        for i in delayedHandoffs.indices where delayedHandoffs[i].from == c.address { delayedHandoffs[i].at = now }
        Log.notice("maintenance: -READONLY on upstream connection \(c.id) inside a MOVING window; reconnecting now")
        runDelayedHandoffs(now: now)
    }

    /// Resolves due FQDN targets; hands off once the name no longer means the retiring
    /// address, or by name at the window's end.
    func runDNSPolls(now: Int64) {
        for i in dnsPolls.indices where !dnsPolls[i].resolving && dnsPolls[i].next <= now {
            dnsPolls[i].resolving = true
            let poll = dnsPolls[i]
            resolver.resolve(poll.name) { [weak self] addresses in
                self?.dnsAnswered(poll, addresses)
            }
        }
    }

    private func dnsAnswered(_ poll: DNSPoll, _ addresses: [String]) {
        guard let i = dnsPolls.firstIndex(where: { $0.seq == poll.seq && $0.from == poll.from }) else { return }
        let now = monotonicMs()
        let fresh = addresses.filter { !($0 == poll.retiring?.host && poll.port == poll.retiring?.port) }
        if let pick = fresh.first(where: { !$0.contains(":") }) ?? fresh.first {
            dnsPolls.remove(at: i)
            Log.notice("maintenance: \(poll.name) resolves to \(pick) after \(now - poll.started)ms; handing off")
            handOff(from: poll.from, to: .tcp(host: pick, port: poll.port), seq: poll.seq, seconds: poll.seconds, now: now)
        } else if now >= poll.deadline {
            dnsPolls.remove(at: i)
            Log.notice("maintenance: \(poll.name) still resolves only to the retiring address after \(now - poll.started)ms; reconnecting by name")
            handOff(from: poll.from, to: .tcp(host: poll.name, port: poll.port), seq: poll.seq, seconds: poll.seconds, now: now)
        } else {
            dnsPolls[i].resolving = false
            dnsPolls[i].next = now + 500
        }
    }

    func runDelayedHandoffs(now: Int64) {
        guard !delayedHandoffs.isEmpty else { return }
        let due = delayedHandoffs.filter { $0.at <= now }
        delayedHandoffs.removeAll { $0.at <= now }
        for h in due { handOff(from: h.from, to: h.to, seq: h.seq, seconds: max(h.seconds / 2, 1), now: now) }
    }

    /// Moves every connection dialed to `from` over to `to`.
    func handOff(from: UpstreamAddress, to: UpstreamAddress, seq: Int64, seconds: Int64, now: Int64) {
        let started = monotonicMs()
        let breakerKey = to.description
        var breaker = breakers[breakerKey] ?? CircuitBreaker(threshold: settings.maintenance.breakerThreshold,
                                                             resetMs: settings.maintenance.breakerResetMs,
                                                             probes: settings.maintenance.breakerHalfOpenProbes)
        let before = breaker.state
        let allowed = breaker.allow(now: now)
        breakers[breakerKey] = breaker
        if before == .open && breaker.state == .halfOpen {
            Log.notice("maintenance: circuit breaker for \(to) is half-open; letting a probe handoff through")
        }
        let target: UpstreamAddress
        if allowed {
            target = to
        } else {
            stats.breakerRefusals += 1
            Log.warning("maintenance: handoff target \(to) is behind an open circuit breaker; reconnecting to \(settings.address) instead")
            target = settings.address
        }
        dialAddress = target
        handoffDialFailures = 0
        handoffRetryAt = 0
        stats.handoffs += 1
        // Connections opened during the window (replacements, new leases) start relaxed too.
        relaxedUntil = max(relaxedUntil, now + max(seconds, 1) * 1000 + Int64(settings.maintenance.postWindowMs))
        let drainDeadline = now + max(seconds, 1) * 1000 + 2000
        var moved = 0
        // Shared connections: a replacement takes the slot; the old one drains.
        for (key, slots) in shared {
            for (i, old) in slots.enumerated() {
                guard let old, old.address == from, old.state != .closed, old.state != .draining else { continue }
                let fresh = UpstreamConnection(id: nextID, db: old.db, identity: old.identity, pinned: false, address: target, pool: self)
                nextID += 1
                fresh.slotInPool = i
                fresh.relaxed.extend(now: now, ms: settings.maintenance.postWindowMs)
                shared[key]![i] = fresh
                all[fresh.id] = fresh
                startConnection(fresh)
                old.handoffSeq = seq
                handoffsInProgress[seq, default: (started, 0)].draining += 1
                old.startDraining(deadline: drainDeadline)
                moved += 1
            }
        }
        // Pinned connections: idle ones close now; leased ones retire when released.
        for (key, idle) in idlePinned {
            for c in idle where c.address == from { c.close(reason: "handed off"); moved += 1 }
            idlePinned[key] = idlePinned[key]?.filter { $0.state != .closed }
        }
        for c in Array(all.values) where c.pinned && c.leasedTo >= 0 && c.address == from && !c.retiring {
            c.retiring = true
            c.drainDeadline = drainDeadline
            moved += 1
            delegate?.upstreamPinnedRetiring(c)
        }
        stats.handoffConnections += moved
        Log.notice("maintenance: handoff seq=\(seq) from=\(from) to=\(target) connections=\(moved) took=\(monotonicMs() - started)ms")
    }

    /// A dial to the handoff target failed: retry after a doubling delay (requests wait on the
    /// retrying connection), and after `maint-handoff-retries` failures fall back to a plain
    /// reconnect to the configured address.
    func handoffDialFailed(_ c: UpstreamConnection) {
        recordHandoffDial(c.address, ok: false)
        handoffDialFailures += 1
        let limit = settings.maintenance.handoffRetries
        if handoffDialFailures >= limit {
            Log.warning("maintenance: handoff target \(c.address) unreachable after \(handoffDialFailures) attempts (\(c.closeReason)); reconnecting to \(settings.address) instead")
            dialAddress = settings.address
            handoffDialFailures = 0
            handoffRetryAt = 0
            stats.fallbacks += 1
            return
        }
        let delay = min(100 << (handoffDialFailures - 1), settings.maintenance.handoffTimeoutMs)
        handoffRetryAt = monotonicMs() + Int64(delay)
        Log.notice("maintenance: dial to handoff target \(c.address) failed (\(c.closeReason)); attempt \(handoffDialFailures + 1) of \(limit) in \(delay)ms")
    }

    /// An old connection of handoff `seq` finished draining (or closed).
    func handoffConnectionDone(_ seq: Int64) {
        guard var h = handoffsInProgress[seq] else { return }
        h.draining -= 1
        if h.draining > 0 { handoffsInProgress[seq] = h; return }
        handoffsInProgress[seq] = nil
        Log.notice("maintenance: handoff seq=\(seq) complete: old connections drained in \(monotonicMs() - h.started)ms")
    }

    func recordHandoffDial(_ address: UpstreamAddress, ok: Bool) {
        let key = address.description
        guard var b = breakers[key] else { return }
        let before = b.state
        if ok { b.recordSuccess() } else { b.recordFailure(now: monotonicMs()) }
        breakers[key] = b
        if b.state != before {
            Log.notice("maintenance: circuit breaker for \(address) is now \(b.state.rawValue)")
        }
    }
}
