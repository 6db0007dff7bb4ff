// ReplyMerge: how the replies of one request split across nodes become the one reply the client
// is owed (a pure function over reply bytes). A reply slot expecting several fragments
// (ReplyOrder) merges them with its plan once the last has arrived.

import RESP

enum ReplyMerge: Equatable {
    /// Integer replies added up (DEL, UNLINK, EXISTS, TOUCH split by node).
    case sumIntegers
    /// Every fragment is `+OK` (MSET split by node); the reply is `+OK`.
    case allOK
    /// Array replies whose elements go back to the request's positions: fragment `i` holds the
    /// values for `positions[i]`, in order (MGET split by node).
    case scatter(positions: [[Int]])

    /// The merged reply. An error fragment (the first, in fragment order) is the reply, as it
    /// is when the request runs on one node; a fragment of an unexpected shape gives Respite's
    /// error rather than a reply the client did not ask for.
    func merge(_ fragments: [[UInt8]]) -> [UInt8] {
        if let error = fragments.first(where: { $0.first == UInt8(ascii: "-") || $0.first == UInt8(ascii: "!") }) {
            return error
        }
        switch self {
        case .sumIntegers:
            var total: Int64 = 0
            for f in fragments {
                guard let n = ReplyMerge.integer(f) else { return ReplyMerge.unexpected }
                total &+= n
            }
            return Array(":\(total)\r\n".utf8)
        case .allOK:
            return fragments.allSatisfy { $0 == Array("+OK\r\n".utf8) } ? Array("+OK\r\n".utf8) : ReplyMerge.unexpected
        case .scatter(let positions):
            guard positions.count == fragments.count else { return ReplyMerge.unexpected }
            let total = positions.reduce(0) { $0 + $1.count }
            var elements = [[UInt8]?](repeating: nil, count: total)
            for (f, where_) in zip(fragments, positions) {
                guard let items = ReplyMerge.elements(f), items.count == where_.count else { return ReplyMerge.unexpected }
                for (item, at) in zip(items, where_) {
                    guard at >= 0 && at < total && elements[at] == nil else { return ReplyMerge.unexpected }
                    elements[at] = item
                }
            }
            var out = Array("*\(total)\r\n".utf8)
            for e in elements {
                guard let e else { return ReplyMerge.unexpected }
                out += e
            }
            return out
        }
    }

    static let unexpected = Array("-ERR Respite: a node's reply to a split request had an unexpected shape\r\n".utf8)

    /// `:<n>\r\n` as a number.
    static func integer(_ f: [UInt8]) -> Int64? {
        guard f.count >= 4, f.first == UInt8(ascii: ":"), f.suffix(2) == [13, 10] else { return nil }
        return Int64(String(decoding: f[1..<(f.count - 2)], as: UTF8.self))
    }

    /// The elements of an array reply (`*N`), each as its own bytes.
    static func elements(_ f: [UInt8]) -> [[UInt8]]? {
        guard f.first == UInt8(ascii: "*"), let cr = f.firstIndex(of: 13), cr + 1 < f.count,
              let n = Int(String(decoding: f[1..<cr], as: UTF8.self)), n >= 0 else { return nil }
        var items: [[UInt8]] = []
        items.reserveCapacity(n)
        var i = cr + 2
        var scanner = ReplyScanner(limits: .serverReplies)
        while items.count < n {
            guard i < f.count else { return nil }
            let scanned: ReplyScan = f.withUnsafeBufferPointer { p in scanner.scan(p.baseAddress! + i, f.count - i) }
            guard case .frame(let info) = scanned else { return nil }
            items.append(Array(f[i..<(i + info.length)]))
            i += info.length
        }
        return i == f.count ? items : nil
    }
}
