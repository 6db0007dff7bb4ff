// Simulator+Actions: the fault-injector actions, named as the ecosystem names them.
//
//   bind      MOVING to a new endpoint, real replica promotion at half the window, old
//             connections closed a little after the window.
//   migrate   MIGRATING, optional reply latency for a while, MIGRATED (retained).
//   failover  FAILING_OVER, real promotion, every connection moved at a frame boundary with its
//             state replayed, FAILED_OVER (retained).
//   raw       bytes to every client connection, between whole frames.
//   kill      every client connection dropped at once.
//
// Long actions run one at a time on a worker thread; raw and kill run at once on the loop.

import EventLoop
#if canImport(Glibc)
import Glibc
#endif

extension MaintenanceSimulator {
    static let actionTypes: Set<String> = ["bind", "migrate", "failover", "kill", "raw"]

    /// Validates and starts an action (loop thread). Returns its record, or an error text.
    func submitAction(type: String, parameters: JSON, lenient: Bool, payload: [UInt8]? = nil) -> Result<ActionRecord, SimulatorError> {
        guard MaintenanceSimulator.actionTypes.contains(type) else {
            return .failure(SimulatorError("unknown action type '\(type)'; expected one of bind, migrate, failover, kill, raw"))
        }
        let p = ActionParameters(raw: parameters)
        switch type {
        case "raw":
            var bytes = payload
            if bytes == nil {
                guard let data = p.string("data") else { return .failure(SimulatorError("raw needs parameters.data (or a body with ?type=raw)")) }
                bytes = Array(data.utf8)
            }
            if (p.string("encoding") ?? "raw") == "base64" {
                guard let d = base64Decode(bytes!) else { return .failure(SimulatorError("payload is not base64")) }
                bytes = d
            }
            let record = actions.create(type: type)
            let results = sendToAll(bytes!, optedInOnly: p.bool("opted_in_only"))
            record.log("wrote \(bytes!.count) bytes to \(results.count) connections")
            record.succeed(.object(["results": .array(results)]))
            return .success(record)
        case "kill":
            let record = actions.create(type: type)
            let n = dropConnections(reason: "kill action")
            record.log("closed \(n) connections")
            record.succeed(.object(["closed": .number(Double(n))]))
            return .success(record)
        default:
            break
        }
        do {
            if let t = p.string("endpoint_type"), EndpointType(rawValue: t.lowercased()) == nil {
                throw SimulatorError("unknown endpoint_type '\(t)'")
            }
            _ = try p.seconds("time", default: 4)
            _ = try p.millis("latency_ms", default: 0)
            _ = try p.millis("duration_ms", default: 0)
        } catch {
            return .failure(error as? SimulatorError ?? SimulatorError("\(error)"))
        }
        let record = actions.create(type: type)
        startThread { [self] in
            self.actions.gate.with { _ in
                if self.isStopping { record.fail("simulator stopping"); return }
                record.setStatus("running")
                do {
                    switch type {
                    case "bind": try self.runBind(p, lenient: lenient, record: record)
                    case "migrate": try self.runMigrate(p, lenient: lenient, record: record)
                    default: try self.runFailover(p, lenient: lenient, record: record)
                    }
                    record.succeed()
                } catch {
                    _ = try? self.onLoop { sim in for c in sim.connections.values { c.release() } }
                    record.fail("\(error)")
                }
            }
        }
        return .success(record)
    }

    /// Writes `bytes` to every client connection between whole frames (CRP's send-to-all-clients).
    func sendToAll(_ bytes: [UInt8], optedInOnly: Bool) -> [JSON] {
        var results: [JSON] = []
        for c in connections.values.sorted(by: { $0.id < $1.id }) where !optedInOnly || c.pushCapable {
            c.inject(bytes)
            results.append(.object(["connectionId": .string(String(c.id)), "success": .bool(!c.closed)]))
        }
        return results
    }

    // MARK: - bind

