// Sync: the few thread primitives the simulator needs: a mutex, a one-shot latch, a thread
// starter, and a mailbox that runs closures on the loop's thread (woken through a pipe).

import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex guarding a value.
final class Locked<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var value: Value
    init(_ value: Value) { self.value = value; pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func with<R>(_ body: (inout Value) -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body(&value)
    }
}

/// A one-shot latch with a value: one thread `open`s it, others `wait` with a deadline.
final class Latch<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var value: Value?
    init() { pthread_mutex_init(&mutex, nil); pthread_cond_init(&cond, nil) }
    deinit { pthread_cond_destroy(&cond); pthread_mutex_destroy(&mutex) }

    func open(_ v: Value) {
        pthread_mutex_lock(&mutex)
        if value == nil { value = v }
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
    }

    /// The value, or nil when `timeoutMs` passes first.
    func wait(timeoutMs: Int) -> Value? {
        let deadline = monotonicMs() + Int64(timeoutMs)
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while value == nil {
            let left = deadline - monotonicMs()
            if left <= 0 { break }
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let ns = Int64(ts.tv_nsec) + min(left, 100) * 1_000_000
            ts.tv_sec += Int(ns / 1_000_000_000)
            ts.tv_nsec = Int(ns % 1_000_000_000)
            _ = pthread_cond_timedwait(&cond, &mutex, &ts)
        }
        return value
    }
}

/// Runs `body` on a new detached thread. Callers wait on latches, never on the thread itself,
/// so it is detached: a joinable thread nobody joins keeps its stack and descriptor until the
/// process ends (ThreadSanitizer reported every action's worker as a leaked thread).
func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let ctx = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, ctx)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(tid)
}

/// Closures posted from any thread and run on the loop's thread, woken through a pipe.
final class Mailbox: @unchecked Sendable {
    private let jobs = Locked<(list: [() -> Void], closed: Bool)>(([], false))
    private let readFD: Int32
    private let writeFD: Int32
    private var event: Event?
    private let loopThread: pthread_t

    /// Creates the mailbox on the loop's thread.
    init(loop: Loop) {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]; writeFD = fds[1]
        loopThread = pthread_self()
        let ev = loop.watch(fd: readFD, EventFlags.read | EventFlags.persist, mailboxCallback,
                            Unmanaged.passUnretained(self).toOpaque())
        ev.add()
        event = ev
    }

    var onLoopThread: Bool { pthread_equal(pthread_self(), loopThread) != 0 }

    /// Queues `job` for the loop thread.
    @discardableResult
    func post(_ job: @escaping () -> Void) -> Bool {
        jobs.with { j -> Bool in
            guard !j.closed else { return false }
            j.list.append(job)
            var one: UInt8 = 1
            _ = Glibc.write(writeFD, &one, 1)
            return true
        }
    }

    /// Runs `job` on the loop thread and waits for its result (runs inline on the loop thread).
    func sync<T>(timeoutMs: Int = 10_000, _ job: @escaping () -> T) -> T? {
        if onLoopThread { return job() }
        let latch = Latch<Box<T>>()
        guard post({ latch.open(Box(job())) }) else { return nil }
        return latch.wait(timeoutMs: timeoutMs)?.value
    }

    fileprivate func drain() {
        var sink = [UInt8](repeating: 0, count: 256)
        while Glibc.read(readFD, &sink, sink.count) > 0 {}
        let batch = jobs.with { j -> [() -> Void] in let b = j.list; j.list.removeAll(); return b }
        for job in batch { job() }
    }

    func close() {
        let first = jobs.with { j -> Bool in let was = j.closed; j.closed = true; j.list.removeAll(); return !was }
        guard first else { return }
        event?.free(); event = nil
        Glibc.close(readFD); Glibc.close(writeFD)
    }
}

final class Box<T>: @unchecked Sendable { let value: T; init(_ v: T) { value = v } }

private let mailboxCallback: EventCallback = { _, _, ctx in
    Unmanaged<Mailbox>.fromOpaque(ctx!).takeUnretainedValue().drain()
}
