// Main: wiring. Configuration → settings → upstream probe → proxy → listeners → lifecycle
// (signals, drain, service-manager notifications; Lifecycle.swift) → loop. Signals arrive
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
        // Until the loop takes SIGHUP over (Lifecycle.start), one must not end the process.
        signal(SIGHUP, SIG_IGN)
        var settings = ProxySettings(config)
        guard sizeToFileLimit(config, &settings) else { return 1 }
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
        // What the probe found also seeds `/readyz` until the loop's own connections say more.
        proxy.pool.noteStartupProbe(error: probe.error)
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
                let limits = HTTPLimits(maxBodyBytes: config.adminMaxBodySize, maxHeadersBytes: config.adminMaxHeadersSize,
                                        timeoutSeconds: config.adminTimeoutSeconds)
                admin = try HTTPServer(loop: loop, host: config.adminBind ?? "127.0.0.1", port: config.adminPort,
                                       limits: limits) { [unowned proxy] req in
                    switch (req.method, req.path) {
                    case ("GET", "/metrics"): return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", text: proxy.metricsText())
                    case ("GET", "/healthz"): return HTTPResponse(status: 200, contentType: "text/plain", text: "ok\n")
                    case ("GET", "/readyz"): return readyz(proxy)
                    default: return HTTPResponse(status: 404, contentType: "text/plain", text: "not found\n")
                    }
                }
                Log.notice("Admin endpoint on http://\(config.adminBind ?? "127.0.0.1"):\(config.adminPort) (/metrics, /healthz, /readyz)")
            } catch {
                Log.warning("Can't open the admin endpoint: \(error)")
                return 1
            }
        }
        defer { admin?.close() }
        // Usable: the probe got its HELLO through, or the upstream answered and wants each
        // client's own login (NOAUTH), which clients give it.
        let usable = probe.error == nil || proxy.pool.anonymousRejected
        let lifecycle = Lifecycle(loop: loop, proxy: proxy, notifier: SystemdNotifier.fromEnvironment())
        lifecycle.start(upstreamUsable: usable, probeError: probe.error)
        loop.run()
        // The events are freed before the lifecycle, which they point to, goes.
        withExtendedLifetime(lifecycle) { lifecycle.close() }
        if let pidFile = config.pidFile { unlink(pidFile) }
        Log.notice("Respite is now ready to exit, bye bye...")
        return 0
    }

    /// `/readyz`: 200 while Respite accepts clients and the upstream is usable (as the pool
    /// last knew it; the check dials nothing), else 503 with the reason on one line.
    static func readyz(_ proxy: Proxy) -> HTTPResponse {
        if proxy.isDraining { return HTTPResponse(status: 503, contentType: "text/plain", text: "draining\n") }
        switch proxy.pool.upstreamReadiness {
        case .ready: return HTTPResponse(status: 200, contentType: "text/plain", text: "ready\n")
        case .notReady(let why): return HTTPResponse(status: 503, contentType: "text/plain", text: why + "\n")
        }
    }

    /// Redis's adjustOpenFilesLimit: raises the open-file limit to what `maxclients` needs
    /// (each client may hold a dedicated upstream connection too); when it cannot, lowers
    /// `maxclients` (and `upstream-pinned-max`) to what fits. False when not even one client fits.
    static func sizeToFileLimit(_ config: RespiteConfiguration, _ settings: inout ProxySettings) -> Bool {
        let wanted = FileBudget.needed(maxClients: config.maxClients, pinnedMax: config.upstreamPinnedMax,
                                       poolSize: config.upstreamPoolSize, controlMax: config.upstreamControlMax)
        let files = Socket.raiseFileLimit(to: wanted)
        guard files >= 0, files < wanted else { return true }
        let fit = FileBudget.clientsFitting(limit: files, pinnedMax: config.upstreamPinnedMax,
                                            poolSize: config.upstreamPoolSize, controlMax: config.upstreamControlMax)
        if fit < 1 {
            Log.warning("Your current 'ulimit -n' of \(files) is not enough for Respite to start. Please increase your open file limit to at least \(wanted). Exiting.")
            return false
        }
        settings.maxClients = min(config.maxClients, fit)
        settings.upstream.pinnedMax = min(config.upstreamPinnedMax, fit)
        Log.warning("You requested maxclients of \(config.maxClients) requiring at least \(wanted) max file descriptors (a dedicated upstream connection per client, up to upstream-pinned-max, plus \(FileBudget.reservedFiles + FileBudget.upstreamFiles(poolSize: config.upstreamPoolSize, controlMax: config.upstreamControlMax)) reserved).")
        Log.warning("Current maximum open files is \(files). maxclients has been reduced to \(settings.maxClients) (and upstream-pinned-max to \(settings.upstream.pinnedMax)) to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.")
        return true
    }

    static func printError(_ s: String) {
        let line = s + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
