// ActionBook: fault-injector actions as records (`pending` → `running` → `success`/`failed`,
// with a step log in milliseconds), and the worker-thread helpers the scripts use to reach the
// loop thread and to wait on conditions with deadlines.

import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// One submitted action and its progress. Thread-safe.
final class ActionRecord: @unchecked Sendable {
    let id: String
    let type: String
    let startedMs = monotonicMs()
    private struct State { var status = "pending"; var log: [JSON] = []; var error: String?; var result: JSON = .null }
    private let state = Locked(State())

    init(id: String, type: String) { self.id = id; self.type = type }

    func log(_ step: String) {
        let ms = monotonicMs() - startedMs
        state.with { $0.log.append(.object(["ms": .number(Double(ms)), "step": .string(step)])) }
    }
    func setStatus(_ s: String) { state.with { $0.status = s } }
    func fail(_ e: String) { log("failed: \(e)"); state.with { $0.status = "failed"; $0.error = e } }
    func succeed(_ result: JSON = .null) { log("done"); state.with { $0.status = "success"; $0.result = result } }
    var status: String { state.with { $0.status } }

    /// A snapshot for the API. The log is copied into a buffer of its own under the lock: shared
    /// copy-on-write, the worker's next append would go into the buffer the loop thread is
    /// rendering once that reference is dropped, an ordering made only by the runtime's
    /// reference count, which ThreadSanitizer cannot see (it reported it as a race).
    var json: JSON {
        state.with { s in
            .object(["action_id": .string(id), "type": .string(type), "status": .string(s.status),
                     "log": .array(s.log.map { $0 }), "error": s.error.map { .string($0) } ?? .null, "result": s.result])
        }
    }
}

/// Every action submitted so far, by id; a gate runs the long scripts one at a time.
final class ActionBook: @unchecked Sendable {
    private let records = Locked<(byID: [String: ActionRecord], order: [String], next: Int)>(([:], [], 1))
    let gate = Locked(())

    func create(type: String) -> ActionRecord {
        records.with { r in
            let id = "\(type)-\(r.next)"
            r.next += 1
            let rec = ActionRecord(id: id, type: type)
            r.byID[id] = rec
            r.order.append(id)
            return rec
        }
    }
    func get(_ id: String) -> ActionRecord? { records.with { $0.byID[id] } }
    var all: [ActionRecord] { records.with { r in r.order.compactMap { r.byID[$0] } } }
}

/// An action's parameters with defaults and checks.
struct ActionParameters {
    let raw: JSON
    func seconds(_ key: String, default d: Double) throws -> Double {
        guard let v = raw[key] else { return d }
        guard let s = v.double, s >= 0, s <= 3600 else { throw SimulatorError("parameter '\(key)' must be a number of seconds (0...3600)") }
        return s
    }
    func millis(_ key: String, default d: Int) throws -> Int {
        guard let v = raw[key] else { return d }
        guard let n = v.int, n >= 0, n <= 3_600_000 else { throw SimulatorError("parameter '\(key)' must be milliseconds (0...3600000)") }
        return n
    }
    func bool(_ key: String) -> Bool { raw[key]?.bool ?? false }
    func string(_ key: String) -> String? { raw[key]?.string }
}

extension MaintenanceSimulator {
    /// Runs `job` on the loop thread and returns its result; throws if the simulator stops.
    func onLoop<T>(_ job: @escaping (MaintenanceSimulator) throws -> T) throws -> T {
        if isStopping { throw SimulatorError("simulator stopping") }
        guard let r = mailbox.sync(timeoutMs: 10_000, { () -> Result<T, Error> in
            do { return .success(try job(self)) } catch { return .failure(error) }
        }) else { throw SimulatorError("loop did not answer") }
        return try r.get()
    }

    /// Sleeps (on a worker thread) until `deadlineMs` on the monotonic clock.
    func waitUntil(_ deadlineMs: Int64) throws {
        while true {
            if isStopping { throw SimulatorError("simulator stopping") }
            let left = deadlineMs - monotonicMs()
            if left <= 0 { return }
            usleep(UInt32(min(left, 50)) * 1000)
        }
    }

