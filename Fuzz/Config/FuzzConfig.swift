// Fuzz target: the configuration loader. Arbitrary text as a configuration file (read through
// ConfigFileReader, with includes of itself and of missing files), as one tokenized line, and
// as a command line: each either loads or throws a ConfigError, never crashes. Quoting an
// argument and tokenizing it gives the argument back.
// Option byte 0: mode (file / command line).

import Glibc
@testable import RespiteConfig

/// A scratch folder holding the input as `fuzz.conf` and `inc.conf`; includes may name only these.
let scratch: String = {
    var template = Array("/tmp/respite-fuzz-config-XXXXXX".utf8CString)
    guard let dir = mkdtemp(&template) else { fuzzFail("mkdtemp") }
    return String(cString: dir)
}()
let allowedIncludes: Set<String> = ["fuzz.conf", "inc.conf", "missing.conf", "\(scratch)/inc.conf"]

func write(_ bytes: [UInt8], to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { fuzzFail("open \(path)") }
    _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

/// Whether every `include` in `text` names a file in the scratch folder (a fuzzed include of
/// /dev/stdin or a FIFO would block the run; Respite's operator chooses its includes).
func includesStayInScratch(_ bytes: [UInt8]) -> Bool {
    for line in bytes.split(separator: 10, omittingEmptySubsequences: false) {
        guard let words = try? ConfigTokenizer.split(line) else { continue }
        if let first = words.first, first.lowercased() == "include", words.count == 2, !allowedIncludes.contains(words[1]) {
            return false
        }
    }
    return true
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ p: UnsafeRawPointer, _ n: Int) -> CInt {
    let input = FuzzInput(p, n, headerBytes: 1)
    let data = input.data
    switch input.options[0] % 3 {
    case 0:
        guard includesStayInScratch(data) else { return 0 }
        write(data, to: "\(scratch)/fuzz.conf")
        write(data, to: "\(scratch)/inc.conf")
        do {
            _ = try ConfigLoader.load(arguments: ["\(scratch)/fuzz.conf"])
        } catch is ConfigError {
        } catch { fuzzFail("not a ConfigError: \(error)") }
        do {
            _ = try ConfigLoader.parse(text: String(decoding: data, as: UTF8.self), file: "\(scratch)/fuzz.conf")
        } catch is ConfigError {
        } catch { fuzzFail("not a ConfigError: \(error)") }
    case 1:
        // One line: tokenize, then quote every argument and tokenize again.
        guard let args = try? ConfigTokenizer.split(data) else { return 0 }
        let line = args.map(ConfigTokenizer.quote).joined(separator: " ")
        guard let again = try? ConfigTokenizer.arguments(of: line), again == args else {
            fuzzFail("quoting \(args) gave \(line.debugDescription), read back as \(String(describing: try? ConfigTokenizer.arguments(of: line)))")
        }
    default:
        // A command line: arguments separated by NUL. It starts with a flag, and names no file,
        // so nothing outside the scratch folder is read.
        let args = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard let first = args.first, first.hasPrefix("--"),
              !args.contains(where: { $0.lowercased().contains("include") || $0.lowercased().contains("config") }) else { return 0 }
        do {
            _ = try ConfigLoader.load(arguments: args)
        } catch is ConfigError {
        } catch { fuzzFail("not a ConfigError: \(error)") }
    }
    return 0
}
