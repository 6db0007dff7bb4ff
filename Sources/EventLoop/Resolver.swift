// Resolver: asynchronous name lookups on the loop (libevent's evdns, which also reads
// /etc/hosts). Every upstream name is looked up here before a socket is dialed — connections,
// replication relays, liveness probes, a MOVING target's name polled while DNS catches up —
// so the loop never waits on `getaddrinfo`. Cold path, so a Swift closure per lookup is fine.
// One per loop (`Loop.resolver`).

import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// Resolves host names to IP address strings without blocking the loop.
public final class Resolver: @unchecked Sendable {
    let dns: OpaquePointer

    /// Made by `Loop.resolver`, which frees it before its event base.
    init(base: OpaquePointer) {
        // Nameservers from resolv.conf; the lookups must not keep the loop alive on their own.
        self.dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | 0x8000)
            ?? evdns_base_new(base, 0)!
    }

    /// Adds the entries of a hosts-format file to the names this resolver knows (after
    /// /etc/hosts); false when it cannot be read. Tests use it to name an upstream that only
    /// this resolver knows.
    @discardableResult
    public func addHosts(fromFile path: String) -> Bool {
        evdns_base_load_hosts(dns, path) == 0
    }

    deinit { evdns_base_free(dns, 1) }

    /// Looks `host` up (IPv4 and IPv6); `done` gets the addresses, empty on failure.
    public func resolve(_ host: String, _ done: @escaping ([String]) -> Void) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        // The lookup owns its callback until libevent reports back (always exactly once).
        let ctx = Unmanaged.passRetained(Lookup(done)).toOpaque()
        _ = evdns_getaddrinfo(dns, host, nil, &hints, resolverDone, ctx)
    }
}

/// One lookup in flight: the callback to run with its addresses.
final class Lookup {
    let done: ([String]) -> Void
    init(_ done: @escaping ([String]) -> Void) { self.done = done }

    func finish(_ result: Int32, _ res: UnsafeMutablePointer<addrinfo>?) {
        var addresses: [String] = []
        if result == 0 {
            var p = res
            while let ai = p {
                var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(ai.pointee.ai_addr, ai.pointee.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                    let s = String(cString: host)
                    if !addresses.contains(s) { addresses.append(s) }
                }
                p = ai.pointee.ai_next
            }
        }
        if let res { evutil_freeaddrinfo(res) }
        done(addresses)
    }
}

private let resolverDone: @convention(c) (Int32, UnsafeMutablePointer<addrinfo>?, UnsafeMutableRawPointer?) -> Void = { result, res, ctx in
    Unmanaged<Lookup>.fromOpaque(ctx!).takeRetainedValue().finish(result, res)
}
