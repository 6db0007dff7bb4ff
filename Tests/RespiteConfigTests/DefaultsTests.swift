// Tests that the defaults are Redis-like and come from the one directive table.

import XCTest
@testable import RespiteConfig

final class DefaultsTests: XCTestCase {
    func testDefaultsAreTheDocumentedValues() {
        let d = RespiteConfiguration.defaults
        XCTAssertEqual(d.bind, ["127.0.0.1"])
        XCTAssertEqual(d.port, 6380)
        XCTAssertNil(d.unixSocket)
        XCTAssertEqual(d.unixSocketPerm, 0o700)
        XCTAssertEqual(d.tcpBacklog, 511)
        XCTAssertEqual(d.tcpKeepaliveSeconds, 300)
        XCTAssertEqual(d.timeoutSeconds, 0)
        XCTAssertEqual(d.maxClients, 10000)
        XCTAssertNil(d.requirePass)
        XCTAssertEqual(d.upstream, .tcp(host: "127.0.0.1", port: 6379))
        XCTAssertNil(d.upstreamUser)
        XCTAssertNil(d.upstreamPassword)
        XCTAssertEqual(d.upstreamClientName, "respite")
        XCTAssertEqual(d.upstreamPoolSize, 1)
        XCTAssertEqual(d.upstreamPinnedMax, 1024)
        XCTAssertEqual(d.upstreamConnectTimeoutMs, 2000)
        XCTAssertEqual(d.upstreamTimeoutMs, 5000)
        XCTAssertEqual(d.upstreamReconnectMinMs, 100)
        XCTAssertEqual(d.upstreamReconnectMaxMs, 5000)
        XCTAssertEqual(d.upstreamQueueLimit, 100_000)
        XCTAssertEqual(d.protoMaxBulkLen, 512 * 1024 * 1024)
        XCTAssertEqual(d.protoMaxMultibulkLen, 2_147_483_647)
        XCTAssertEqual(d.protoMaxNesting, 128)
        XCTAssertEqual(d.protoMaxBulkLenUnauthenticated, 16384)
        XCTAssertEqual(d.protoMaxMultibulkLenUnauthenticated, 10)
        XCTAssertEqual(d.clientQueryBufferLimit, 1024 * 1024 * 1024)
        let mb = 1024 * 1024
        XCTAssertEqual(d.clientOutputBufferLimits.normal, OutputBufferLimit(hard: 256 * mb, soft: 64 * mb, softSeconds: 60))
        XCTAssertEqual(d.clientOutputBufferLimits.replica, OutputBufferLimit(hard: 256 * mb, soft: 64 * mb, softSeconds: 60))
        XCTAssertEqual(d.clientOutputBufferLimits.pubsub, OutputBufferLimit(hard: 32 * mb, soft: 8 * mb, softSeconds: 60),
                       "Redis's own default for pub/sub clients")
        XCTAssertEqual(d.upstreamControlMax, 16)
        XCTAssertEqual(d.adminMaxBodySize, 64 * 1024)
        XCTAssertEqual(d.adminMaxHeadersSize, 8 * 1024)
        XCTAssertEqual(d.adminTimeoutSeconds, 10)
        XCTAssertEqual(d.protoInlineMaxSize, 64 * 1024)
        XCTAssertEqual(d.logLevel, .notice)
        XCTAssertNil(d.logFile)
        XCTAssertNil(d.pidFile)
        XCTAssertEqual(d.databases, 16)
        XCTAssertEqual(d.shutdownTimeoutSeconds, 10)
    }

    func testNoConfigurationAtAllRunsWithDefaults() throws {
        let loaded = try ConfigLoader.load(arguments: [])
        XCTAssertEqual(loaded.action, .run)
        XCTAssertEqual(loaded.configuration, .defaults)
        XCTAssertNil(loaded.configFile)
        XCTAssertEqual(try ConfigLoader.parse(text: "", file: "empty.conf"), .defaults)
    }

