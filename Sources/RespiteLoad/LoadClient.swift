// LoadClient: one simulated application connection — connect, optional HELLO 3, write a batch,
// frame the replies with ReplyScanner, count each outcome, and on a drop or timeout count the
// loss and reconnect with bounded backoff. What to send next lives in LoadClient+Script.swift.
// Owned by LoadEngine; every callback runs on the engine's loop thread.

import EventLoop
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// An inclusive range of acknowledged key numbers for one client.
public struct KeyRange: Sendable, Equatable {
    public var first: Int
    public var last: Int
    public init(first: Int, last: Int) { self.first = first; self.last = last }
    public var count: Int { last - first + 1 }
}

/// A simulated client: one connection at a time, a FIFO of outstanding requests, and the
/// acknowledged writes it has seen. Single-threaded.
final class LoadClient {
    /// How the client behaves over the run.
    enum Role { case steady, cycling, bursty, churn }
    enum State { case idle, backoff, connecting, handshaking, ready, done }
    enum Op { case set(Int), get(Int), incr, ping, hello }
    struct Pending { var op: Op; var sentUs: Int64 }

    unowned let engine: LoadEngine
    let id: Int
    let role: Role
    private(set) var state: State = .idle

    private var fd: Int32 = -1
    private var readEvent: Event?
    private var writeEvent: Event?
    private var timer: Event?
    /// Bumped at every teardown, so callbacks notice the connection they ran for is gone.
    private var generation = 0
    private let input = ByteBuffer(capacity: 16 * 1024)
    private let output = ByteBuffer(capacity: 4 * 1024)
    private var scanner = ReplyScanner()
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var connectStartUs: Int64 = 0
    private var consecutiveFailures = 0
    /// When the connection was lost; the next batch counts as pool waits.
    private var lostAtUs: Int64? = nil
    /// When the client began wanting progress it has not had yet (stall measurement).
    var wantSinceUs: Int64? = nil

    // Script state (LoadClient+Script.swift).
    var nextKey = 0
    var opCounter = 0
    var cycleStep = 0
    var burstBatchesLeft = 0
    var churnBatches = 0
    var rng: UInt64

    // Acknowledged writes.
    private(set) var acked: [KeyRange] = []
    private(set) var ackedCount = 0
    private(set) var setUnknown = 0
    private(set) var incrAcked = 0
    private(set) var incrUnknown = 0
    private(set) var incrLast: Int64? = nil

    /// `PFX:<id>:`, the head of every key this client writes.
    let keyHead: [UInt8]
    /// `INCR PFX:<id>:counter`, encoded.
    let incrCommand: [UInt8]

    init(engine: LoadEngine, id: Int, role: Role) {
        self.engine = engine
        self.id = id
        self.role = role
        self.rng = 0x9E37_79B9_7F4A_7C15 &* UInt64(id + 1)
        keyHead = Array("\(engine.options.keyPrefix):\(id):".utf8)
        let counter = keyHead + Array("counter".utf8)
        incrCommand = Array("*2\r\n$4\r\nINCR\r\n$\(counter.count)\r\n".utf8) + counter + [13, 10]
    }

    var inflight: Int { pending.count - pendingHead }
    var isDone: Bool { state == .done }

    // MARK: - Lifecycle

    func start() {
        timer = engine.loop.timer(persist: false, clientTimerCallback, Unmanaged.passUnretained(self).toOpaque())
        connect()
    }

    /// Opens a connection; failures schedule a reconnect.
    func connect() {
        guard !engine.stopping else { finish(); return }
        state = .connecting
        connectStartUs = monotonicUs()
        do {
            if let path = engine.options.unixPath {
                fd = try Socket.connectUnix(path: path)
            } else {
                fd = try Socket.connectTCP(host: engine.options.host, port: engine.options.port)
            }
        } catch {
            fd = -1
            connectFailed()
            return
        }
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        let w = engine.loop.watch(fd: fd, EventFlags.write, clientWriteCallback, ctx)
        writeEvent = w
        w.add()
    }

    fileprivate func onWritable() {
        if state == .connecting {
            if Socket.connectResult(fd) != 0 { connectFailed(); return }
            connected()
        } else {
            flush()
        }
    }

    private func connected() {
        let r = engine.loop.watch(fd: fd, EventFlags.read | EventFlags.persist, clientReadCallback,
                                  Unmanaged.passUnretained(self).toOpaque())
        readEvent = r
        r.add()
        if engine.options.resp == 3 {
            state = .handshaking
            output.append("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n" as StaticString)
            pending.append(Pending(op: .hello, sentUs: monotonicUs()))
            flush()
        } else {
            becomeReady()
        }
    }

    private func becomeReady() {
        state = .ready
        consecutiveFailures = 0
        engine.stats.recordConnect()
        sendNext()
    }

