// Socket: the OS calls behind listeners and connections — non-blocking TCP and unix sockets,
// accept, connect, read and write. Returns errno-style results; never throws on the data path.
// Nothing here blocks except what says so: `connectTCP(host:port:)` and `lookUpBlocking` look
// a name up with `getaddrinfo`, for tools and for the time before a loop runs; on a loop,
// `connectNumericTCP` takes address literals only, names being resolved by `Resolver`.

#if canImport(Glibc)
import Glibc
#endif

/// A socket-level failure with errno's text.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let code: Int32
    public init(_ what: String, code: Int32 = errno) {
        self.code = code
        self.message = "\(what): \(String(cString: strerror(code)))"
    }
    public var description: String { message }
}

/// The result of a non-blocking read or write.
public enum IOResult {
    case bytes(Int)
    case wouldBlock
    case closed
    case error(Int32)
}

public enum Socket {
    /// Raises the open-file limit toward `wanted` (capped by the hard limit); returns the result.
    public static func raiseFileLimit(to wanted: Int) -> Int {
        var lim = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0 else { return -1 }
        if Int(lim.rlim_cur) >= wanted { return Int(lim.rlim_cur) }
        lim.rlim_cur = rlim_t(min(UInt64(wanted), UInt64(lim.rlim_max)))
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        return Int(lim.rlim_cur)
    }

    /// Ignores SIGPIPE for the process (writes to closed sockets return EPIPE instead).
    public static func ignoreSigpipe() { signal(SIGPIPE, SIG_IGN) }

