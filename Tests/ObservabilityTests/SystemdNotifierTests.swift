// SystemdNotifier: `$NOTIFY_SOCKET` values as systemd writes them, the watchdog interval, and
// real datagrams received on a path and on an abstract-namespace socket.

import XCTest
@testable import Observability
#if canImport(Glibc)
import Glibc
#endif

final class SystemdNotifierTests: XCTestCase {
    func testAddresses() {
        XCTAssertEqual(SystemdNotifier.Address("/run/systemd/notify"), .path("/run/systemd/notify"))
        XCTAssertEqual(SystemdNotifier.Address("@/org/freedesktop/systemd1/notify/123"), .abstract("/org/freedesktop/systemd1/notify/123"))
        XCTAssertNil(SystemdNotifier.Address(""))
        XCTAssertNil(SystemdNotifier.Address("@"))
        XCTAssertNil(SystemdNotifier.Address("relative/path"), "systemd passes absolute paths only")
        XCTAssertNil(SystemdNotifier.Address("/" + String(repeating: "x", count: 107)), "longer than sun_path")
        XCTAssertNotNil(SystemdNotifier.Address("/" + String(repeating: "x", count: 106)))
    }

    func testWatchdogIntervalIsHalfOfWatchdogUsecForThisProcess() {
        XCTAssertEqual(SystemdNotifier.watchdogIntervalMs(usec: "30000000", pid: nil, ownPid: 42), 15_000)
        XCTAssertEqual(SystemdNotifier.watchdogIntervalMs(usec: "400000", pid: "42", ownPid: 42), 200)
        XCTAssertEqual(SystemdNotifier.watchdogIntervalMs(usec: "1", pid: "", ownPid: 42), 1, "never a zero interval")
        XCTAssertNil(SystemdNotifier.watchdogIntervalMs(usec: "400000", pid: "43", ownPid: 42), "meant for another process")
        XCTAssertNil(SystemdNotifier.watchdogIntervalMs(usec: nil, pid: nil, ownPid: 42))
        XCTAssertNil(SystemdNotifier.watchdogIntervalMs(usec: "0", pid: nil, ownPid: 42))
        XCTAssertNil(SystemdNotifier.watchdogIntervalMs(usec: "soon", pid: nil, ownPid: 42))
    }

    func testStatusIsOneLine() {
        XCTAssertEqual(SystemdNotifier.statusLine("ready\nnow"), "STATUS=ready now")
    }

    /// Binds a datagram socket at `name` (a leading NUL for the abstract namespace).
    private func bindReceiver(_ name: [UInt8]) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in name.enumerated() { raw[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + name.count)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        XCTAssertEqual(rc, 0, String(cString: strerror(errno)))
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private func receive(_ fd: Int32) -> String {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "<nothing: \(String(cString: strerror(errno)))>"
    }

    func testSendsToAPathSocket() throws {
        let path = "/tmp/respite-notify-test-\(getpid()).sock"
        unlink(path)
        defer { unlink(path) }
        let fd = try bindReceiver(Array(path.utf8))
        defer { close(fd) }
        let notifier = try XCTUnwrap(SystemdNotifier(socket: path))
        XCTAssertTrue(notifier.send("READY=1\nSTATUS=ready: 0 clients"))
        XCTAssertEqual(receive(fd), "READY=1\nSTATUS=ready: 0 clients")
    }

    func testSendsToAnAbstractSocket() throws {
        let name = "respite-notify-test-\(getpid())"
        let fd = try bindReceiver([0] + Array(name.utf8))
        defer { close(fd) }
        let notifier = try XCTUnwrap(SystemdNotifier(socket: "@" + name))
        XCTAssertTrue(notifier.send("WATCHDOG=1"))
        XCTAssertEqual(receive(fd), "WATCHDOG=1")
    }

    func testNoReceiverIsNotAnError() throws {
        let notifier = try XCTUnwrap(SystemdNotifier(socket: "/tmp/respite-notify-nobody-\(getpid()).sock"))
        XCTAssertFalse(notifier.send("READY=1"))
    }
}