    /// Ends this client's part in the run (nothing outstanding, no connection).
    func finish() {
        guard state != .done else { return }
        if state == .ready { engine.stats.recordPlannedDisconnect() }
        if let since = wantSinceUs { engine.stats.recordClientStall(monotonicUs() - since); wantSinceUs = nil }
        teardown()
        timer?.remove()
        if let t = timer { engine.retire(t); timer = nil }
        state = .done
        engine.clientFinished()
    }

    /// Closes the connection on purpose (cycle end, churn); nothing may be outstanding.
    func closePlanned() {
        engine.stats.recordPlannedDisconnect()
        teardown()
        state = .idle
    }

    /// Arms the client's timer: reconnect after backoff, or end an idle pause.
    func arm(afterMs ms: Int) { timer?.add(timeoutMs: ms) }

    fileprivate func onTimer() {
        switch state {
        case .backoff, .idle: connect()
        default: break
        }
    }

    // MARK: - Failures

    private func connectFailed() {
        engine.stats.recordConnectionError()
        teardown()
        markLost()
        scheduleReconnect()
    }

    /// The connection dropped under the client: outstanding requests are lost.
    private func dropped(_ reason: String = "connection lost") {
        engine.stats.recordConnectionError()
        engine.stats.recordFailure(reason, count: countOutstanding())
        teardown()
        markLost()
        scheduleReconnect()
    }

    /// The oldest outstanding request passed its deadline: all outstanding ones time out and the
    /// connection is reopened (its replies can no longer be matched).
    private func timedOut() {
        if state == .handshaking || state == .connecting { engine.stats.recordConnectionError() }
        engine.stats.recordTimeouts(countOutstanding())
        teardown()
        markLost()
        scheduleReconnect()
    }

    /// Counts outstanding requests (handshake excluded) and notes writes of unknown fate.
    private func countOutstanding() -> Int {
        var n = 0
        var i = pendingHead
        while i < pending.count {
            switch pending[i].op {
            case .hello: break
            case .set: n += 1; setUnknown += 1
            case .incr: n += 1; incrUnknown += 1
            case .get, .ping: n += 1
            }
            i += 1
        }
        return n
    }

    private func markLost() {
        let now = monotonicUs()
        if lostAtUs == nil { lostAtUs = now }
        if wantSinceUs == nil { wantSinceUs = now }
    }

    private func scheduleReconnect() {
        if engine.stopping { finish(); return }
        consecutiveFailures += 1
        engine.stats.recordReconnect()
        state = .backoff
        arm(afterMs: min(1000, 5 << min(consecutiveFailures - 1, 8)))
    }

    /// Drops the socket, its events and buffers.
    private func teardown() {
        generation &+= 1
        if let r = readEvent { r.remove(); engine.retire(r); readEvent = nil }
        if let w = writeEvent { w.remove(); engine.retire(w); writeEvent = nil }
        if fd >= 0 { Socket.close(fd); fd = -1 }
        input.clear()
        output.clear()
        scanner.reset()
        pending.removeAll(keepingCapacity: true)
        pendingHead = 0
    }

    /// Called by the engine's tick: connect and request deadlines.
    func checkDeadlines(now: Int64, timeoutUs: Int64) {
        switch state {
        case .connecting:
            if now - connectStartUs > timeoutUs { timedOut() }
        case .handshaking, .ready:
            if pendingHead < pending.count && now - pending[pendingHead].sentUs > timeoutUs { timedOut() }
        default: break
        }
    }

    /// Forced end of run: outstanding requests are abandoned.
    func abandon() {
        engine.stats.recordAbandoned(countOutstanding())
        pending.removeAll(); pendingHead = 0
        finish()
    }

    // MARK: - Writing

    /// Queues one request; false when the run's request budget is spent.
    func issue(_ op: Op, now: Int64) -> Bool {
        guard engine.takeRequest() else { return false }
        switch op {
        case .set(let n):
            output.append("*3\r\n$3\r\nSET\r\n" as StaticString)
            appendKey(n)
            appendKey(n)  // the value is the key itself, so a checker can verify it
        case .get(let n):
            output.append("*2\r\n$3\r\nGET\r\n" as StaticString)
            appendKey(n)
        case .incr:
            output.append(incrCommand)
        case .ping:
            output.append("*1\r\n$4\r\nPING\r\n" as StaticString)
        case .hello:
            break
        }
        pending.append(Pending(op: op, sentUs: now))
        return true
    }

    private func appendKey(_ n: Int) {
        var digits = 1, v = n
        while v >= 10 { v /= 10; digits += 1 }
        output.append(UInt8(ascii: "$"))
        output.appendDecimal(keyHead.count + digits)
        output.append("\r\n" as StaticString)
        output.append(keyHead)
        output.appendDecimal(n)
        output.append("\r\n" as StaticString)
    }

    /// Accounts a batch just queued (pool waits, stall start) and writes it.
    func commitBatch(count: Int, now: Int64) {
        guard count > 0 else { return }
        if let lost = lostAtUs {
            engine.stats.recordPoolWait(requests: count, waitedUs: now - lost)
            lostAtUs = nil
        }
        if wantSinceUs == nil { wantSinceUs = now }
        flush()
    }

