// RelayConnection: one client connection and its own backend connection, relayed frame by frame.
//
// Client → backend is framed with RequestScanner, so the simulator can answer
// `CLIENT MAINT_NOTIFICATIONS` itself and watch HELLO, SELECT, CLIENT SETNAME and RESET; the
// subscriptions are read from the backend's confirmations. All of it is replayed on a backend
// switch, as a proxy that moves its connections to a new server does.
// Backend → client is framed with ReplyScanner, so injected pushes land only between whole
// frames. A FIFO of expectations keeps locally answered requests in order with forwarded ones.
// Lives on the simulator's loop thread.

import EventLoop
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// What the next non-push reply from the backend (or a local answer) belongs to.
enum Expectation {
    case plain
    case hello(proto: Int?)
    case select(Int)
    case setName(String?)
    case reset
    /// A request the simulator sent itself (state replay after a backend switch): drop the reply.
    case swallow
    /// An answer made locally; written when everything before it has been.
    case local([UInt8])
}

/// One relayed client connection. Owned by `MaintenanceSimulator`, on its loop thread.
final class RelayConnection {
    let id: Int
    unowned let sim: MaintenanceSimulator
    let clientFD: Int32
    let peer: String
    let listenerID: Int
    private(set) var backend: Backend
    private var backendFD: Int32 = -1
    private var backendConnecting = false

    private var clientRead: Event?
    private var clientWrite: Event?
    private var backendRead: Event?
    private var backendWrite: Event?

    private let fromClient = ByteBuffer(capacity: 4096)
    private let toClient = ByteBuffer(capacity: 4096)
    private let fromBackend = ByteBuffer(capacity: 4096)
    private let toBackend = ByteBuffer(capacity: 4096)
    private var requests = RequestScanner()
    private var replies = ReplyScanner(limits: .serverReplies)
    private var expected: [Expectation] = []
    /// Frames held back by injected latency, released in order when due.
    private(set) var delayed: [(due: Int64, bytes: [UInt8])] = []

    private(set) var resp3 = false
    private(set) var optedIn = false
    private(set) var endpointType: EndpointType?
    private(set) var db = 0
    private(set) var name: String?
    /// Channels, patterns and shard channels the backend confirmed (replayed on a switch), and
    /// the replayed confirmations still to swallow.
    private var subscriptions: [String: Set<[UInt8]>] = [:]
    private var swallowConfirmations = 0
    private var holdAfterSwitch = false
    /// While set, new requests wait in the input buffer (a backend switch is pending).
    private(set) var holding = false
    private var switchTarget: Backend?
    private(set) var closed = false
    /// MOVING sequence ids this connection has been sent (the window re-send goes once).
    var movingSent: Set<Int> = []

    init(id: Int, sim: MaintenanceSimulator, fd: Int32, peer: String, listenerID: Int, backend: Backend) {
        self.id = id; self.sim = sim; self.clientFD = fd; self.peer = peer
        self.listenerID = listenerID; self.backend = backend
    }

    var pushCapable: Bool { resp3 && optedIn && !closed }
    private var inFlight: Int { expected.reduce(0) { if case .local = $1 { return $0 } else { return $0 + 1 } } }

    /// Connects to the backend and starts reading the client.
    func start() throws {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        clientRead = sim.loop.watch(fd: clientFD, EventFlags.read | EventFlags.persist, relayClientReadable, ctx)
        clientWrite = sim.loop.watch(fd: clientFD, EventFlags.write, relayClientWritable, ctx)
        clientRead?.add()
        try connectBackend()
    }

    private func connectBackend() throws {
        let fd = try Socket.connectTCP(host: backend.host, port: backend.port)
        backendFD = fd
        backendConnecting = true
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        backendRead = sim.loop.watch(fd: fd, EventFlags.read | EventFlags.persist, relayBackendReadable, ctx)
        backendWrite = sim.loop.watch(fd: fd, EventFlags.write, relayBackendWritable, ctx)
        backendRead?.add()
        backendWrite?.add()
    }

    private func dropBackend() {
        backendRead?.free(); backendRead = nil
        backendWrite?.free(); backendWrite = nil
        if backendFD >= 0 { Socket.close(backendFD); backendFD = -1 }
        fromBackend.clear(); toBackend.clear(); replies.reset()
    }

