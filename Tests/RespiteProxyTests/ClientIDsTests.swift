// Client ids are unique in the process: the source counts from 1 and never repeats across
// threads, and two Proxies (as two loops would run) hand their clients ids from the one source,
// which clients see in CLIENT ID.

import XCTest
import Dispatch
import Foundation
import Synchronization
import EventLoop
import RespiteCommands
@testable import RespiteProxy
#if canImport(Glibc)
import Glibc
#endif

final class ClientIDsTests: XCTestCase {
    func testASourceCountsFromOne() {
        let source = ClientIDSource()
        XCTAssertEqual((0..<5).map { _ in source.take() }, [1, 2, 3, 4, 5])
    }

    func testIdsTakenOnManyThreadsAreUniqueAndIncreasingPerThread() {
        let source = ClientIDSource()
        let threads = 4, perThread = 20_000
        let taken = Mutex<[[Int64]]>(Array(repeating: [], count: threads))
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var mine: [Int64] = []
            mine.reserveCapacity(perThread)
            for _ in 0..<perThread { mine.append(source.take()) }
            taken.withLock { $0[t] = mine }
        }
        let all = taken.withLock { $0 }
        for ids in all {
            XCTAssertEqual(ids.count, perThread)
            XCTAssertTrue(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }, "ids one thread takes only grow")
        }
        // Every id from 1 to the number taken, each exactly once.
        XCTAssertEqual(all.flatMap { $0 }.sorted(), (1...Int64(threads * perThread)).map { $0 })
    }

    /// Two Proxies, each with its own loop and listener, accept clients in turn: the ids are
    /// unique and grow in the order the clients came, whichever Proxy took them, and each
    /// client's CLIENT ID answers its own.
    func testTwoProxiesHandOutIdsFromTheProcessSource() throws {
        let dir = NSTemporaryDirectory() + "respite-ids-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var proxies: [Proxy] = []
        for n in 0..<2 {
            var settings = ProxySettings()
            settings.port = 0
            settings.unixSocket = dir + "/p\(n).sock"
            settings.requirePass = nil
            let p = Proxy(loop: Loop(), settings: settings, commands: .builtin)
            try p.listen()
            proxies.append(p)
        }
        defer { proxies.forEach { $0.shutdown() } }
        XCTAssertTrue(proxies[0].clientIDs === proxies[1].clientIDs, "both take ids from the process source")

        var clients: [(fd: Int32, session: Session)] = []
        defer { clients.forEach { Socket.close($0.fd) } }
        for round in 0..<6 {
            let p = proxies[round % 2]
            let fd = try Socket.connectUnix(path: p.settings.unixSocket!)
            p.accept(listener: p.listeners[0].fd, isUnix: true)
            let session = try XCTUnwrap(p.sessions.compactMap { $0 }.max { $0.id < $1.id })
            clients.append((fd, session))
        }
        let ids = clients.map { $0.session.id }
        XCTAssertEqual(Set(ids).count, ids.count, "no id handed out twice: \(ids)")
        XCTAssertTrue(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }, "ids grow across both proxies: \(ids)")

        for (fd, session) in clients {
            let request = Array("CLIENT ID\r\n".utf8)
            XCTAssertEqual(request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, request.count)
            session.onReadable()
            XCTAssertEqual(readReply(fd), ":\(session.id)\r\n")
        }
    }

    /// One reply line from a non-blocking client socket, waiting at most two seconds.
    private func readReply(_ fd: Int32) -> String {
        var got: [UInt8] = []
        let deadline = monotonicMs() + 2000
        while !got.ends(with: [13, 10]) {
            let left = deadline - monotonicMs()
            guard left > 0 else { XCTFail("no whole reply within 2 s"); break }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, Int32(left))
            var buf = [UInt8](repeating: 0, count: 256)
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { got += buf[0..<n] } else if n == 0 { break }
        }
        return String(decoding: got, as: UTF8.self)
    }
}

private extension Array where Element == UInt8 {
    func ends(with tail: [UInt8]) -> Bool { count >= tail.count && Array(suffix(tail.count)) == tail }
}