    func testDirectiveNamesAreUniqueLowercaseAndDocumented() {
        let names = ConfigDirectives.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count)
        for directive in ConfigDirectives.all {
            XCTAssertEqual(directive.name, directive.name.lowercased())
            XCTAssertFalse(directive.summary.isEmpty, directive.name)
            XCTAssertFalse(directive.defaultText.isEmpty, directive.name)
            XCTAssertNotEqual(directive.name, "include", "include is handled by the loader")
        }
    }

    func testListenersAndPoolShapesNeedARestartWhileLimitsReload() {
        let restart = ["bind", "port", "unixsocket", "unixsocketperm", "tcp-backlog", "upstream", "upstream-pool-size"]
        let reload = ["timeout", "maxclients", "upstream-timeout", "upstream-connect-timeout", "proto-max-bulk-len",
                      "client-query-buffer-limit", "client-output-buffer-limit", "loglevel"]
        for name in restart { XCTAssertEqual(ConfigDirectives.named(name)?.reloadable, false, name) }
        for name in reload { XCTAssertEqual(ConfigDirectives.named(name)?.reloadable, true, name) }
    }

    /// Each directive's rendered value reads back to the same configuration, for the defaults
    /// and for a configuration where every value differs from its default.
    func testRenderedValuesReadBack() throws {
        let changed = try ConfigLoader.parse(text: """
            bind 10.0.0.1 ::1
            port 7000
            unixsocket "/tmp/respite test.sock"
            unixsocketperm 770
            tcp-backlog 128
            tcp-keepalive 1m
            timeout 90
            maxclients 50
            requirepass "p\\"w d"
            client-auth local
            upstream [fe80::1]:7001
            upstream-user app
            upstream-password secret
            upstream-client-name ""
            upstream-pool-size 4
            upstream-pinned-max 0
            upstream-control-max 3
            upstream-connect-timeout 1500
            upstream-timeout 0
            upstream-stall-timeout 0
            upstream-reconnect-min 1s
            upstream-reconnect-max 2m
            upstream-queue-limit 7
            proto-max-bulk-len 1000000k
            proto-max-multibulk-len 1000
            proto-max-nesting 7
            proto-max-bulk-len-unauthenticated 1mb
            proto-max-multibulk-len-unauthenticated 20
            client-query-buffer-limit 2gb
            client-output-buffer-limit 0
            client-output-buffer-limit pubsub 1mb 512kb 5
            client-max-inflight 16
            client-output-high-water 1mb
            proto-inline-max-size 1k
            admin-port 9121
            admin-bind ::1
            admin-max-body-size 1mb
            admin-max-headers-size 1kb
            admin-timeout 3
            maint-notifications enabled
            maint-moving-endpoint-type none
            maint-relaxed-timeout 3s
            maint-post-window 1s
            maint-relaxed-cap 9s
            maint-handoff-retries 5
            maint-handoff-timeout 2s
            maint-breaker-threshold 2
            maint-breaker-reset 5s
            loglevel warning
            logfile /var/log/respite.log
            pidfile /run/respite.pid
            databases 1
            shutdown-timeout 2m
            """, file: "all.conf")
        XCTAssertEqual(changed.changedDirectives(comparedTo: .defaults).map(\.name),
                       ConfigDirectives.all.map(\.name), "every directive should differ from its default")
        for config in [RespiteConfiguration.defaults, changed] {
            let text = ConfigDirectives.all.map { directive in
                ([directive.name] + directive.render(config).map(ConfigTokenizer.quote)).joined(separator: " ")
            }.joined(separator: "\n")
            XCTAssertEqual(try ConfigLoader.parse(text: text, file: "rendered.conf"), config, text)
        }
        XCTAssertEqual(changed.value(of: "upstream"), ["[fe80::1]:7001"])
        XCTAssertEqual(changed.value(of: "proto-max-bulk-len"), ["1000000000"])
        XCTAssertEqual(changed.value(of: "upstream-reconnect-max"), ["2m"])
        XCTAssertEqual(changed.value(of: "unixsocketperm"), ["0770"])
        XCTAssertNil(changed.value(of: "nope"))
    }

    func testChangedDirectivesNamesOnlyWhatDiffers() {
        var config = RespiteConfiguration.defaults
        config.port = 7000
        config.logLevel = .debug
        let changed = config.changedDirectives(comparedTo: .defaults)
        XCTAssertEqual(changed.map(\.name), ["port", "loglevel"])
        XCTAssertEqual(changed.map(\.reloadable), [false, true])
    }
}