    /// Closes both sockets and leaves the simulator's table.
    func close(reason: String) {
        guard !closed else { return }
        closed = true
        clientRead?.free(); clientRead = nil
        clientWrite?.free(); clientWrite = nil
        dropBackend()
        Socket.close(clientFD)
        sim.connectionClosed(self, reason: reason)
    }

    // MARK: - Client side

    fileprivate func clientReadable() {
        while true {
            fromClient.reserve(16 * 1024)
            switch Socket.read(clientFD, fromClient.writePointer, fromClient.writableCount) {
            case .bytes(let n):
                fromClient.commit(n)
                if n < 16 * 1024 { processRequests(); return }
            case .wouldBlock: processRequests(); return
            case .closed, .error: close(reason: "client closed"); return
            }
        }
    }

    private func processRequests() {
        while !holding && !closed && !fromClient.isEmpty {
            switch requests.scan(fromClient.readPointer, fromClient.readableCount) {
            case .incomplete: flushBackend(); flushClient(); return
            case .empty(let len): fromClient.consume(len)
            case .inline(let len):
                toBackend.append(UnsafeRawPointer(fromClient.readPointer), count: len)
                expected.append(.plain)
                fromClient.consume(len)
            case .frame(let len):
                handleFrame(length: len)
                fromClient.consume(len)
            case .error(let e):
                writeClient(Array("-ERR \(e.message)\r\n".utf8))
                flushClient()
                close(reason: "protocol error")
                return
            }
        }
        flushBackend()
        flushClient()
    }

    private func arg(_ i: Int) -> [UInt8] {
        let r = requests.args[i]
        return Array(UnsafeBufferPointer(start: fromClient.readPointer + Int(r.offset), count: Int(r.length)))
    }

    private func argString(_ i: Int) -> String { String(decoding: arg(i), as: UTF8.self) }

    private func handleFrame(length: Int) {
        let argc = requests.args.count
        let command = argc > 0 ? argString(0).lowercased() : ""
        var expectation = Expectation.plain
        switch command {
        case "client" where argc >= 2 && argString(1).lowercased() == "maint_notifications":
            answerLocally(maintNotifications(args: (2..<argc).map { argString($0) }))
            return
        case "hello":
            expectation = .hello(proto: argc >= 2 ? Int(argString(1)) : nil)
        case "select" where argc == 2:
            expectation = .select(Int(argString(1)) ?? db)
        case "client" where argc == 3 && argString(1).lowercased() == "setname":
            let n = argString(2)
            expectation = .setName(n.isEmpty ? nil : n)
        case "reset":
            expectation = .reset
        case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe":
            // Confirmations come one per channel: pushes on RESP3 (no reply to wait for), plain
            // arrays on RESP2.
            toBackend.append(UnsafeRawPointer(fromClient.readPointer), count: length)
            if !resp3 { for _ in 0..<max(1, argc - 1) { expected.append(.plain) } }
            return
        default: break
        }
        toBackend.append(UnsafeRawPointer(fromClient.readPointer), count: length)
        expected.append(expectation)
    }

    /// `CLIENT MAINT_NOTIFICATIONS ON [moving-endpoint-type T]` / `OFF`, answered here.
    private func maintNotifications(args: [String]) -> [UInt8] {
        let lower = args.map { $0.lowercased() }
        guard let mode = lower.first else {
            return Array("-ERR wrong number of arguments for 'client|maint_notifications' command\r\n".utf8)
        }
        switch mode {
        case "off" where lower.count == 1:
            optedIn = false
            endpointType = nil
            return Array("+OK\r\n".utf8)
        case "on":
            var type: EndpointType?
            var i = 1
            while i < lower.count {
                guard lower[i] == "moving-endpoint-type", i + 1 < lower.count else {
                    return Array("-ERR syntax error\r\n".utf8)
                }
                guard let t = EndpointType(rawValue: lower[i + 1]) else {
                    return Array("-ERR unknown moving-endpoint-type '\(args[i + 1])'\r\n".utf8)
                }
                type = t
                i += 2
            }
            optedIn = true
            endpointType = type
            var out = Array("+OK\r\n".utf8)
            if resp3 { out += sim.replaysOnOptIn(for: self) }
            return out
        default:
            return Array("-ERR syntax error\r\n".utf8)
        }
    }

    private func answerLocally(_ bytes: [UInt8]) {
        if inFlight == 0 { emit(bytes) } else { expected.append(.local(bytes)) }
    }

