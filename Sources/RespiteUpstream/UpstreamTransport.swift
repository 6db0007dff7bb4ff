// UpstreamTransport: the one seam between an upstream connection and its bytes. A transport
// connects to a resolved endpoint (an address literal and port, or a unix path), reports when
// its connect — and, for TLS, its own handshake — is done, moves bytes in and out without
// blocking, and names the file descriptor the loop watches. UpstreamConnection and
// UpstreamProbe use nothing else to reach the upstream, so TLS is one more conforming type.
// `PlainTransport` covers TCP and unix sockets.

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
    /// Starts a non-blocking connect to `endpoint`; throws when it fails at once. A TCP host is
    /// expected to be an address literal (names are resolved before, off the loop's path).
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
        case .tcp(let host, let port): fd = try Socket.connectTCP(host: host, port: port)
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
