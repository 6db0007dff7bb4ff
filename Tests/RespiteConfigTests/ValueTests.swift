// Tests of every kind of directive value: what each accepts, and the exact message for what it
// refuses, with the file and line.

import XCTest
@testable import RespiteConfig

final class ValueTests: XCTestCase {
    func testIntegers() {
        XCTAssertEqual(parsed("port 0\nunixsocket /tmp/r.sock")?.port, 0)
        XCTAssertEqual(parsed("port 65535")?.port, 65535)
        XCTAssertEqual(parsed("maxclients 1")?.maxClients, 1)
        XCTAssertEqual(parsed("upstream-pool-size 64")?.upstreamPoolSize, 64)
        XCTAssertEqual(parseError("# comment\n\nport abc"),
                       "respite.conf:3: 'port' must be an integer in 0..65535, got 'abc'")
        XCTAssertEqual(parseError("port 65536"), "respite.conf:1: 'port' must be an integer in 0..65535, got '65536'")
        XCTAssertEqual(parseError("port -1"), "respite.conf:1: 'port' must be an integer in 0..65535, got '-1'")
        XCTAssertEqual(parseError("port 6380x"), "respite.conf:1: 'port' must be an integer in 0..65535, got '6380x'")
        XCTAssertEqual(parseError("upstream-pool-size 0"),
                       "respite.conf:1: 'upstream-pool-size' must be an integer in 1..64, got '0'")
        XCTAssertEqual(parseError("databases 99999999999999999999"),
                       "respite.conf:1: 'databases' must be an integer in 1..2147483647, got '99999999999999999999'")
    }

    func testArgumentCount() {
        XCTAssertEqual(parseError("port"), "respite.conf:1: 'port' takes 1 argument, got 0")
        XCTAssertEqual(parseError("port 1 2"), "respite.conf:1: 'port' takes 1 argument, got 2")
        XCTAssertEqual(parseError("requirepass a # not a comment"),
                       "respite.conf:1: 'requirepass' takes 1 argument, got 5")
    }

    func testOctalMode() {
        XCTAssertEqual(parsed("unixsocketperm 0770")?.unixSocketPerm, 0o770)
        XCTAssertEqual(parsed("unixsocketperm 755")?.unixSocketPerm, 0o755)
        XCTAssertEqual(parsed("unixsocketperm 0")?.unixSocketPerm, 0)
        XCTAssertEqual(parseError("unixsocketperm 789"),
                       "respite.conf:1: 'unixsocketperm' must be an octal mode in 0..777, got '789'")
        XCTAssertEqual(parseError("unixsocketperm 1777"),
                       "respite.conf:1: 'unixsocketperm' must be an octal mode in 0..777, got '1777'")
        XCTAssertEqual(parseError("unixsocketperm -7"),
                       "respite.conf:1: 'unixsocketperm' must be an octal mode in 0..777, got '-7'")
    }

    func testMemorySizesUseRedisUnits() {
        let cases: [(String, Int)] = [
            ("2000000", 2_000_000), ("1048576b", 1_048_576), ("2000k", 2_000_000), ("2048kb", 2_097_152),
            ("2m", 2_000_000), ("2mb", 2_097_152), ("1g", 1_000_000_000), ("1gb", 1_073_741_824),
            ("3GB", 3 * 1_073_741_824), ("5Mb", 5 * 1_048_576),
        ]
        for (text, bytes) in cases {
            XCTAssertEqual(parsed("client-query-buffer-limit \(text)")?.clientQueryBufferLimit, bytes, text)
        }
        XCTAssertEqual(parsed("client-output-buffer-limit 0")?.clientOutputBufferLimits.pubsub.hard, 0)
        let expected = "must be a size in 1mb..1024gb (bytes, or with unit k, kb, m, mb, g, gb)"
        for bad in ["1tb", "abc", "mb", "-1mb", "1.5mb", "1 mb", "1000k", "99999999999gb"] {
            XCTAssertEqual(parseError("client-query-buffer-limit \"\(bad)\""),
                           "respite.conf:1: 'client-query-buffer-limit' \(expected), got '\(bad)'")
        }
        XCTAssertEqual(parseError("proto-inline-max-size 0"),
                       "respite.conf:1: 'proto-inline-max-size' must be a size in 1..1gb (bytes, or with unit k, kb, m, mb, g, gb), got '0'")
    }

