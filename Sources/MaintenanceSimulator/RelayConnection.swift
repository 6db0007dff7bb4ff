// RelayConnection: one client connection and its own backend connection, relayed frame by frame.
//
// Client → backend is framed with RequestScanner, so the simulator can answer
// `CLIENT MAINT_NOTIFICATIONS` itself and watch HELLO, SELECT, CLIENT SETNAME and RESET.
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
                if f.isPush { emit(bytes); continue }
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
        case .reset: resp3 = false; db = 0; name = nil; optedIn = false; endpointType = nil
        default: break
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

    /// Moves this connection to `target` once no request is in flight; new requests wait.
    func beginSwitch(to target: Backend) {
        guard !closed, target !== backend else { return }
        holding = true
        switchTarget = target
        trySwitch()
    }

    /// Stops forwarding new requests (they wait in the input buffer).
    func hold() { holding = true }

    /// Forwards again after `hold()` when no switch happened.
    func release() {
        guard holding, switchTarget == nil, !closed else { return }
        holding = false
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
