// Tests that config/respite.conf, config/respite.minimal.conf and docs/configuration.md agree
// with the directive table, and that both configuration files parse.

import Foundation
import XCTest
@testable import RespiteConfig

final class ReferenceFilesTests: XCTestCase {
    private func read(_ relativePath: String) throws -> String {
        try String(contentsOf: packageRoot.appendingPathComponent(relativePath), encoding: .utf8)
    }

    func testReferenceConfigShowsEveryDirectiveWithItsDefaultAndParses() throws {
        let path = packageRoot.appendingPathComponent("config/respite.conf").path
        let text = try read("config/respite.conf")
        // A line shows a directive when, with an optional leading "#", it splits into the
        // directive's name followed by its default arguments.
        let shown: [[String]] = text.split(separator: "\n").compactMap { line in
            var body = line.drop { $0 == " " }
            if body.first == "#" { body = body.dropFirst() }
            return try? ConfigTokenizer.arguments(of: String(body))
        }
        for directive in ConfigDirectives.all {
            let expected = [directive.name] + (try ConfigTokenizer.arguments(of: directive.defaultText))
            XCTAssertTrue(shown.contains(expected), "config/respite.conf does not show '\(expected.joined(separator: " "))'")
            let reload = directive.reloadable ? "Reload: SIGHUP" : "Reload: restart"
            let paragraph = text.components(separatedBy: "\n\n").first { $0.contains("\n# \(directive.name) ") }
            XCTAssertTrue(paragraph?.contains(reload) == true, "\(directive.name) should be marked '\(reload)'")
        }
        let loaded = try ConfigLoader.load(arguments: [path])
        XCTAssertEqual(loaded.configuration, .defaults, "the reference shows defaults only")
        // Uncommenting every example line (a "# name value" line right after a "#" line) gives
        // the defaults too.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var uncommentedCount = 0
        let uncommented = lines.indices.map { i -> String in
            let line = lines[i]
            let name = line.dropFirst(2).split(separator: " ").first.map(String.init) ?? ""
            guard i > 0, lines[i - 1] == "#", line.hasPrefix("# "), ConfigDirectives.named(name) != nil else {
                return line
            }
            uncommentedCount += 1
            return String(line.dropFirst(2))
        }.joined(separator: "\n")
        XCTAssertEqual(uncommentedCount, ConfigDirectives.all.count)
        XCTAssertEqual(try ConfigLoader.parse(text: uncommented, file: path), .defaults)
    }

    func testMinimalConfigParses() throws {
        let path = packageRoot.appendingPathComponent("config/respite.minimal.conf").path
        let loaded = try ConfigLoader.load(arguments: ["--test-config", path])
        XCTAssertEqual(loaded.action, .testConfig)
        XCTAssertNotEqual(loaded.configuration, .defaults)
    }

    func testDocsListEveryDirectiveWithDefaultAndReloadability() throws {
        let text = try read("docs/configuration.md")
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| `") }
        XCTAssertEqual(rows.count, ConfigDirectives.all.count, "one table row per directive")
        for directive in ConfigDirectives.all {
            let prefix = "| `\(directive.name)` | `\(directive.defaultText)` | \(directive.reloadable ? "yes" : "no") | "
            XCTAssertTrue(rows.contains { $0.hasPrefix(prefix) }, "docs/configuration.md needs a row starting '\(prefix)'")
        }
    }
}
