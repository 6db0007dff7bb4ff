// UpstreamTransport: the one seam between Respite and an upstream socket's bytes. A transport
// connects to a resolved endpoint (an address literal and port, or a unix path), reports when
// its connect — and, for TLS, its own handshake — is done, moves bytes in and out without
// blocking, and names the file descriptor the loop watches. Every upstream socket goes through
// it — pooled connections (UpstreamConnection), replication relays (RawRelay), liveness probes
// (UpstreamLiveness) and the startup probe (UpstreamProbe) — so TLS is one more conforming type.
// `PlainTransport` covers TCP and unix sockets; it never looks a name up: on the loop, names
// are resolved first by the loop's `Resolver` (`Resolver.endpoints(for:)`), and a name that
// reaches the transport fails its connect.

import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// Where a transport's connect stands after a readiness event.
public enum TransportProgress: Equatable {
    /// Connected (and the transport's own handshake, if any, is done): bytes may flow.
    case connected
    /// Not yet: call again when the socket is readable.
    case wantRead
    /// Not yet: call again when the socket is writable.
    case wantWrite
    /// The connect failed; the text says why.
    case failed(String)
}

/// Bytes to and from the upstream over one socket.
public protocol UpstreamTransport: AnyObject {
    /// The socket the loop watches for readiness; -1 before `connect` and after `close`.
    var fd: Int32 { get }
    /// Starts a non-blocking connect to `endpoint`; throws when it fails at once. A TCP host
    /// must be an address literal: a name throws (names are resolved before, without blocking).
    func connect(to endpoint: UpstreamAddress) throws
    /// Called when the socket is ready while connecting: whether the connect is done.
    func continueConnect() -> TransportProgress
    /// Reads up to `count` bytes into `ptr`.
    func read(_ ptr: UnsafeMutableRawPointer, _ count: Int) -> IOResult
    /// Writes up to `count` bytes from `ptr`.
    func write(_ ptr: UnsafeRawPointer, _ count: Int) -> IOResult
    /// Closes the socket (safe to call more than once); the transport may connect again.
    func close()
}

/// A plain TCP or unix socket.
public final class PlainTransport: UpstreamTransport {
    public private(set) var fd: Int32 = -1

    public init() {}

    deinit { close() }

    public func connect(to endpoint: UpstreamAddress) throws {
        close()
        switch endpoint {
        case .tcp(let host, let port): fd = try Socket.connectNumericTCP(host: host, port: port)
        case .unix(let path): fd = try Socket.connectUnix(path: path)
        }
    }

    public func continueConnect() -> TransportProgress {
        let err = Socket.connectResult(fd)
        if err != 0 { return .failed(Socket.errorText(err)) }
        Socket.setNoDelay(fd)
        return .connected
    }

    @inline(__always) public func read(_ ptr: UnsafeMutableRawPointer, _ count: Int) -> IOResult {
        Socket.read(fd, ptr, count)
    }

    @inline(__always) public func write(_ ptr: UnsafeRawPointer, _ count: Int) -> IOResult {
        Socket.write(fd, ptr, count)
    }

    public func close() {
        if fd >= 0 { Socket.close(fd); fd = -1 }
    }
}

extension Resolver {
    /// The endpoints to dial for `address`, in the order to try them: a unix path or an address
    /// literal as it is, a host name's addresses as the lookup gives them (evdns, /etc/hosts
    /// included; never a blocking `getaddrinfo`). `done` gets them — empty when the name does
    /// not resolve — and may run before this returns (a hosts-file name).
    func endpoints(for address: UpstreamAddress, _ done: @escaping ([UpstreamAddress]) -> Void) {
        guard case .tcp(let host, let port) = address, !Socket.isAddressLiteral(host) else {
            done([address])
            return
        }
        resolve(host) { found in done(found.map { .tcp(host: $0, port: port) }) }
    }
}