    /// Opens a non-blocking listening TCP socket on host:port (IPv4 or IPv6 literal, or a name).
    public static func listenTCP(host: String, port: Int, backlog: Int32) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw SocketError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))", code: 0)
        }
        defer { freeaddrinfo(res) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SocketError("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if first.pointee.ai_family == AF_INET6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            let e = SocketError("bind \(host):\(port)")
            close(fd)
            throw e
        }
        if listen(fd, backlog) != 0 {
            let e = SocketError("listen \(host):\(port)")
            close(fd)
            throw e
        }
        return fd
    }

    /// Opens a non-blocking listening unix socket at `path` (an old socket file is replaced).
    public static func listenUnix(path: String, permissions: Int, backlog: Int32) throws -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let maxLen = MemoryLayout.size(ofValue: addr.sun_path) - 1
        guard path.utf8.count <= maxLen else { throw SocketError("unix socket path too long: \(path)", code: ENAMETOOLONG) }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SocketError("socket") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
            raw[path.utf8.count] = 0
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if ok != 0 { let e = SocketError("bind \(path)"); close(fd); throw e }
        if permissions > 0 { chmod(path, mode_t(permissions)) }
        if listen(fd, backlog) != 0 { let e = SocketError("listen \(path)"); close(fd); throw e }
        return fd
    }

    /// Accepts one connection, non-blocking and close-on-exec; nil when none is pending (or on
    /// a transient error).
    public static func accept(_ listener: Int32) -> (fd: Int32, peer: String)? {
        if case let .accepted(fd, peer) = acceptOne(listener) { return (fd, peer) }
        return nil
    }

    /// What one accept gave.
    public enum Accepted {
        case accepted(fd: Int32, peer: String)
        /// Nothing pending, or a transient error.
        case none
        /// The process (EMFILE) or the system (ENFILE) is out of file descriptors: the
        /// connection stays in the backlog, and the listener stays readable.
        case outOfFiles(Int32)
    }

    /// Accepts one connection, non-blocking and close-on-exec, telling running out of files
    /// apart from nothing pending.
    public static func acceptOne(_ listener: Int32) -> Accepted {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &len) }
        }
        if fd < 0 {
            let e = errno
            return e == EMFILE || e == ENFILE ? .outOfFiles(e) : .none
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return .accepted(fd: fd, peer: describe(&storage))
    }

    /// errno's text for `code`.
    public static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Starts a non-blocking TCP connect to an IPv4 or IPv6 address literal; the caller waits
    /// for write readiness, then `connectResult`. Never looks a name up: a name throws at once
    /// (on the loop, names go through `Resolver` first). What upstream transports dial.
    public static func connectNumericTCP(host: String, port: Int) throws -> Int32 {
        var res: UnsafeMutablePointer<addrinfo>?
        guard lookUp(host, port, flags: AI_NUMERICHOST | AI_NUMERICSERV, &res) == 0, let first = res else {
            throw SocketError("connect \(host):\(port): not an IP address (a name must be resolved before the connect)", code: EINVAL)
        }
        defer { freeaddrinfo(res) }
        return try startConnect(first, host, port)
    }

    /// Starts a non-blocking TCP connect to `host`, a name looked up by blocking `getaddrinfo`
    /// (first address only). Only for callers that may block — tools, tests — never a proxy's
    /// event loop.
    public static func connectTCP(host: String, port: Int) throws -> Int32 {
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = lookUp(host, port, flags: 0, &res)
        guard rc == 0, let first = res else {
            throw SocketError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))", code: 0)
        }
        defer { freeaddrinfo(res) }
        return try startConnect(first, host, port)
    }

    /// The addresses `host` names, as literals in `getaddrinfo`'s order, looked up by blocking
    /// `getaddrinfo` (an address literal is given back as is). Only where blocking is allowed:
    /// before the loop runs (the startup probe), tools.
    public static func lookUpBlocking(_ host: String) throws -> [String] {
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = lookUp(host, 0, flags: 0, &res)
        guard rc == 0, res != nil else {
            throw SocketError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))", code: 0)
        }
        defer { freeaddrinfo(res) }
        var found: [String] = []
        var p = res
        while let ai = p {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(ai.pointee.ai_addr, ai.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                let s = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !found.contains(s) { found.append(s) }
            }
            p = ai.pointee.ai_next
        }
        return found
    }

    private static func lookUp(_ host: String, _ port: Int, flags: Int32,
                               _ res: inout UnsafeMutablePointer<addrinfo>?) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = flags
        return getaddrinfo(host, String(port), &hints, &res)
    }

    private static func startConnect(_ ai: UnsafeMutablePointer<addrinfo>, _ host: String, _ port: Int) throws -> Int32 {
        let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SocketError("socket") }
        setNoDelay(fd)
        if connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            let e = SocketError("connect \(host):\(port)")
            close(fd)
            throw e
        }
        return fd
    }

    /// Starts a non-blocking unix-socket connect.
    public static func connectUnix(path: String) throws -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SocketError("socket") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 && errno != EINPROGRESS && errno != EAGAIN {
            let e = SocketError("connect \(path)")
            close(fd)
            throw e
        }
        return fd
    }

    /// The outcome of a non-blocking connect once the socket is writable: 0 or an errno.
    public static func connectResult(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 { return errno }
        return err
    }

    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Enables TCP keepalive with the given idle seconds (0 leaves it off).
    public static func setKeepAlive(_ fd: Int32, seconds: Int) {
        guard seconds > 0 else { return }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
        var idle = Int32(seconds)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, socklen_t(MemoryLayout<Int32>.size))
        var intvl = Int32(max(1, seconds / 3))
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &intvl, socklen_t(MemoryLayout<Int32>.size))
        var cnt: Int32 = 3
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &cnt, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Reads into `ptr`; maps EAGAIN and EOF.
    @inlinable public static func read(_ fd: Int32, _ ptr: UnsafeMutableRawPointer, _ count: Int) -> IOResult {
        let n = Glibc.read(fd, ptr, count)
        if n > 0 { return .bytes(n) }
        if n == 0 { return .closed }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { return .wouldBlock }
        return .error(e)
    }

    /// Writes from `ptr`; maps EAGAIN.
    @inlinable public static func write(_ fd: Int32, _ ptr: UnsafeRawPointer, _ count: Int) -> IOResult {
        let n = Glibc.write(fd, ptr, count)
        if n >= 0 { return .bytes(n) }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { return .wouldBlock }
        return .error(e)
    }

    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// The peer address of a connected socket, as (host, port); nil for unix sockets or errors.
    public static func peer(_ fd: Int32) -> (host: String, port: Int)? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        guard rc == 0, storage.ss_family != sa_family_t(AF_UNIX) else { return nil }
        let text = describe(&storage)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// Whether `host` is an IPv4 or IPv6 address literal (not a name).
    public static func isAddressLiteral(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// The local address of a socket, as `host:port`.
    public static func localAddress(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return rc == 0 ? describe(&storage) : "?"
    }

    static func describe(_ storage: inout sockaddr_storage) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var serv = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        if storage.ss_family == sa_family_t(AF_UNIX) { return "/unixsocket:0" }
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, socklen_t(MemoryLayout<sockaddr_storage>.size), &host, socklen_t(host.count),
                            &serv, socklen_t(serv.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        if rc != 0 { return "?:0" }
        let h = String(cString: host), s = String(cString: serv)
        return h.contains(":") ? "[\(h)]:\(s)" : "\(h):\(s)"
    }
}
