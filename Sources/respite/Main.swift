// Main: wiring. Configuration → settings → upstream probe → proxy → loop. Signals arrive
// through the loop (never async handlers).

import EventLoop
import Observability
import RESP
import RespiteCommands
import RespiteConfig
import RespiteProxy
import RespiteUpstream
#if canImport(Glibc)
import Glibc
#endif

enum Main {
    static func run(arguments: [String]) -> Int32 {
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(arguments: arguments)
        } catch {
            printError("\(error)")
            return 1
        }
        switch loaded.action {
        case .help:
            print(ConfigLoader.usage())
            return 0
        case .version:
            print("\(ConfigLoader.versionText) (libevent \(libeventVersion()))")
            return 0
        case .testConfig:
            print("Configuration OK")
            return 0
        case .run:
            break
        }
        let config = loaded.configuration
        switch config.logLevel {
        case .debug: Log.level = .debug
        case .verbose: Log.level = .verbose
        case .notice: Log.level = .notice
        case .warning: Log.level = .warning
        }
        if !Log.open(path: config.logFile) {
            printError("Can't open the log file \(config.logFile ?? ""): \(String(cString: strerror(errno)))")
            return 1
        }
        tuneAllocator()
        Socket.ignoreSigpipe()
        let wantedFiles = config.maxClients + config.upstreamPinnedMax + 32 * config.upstreamPoolSize + 64
        let files = Socket.raiseFileLimit(to: wantedFiles)
        if files < wantedFiles {
            Log.warning("Open-file limit is \(files), below the \(wantedFiles) that maxclients \(config.maxClients) and upstream-pinned-max \(config.upstreamPinnedMax) need")
        }

        var settings = ProxySettings(config)
        Log.notice("Respite \(ConfigLoader.version) starting, pid=\(getpid()), upstream \(settings.upstream.address)" +
                   (loaded.configFile.map { ", config \($0)" } ?? ""))

        var table = CommandTable.builtin
        var info = UpstreamInfo()
        let probe = UpstreamProbe.run(settings.upstream, timeoutMs: min(max(settings.upstream.connectTimeoutMs, 500), 5000))
        if let err = probe.error {
            Log.warning("Upstream \(settings.upstream.address) not reachable at start (\(err)); using the built-in command table")
        }
        if let hello = probe.hello, let pairs = hello.mapPairs {
            for (k, v) in pairs {
                if k.stringValue == "version", let s = v.stringValue { info.version = s }
                if k.stringValue == "role", let s = v.stringValue { info.role = s }
            }
        }
        if let commands = probe.commands {
            table = table.merging(commandReply: commands)
            Log.verbose("Learned \(table.count) commands from the upstream")
        }
        if let dbs = probe.databases { settings.databases = dbs }

        if let pidFile = config.pidFile {
            let text = "\(getpid())\n"
            let fd = open(pidFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if fd >= 0 { _ = text.withCString { write(fd, $0, strlen($0)) }; close(fd) }
        }

        let loop = Loop()
        let proxy = Proxy(loop: loop, settings: settings, commands: table)
        // The upstream's default user needs a password Respite does not have: clients that have
        // not logged in get NOAUTH, HELLO included, as they would direct.
        if probe.error?.hasPrefix("HELLO 3 refused: NOAUTH") == true { proxy.pool.anonymousRejected = true }
        proxy.upstreamInfo = info
        do {
            try proxy.listen()
        } catch {
            Log.warning("Can't listen: \(error)")
            return 1
        }
        var admin: HTTPServer?
        if config.adminPort > 0 {
            do {
                admin = try HTTPServer(loop: loop, host: config.adminBind ?? "127.0.0.1", port: config.adminPort) { [unowned proxy] req in
                    switch (req.method, req.path) {
                    case ("GET", "/metrics"): return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", text: proxy.metricsText())
                    case ("GET", "/healthz"): return HTTPResponse(status: 200, contentType: "text/plain", text: "ok\n")
                    default: return HTTPResponse(status: 404, contentType: "text/plain", text: "not found\n")
                    }
                }
                Log.notice("Admin endpoint on http://\(config.adminBind ?? "127.0.0.1"):\(config.adminPort) (/metrics, /healthz)")
            } catch {
                Log.warning("Can't open the admin endpoint: \(error)")
                return 1
            }
        }
        defer { admin?.close() }
        let signals = SignalContext(loop: loop, proxy: proxy)
        let ctx = Unmanaged.passRetained(signals).toOpaque()
        let term = loop.signal(SIGTERM, onStopSignal, ctx)
        let int = loop.signal(SIGINT, onStopSignal, ctx)
        term.add()
        int.add()
        loop.run()
        term.free()
        int.free()
        if let pidFile = config.pidFile { unlink(pidFile) }
        Log.notice("Respite is now ready to exit, bye bye...")
        return 0
    }

    static func printError(_ s: String) {
        let line = s + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

final class SignalContext {
    let loop: Loop
    let proxy: Proxy
    init(loop: Loop, proxy: Proxy) { self.loop = loop; self.proxy = proxy }
}

let onStopSignal: EventCallback = { signo, _, ctx in
    let s = Unmanaged<SignalContext>.fromOpaque(ctx!).takeUnretainedValue()
    Log.notice("Received \(signo == SIGINT ? "SIGINT" : "SIGTERM"), shutting down")
    s.proxy.shutdown()
    s.loop.stop()
}
