// ConfigFileReader: reads a configuration file's bytes with plain POSIX calls (no Foundation).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads for configuration files, and path helpers for `include`.
enum ConfigFileReader {
    /// Largest configuration file accepted; anything bigger is surely not one.
    static let maxBytes = 16 * 1024 * 1024

    /// The bytes of `path`, or the reason it could not be read (`No such file or directory`).
    static func contents(of path: String) throws(ConfigReason) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ConfigReason(errorText(errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigReason(errorText(errno))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > maxBytes { throw ConfigReason("larger than \(maxBytes) bytes") }
        }
        return bytes
    }

    /// `path` as seen from the directory of `file`: absolute paths stay as they are.
    static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let slash = file.lastIndex(of: "/") else { return path }
        return String(file[...slash]) + path
    }

    private static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}