    // MARK: - Backend side

    fileprivate func backendWritable() {
        if backendConnecting {
            let err = Socket.connectResult(backendFD)
            if err != 0 {
                writeClient(Array("-ERR backend \(backend.address) unreachable\r\n".utf8))
                flushClient()
                close(reason: "backend connect failed")
                return
            }
            backendConnecting = false
        }
        flushBackend()
    }

    private func flushBackend() {
        guard !backendConnecting, backendFD >= 0 else { return }
        while !toBackend.isEmpty {
            switch Socket.write(backendFD, toBackend.readPointer, toBackend.readableCount) {
            case .bytes(let n): toBackend.consume(n)
            case .wouldBlock: backendWrite?.add(); return
            case .closed, .error: close(reason: "backend write failed"); return
            }
        }
    }

    fileprivate func backendReadable() {
        while true {
            fromBackend.reserve(16 * 1024)
            switch Socket.read(backendFD, fromBackend.writePointer, fromBackend.writableCount) {
            case .bytes(let n):
                fromBackend.commit(n)
                if n < 16 * 1024 { processReplies(); return }
            case .wouldBlock: processReplies(); return
            case .closed, .error:
                processReplies()
                flushClient()
                close(reason: "backend closed")
                return
            }
        }
    }

    private func processReplies() {
        while !closed && !fromBackend.isEmpty {
            switch replies.scan(fromBackend.readPointer, fromBackend.readableCount) {
            case .incomplete:
                flushClient()
                return
            case .error:
                close(reason: "backend protocol error")
                return
            case .frame(let f):
                let bytes = Array(UnsafeBufferPointer(start: fromBackend.readPointer, count: f.length))
                fromBackend.consume(f.length)
                let confirmation = (f.isPush || !resp3) && noteSubscription(bytes)
                if f.isPush {
                    if confirmation && swallowConfirmations > 0 { swallowConfirmations -= 1; continue }
                    emit(bytes)
                    continue
                }
                let head = expected.isEmpty ? Expectation.plain : expected.removeFirst()
                if case .swallow = head {} else {
                    if !f.isError { apply(head) }
                    emit(bytes)
                }
                while case .local(let b)? = expected.first { expected.removeFirst(); emit(b) }
                if holding { trySwitch() }
            }
        }
        flushClient()
    }

    private func apply(_ e: Expectation) {
        switch e {
        case .hello(let proto): if let p = proto { resp3 = p == 3 }
        case .select(let n): db = n
        case .setName(let n): name = n
        case .reset: resp3 = false; db = 0; name = nil; optedIn = false; endpointType = nil; subscriptions = [:]
        default: break
        }
    }

    /// Follows a (un)subscribe confirmation (`[kind, name, count]`); true when it is one.
    private func noteSubscription(_ bytes: [UInt8]) -> Bool {
        guard let decoded = try? RESPValue.decode(bytes) else { return false }
        let items: [RESPValue]
        switch decoded.value {
        case .push(let a): items = a
        case .array(let a?): items = a
        default: return false
        }
        guard items.count == 3, let kind = text(items[0]) else { return false }
        let full = String(decoding: kind, as: UTF8.self).lowercased()
        let table = ["subscribe": ("subscribe", true), "psubscribe": ("psubscribe", true), "ssubscribe": ("ssubscribe", true),
                     "unsubscribe": ("subscribe", false), "punsubscribe": ("psubscribe", false), "sunsubscribe": ("ssubscribe", false)]
        guard let (k, adding) = table[full] else { return false }
        if let n = text(items[1]) {
            if adding { subscriptions[k, default: []].insert(n) } else { subscriptions[k]?.remove(n) }
        }
        return true
    }

    private func text(_ v: RESPValue) -> [UInt8]? {
        switch v {
        case .bulkString(let b?): return b
        case .simpleString(let b): return b
        default: return nil
        }
    }

    // MARK: - Output to the client

    /// Queues whole frames for the client, behind any frames held by injected latency.
    func emit(_ bytes: [UInt8]) {
        let latency = sim.replyLatencyMs
        if latency > 0 || !delayed.isEmpty {
            let due = max(monotonicMs() + Int64(latency), delayed.last?.due ?? 0)
            delayed.append((due, bytes))
            sim.scheduleDelayed(atMs: due)
        } else {
            writeClient(bytes)
        }
    }

