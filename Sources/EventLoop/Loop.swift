// EventLoop: the one seam to libevent. Nothing else in Respite imports it.
//
// A `Loop` owns one `event_base` on one thread. Callers register fd readiness, timers and
// signals with plain C-convention callbacks plus a context pointer (no closures, no ARC on the
// hot path), and ask for a low-priority "end of pass" event to batch writes. Three priorities:
// 0 for control (signals), 1 (default) for I/O, 2 for deferred flushes that run once the I/O of
// a loop pass is done. Each loop has one `Resolver` (Resolver.swift) for name lookups that
// must not block it.

import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// The callback every event takes: fd, what happened (`EventFlags`), and the context pointer.
public typealias EventCallback = @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void

/// Readiness bits as libevent reports them.
public enum EventFlags {
    public static let timeout: Int16 = Int16(EV_TIMEOUT)
    public static let read: Int16 = Int16(EV_READ)
    public static let write: Int16 = Int16(EV_WRITE)
    public static let signal: Int16 = Int16(EV_SIGNAL)
    public static let persist: Int16 = Int16(EV_PERSIST)
}

/// Event priorities (lower runs first).
public enum EventPriority {
    public static let control: Int32 = 0
    public static let io: Int32 = 1
    public static let deferred: Int32 = 2
}

/// One libevent event: fd readiness, a timer, a signal, or a manually activated event.
/// A value handle; the owner calls `free()` exactly once.
public struct Event: @unchecked Sendable {
    @usableFromInline let raw: OpaquePointer

    /// Arms the event, with an optional timeout in milliseconds.
    @inlinable public func add(timeoutMs: Int? = nil) {
        if let ms = timeoutMs {
            var tv = timeval(tv_sec: ms / 1000, tv_usec: Int((ms % 1000) * 1000))
            event_add(raw, &tv)
        } else {
            event_add(raw, nil)
        }
    }
    /// Disarms the event (safe when it is not armed).
    @inlinable public func remove() { event_del(raw) }
    /// Makes the event active now, as if `what` had happened.
    @inlinable public func activate(_ what: Int16 = EventFlags.write) { event_active(raw, Int32(what), 0) }
    @inlinable public var isPending: Bool {
        event_pending(raw, Int16(EV_READ | EV_WRITE | EV_TIMEOUT | EV_SIGNAL), nil) != 0
    }
    /// Disarms and frees the event.
    public func free() { event_free(raw) }
}

/// One event loop (`event_base`), used from the thread that created it.
public final class Loop: @unchecked Sendable {
    public let base: OpaquePointer

    public init() {
        guard let cfg = event_config_new() else { fatalError("event_config_new failed") }
        defer { event_config_free(cfg) }
        guard let b = event_base_new_with_config(cfg) else { fatalError("event_base_new failed") }
        base = b
        event_base_priority_init(base, 3)
    }

    /// The loop's name lookups (evdns), made on first use.
    private var resolverStorage: Resolver?

    /// Name lookups on this loop (evdns, /etc/hosts included): one per loop, shared by
    /// everything that dials from it. It lives as long as the loop; hold it no longer.
    public var resolver: Resolver {
        if let r = resolverStorage { return r }
        let r = Resolver(base: base)
        resolverStorage = r
        return r
    }

    deinit {
        // The lookups' evdns base goes before the event base it runs on.
        resolverStorage = nil
        event_base_free(base)
    }

    /// Watches `fd` for `what` (read and/or write, usually with persist).
    public func watch(fd: Int32, _ what: Int16, priority: Int32 = EventPriority.io,
                      _ cb: EventCallback, _ ctx: UnsafeMutableRawPointer?) -> Event {
        let ev = event_new(base, fd, what, cb, ctx)!
        if priority != EventPriority.io { event_priority_set(ev, priority) }
        return Event(raw: ev)
    }

    /// A timer; persistent timers fire every `add(timeoutMs:)` interval.
    public func timer(persist: Bool, priority: Int32 = EventPriority.io,
                      _ cb: EventCallback, _ ctx: UnsafeMutableRawPointer?) -> Event {
        let ev = event_new(base, -1, persist ? Int16(EV_PERSIST) : 0, cb, ctx)!
        if priority != EventPriority.io { event_priority_set(ev, priority) }
        return Event(raw: ev)
    }

    /// An event fired only by `activate()`; deferred priority runs after the pass's I/O.
    public func deferred(_ cb: EventCallback, _ ctx: UnsafeMutableRawPointer?) -> Event {
        let ev = event_new(base, -1, 0, cb, ctx)!
        event_priority_set(ev, EventPriority.deferred)
        return Event(raw: ev)
    }

    /// Delivers `signal` through the loop instead of an async handler.
    public func signal(_ signo: Int32, _ cb: EventCallback, _ ctx: UnsafeMutableRawPointer?) -> Event {
        let ev = event_new(base, signo, Int16(EV_SIGNAL | EV_PERSIST), cb, ctx)!
        event_priority_set(ev, EventPriority.control)
        return Event(raw: ev)
    }

    /// Runs until `stop()` or no events remain.
    public func run() { event_base_dispatch(base) }

    /// Makes `run()` return after the current pass.
    public func stop() { event_base_loopbreak(base) }


}

/// Monotonic clock in milliseconds, independent of any loop.
public func monotonicMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000)
}

/// libevent's version string.
public func libeventVersion() -> String { String(cString: event_get_version()) }

/// Keeps glibc from trimming and regrowing the heap top on every burst (measured: thousands of
/// brk calls per 50k requests without it).
public func tuneAllocator() {
    _ = mallopt(RESPITE_M_TRIM_THRESHOLD, 64 * 1024 * 1024)
    _ = mallopt(RESPITE_M_TOP_PAD, 16 * 1024 * 1024)
}

/// Hands the heap's free pages back to the system (after a client that held a lot of memory
/// has gone; `tuneAllocator`'s trim threshold would otherwise keep them).
public func returnFreedMemory() {
    _ = malloc_trim(0)
}