    func runBind(_ p: ActionParameters, lenient: Bool, record: ActionRecord) throws {
        let timeMs = Int(try p.seconds("time", default: 4) * 1000)
        let type = p.string("endpoint_type").flatMap { EndpointType(rawValue: $0.lowercased()) }
        let old = try onLoop { $0.current }
        let new = try startReplica(of: old, record: record)

        // The new endpoint: fronts the old master until the promotion, so early movers can write.
        let moved: Listener? = try onLoop { sim in
            guard type != EndpointType.none else { return nil }
            return try sim.openMovedListener(fqdn: type == .internalFQDN || type == .externalFQDN,
                                             newPort: p.bool("new_port"), address: p.string("new_address"), backend: old)
        }
        if let l = moved { record.log("listening at the new endpoint \(l.address)") }
        let oldListeners = try onLoop { sim in sim.listeners.values.filter { $0.backend === old && $0.id != moved?.id }.map(\.id) }

        let t0 = monotonicMs()
        let deadline = t0 + Int64(timeMs)
        let (seq, sent) = try onLoop { sim -> (Int, Int) in
            let seq = sim.takeSeq()
            var fixed: String?? = nil
            if let t = type { fixed = .some(moved.flatMap { t.endpoint(host: $0.host, port: $0.port) }) }
            let m = OpenMoving(seq: seq, from: old, deadlineMs: deadline, fixedEndpoint: fixed,
                               target: moved.map { ($0.host, $0.port) }, lenient: lenient)
            sim.openMoving = m
            let n = sim.broadcast(lenient: lenient, where: { $0.backend === old && $0.listenerID != moved?.id }) {
                sim.movingNotice(m, for: $0)
            }
            sim.noteEvent(.moving(seq: seq, time: timeMs / 1000, endpoint: nil), delivered: n)
            return (seq, n)
        }
        record.log("MOVING seq=\(seq) time=\(timeMs / 1000) sent to \(sent) connections")
        // The sockets the MOVING is about: every one of them closes a little after `time`.
        let retiring = try onLoop { sim in sim.connections.values.filter { $0.backend === old && $0.listenerID != moved?.id }.map(\.id) }

        // Just before half the window (clients with a null endpoint reconnect at time/2).
        try waitUntil(t0 + Int64(max(0, timeMs / 2 - 300)))
        var movedIDs: [Int] = []
        if let l = moved {
            movedIDs = try holdAndDrain({ $0.listenerID == l.id && $0.backend === old }, record: record)
        } else {
            // Null endpoint: the endpoint stays and its backend changes under it, as when the
            // proxy behind an address is replaced: every connection moves to the new master at
            // a frame boundary, and the old sockets still close after `time`.
            movedIDs = try holdAndDrain({ $0.backend === old }, record: record)
        }
        try promote(new, over: old, demote: true, record: record) { sim in
            for id in movedIDs { sim.connections[id]?.beginSwitch(to: new, holdAfter: true) }
            // Connections that reached the endpoint while the others were held switch too.
            for c in sim.connections.values where c.backend === old && !movedIDs.contains(c.id)
                && (moved == nil || c.listenerID == moved!.id) {
                movedIDs.append(c.id)
                c.beginSwitch(to: new, holdAfter: true)
            }
        }
        if !movedIDs.isEmpty {
            try waitFor("moved connections to switch", timeoutMs: 3000) {
                try onLoop { sim in movedIDs.allSatisfy { !(sim.connections[$0]?.switchPending ?? false) } }
            }
            try releaseAfterReplay(movedIDs)
            record.log("moved \(movedIDs.count) connections of the new endpoint to \(new.address)")
        }

        try waitUntil(deadline + 500)
        let closed = try onLoop { sim -> Int in
            if sim.openMoving?.seq == seq { sim.openMoving = nil }
            if p.bool("close_old_listener") {
                for id in oldListeners { if let l = sim.listeners[id] { sim.closeListener(l) } }
            }
            var n = sim.dropConnections(relayingTo: old, reason: "endpoint moved")
            for id in retiring { if let c = sim.connections[id] { c.close(reason: "endpoint moved"); n += 1 } }
            return n
        }
        record.log("closed \(closed) connections of the retired endpoint")
        old.stop()
        record.log("stopped \(old.address)")
    }

