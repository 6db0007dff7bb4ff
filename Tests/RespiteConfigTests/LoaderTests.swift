// Tests of the command line and of reading files: file then flags, includes, and the help,
// version and test-config actions.

import Foundation
import XCTest
@testable import RespiteConfig

final class LoaderTests: XCTestCase {
    private func write(_ text: String, to url: URL) throws {
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func testHelpAndVersionWinOverEverythingElse() throws {
        for args in [["--help"], ["-h"], ["/missing.conf", "--port", "abc", "--help"]] {
            let loaded = try ConfigLoader.load(arguments: args)
            XCTAssertEqual(loaded.action, .help, "\(args)")
            XCTAssertEqual(loaded.configuration, .defaults)
        }
        for args in [["--version"], ["-v"], ["--prot", "1", "--version"]] {
            XCTAssertEqual(try ConfigLoader.load(arguments: args).action, .version, "\(args)")
        }
        XCTAssertEqual(ConfigLoader.versionText, "respite \(ConfigLoader.version)")
    }

    func testUsageListsEveryDirectiveWithItsDefault() {
        let usage = ConfigLoader.usage()
        XCTAssertTrue(usage.hasPrefix("Usage: respite [--config FILE | FILE] [--directive value ...]\n"))
        let lines = usage.split(separator: "\n").map(String.init)
        for directive in ConfigDirectives.all {
            let prefix = "  --\(directive.name) \(directive.valueHint) "
            guard let line = lines.first(where: { $0.hasPrefix(prefix) }) else {
                XCTFail("usage does not list \(directive.name)")
                continue
            }
            let columns = line.dropFirst(prefix.count).split(separator: " ", omittingEmptySubsequences: true)
            if directive.defaultText.contains(" ") {
                XCTAssertEqual(columns.first, "(below)", line)
                let next = lines.firstIndex(of: line).map { lines[$0 + 1] }
                XCTAssertEqual(next, "      default: \(directive.defaultText)", line)
            } else {
                XCTAssertEqual(columns.first.map(String.init), directive.defaultText, line)
            }
            XCTAssertEqual(columns.dropFirst().first == "R", directive.reloadable, line)
            XCTAssertTrue(line.hasSuffix(directive.summary), line)
        }
    }

    func testFlagsOverrideTheFile() throws {
        let dir = try temporaryDirectory(self)
        let file = dir.appendingPathComponent("respite.conf")
        try write("port 7000\nloglevel debug\nbind 10.0.0.1\n", to: file)
        for args in [[file.path, "--port", "7001", "--bind", "127.0.0.1", "::1"],
                     ["--port", "7001", "--config", file.path, "--bind", "127.0.0.1", "::1"]] {
            let loaded = try ConfigLoader.load(arguments: args)
            XCTAssertEqual(loaded.action, .run)
            XCTAssertEqual(loaded.configFile, file.path)
            XCTAssertEqual(loaded.configuration.port, 7001)
            XCTAssertEqual(loaded.configuration.bind, ["127.0.0.1", "::1"])
            XCTAssertEqual(loaded.configuration.logLevel, .debug)
        }
        let flagsOnly = try ConfigLoader.load(arguments: ["--PORT", "7002", "--requirepass", "", "--upstream", "unix:/r.sock"])
        XCTAssertNil(flagsOnly.configFile)
        XCTAssertEqual(flagsOnly.configuration.port, 7002)
        XCTAssertNil(flagsOnly.configuration.requirePass)
        XCTAssertEqual(flagsOnly.configuration.upstream, .unix(path: "/r.sock"))
    }

    func testFlagErrors() {
        XCTAssertEqual(loadError(["--port", "abc"]), "--port: must be an integer in 0..65535, got 'abc'")
        XCTAssertEqual(loadError(["--port"]), "--port: takes 1 argument, got 0")
        XCTAssertEqual(loadError(["--port", "1", "2"]), "--port: takes 1 argument, got 2")
        XCTAssertEqual(loadError(["--prot", "6380"]), "unknown option '--prot' (see --help)")
        XCTAssertEqual(loadError(["-p", "6380"]), "unknown option '-p' (see --help)")
        XCTAssertEqual(loadError(["a.conf", "b.conf"]), "unexpected argument 'b.conf' (see --help)")
        XCTAssertEqual(loadError(["a.conf", "--config", "b.conf"]), "configuration file given twice: 'a.conf' and 'b.conf'")
        XCTAssertEqual(loadError(["--config"]), "--config: takes a file name")
        XCTAssertEqual(loadError(["--upstream-reconnect-min", "10s"]),
                       "--upstream-reconnect-min: 'upstream-reconnect-min' (10s) must not exceed 'upstream-reconnect-max' (5s)")
        XCTAssertEqual(loadError(["/nonexistent/respite.conf"]),
                       "cannot read configuration file '/nonexistent/respite.conf': No such file or directory")
    }

    func testFileErrorsNameTheFileAndLine() throws {
        let dir = try temporaryDirectory(self)
        let file = dir.appendingPathComponent("respite.conf")
        try write("# Respite\n\nport 6380\n  prot 6380\n", to: file)
        XCTAssertEqual(loadError([file.path]), "\(file.path):4: unknown directive 'prot'")
        try write("port 6380\r\nloglevel loud\r\n", to: file)
        XCTAssertEqual(loadError([file.path, "--port", "1"]),
                       "\(file.path):2: 'loglevel' must be one of debug, verbose, notice, warning, got 'loud'")
        XCTAssertEqual(loadError([dir.path]), "cannot read configuration file '\(dir.path)': Is a directory")
    }

    func testTestConfigParsesAndReports() throws {
        let dir = try temporaryDirectory(self)
        let file = dir.appendingPathComponent("respite.conf")
        try write("port 7000\n", to: file)
        for args in [["--test-config", file.path], [file.path, "--test-config"], ["--test-config", "--config", file.path]] {
            let loaded = try ConfigLoader.load(arguments: args)
            XCTAssertEqual(loaded.action, .testConfig, "\(args)")
            XCTAssertEqual(loaded.configuration.port, 7000)
        }
        XCTAssertEqual(try ConfigLoader.load(arguments: ["--test-config"]).configuration, .defaults)
        try write("port 70000\n", to: file)
        XCTAssertEqual(loadError(["--test-config", file.path]),
                       "\(file.path):1: 'port' must be an integer in 0..65535, got '70000'")
    }

    func testIncludeIsRelativeToTheIncludingFile() throws {
        let dir = try temporaryDirectory(self)
        let sub = dir.appendingPathComponent("conf.d", isDirectory: true)
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try write("port 7000\nloglevel debug\ninclude conf.d/limits.conf\nmaxclients 5\n", to: dir.appendingPathComponent("main.conf"))
        try write("# limits\nmaxclients 100\ntimeout 60\ninclude \"\(sub.path)/last.conf\"\n", to: sub.appendingPathComponent("limits.conf"))
        try write("timeout 61\n", to: sub.appendingPathComponent("last.conf"))
        let loaded = try ConfigLoader.load(arguments: [dir.appendingPathComponent("main.conf").path, "--loglevel", "warning"])
        XCTAssertEqual(loaded.configuration.port, 7000)
        XCTAssertEqual(loaded.configuration.maxClients, 5, "lines after the include override it")
        XCTAssertEqual(loaded.configuration.timeoutSeconds, 61)
        XCTAssertEqual(loaded.configuration.logLevel, .warning)

        let parsedText = try ConfigLoader.parse(text: "include conf.d/last.conf", file: dir.appendingPathComponent("x.conf").path)
        XCTAssertEqual(parsedText.timeoutSeconds, 61)

        let viaFlag = try ConfigLoader.load(arguments: ["--include", sub.appendingPathComponent("last.conf").path])
        XCTAssertEqual(viaFlag.configuration.timeoutSeconds, 61)
    }

    func testIncludeErrorsPointIntoTheIncludedFile() throws {
        let dir = try temporaryDirectory(self)
        let main = dir.appendingPathComponent("main.conf")
        let inner = dir.appendingPathComponent("inner.conf")
        try write("port 7000\ninclude inner.conf\n", to: main)
        try write("\n\ntimeout forever\n", to: inner)
        XCTAssertEqual(loadError([main.path]),
                       "\(inner.path):3: 'timeout' must be a duration in 0..2147483647 seconds (a number with s or m; bare = seconds), got 'forever'")
        try write("include missing.conf\n", to: inner)
        XCTAssertEqual(loadError([main.path]),
                       "\(inner.path):1: cannot read included file '\(dir.path)/missing.conf': No such file or directory")
        try write("include\n", to: inner)
        XCTAssertEqual(loadError([main.path]), "\(inner.path):1: 'include' takes 1 file name, got 0 arguments")
        try write("include main.conf\n", to: inner)
        let cycle = loadError([main.path]) ?? ""
        XCTAssertTrue(cycle.hasSuffix(": includes nested deeper than 16 (an include cycle?)"), cycle)
    }
}
