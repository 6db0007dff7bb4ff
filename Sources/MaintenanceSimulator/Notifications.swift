// Notifications: the maintenance push frames the simulator writes, in the real server's shapes
// (docs: maintenance-protocol §2) or, for parser tests, the lenient shapes test tools use
// (`+` type names, integers as bulk strings, `$-1` for null).

/// One maintenance notification, before encoding.
public enum MaintenanceNotice: Equatable, Sendable {
    /// `>4 $6 MOVING :seq :time $N host:port` (or `_` for no endpoint).
    case moving(seq: Int, time: Int, endpoint: String?)
    /// `>4 $9 MIGRATING :seq :time $1 1`.
    case migrating(seq: Int, time: Int, shards: String)
    /// `>3 $8 MIGRATED :seq $1 1`.
    case migrated(seq: Int, shards: String)
    /// `>4 $12 FAILING_OVER :seq :time $1 1`.
    case failingOver(seq: Int, time: Int, shards: String)
    /// `>3 $11 FAILED_OVER :seq $1 1`.
    case failedOver(seq: Int, shards: String)

    public var name: String {
        switch self {
        case .moving: return "MOVING"
        case .migrating: return "MIGRATING"
        case .migrated: return "MIGRATED"
        case .failingOver: return "FAILING_OVER"
        case .failedOver: return "FAILED_OVER"
        }
    }

    public var seq: Int {
        switch self {
        case .moving(let s, _, _), .migrating(let s, _, _), .migrated(let s, _),
             .failingOver(let s, _, _), .failedOver(let s, _): return s
        }
    }

    /// The same notice with a different `time` (late joiners get the time left).
    func with(time t: Int) -> MaintenanceNotice {
        switch self {
        case .moving(let s, _, let e): return .moving(seq: s, time: t, endpoint: e)
        case .migrating(let s, _, let sh): return .migrating(seq: s, time: t, shards: sh)
        case .failingOver(let s, _, let sh): return .failingOver(seq: s, time: t, shards: sh)
        default: return self
        }
    }

    /// The wire bytes; `lenient` uses `+` strings, bulk integers and `$-1` for null.
    public func encode(lenient: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        func str(_ s: String) {
            if lenient { out += Array("+\(s)\r\n".utf8) } else { out += Array("$\(s.utf8.count)\r\n\(s)\r\n".utf8) }
        }
        func int(_ n: Int) {
            if lenient { let t = String(n); out += Array("$\(t.utf8.count)\r\n\(t)\r\n".utf8) } else { out += Array(":\(n)\r\n".utf8) }
        }
        func bulk(_ s: String) { out += Array("$\(s.utf8.count)\r\n\(s)\r\n".utf8) }
        switch self {
        case .moving(let seq, let time, let endpoint):
            out += Array(">4\r\n".utf8); str("MOVING"); int(seq); int(time)
            if let e = endpoint { bulk(e) } else { out += Array((lenient ? "$-1\r\n" : "_\r\n").utf8) }
        case .migrating(let seq, let time, let shards):
            out += Array(">4\r\n".utf8); str("MIGRATING"); int(seq); int(time); bulk(shards)
        case .migrated(let seq, let shards):
            out += Array(">3\r\n".utf8); str("MIGRATED"); int(seq); bulk(shards)
        case .failingOver(let seq, let time, let shards):
            out += Array(">4\r\n".utf8); str("FAILING_OVER"); int(seq); int(time); bulk(shards)
        case .failedOver(let seq, let shards):
            out += Array(">3\r\n".utf8); str("FAILED_OVER"); int(seq); bulk(shards)
        }
        return out
    }
}

/// The endpoint types a client may ask for with `moving-endpoint-type`.
enum EndpointType: String, CaseIterable {
    case internalIP = "internal-ip", internalFQDN = "internal-fqdn"
    case externalIP = "external-ip", externalFQDN = "external-fqdn"
    case none

    /// The `host:port` text this type gives for a listener at `host:port`; nil for `none`.
    func endpoint(host: String, port: Int) -> String? {
        switch self {
        case .none: return nil
        case .internalFQDN, .externalFQDN: return host == "127.0.0.1" ? "localhost:\(port)" : "\(host):\(port)"
        case .internalIP, .externalIP: return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// Standard base64 decoding (padding optional; whitespace skipped); nil on bad input.
func base64Decode(_ bytes: [UInt8]) -> [UInt8]? {
    var out: [UInt8] = []
    var acc: UInt32 = 0, bits = 0
    for c in bytes {
        let v: UInt32
        switch c {
        case 65...90: v = UInt32(c - 65)
        case 97...122: v = UInt32(c - 71)
        case 48...57: v = UInt32(c + 4)
        case 43, 45: v = 62
        case 47, 95: v = 63
        case 61, 10, 13, 32, 9: continue
        default: return nil
        }
        acc = acc << 6 | v
        bits += 6
        if bits >= 8 { bits -= 8; out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits))) }
    }
    return out
}