    /// Opens the listener a MOVING points to (loop thread).
    func openMovedListener(fqdn: Bool, newPort: Bool, address: String?, backend: Backend) throws -> Listener {
        guard let base = listeners.values.filter({ $0.backend === backend }).min(by: { $0.id < $1.id }) else {
            throw SimulatorError("no listener fronts \(backend.address)")
        }
        if fqdn { return try openListener(host: "127.0.0.1", port: 0, backend: backend) }
        if newPort { return try openListener(host: address ?? base.host, port: 0, backend: backend) }
        let candidates = address.map { [$0] } ?? (2...9).map { "127.0.0.\($0)" }
        for host in candidates {
            if let l = try? openListener(host: host, port: base.port, backend: backend) { return l }
        }
        return try openListener(host: candidates[0], port: 0, backend: backend)
    }

    // MARK: - migrate

    func runMigrate(_ p: ActionParameters, lenient: Bool, record: ActionRecord) throws {
        let time = Int(try p.seconds("time", default: 4))
        let latency = try p.millis("latency_ms", default: 0)
        let duration = try p.millis("duration_ms", default: time * 1000)
        let t0 = monotonicMs()
        let (seq, n) = try onLoop { sim -> (Int, Int) in
            let seq = sim.takeSeq()
            let notice = MaintenanceNotice.migrating(seq: seq, time: time, shards: "1")
            let n = sim.broadcast(lenient: lenient) { _ in notice }
            sim.noteEvent(notice, delivered: n)
            sim.replyLatencyMs = latency
            return (seq, n)
        }
        record.log("MIGRATING seq=\(seq) time=\(time) sent to \(n) connections; reply latency \(latency) ms")
        try waitUntil(t0 + Int64(duration))
        let (seq2, n2) = try onLoop { sim -> (Int, Int) in
            sim.replyLatencyMs = 0
            let seq = sim.takeSeq()
            let notice = MaintenanceNotice.migrated(seq: seq, shards: "1")
            sim.retained = (notice, lenient)
            let n = sim.broadcast(lenient: lenient) { _ in notice }
            sim.noteEvent(notice, delivered: n)
            return (seq, n)
        }
        record.log("MIGRATED seq=\(seq2) sent to \(n2) connections")
    }

    // MARK: - failover

    func runFailover(_ p: ActionParameters, lenient: Bool, record: ActionRecord) throws {
        let timeMs = Int(try p.seconds("time", default: 4) * 1000)
        // A real failover stalls replies for a while; `latency_ms` delays every reply from the
        // FAILING_OVER until the FAILED_OVER.
        let latency = try p.millis("latency_ms", default: 0)
        let old = try onLoop { $0.current }
        let t0 = monotonicMs()
        let (seq, n) = try onLoop { sim -> (Int, Int) in
            let seq = sim.takeSeq()
            let notice = MaintenanceNotice.failingOver(seq: seq, time: timeMs / 1000, shards: "1")
            let n = sim.broadcast(lenient: lenient) { _ in notice }
            sim.noteEvent(notice, delivered: n)
            sim.replyLatencyMs = latency
            return (seq, n)
        }
        record.log("FAILING_OVER seq=\(seq) time=\(timeMs / 1000) sent to \(n) connections; reply latency \(latency) ms")
        let new = try startReplica(of: old, record: record)
        try waitUntil(t0 + Int64(timeMs / 2))
        let held = try holdAndDrain({ $0.backend === old }, record: record)
        try promote(new, over: old, demote: false, record: record) { sim in
            for id in held { sim.connections[id]?.beginSwitch(to: new, holdAfter: true) }
        }
        try waitFor("connections to switch", timeoutMs: 3000) {
            try onLoop { sim in held.allSatisfy { !(sim.connections[$0]?.switchPending ?? false) } }
        }
        try releaseAfterReplay(held)
        record.log("switched \(held.count) connections to \(new.address)")
        // Connections that arrived on the old backend meanwhile go too.
        let late = try onLoop { sim in sim.dropConnections(relayingTo: old, reason: "failed over") }
        if late > 0 { record.log("closed \(late) connections that arrived during the switch") }
        old.stop()
        record.log("stopped \(old.address)")
        let (seq2, n2) = try onLoop { sim -> (Int, Int) in
            sim.replyLatencyMs = 0
            let seq = sim.takeSeq()
            let notice = MaintenanceNotice.failedOver(seq: seq, shards: "1")
            sim.retained = (notice, lenient)
            let n = sim.broadcast(lenient: lenient) { _ in notice }
            sim.noteEvent(notice, delivered: n)
            return (seq, n)
        }
        record.log("FAILED_OVER seq=\(seq2) sent to \(n2) connections")
    }
}