    func testMillisecondDurations() {
        let cases: [(String, Int)] = [("250", 250), ("250ms", 250), ("3s", 3000), ("2m", 120_000), ("1S", 1000), ("0", 0)]
        for (text, ms) in cases {
            XCTAssertEqual(parsed("upstream-timeout \(text)")?.upstreamTimeoutMs, ms, text)
        }
        let expected = "must be a duration in 0..1440m (a number with ms, s or m; bare = milliseconds)"
        for bad in ["5h", "1.5s", "s", "-5s", "5 s", "1441m"] {
            XCTAssertEqual(parseError("upstream-timeout \"\(bad)\""),
                           "respite.conf:1: 'upstream-timeout' \(expected), got '\(bad)'")
        }
        XCTAssertEqual(parseError("upstream-connect-timeout 0"),
                       "respite.conf:1: 'upstream-connect-timeout' must be a duration in 1ms..60m (a number with ms, s or m; bare = milliseconds), got '0'")
    }

    func testSecondDurations() {
        XCTAssertEqual(parsed("timeout 30")?.timeoutSeconds, 30)
        XCTAssertEqual(parsed("timeout 30s")?.timeoutSeconds, 30)
        XCTAssertEqual(parsed("timeout 2m")?.timeoutSeconds, 120)
        XCTAssertEqual(parsed("tcp-keepalive 0")?.tcpKeepaliveSeconds, 0)
        XCTAssertEqual(parseError("timeout 500ms"),
                       "respite.conf:1: 'timeout' must be a duration in 0..2147483647 seconds (a number with s or m; bare = seconds), got '500ms'")
        XCTAssertEqual(parseError("tcp-keepalive 32768"),
                       "respite.conf:1: 'tcp-keepalive' must be a duration in 0..32767 seconds (a number with s or m; bare = seconds), got '32768'")
    }

    func testLogLevel() {
        for level in LogLevel.allCases {
            XCTAssertEqual(parsed("loglevel \(level.rawValue.uppercased())")?.logLevel, level)
        }
        XCTAssertEqual(parseError("loglevel loud"),
                       "respite.conf:1: 'loglevel' must be one of debug, verbose, notice, warning, got 'loud'")
        XCTAssertLessThan(LogLevel.debug, LogLevel.warning)
    }

    func testOptionalStrings() {
        XCTAssertEqual(parsed("requirepass s3cret")?.requirePass, "s3cret")
        XCTAssertNil(parsed("requirepass s3cret\nrequirepass \"\"")?.requirePass)
        XCTAssertEqual(parsed("logfile /var/log/respite.log")?.logFile, "/var/log/respite.log")
        XCTAssertNil(parsed("upstream-client-name ''")?.upstreamClientName)
        XCTAssertEqual(parseError("upstream-client-name \"my app\""),
                       "respite.conf:1: 'upstream-client-name' must not contain spaces, newlines or special characters, got 'my app'")
        let long = "/" + String(repeating: "a", count: 107)
        XCTAssertEqual(parseError("unixsocket \(long)"),
                       "respite.conf:1: 'unixsocket' must be a path of at most 107 bytes, got '\(long)'")
        XCTAssertEqual(parsed("unixsocket \(long.dropLast())")?.unixSocket, String(long.dropLast()))
    }

    func testBindAddresses() {
        XCTAssertEqual(parsed("bind 127.0.0.1 ::1 0.0.0.0 ::")?.bind, ["127.0.0.1", "::1", "0.0.0.0", "::"])
        XCTAssertEqual(parsed("bind 10.0.0.1\nbind 10.0.0.2")?.bind, ["10.0.0.2"], "a later bind replaces")
        XCTAssertEqual(parseError("bind localhost"),
                       "respite.conf:1: 'bind' must be IPv4 or IPv6 addresses, got 'localhost'")
        XCTAssertEqual(parseError("bind 127.0.0.1 300.1.1.1"),
                       "respite.conf:1: 'bind' must be IPv4 or IPv6 addresses, got '300.1.1.1'")
        XCTAssertEqual(parseError("bind"), "respite.conf:1: 'bind' takes 1 to 16 addresses, got 0")
        let seventeen = Array(repeating: "127.0.0.1", count: 17).joined(separator: " ")
        XCTAssertEqual(parseError("bind \(seventeen)"), "respite.conf:1: 'bind' takes 1 to 16 addresses, got 17")
    }