    /// Polls `condition` every 20 ms until it holds; throws `what` after `timeoutMs`.
    func waitFor(_ what: String, timeoutMs: Int, _ condition: () throws -> Bool) throws {
        let deadline = monotonicMs() + Int64(timeoutMs)
        var lastError: Error?
        while monotonicMs() < deadline {
            if isStopping { throw SimulatorError("simulator stopping") }
            do { if try condition() { return } } catch { lastError = error }
            usleep(20_000)
        }
        throw SimulatorError("timed out waiting for \(what)" + (lastError.map { " (\($0))" } ?? ""))
    }

    /// Waits until `replica` is linked to `master` and has applied everything it sent.
    func waitInSync(master: Backend, replica: Backend, timeoutMs: Int) throws {
        let m = try AdminClient(host: master.host, port: master.port, timeoutMs: 2000)
        let r = try AdminClient(host: replica.host, port: replica.port, timeoutMs: 2000)
        defer { m.close(); r.close() }
        try waitFor("replica \(replica.address) in sync with \(master.address)", timeoutMs: timeoutMs) {
            let ri = try r.info("replication")
            guard ri["master_link_status"] == "up", let ro = ri["slave_repl_offset"] else { return false }
            return try m.info("replication")["master_repl_offset"] == ro
        }
    }

    /// Starts a replica of `master` and waits until it is in sync.
    func startReplica(of master: Backend, record: ActionRecord) throws -> Backend {
        let b = try onLoop { try $0.spawnBackend(replicaOf: master) }
        record.log("started replica \(b.address) (pid \(b.pid)) of \(master.address)")
        try b.waitReady(timeoutMs: 10_000)
        try waitInSync(master: master, replica: b, timeoutMs: 15_000)
        record.log("replica \(b.address) in sync")
        return b
    }

    /// Pauses writes on `old`, waits for `new` to catch up and promotes it; `old` becomes its
    /// replica when `demote` is set (stragglers then get -READONLY), and is unpaused.
    func promote(_ new: Backend, over old: Backend, demote: Bool, record: ActionRecord,
                 onPromoted: @escaping (MaintenanceSimulator) -> Void) throws {
        let o = try AdminClient(host: old.host, port: old.port, timeoutMs: 2000)
        let n = try AdminClient(host: new.host, port: new.port, timeoutMs: 2000)
        defer { o.close(); n.close() }
        _ = try o.command(["CLIENT", "PAUSE", "5000", "WRITE"])
        record.log("paused writes on \(old.address)")
        try waitInSync(master: old, replica: new, timeoutMs: 4000)
        let r = try n.command(["REPLICAOF", "NO", "ONE"])
        if let e = r.errorMessage { throw SimulatorError("REPLICAOF NO ONE: \(e)") }
        try onLoop { sim in sim.promote(new, replacing: old); onPromoted(sim) }
        record.log("promoted \(new.address)")
        if demote {
            _ = try o.command(["REPLICAOF", new.host, String(new.port)])
            record.log("\(old.address) is now a replica of \(new.address)")
        }
        _ = try o.command(["CLIENT", "UNPAUSE"])
        record.log("unpaused \(old.address)")
    }

    /// Lets switched connections run requests again once every one's replayed state is answered
    /// (bounded: after 3 s they go on regardless).
    func releaseAfterReplay(_ ids: [Int]) throws {
        try? waitFor("replayed state to be answered", timeoutMs: 3000) {
            try onLoop { sim in ids.allSatisfy { !(sim.connections[$0]?.replaying ?? false) } }
        }
        try onLoop { sim in for id in ids { sim.connections[id]?.release() } }
    }

    /// Holds `ids` until none has a request in flight (bounded); closes the ones that do not drain.
    func holdAndDrain(_ select: @escaping (RelayConnection) -> Bool, record: ActionRecord) throws -> [Int] {
        let ids = try onLoop { sim -> [Int] in
            let cs = sim.connections.values.filter(select)
            for c in cs { c.hold() }
            return cs.map(\.id)
        }
        var stuck: [Int] = []
        do {
            try waitFor("connections to drain", timeoutMs: 2000) {
                try onLoop { sim in ids.allSatisfy { sim.connections[$0]?.drained ?? true } }
            }
        } catch {
            stuck = try onLoop { sim in
                let s = ids.filter { !(sim.connections[$0]?.drained ?? true) }
                for id in s { sim.connections[id]?.close(reason: "request in flight during switch") }
                return s
            }
        }
        record.log("held \(ids.count) connections at a frame boundary" + (stuck.isEmpty ? "" : ", closed \(stuck.count) that did not drain"))
        return ids.filter { !stuck.contains($0) }
    }
}
