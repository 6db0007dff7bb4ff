// MaintenanceEvent: the typed form of the server's maintenance pushes, parsed once from the
// `>` frame. Handlers never see raw arrays. Parsing is lenient, as the deployed servers and
// test tools are: strings may be `+` or `$`, integers `:` or numeric bulk strings, nulls `_`,
// `$-1` or `*-1`; only the type name is required; extra elements are ignored; an unknown type
// is reported, never an error (see shared/reference/maintenance-protocol.md §2 and §9).

import RESP

/// A `host:port` the server names. IPv6 hosts come without brackets.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) { self.host = host; self.port = port }

    /// Parses `host:port` or `[v6]:port`, splitting on the LAST colon. Nil for the forms that
    /// mean "no address": empty, `null`, `<nil>`, `?`, an empty host, port 0 or no port.
    public static func parse(_ text: String) -> Endpoint? {
        let t = text.trimmingSpaces
        if t.isEmpty || t == "null" || t == "<nil>" || t == "?" { return nil }
        guard let colon = t.lastIndex(of: ":") else { return nil }
        var host = String(t[..<colon])
        guard let port = Int(t[t.index(after: colon)...]), port > 0, port < 65536 else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()).trimmingSpaces }
        if host.isEmpty { return nil }
        return Endpoint(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// One maintenance notification.
public enum MaintenanceEvent: Equatable, Sendable {
    /// `>4 MOVING <seq> <time seconds> <"host:port" | null>` — this endpoint is being replaced:
    /// move the connection to `endpoint` (or, for null, reconnect to the configured address
    /// after `time/2`) before the server closes it at about `time`.
    case moving(seq: Int64, seconds: Int64, endpoint: Endpoint?)
    /// `>4 MIGRATING <seq> <time> <shards>` — a shard migration starts; relax timeouts.
    case migrating(seq: Int64?, seconds: Int64?)
    /// `>3 MIGRATED <seq> <shards>` — the migration ended; restore timeouts after a tail.
    case migrated(seq: Int64?)
    /// `>4 FAILING_OVER <seq> <time> <shards>` — a failover starts; relax timeouts.
    case failingOver(seq: Int64?, seconds: Int64?)
    /// `>3 FAILED_OVER <seq> <shards>` — the failover ended.
    case failedOver(seq: Int64?)
    /// `>3 SMIGRATING <seq> <slots>` — cluster slots start moving (OSS cluster API).
    case slotsMigrating(seq: Int64?, slots: String)
    /// `>3 SMIGRATED <seq> [[source, target, slots], …]` — cluster slots moved.
    case slotsMigrated(seq: Int64?)
    /// A push of the family Respite does not know (e.g. `FUTURE_EVENT`): logged, ignored.
    case unknown(type: String)

    /// The wire name of the type.
    public var typeName: String {
        switch self {
        case .moving: return "MOVING"
        case .migrating: return "MIGRATING"
        case .migrated: return "MIGRATED"
        case .failingOver: return "FAILING_OVER"
        case .failedOver: return "FAILED_OVER"
        case .slotsMigrating: return "SMIGRATING"
        case .slotsMigrated: return "SMIGRATED"
        case .unknown(let t): return t
        }
    }

    public var seq: Int64? {
        switch self {
        case .moving(let s, _, _): return s
        case .migrating(let s, _), .failingOver(let s, _): return s
        case .migrated(let s), .failedOver(let s), .slotsMigrated(let s): return s
        case .slotsMigrating(let s, _): return s
        case .unknown: return nil
        }
    }

    /// True for the names of the maintenance family (any case), so other pushes pass by.
    public static func isMaintenanceType(_ name: String) -> Bool {
        switch name.uppercased() {
        case "MOVING", "MIGRATING", "MIGRATED", "FAILING_OVER", "FAILED_OVER", "SMIGRATING", "SMIGRATED": return true
        default: return false
        }
    }

    /// Parses a complete push frame. Nil when it is not a push with a string type name
    /// (`>0`, a non-string first element) or is malformed; such frames are dropped whole.
    public static func parse(_ frame: UnsafeRawBufferPointer) -> MaintenanceEvent? {
        guard let decoded = try? RESPValue.decode(frame), case .push(let items) = decoded.value,
              let first = items.first, let type = text(first) else { return nil }
        func int(_ i: Int) -> Int64? { i < items.count ? integer(items[i]) : nil }
        switch type.uppercased() {
        case "MOVING":
            // seq and time are required for MOVING: without them there is nothing to act on.
            guard let seq = int(1), let seconds = int(2) else { return .unknown(type: "MOVING(malformed)") }
            let endpoint = items.count > 3 ? text(items[3]).flatMap(Endpoint.parse) : nil
            return .moving(seq: seq, seconds: seconds, endpoint: endpoint)
        case "MIGRATING": return .migrating(seq: int(1), seconds: int(2))
        case "MIGRATED": return .migrated(seq: int(1))
        case "FAILING_OVER": return .failingOver(seq: int(1), seconds: int(2))
        case "FAILED_OVER": return .failedOver(seq: int(1))
        case "SMIGRATING": return .slotsMigrating(seq: int(1), slots: items.count > 2 ? (text(items[2]) ?? "") : "")
        case "SMIGRATED": return .slotsMigrated(seq: int(1))
        default: return .unknown(type: type)
        }
    }

    private static func text(_ v: RESPValue) -> String? {
        switch v {
        case .simpleString(let b), .bulkString(let b?): return String(decoding: b, as: UTF8.self)
        case .verbatim(_, let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    private static func integer(_ v: RESPValue) -> Int64? {
        switch v {
        case .integer(let i): return i
        case .simpleString(let b), .bulkString(let b?): return Int64(String(decoding: b, as: UTF8.self).trimmingSpaces)
        default: return nil
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

extension MaintenanceEvent {
    /// Whether a push frame's type name is one of the maintenance family, read without
    /// allocating (pub/sub traffic on the same connections must stay cheap). `offset` is where
    /// the push header starts. Never reads past the frame, however short it is.
    public static func isMaintenancePush(_ frame: UnsafeRawBufferPointer, _ offset: Int) -> Bool {
        var i = offset
        let n = frame.count
        func skipLine() -> Bool {
            while i + 1 < n { if frame[i] == 13 && frame[i + 1] == 10 { i += 2; return true }; i += 1 }
            return false
        }
        guard i < n, frame[i] == UInt8(ascii: ">"), skipLine(), i < n else { return false }
        let t = frame[i]
        var start = 0, len = 0
        if t == UInt8(ascii: "+") {
            start = i + 1
            guard skipLine() else { return false }
            len = i - 2 - start
        } else if t == UInt8(ascii: "$") {
            var j = i + 1
            var v = 0
            while j < n, frame[j] >= 48, frame[j] <= 57 { v = v * 10 + Int(frame[j] - 48); j += 1; if v > 64 { return false } }
            guard j + 1 < n, frame[j] == 13 else { return false }
            start = j + 2
            len = v
            guard start + len <= n else { return false }
        } else {
            return false
        }
        guard len >= 6, len <= 12 else { return false }
        let first = frame[start] | 0x20
        // MOVING, MIGRATING, MIGRATED, FAILING_OVER, FAILED_OVER, SMIGRATING, SMIGRATED.
        guard first == 0x6d || first == 0x66 || first == 0x73 else { return false }
        var name = ""
        name.reserveCapacity(len)
        for k in 0..<len { name.unicodeScalars.append(UnicodeScalar(frame[start + k])) }
        return isMaintenanceType(name)
    }
}
