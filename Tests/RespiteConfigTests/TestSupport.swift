// Helpers shared by the configuration tests: parse or fail, and capture error messages.

import Foundation
import XCTest
@testable import RespiteConfig

/// Parses `text` as `respite.conf`, failing the test on error.
func parsed(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> RespiteConfiguration? {
    do {
        return try ConfigLoader.parse(text: text, file: "respite.conf")
    } catch {
        XCTFail("unexpected error: \(error)", file: file, line: line)
        return nil
    }
}

/// The one-line message parsing `text` as `respite.conf` fails with, or `nil` if it parses.
func parseError(_ text: String) -> String? {
    do {
        _ = try ConfigLoader.parse(text: text, file: "respite.conf")
        return nil
    } catch {
        return "\(error)"
    }
}

/// The one-line message `load(arguments:)` fails with, or `nil` if it succeeds.
func loadError(_ arguments: [String]) -> String? {
    do {
        _ = try ConfigLoader.load(arguments: arguments)
        return nil
    } catch {
        return "\(error)"
    }
}

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("respite-config-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// The package root, found from this file's path.
let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
