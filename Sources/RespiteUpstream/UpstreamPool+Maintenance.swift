// UpstreamPool+Maintenance: the shell around the pool's MaintenanceCoordinator. It parses each
// maintenance push, feeds it — and connection starts, handshakes, failed dials, closes, DNS
// answers, -READONLY and the pool's tick — to the coordinator with the time, and carries out
// the actions that come back: applying a relaxed deadline to a connection, resolving a name
// (evdns), and performing a handoff. Every decision (dedupe, windows, breakers, retries,
// fallbacks, DNS polling, null-endpoint timing) is the coordinator's
// (RespiteMaintenance/MaintenanceCoordinator.swift); this file only acts and logs.
//
// A handoff moves every connection dialed to the old address: a shared connection's slot gets
// a replacement dialing the target (requests queue there until its handshake is done), while
// the old one drains its in-flight replies and closes; idle pinned connections close; leased
// pinned ones retire when their session releases them. New connections dial the target from
// then on (`dialAddress`).

import EventLoop
import Observability
import RESP
import RespiteMaintenance

extension UpstreamAddress: HandoffAddress {
    public static func isAddressLiteral(_ host: String) -> Bool { Socket.isAddressLiteral(host) }
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
        switch event {
        case .unknown: break
        case .moving(_, let seconds, _): idsTrustedFrom = max(idsTrustedFrom, monotonicMs() + seconds * 1000 + 1000)
        default: idsTrustedFrom = max(idsTrustedFrom, monotonicMs() + 1000)
        }
        var peer: Endpoint?
        if case .moving = event, let p = c.peer { peer = Endpoint(host: p.host, port: p.port) }
        let now = monotonicMs()
        let actions = maintenance.handle(.push(event, connection: c.id, address: c.address, peer: peer), now: now)
        let seqText = event.seq.map(String.init) ?? "-"
        switch event {
        case .moving(let seq, let seconds, let endpoint):
            logMoving(c, seq: seq, seconds: seconds, endpoint: endpoint, actions: actions, now: now)
        case .migrating, .failingOver:
            stats.relaxedWindows += 1
            Log.notice("maintenance: event=\(event.typeName) seq=\(seqText) conn=\(c.id) action=relax-timeouts timeout=\(max(settings.timeoutMs, settings.maintenance.relaxedTimeoutMs))ms")
        case .migrated, .failedOver:
            let replay = actions.contains(.ignoreCompletion(connection: c.id))
            Log.notice("maintenance: event=\(event.typeName) seq=\(seqText) conn=\(c.id) action=\(replay ? "none (no open start: a replayed completion)" : "restore-timeouts-after \(settings.maintenance.postWindowMs)ms")")
        case .slotsMigrating:
            Log.notice("maintenance: event=SMIGRATING seq=\(seqText) conn=\(c.id) action=relax-timeouts")
        case .slotsMigrated:
            Log.notice("maintenance: event=SMIGRATED seq=\(seqText) conn=\(c.id) action=restore-timeouts (standalone upstream: no slot map to reload)")
        case .unknown(let type):
            Log.verbose("maintenance: ignored unknown push type \(type) on upstream connection \(c.id)")
        }
        carryOut(actions)
    }

    private func logMoving(_ c: UpstreamConnection, seq: Int64, seconds: Int64, endpoint: Endpoint?,
                           actions: [MaintenanceAction<UpstreamAddress>], now: Int64) {
        for action in actions {
            switch action {
            case .ignoreDuplicate:
                Log.verbose("maintenance: event=MOVING seq=\(seq) conn=\(c.id) action=ignored (already handled for \(c.address))")
            case .awaitDNS(_, let retiring, _):
                Log.notice("maintenance: event=MOVING seq=\(seq) time=\(seconds)s endpoint=\(endpoint.map(String.init(describing:)) ?? "null") conn=\(c.id) action=resolve-then-handoff retiring=\(retiring.map { "\($0.host):\($0.port)" } ?? "?")")
            case .reconnectAt(let at, _, _):
                Log.notice("maintenance: event=MOVING seq=\(seq) time=\(seconds)s endpoint=null conn=\(c.id) action=reconnect-in \(at - now)ms to=\(settings.address)")
            case .handOff, .refusedByBreaker, .breakerHalfOpen:
                Log.notice("maintenance: event=MOVING seq=\(seq) time=\(seconds)s endpoint=\(endpoint.map(String.init(describing:)) ?? "null") conn=\(c.id) action=handoff from=\(c.address)")
            default: continue
            }
            return
        }
    }

    /// A connection in a null-endpoint MOVING window answered `-READONLY`: its endpoint no longer
    /// fronts the primary, so the reconnect scheduled for half the window happens now.
    public func readOnlyDuringMaintenance(_ c: UpstreamConnection) {
        let actions = maintenance.handle(.readOnly(c.id, address: c.address), now: monotonicMs())
        guard !actions.isEmpty else { return }
        Log.notice("maintenance: -READONLY on upstream connection \(c.id) inside a MOVING window; reconnecting now")
        carryOut(actions)
    }

    /// The pool's tick: due null-endpoint reconnects and DNS polls.
    func maintenanceTick(now: Int64) {
        let actions = maintenance.handle(.tick, now: now)
        if !actions.isEmpty { carryOut(actions) }
    }

    /// Registers a connection about to dial; returns how long its dial waits (a handoff target
    /// being retried), and applies the relaxed deadline of an open maintenance window.
    func maintenanceStarting(_ c: UpstreamConnection, joinsWindow: Bool, now: Int64) -> Int {
        var delay = 0
        for action in maintenance.handle(.connectionStarting(c.id, address: c.address, joinsWindow: joinsWindow), now: now) {
            switch action {
            case .relax(_, let until): c.relaxed.hold(until: until)
            case .delayDial(_, let ms): delay = ms
            default: carryOut([action])
            }
        }
        return delay
    }

    func maintenanceReady(_ c: UpstreamConnection) {
        let actions = maintenance.handle(.connectionReady(c.id, address: c.address), now: monotonicMs())
        if !actions.isEmpty { carryOut(actions) }
    }

    /// `c` closed; `dialFailed`: it never got through its handshake (a refused login aside).
    func maintenanceClosed(_ c: UpstreamConnection, dialFailed: Bool) {
        let now = monotonicMs()
        var actions = maintenance.handle(.connectionClosed(c.id), now: now)
        if dialFailed { actions += maintenance.handle(.dialFailed(c.id, address: c.address), now: now) }
        if !actions.isEmpty { carryOut(actions, closing: c) }
    }

    /// Carries out the coordinator's actions in order. `closing`: the connection whose close
    /// produced them (its reason is logged).
    func carryOut(_ actions: [MaintenanceAction<UpstreamAddress>], closing: UpstreamConnection? = nil) {
        for action in actions {
            switch action {
            case .relax(let id, let until), .restore(let id, let until):
                all[id]?.relaxed.hold(until: until)
            case .ignoreCompletion, .awaitDNS, .reconnectAt, .reconnectNow, .delayDial:
                break
            case .ignoreDuplicate:
                stats.duplicatesIgnored += 1
            case .resolve(let query):
                resolver.resolve(query.name) { [weak self] addresses in
                    guard let self else { return }
                    self.carryOut(self.maintenance.handle(.resolved(query, addresses: addresses), now: monotonicMs()))
                }
            case .dnsCaughtUp(let query, let address, let afterMs):
                Log.notice("maintenance: \(query.name) resolves to \(address) after \(afterMs)ms; handing off")
            case .dnsUnchanged(let query, let afterMs):
                Log.notice("maintenance: \(query.name) still resolves only to the retiring address after \(afterMs)ms; reconnecting by name")
            case .breakerHalfOpen(let target):
                Log.notice("maintenance: circuit breaker for \(target) is half-open; letting a probe handoff through")
            case .refusedByBreaker(let target, let instead):
                stats.breakerRefusals += 1
                Log.warning("maintenance: handoff target \(target) is behind an open circuit breaker; reconnecting to \(instead) instead")
            case .breakerChanged(let target, let state):
                Log.notice("maintenance: circuit breaker for \(target) is now \(state.rawValue)")
            case .handOff(let h):
                handOff(h)
            case .retryDial(let target, let attempt, let of, let inMs):
                Log.notice("maintenance: dial to handoff target \(target) failed (\(closing?.closeReason ?? "?")); attempt \(attempt) of \(of) in \(inMs)ms")
            case .fallBackToConfigured(let target, let attempts, let configured):
                stats.fallbacks += 1
                Log.warning("maintenance: handoff target \(target) unreachable after \(attempts) attempts (\(closing?.closeReason ?? "?")); reconnecting to \(configured) instead")
            case .handoffDrained(let seq, let tookMs):
                Log.notice("maintenance: handoff seq=\(seq) complete: old connections drained in \(tookMs)ms")
            case .reloadTopology:
                // A standalone upstream has no slot map: the SMIGRATED line above says so.
                break
            }
        }
    }

    /// Moves every connection dialed to `h.from` over to `h.to`.
    private func handOff(_ h: Handoff<UpstreamAddress>) {
        let started = monotonicMs()
        stats.handoffs += 1
        var moved = 0
        // Shared connections: a replacement takes the slot; the old one drains.
        for n in nodes {
            for (key, i, old) in n.sharedConnections {
                guard old.address == h.from, old.state != .closed, old.state != .draining else { continue }
                let fresh = newConnection(db: old.db, identity: old.identity, pinned: false, address: h.to, node: n)
                fresh.slotInPool = i
                n.shared[key]![i] = fresh
                startConnection(fresh)
                _ = maintenance.handle(.draining(old.id, seq: h.seq), now: monotonicMs())
                old.startDraining(deadline: h.drainDeadline)
                moved += 1
            }
            // Pinned connections: idle ones close now; leased ones retire when released.
            for (key, idle) in n.idlePinned {
                for c in idle where c.address == h.from { c.close(reason: "handed off"); moved += 1 }
                n.idlePinned[key] = n.idlePinned[key]?.filter { $0.state != .closed }
            }
        }
        for c in Array(all.values) where c.pinned && c.leasedTo >= 0 && c.address == h.from && !c.retiring {
            c.retiring = true
            c.drainDeadline = h.drainDeadline
            moved += 1
            delegate?.upstreamPinnedRetiring(c)
        }
        stats.handoffConnections += moved
        Log.notice("maintenance: handoff seq=\(h.seq) from=\(h.from) to=\(h.to) connections=\(moved) took=\(monotonicMs() - started)ms")
    }
}
