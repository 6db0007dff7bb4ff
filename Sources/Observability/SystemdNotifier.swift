// SystemdNotifier: the sd_notify protocol without libsystemd. systemd (or any supervisor that
// speaks the protocol) passes a unix datagram socket in `$NOTIFY_SOCKET` — a path, or an
// abstract-namespace name written with a leading `@` — and the service sends it newline-separated
// `KEY=value` assignments: `READY=1` once it serves, `STATUS=…` for `systemctl status`,
// `STOPPING=1` when it begins to stop, `WATCHDOG=1` every half of `$WATCHDOG_USEC` when the unit
// sets `WatchdogSec`. Without `$NOTIFY_SOCKET` nothing is created and nothing is sent.
// Sends never block: a datagram the receiver cannot take is dropped.

#if canImport(Glibc)
import Glibc
#endif

/// A connection to the service manager's notification socket; one per process, used from the
/// loop thread.
public final class SystemdNotifier {
    /// The address as `$NOTIFY_SOCKET` gave it.
    public let address: String
    private var addr = sockaddr_un()
    private let addrLength: socklen_t
    private let fd: Int32

    /// Where a `$NOTIFY_SOCKET` value points: a filesystem path, or an abstract-namespace name
    /// (`@name`, sent as a leading NUL byte). `nil` for an empty value, a relative path, or one
    /// too long for `sockaddr_un`.
    public enum Address: Equatable, Sendable {
        case path(String)
        case abstract(String)

        public init?(_ text: String) {
            if text.hasPrefix("@") {
                let name = String(text.dropFirst())
                guard !name.isEmpty, name.utf8.count <= Address.maxBytes - 1 else { return nil }
                self = .abstract(name)
            } else {
                guard text.hasPrefix("/"), text.utf8.count <= Address.maxBytes - 1 else { return nil }
                self = .path(text)
            }
        }

        /// Bytes of `sockaddr_un.sun_path`.
        static let maxBytes = 108
    }

    /// The notifier `$NOTIFY_SOCKET` asks for, or `nil` when it is unset, empty or unusable.
    public static func fromEnvironment() -> SystemdNotifier? {
        guard let raw = getenv("NOTIFY_SOCKET") else { return nil }
        return SystemdNotifier(socket: String(cString: raw))
    }

    /// A notifier for `socket` (a `$NOTIFY_SOCKET` value), or `nil` when the value is unusable
    /// or no datagram socket could be made.
    public init?(socket text: String) {
        guard let parsed = Address(text) else { return nil }
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.address = text
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes: [UInt8]
        switch parsed {
        case .path(let p): bytes = Array(p.utf8)
        case .abstract(let name): bytes = [0] + Array(name.utf8)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        // The family, then exactly the name's bytes: an abstract name is not NUL-terminated.
        addrLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    }

    deinit { Glibc.close(fd) }

    /// Sends one notification (`READY=1`, `STATUS=…`, several joined by newlines). False when
    /// the datagram could not be sent (no receiver, or its queue is full).
    @discardableResult
    public func send(_ message: String) -> Bool {
        var a = addr
        var text = message
        let (n, count) = text.withUTF8 { buf in
            let n = withUnsafePointer(to: &a) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL), sa, addrLength)
                }
            }
            return (n, buf.count)
        }
        return n == count
    }

    /// `STATUS=` text as one line (the protocol separates assignments by newlines).
    public static func statusLine(_ text: String) -> String {
        "STATUS=" + String(text.map { $0 == "\n" ? " " : $0 })
    }

    /// Milliseconds between `WATCHDOG=1` pings: half of `$WATCHDOG_USEC`, when it is set and
    /// `$WATCHDOG_PID` (if set) names this process; `nil` otherwise.
    public static func watchdogIntervalMs(usec: String?, pid: String?, ownPid: Int32) -> Int? {
        guard let usec, let micros = Int(usec), micros > 0 else { return nil }
        if let pid, !pid.isEmpty, Int32(pid) != ownPid { return nil }
        return max(1, micros / 2000)
    }

    /// `watchdogIntervalMs` from this process's environment.
    public static func watchdogIntervalFromEnvironment() -> Int? {
        watchdogIntervalMs(usec: getenv("WATCHDOG_USEC").map { String(cString: $0) },
                           pid: getenv("WATCHDOG_PID").map { String(cString: $0) }, ownPid: getpid())
    }
}