    private func flush() {
        while !output.isEmpty {
            switch Socket.write(fd, output.readPointer, output.readableCount) {
            case .bytes(let n): output.consume(n)
            case .wouldBlock: writeEvent?.add(); return
            case .closed, .error: dropped(); return
            }
        }
    }

    // MARK: - Reading

    fileprivate func onReadable() {
        input.reserve(16 * 1024)
        switch Socket.read(fd, input.writePointer, input.writableCount) {
        case .bytes(let n): input.commit(n)
        case .wouldBlock: return
        case .closed, .error: dropped(); return
        }
        let gen = generation
        let now = monotonicUs()
        while true {
            switch scanner.scan(input.readPointer, input.readableCount) {
            case .incomplete:
                return
            case .error:
                dropped("protocol error")
                return
            case .frame(let f):
                let p = input.readPointer
                input.consume(f.length)  // the bytes stay in place until the next read
                handle(f, UnsafePointer(p), now: now)
                if generation != gen { return }
            }
        }
    }

    private func handle(_ f: ReplyFrame, _ p: UnsafePointer<UInt8>, now: Int64) {
        if f.isPush {
            engine.stats.recordPush(LoadClient.pushKind(p, f.length))
            return
        }
        guard pendingHead < pending.count else { engine.stats.recordUnexpectedReply(); return }
        let req = pending[pendingHead]
        pendingHead += 1
        if pendingHead == pending.count { pending.removeAll(keepingCapacity: true); pendingHead = 0 }
        if case .hello = req.op {
            if f.isError {
                engine.stats.recordConnectionError()
                teardown()
                markLost()
                scheduleReconnect()
            } else {
                becomeReady()
            }
            return
        }
        let v = p + f.valueOffset
        if f.isError {
            engine.stats.recordFailure(LoadClient.errorPrefix(v, f.length - f.valueOffset))
        } else {
            engine.stats.recordSuccess(latencyUs: now - req.sentUs, now: now)
            if let since = wantSinceUs { engine.stats.recordClientStall(now - since) }
            wantSinceUs = now
            switch req.op {
            case .set(let n): if v[0] == UInt8(ascii: "+") { ack(n) }
            case .incr:
                if v[0] == UInt8(ascii: ":") {
                    incrAcked += 1
                    incrLast = LoadClient.parseInteger(v + 1)
                }
            default: break
            }
        }
        if pendingHead == pending.count && state == .ready { sendNext() }
    }

    private func ack(_ n: Int) {
        ackedCount += 1
        if let last = acked.last, last.last == n - 1 {
            acked[acked.count - 1].last = n
        } else {
            acked.append(KeyRange(first: n, last: n))
        }
    }

    // MARK: - Reply helpers (cold paths)

    /// The first word of an error reply (`-ERR ...` or a RESP3 bulk error), at most 32 bytes.
    static func errorPrefix(_ v: UnsafePointer<UInt8>, _ n: Int) -> String {
        var i = 1
        if v[0] == UInt8(ascii: "!") {
            while i < n && v[i] != 10 { i += 1 }
            i += 1
        }
        let start = i
        while i < n && i - start < 32 && v[i] != 32 && v[i] != 13 { i += 1 }
        if i == start { return "(empty error)" }
        return String(decoding: UnsafeBufferPointer(start: v + start, count: i - start), as: UTF8.self)
    }

    static func parseInteger(_ p: UnsafePointer<UInt8>) -> Int64 {
        var i = 0, neg = false, v: Int64 = 0
        if p[0] == UInt8(ascii: "-") { neg = true; i = 1 }
        while p[i] >= 48 && p[i] <= 57 { v = v &* 10 &+ Int64(p[i] - 48); i += 1 }
        return neg ? -v : v
    }

    static func pushKind(_ p: UnsafePointer<UInt8>, _ n: Int) -> String {
        guard let decoded = try? RESPValue.decode(UnsafeRawBufferPointer(start: p, count: n)),
              case .push(let items) = decoded.value, let first = items.first,
              let name = first.bytesValue else { return "(unknown)" }
        return String(decoding: name.prefix(32), as: UTF8.self)
    }

    /// This client's results, for the report.
    func result() -> ClientResult {
        ClientResult(id: id, role: String(describing: role), setAcked: acked, setAckedCount: ackedCount,
                     setUnknown: setUnknown, incrAcked: incrAcked, incrUnknown: incrUnknown, incrLast: incrLast)
    }
}

private let clientWriteCallback: EventCallback = { _, _, ctx in
    Unmanaged<LoadClient>.fromOpaque(ctx!).takeUnretainedValue().onWritable()
}

private let clientReadCallback: EventCallback = { _, _, ctx in
    Unmanaged<LoadClient>.fromOpaque(ctx!).takeUnretainedValue().onReadable()
}

private let clientTimerCallback: EventCallback = { _, _, ctx in
    Unmanaged<LoadClient>.fromOpaque(ctx!).takeUnretainedValue().onTimer()
}