    func testUpstreamAddresses() {
        XCTAssertEqual(parsed("upstream redis.internal:6390")?.upstream, .tcp(host: "redis.internal", port: 6390))
        XCTAssertEqual(parsed("upstream 10.1.2.3:1")?.upstream, .tcp(host: "10.1.2.3", port: 1))
        XCTAssertEqual(parsed("upstream [::1]:6379")?.upstream, .tcp(host: "::1", port: 6379))
        XCTAssertEqual(parsed("upstream unix:/run/redis/redis.sock")?.upstream, .unix(path: "/run/redis/redis.sock"))
        XCTAssertEqual(UpstreamAddress.tcp(host: "::1", port: 6379).description, "[::1]:6379")
        XCTAssertEqual(UpstreamAddress.unix(path: "/r.sock").description, "unix:/r.sock")
        let expected = "must be host:port, [ipv6]:port or unix:/path"
        for bad in ["redis", "redis:", ":6379", "redis:0", "redis:65536", "redis:abc", "[::1]", "[::1]6379",
                    "[nothost]:6379", "unix:", "a b:1"] {
            XCTAssertEqual(parseError("upstream \"\(bad)\""), "respite.conf:1: 'upstream' \(expected), got '\(bad)'", bad)
        }
        XCTAssertEqual(parseError("upstream ::1:6379"),
                       "respite.conf:1: 'upstream' IPv6 addresses must be in brackets, like [::1]:6379, got '::1:6379'")
    }

    func testDirectiveNamesAreCaseInsensitiveAndUnknownOnesFail() {
        XCTAssertEqual(parsed("PORT 7000")?.port, 7000)
        XCTAssertEqual(parseError("port 6380\n\n  # note\nprot 6380"), "respite.conf:4: unknown directive 'prot'")
        XCTAssertEqual(parseError("Prot 6380"), "respite.conf:1: unknown directive 'Prot'")
    }

    func testRulesBetweenDirectivesPointAtTheLaterOne() {
        XCTAssertEqual(parseError("port 0"), "respite.conf:1: no listener: 'port' is 0 and 'unixsocket' is not set")
        XCTAssertEqual(parseError("upstream-reconnect-max 50ms\nloglevel debug\n"),
                       "respite.conf:1: 'upstream-reconnect-min' (100ms) must not exceed 'upstream-reconnect-max' (50ms)")
        XCTAssertEqual(parseError("upstream-reconnect-max 1s\nupstream-reconnect-min 2s"),
                       "respite.conf:2: 'upstream-reconnect-min' (2s) must not exceed 'upstream-reconnect-max' (1s)")
        XCTAssertEqual(parseError("upstream-user app"), "respite.conf:1: 'upstream-user' needs 'upstream-password'")
        XCTAssertEqual(parsed("upstream-user app\nupstream-password pw")?.upstreamUser, "app")
        XCTAssertEqual(parseError("proto-max-bulk-len-unauthenticated 2mb\nproto-max-bulk-len 1mb"),
                       "respite.conf:2: 'proto-max-bulk-len-unauthenticated' (2097152) must not exceed 'proto-max-bulk-len' (1048576)")
        XCTAssertEqual(parseError("proto-max-multibulk-len 5"),
                       "respite.conf:1: 'proto-max-multibulk-len-unauthenticated' (10) must not exceed 'proto-max-multibulk-len' (5)")
    }
}

final class ClientAuthTests: XCTestCase {
    func testClientAuthChoicesAndItsRuleWithRequirepass() throws {
        XCTAssertEqual(RespiteConfiguration.defaults.clientAuth, "auto")
        let local = try ConfigLoader.load(arguments: ["--client-auth", "local", "--requirepass", "pw"])
        XCTAssertEqual(local.configuration.clientAuth, "local")
        XCTAssertThrowsError(try ConfigLoader.load(arguments: ["--client-auth", "passthrough", "--requirepass", "pw"]))
        XCTAssertThrowsError(try ConfigLoader.load(arguments: ["--client-auth", "remote"]))
    }

}

