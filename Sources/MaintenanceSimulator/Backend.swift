// Backend: the real redis-server processes behind the simulator, and a small blocking admin
// client to drive them (PING, INFO, REPLICAOF, CLIENT PAUSE). Processes are started with
// posix_spawn (through `setpriv --pdeathsig KILL` when available, so they die with the thread
// that started them), tracked by PID, and stopped by PID.

import EventLoop
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// One redis-server the simulator started.
public final class Backend: @unchecked Sendable {
    public let id: Int
    public let host = "127.0.0.1"
    public let port: Int
    public let pid: pid_t
    let dir: String
    private let stopped = Locked(false)

    init(id: Int, port: Int, pid: pid_t, dir: String) {
        self.id = id; self.port = port; self.pid = pid; self.dir = dir
    }

    public var address: String { "\(host):\(port)" }

    /// Starts `redis-server` on a free loopback port, optionally as a replica of `replicaOf`.
    static func spawn(id: Int, redisServer: String, workdir: String, replicaOf: Backend?) throws -> Backend {
        let dir = workdir + "/backend-\(id)"
        mkdir(workdir, 0o755)
        mkdir(dir, 0o755)
        let port = try freePort()
        var args = [redisServer, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", dir, "--logfile", dir + "/redis.log", "--daemonize", "no", "--protected-mode", "no",
                    "--repl-diskless-sync-delay", "0"]
        if let m = replicaOf { args += ["--replicaof", m.host, String(m.port)] }
        let setpriv = "/usr/bin/setpriv"
        if access(setpriv, X_OK) == 0 { args = [setpriv, "--pdeathsig", "KILL", "--"] + args }
        let pid = try spawnProcess(args)
        return Backend(id: id, port: port, pid: pid, dir: dir)
    }

    /// Waits until the server answers PING (or the process exits, or `timeoutMs` passes).
    func waitReady(timeoutMs: Int) throws {
        let deadline = monotonicMs() + Int64(timeoutMs)
        var lastError = "no answer"
        while monotonicMs() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                stopped.with { $0 = true }
                throw SimulatorError("redis-server (pid \(pid)) exited during start; see \(dir)/redis.log")
            }
            do {
                let c = try AdminClient(host: host, port: port, timeoutMs: 500)
                defer { c.close() }
                if case .simpleString(let s) = try c.command(["PING"]), s == Array("PONG".utf8) { return }
            } catch { lastError = "\(error)" }
            usleep(20_000)
        }
        throw SimulatorError("redis-server on port \(port) not ready: \(lastError)")
    }

    /// Stops the process by PID: SIGTERM, then SIGKILL after `graceMs`; reaps it; removes its files.
    func stop(graceMs: Int = 3000) {
        let first = stopped.with { s -> Bool in let was = s; s = true; return !was }
        guard first else { return }
        kill(pid, SIGTERM)
        let deadline = monotonicMs() + Int64(graceMs)
        var status: Int32 = 0
        var reaped = false
        while monotonicMs() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || r < 0 { reaped = true; break }
            usleep(10_000)
        }
        if !reaped { kill(pid, SIGKILL); _ = waitpid(pid, &status, 0) }
        removeTree(dir)
    }

    var isStopped: Bool { stopped.with { $0 } }
}

/// An error with a plain message (startup, actions).
public struct SimulatorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Picks a free loopback port by binding port 0 and closing it again.
func freePort(host: String = "127.0.0.1") throws -> Int {
    let fd = try Socket.listenTCP(host: host, port: 0, backlog: 1)
    defer { Socket.close(fd) }
    let local = Socket.localAddress(fd)
    guard let c = local.lastIndex(of: ":"), let p = Int(local[local.index(after: c)...]) else {
        throw SimulatorError("cannot read a free port")
    }
    return p
}

/// posix_spawn with stdin from /dev/null and stdout to /dev/null; stderr is inherited.
func spawnProcess(_ args: [String]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    let cargs = args.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    var pid: pid_t = 0
    let rc = cargs.withUnsafeBufferPointer { argv in
        posix_spawnp(&pid, args[0], &actions, nil, UnsafeMutablePointer(mutating: argv.baseAddress!), environ)
    }
    if rc != 0 { throw SimulatorError("cannot start \(args[0]): \(String(cString: strerror(rc)))") }
    return pid
}

/// Removes a directory's files and the directory (one level; backends write flat files).
func removeTree(_ dir: String) {
    guard let d = opendir(dir) else { return }
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name == "." || name == ".." { continue }
        unlink(dir + "/" + name)
    }
    closedir(d)
    rmdir(dir)
}

/// A blocking RESP2 client with timeouts, for admin commands on the backends (worker threads).
final class AdminClient {
    private var fd: Int32
    private var buffer: [UInt8] = []

    init(host: String, port: Int, timeoutMs: Int) throws {
        fd = try Socket.connectTCP(host: host, port: port)
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        if poll(&pfd, 1, Int32(timeoutMs)) != 1 || Socket.connectResult(fd) != 0 {
            Socket.close(fd)
            throw SimulatorError("connect \(host):\(port) failed")
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func close() { if fd >= 0 { Socket.close(fd); fd = -1 } }
    deinit { close() }

    /// Sends one command and reads one reply.
    func command(_ args: [String]) throws -> RESPValue {
        let out = encodeCommand(args)
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + sent, out.count - sent) }
            if n <= 0 { throw SimulatorError("write to backend failed") }
            sent += n
        }
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            if let (v, used) = try RESPValue.decode(buffer) {
                buffer.removeFirst(used)
                return v
            }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { throw SimulatorError("backend closed or timed out") }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// `INFO <section>` as a field map.
    func info(_ section: String) throws -> [String: String] {
        let v = try command(["INFO", section])
        guard let text = v.stringValue else { throw SimulatorError("INFO failed: \(v)") }
        var out: [String: String] = [:]
        for line in text.split(whereSeparator: { $0 == "\r\n" || $0 == "\r" || $0 == "\n" }) {
            guard let c = line.firstIndex(of: ":") else { continue }
            out[String(line[..<c])] = String(line[line.index(after: c)...])
        }
        return out
    }
}

/// A RESP multibulk request.
func encodeCommand(_ args: [String]) -> [UInt8] {
    var out = Array("*\(args.count)\r\n".utf8)
    for a in args {
        out += Array("$\(a.utf8.count)\r\n".utf8)
        out += Array(a.utf8)
        out += [13, 10]
    }
    return out
}
