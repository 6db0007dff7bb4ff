// Log: one line per event on stderr or a file, in redis-server's layout
// (`pid:M 22 Nov 2026 00:23:17.123 * message`). Cold path only; never used per request.

#if canImport(Glibc)
import Glibc
#endif

/// The process-wide logger, configured once at start before the loop runs.
public enum Log {
    public enum Level: Int, Sendable, Comparable {
        case debug = 0, verbose, notice, warning
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var mark: String {
            switch self { case .debug: return "."; case .verbose: return "-"; case .notice: return "*"; case .warning: return "#" }
        }
    }
    nonisolated(unsafe) public static var level: Level = .notice
    nonisolated(unsafe) static var fd: Int32 = 2

    /// Sends log lines to `path` (appending), or stderr when nil.
    public static func open(path: String?) -> Bool {
        guard let path, !path.isEmpty else { fd = 2; return true }
        let f = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if f < 0 { return false }
        fd = f
        return true
    }

    public static func debug(_ s: @autoclosure () -> String) { if level <= .debug { emit(.debug, s()) } }
    public static func verbose(_ s: @autoclosure () -> String) { if level <= .verbose { emit(.verbose, s()) } }
    public static func notice(_ s: @autoclosure () -> String) { if level <= .notice { emit(.notice, s()) } }
    public static func warning(_ s: @autoclosure () -> String) { emit(.warning, s()) }

    static func emit(_ l: Level, _ msg: String) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tmv = tm()
        localtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, 64, "%d %b %Y %H:%M:%S", &tmv)
        let stamp = String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let ms = Int(ts.tv_nsec / 1_000_000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        var line = "\(getpid()):M \(stamp).\(msText) \(l.mark) \(msg)\n"
        line.withUTF8 { p in _ = Glibc.write(fd, p.baseAddress, p.count) }
    }
}