    /// Releases delayed frames that are due; returns the next due time, if any remain.
    func releaseDelayed(now: Int64) -> Int64? {
        var released = 0
        while released < delayed.count && delayed[released].due <= now { writeClient(delayed[released].bytes); released += 1 }
        if released > 0 { delayed.removeFirst(released); flushClient() }
        return delayed.first?.due
    }

    /// Injects a frame between whole frames (a push, or raw bytes from the API).
    func inject(_ bytes: [UInt8]) {
        guard !closed else { return }
        emit(bytes)
        flushClient()
    }

    private func writeClient(_ bytes: [UInt8]) { toClient.append(bytes) }

    func flushClient() {
        guard !closed else { return }
        while !toClient.isEmpty {
            switch Socket.write(clientFD, toClient.readPointer, toClient.readableCount) {
            case .bytes(let n): toClient.consume(n)
            case .wouldBlock: clientWrite?.add(); return
            case .closed, .error: close(reason: "client write failed"); return
            }
        }
    }

    // MARK: - Switching backends at a frame boundary

    /// Moves this connection to `target` once no request is in flight; new requests wait. With
    /// `holdAfter` they still wait after the switch, until `release()`: a switch of many
    /// connections lets none of them run a request on `target` before every one has its state
    /// (subscriptions included) replayed there, so no PUBLISH overtakes a subscriber's replay.
    func beginSwitch(to target: Backend, holdAfter: Bool = false) {
        guard !closed, target !== backend else { return }
        holding = true
        holdAfterSwitch = holdAfter
        switchTarget = target
        trySwitch()
    }

    /// True while replayed state (HELLO, SELECT, SETNAME, subscriptions) is not yet answered.
    var replaying: Bool {
        swallowConfirmations > 0 || expected.contains { if case .swallow = $0 { return true } else { return false } }
    }

    /// Stops forwarding new requests (they wait in the input buffer).
    func hold() { holding = true }

    /// Forwards again after `hold()` when no switch happened.
    func release() {
        guard holding, switchTarget == nil, !closed else { return }
        holding = false
        holdAfterSwitch = false
        processRequests()
    }

    /// True when no request waits for a backend reply.
    var drained: Bool { inFlight == 0 }

    /// True while a requested switch has not happened yet.
    var switchPending: Bool { switchTarget != nil }

    private func trySwitch() {
        guard let target = switchTarget, inFlight == 0, !closed else { return }
        dropBackend()
        backend = target
        switchTarget = nil
        do { try connectBackend() } catch { close(reason: "backend switch failed"); return }
        // Replay the connection state the client set up, answering nothing to the client.
        if resp3 { toBackend.append(encodeCommand(["HELLO", "3"])); expected.append(.swallow) }
        if db != 0 { toBackend.append(encodeCommand(["SELECT", String(db)])); expected.append(.swallow) }
        if let n = name { toBackend.append(encodeCommand(["CLIENT", "SETNAME", n])); expected.append(.swallow) }
        for kind in ["subscribe", "psubscribe", "ssubscribe"] {
            guard let names = subscriptions[kind], !names.isEmpty else { continue }
            var command = Array("*\(names.count + 1)\r\n$\(kind.utf8.count)\r\n\(kind)\r\n".utf8)
            for n in names { command += Array("$\(n.count)\r\n".utf8) + n + [13, 10] }
            toBackend.append(command)
            if resp3 { swallowConfirmations += names.count } else { for _ in names { expected.append(.swallow) } }
        }
        if holdAfterSwitch { return }
        holding = false
        processRequests()
    }
}

private let relayClientReadable: EventCallback = { _, _, ctx in
    let c = Unmanaged<RelayConnection>.fromOpaque(ctx!).takeUnretainedValue()
    c.clientReadable()
}
private let relayClientWritable: EventCallback = { _, _, ctx in
    let c = Unmanaged<RelayConnection>.fromOpaque(ctx!).takeUnretainedValue()
    c.flushClient()
}
private let relayBackendReadable: EventCallback = { _, _, ctx in
    let c = Unmanaged<RelayConnection>.fromOpaque(ctx!).takeUnretainedValue()
    c.backendReadable()
}
private let relayBackendWritable: EventCallback = { _, _, ctx in
    let c = Unmanaged<RelayConnection>.fromOpaque(ctx!).takeUnretainedValue()
    c.backendWritable()
}