/// Per-class output buffer limits and the open-file arithmetic behind `maxclients`.
final class LimitTests: XCTestCase {
    func testOutputBufferLimitsTakeRedisSyntaxPerClass() {
        let mb = 1024 * 1024
        let c = parsed("client-output-buffer-limit normal 0 0 0 pubsub 64mb 16mb 90\nclient-output-buffer-limit slave 1gb 0 0")
        XCTAssertEqual(c?.clientOutputBufferLimits.normal, OutputBufferLimit(hard: 0, soft: 0, softSeconds: 0))
        XCTAssertEqual(c?.clientOutputBufferLimits.pubsub, OutputBufferLimit(hard: 64 * mb, soft: 16 * mb, softSeconds: 90))
        XCTAssertEqual(c?.clientOutputBufferLimits.replica, OutputBufferLimit(hard: 1024 * mb, soft: 0, softSeconds: 0))
        // The older single value: one hard limit for every class.
        let old = parsed("client-output-buffer-limit 1gb")?.clientOutputBufferLimits
        XCTAssertEqual(old?.pubsub, OutputBufferLimit(hard: 1024 * mb, soft: 0, softSeconds: 0))
        XCTAssertEqual(old?.normal, old?.replica)
        XCTAssertEqual(parseError("client-output-buffer-limit normal 1mb 0"),
                       "respite.conf:1: 'client-output-buffer-limit' takes <class> <hard limit> <soft limit> <soft seconds> (one or more groups), got 3 arguments")
        XCTAssertEqual(parseError("client-output-buffer-limit master 1mb 0 0"),
                       "respite.conf:1: 'client-output-buffer-limit' names an invalid client class 'master' (normal, replica or pubsub)")
    }

    func testOutputBufferSoftLimitCountsSecondsPastIt() {
        let l = OutputBufferLimit(hard: 100, soft: 10, softSeconds: 2)
        var since: Int64 = 0
        XCTAssertFalse(l.exceeded(used: 5, softSince: &since, nowMs: 1000))
        XCTAssertFalse(l.exceeded(used: 20, softSince: &since, nowMs: 1000), "first time past the soft limit")
        XCTAssertEqual(since, 1000)
        XCTAssertFalse(l.exceeded(used: 20, softSince: &since, nowMs: 3000), "not longer than the seconds yet")
        XCTAssertTrue(l.exceeded(used: 20, softSince: &since, nowMs: 3001))
        XCTAssertFalse(l.exceeded(used: 5, softSince: &since, nowMs: 3002))
        XCTAssertEqual(since, 0, "below the soft limit resets its clock")
        XCTAssertTrue(l.exceeded(used: 100, softSince: &since, nowMs: 3003), "the hard limit at once")
        XCTAssertFalse(OutputBufferLimit(hard: 0, soft: 0, softSeconds: 0).exceeded(used: 1 << 40, softSince: &since, nowMs: 0))
    }

    func testClientsFitTheOpenFileLimitWithTheirUpstreamConnections() {
        // 32 reserved + 16 shared + 2 control + 1 probe = 51; 128 - 51 = 77 for clients and pins.
        XCTAssertEqual(FileBudget.clientsFitting(limit: 128, pinnedMax: 4, poolSize: 1, controlMax: 2), 73)
        XCTAssertEqual(FileBudget.clientsFitting(limit: 128, pinnedMax: 1024, poolSize: 1, controlMax: 2), 38)
        XCTAssertEqual(FileBudget.clientsFitting(limit: 40, pinnedMax: 4, poolSize: 1, controlMax: 2), 0)
        XCTAssertEqual(FileBudget.needed(maxClients: 10000, pinnedMax: 1024, poolSize: 1, controlMax: 16), 10000 + 1024 + 32 + 33)
        let fit = FileBudget.clientsFitting(limit: 1024, pinnedMax: 1024, poolSize: 1, controlMax: 16)
        XCTAssertLessThanOrEqual(FileBudget.needed(maxClients: fit, pinnedMax: 1024, poolSize: 1, controlMax: 16), 1024)
    }
}
