// PushKind: what an upstream `>` push frame is, read from its first one or two elements only.
// Pub/sub confirmations and messages go to their subscriber; maintenance notifications never
// reach a client.

import RESP
import RespiteMaintenance

enum SubscriptionKind { case channel, pattern, shard }

enum PushKind: Equatable {
    case subscribe(SubscriptionKind, [UInt8]?)
    case unsubscribe(SubscriptionKind, [UInt8]?)
    case message
    /// Client-side caching: `>2 invalidate <keys | null>`.
    case invalidate
    /// Client-side caching: `>2 tracking-redir-broken <id>`, the redirect target is gone.
    case redirectBroken
    case maintenance
    case other

    /// Classifies a complete push frame.
    static func classify(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame) -> PushKind {
        var i = info.valueOffset
        guard let _ = readLine(frame, &i) else { return .other }      // `>N`
        // The type name is compared in place: pub/sub messages must not allocate to be routed.
        guard let first = readString(frame, &i) else { return .other }
        func named(_ s: StaticString) -> Bool {
            guard first.count == s.utf8CodeUnitCount else { return false }
            let p = s.utf8Start
            for k in 0..<first.count where lower(frame[first.lowerBound + k]) != p[k] { return false }
            return true
        }
        if named("message") || named("pmessage") || named("smessage") { return .message }
        if named("invalidate") { return .invalidate }
        if named("tracking-redir-broken") { return .redirectBroken }
        let sub: PushKind?
        if named("subscribe") { sub = .subscribe(.channel, nil) }
        else if named("psubscribe") { sub = .subscribe(.pattern, nil) }
        else if named("ssubscribe") { sub = .subscribe(.shard, nil) }
        else if named("unsubscribe") { sub = .unsubscribe(.channel, nil) }
        else if named("punsubscribe") { sub = .unsubscribe(.pattern, nil) }
        else if named("sunsubscribe") { sub = .unsubscribe(.shard, nil) }
        else { sub = nil }
        if let sub {
            let channel = readString(frame, &i).map { Array(frame[$0]) }
            switch sub {
            case .subscribe(let k, _): return .subscribe(k, channel)
            case .unsubscribe(let k, _): return .unsubscribe(k, channel)
            default: return sub
            }
        }
        if MaintenanceEvent.isMaintenancePush(frame, info.valueOffset) { return .maintenance }
        return .other
    }

    /// Whether a `pmessage` push is on a channel starting with `prefix` (another session's
    /// subscription-move marker, which a pattern may match). Other messages: false, at once.
    static func patternMessageChannelHasPrefix(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame, _ prefix: StaticString) -> Bool {
        var i = info.valueOffset
        guard readLine(frame, &i) != nil, let kind = readString(frame, &i), kind.count == 8,
              lower(frame[kind.lowerBound]) == UInt8(ascii: "p"), readString(frame, &i) != nil,
              let name = readString(frame, &i), name.count >= prefix.utf8CodeUnitCount else { return false }
        let p = prefix.utf8Start
        for k in 0..<prefix.utf8CodeUnitCount where frame[name.lowerBound + k] != p[k] { return false }
        return true
    }

    /// Whether a `message`, `pmessage` or `smessage` push is on `channel`.
    static func messageChannelIs(_ frame: UnsafeRawBufferPointer, _ info: ReplyFrame, _ channel: [UInt8]) -> Bool {
        var i = info.valueOffset
        guard readLine(frame, &i) != nil, let kind = readString(frame, &i) else { return false }
        if kind.count == 8 && lower(frame[kind.lowerBound]) == UInt8(ascii: "p") {
            guard readString(frame, &i) != nil else { return false }   // the pattern
        }
        guard let name = readString(frame, &i), name.count == channel.count else { return false }
        for (k, c) in channel.enumerated() where frame[name.lowerBound + k] != c { return false }
        return true
    }

    private static func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c + 32 : c }

    /// Reads one header line starting at `i`; returns its bytes after the type byte.
    private static func readLine(_ f: UnsafeRawBufferPointer, _ i: inout Int) -> Range<Int>? {
        let start = i
        while i + 1 < f.count {
            if f[i] == 13 && f[i + 1] == 10 { let r = (start + 1)..<i; i += 2; return r }
            i += 1
        }
        return nil
    }

    /// Reads a `+simple` or `$bulk` string element's byte range; nil for null or other types.
    private static func readString(_ f: UnsafeRawBufferPointer, _ i: inout Int) -> Range<Int>? {
        guard i < f.count else { return nil }
        let t = f[i]
        guard let line = readLine(f, &i) else { return nil }
        if t == UInt8(ascii: "+") { return line }
        if t == UInt8(ascii: "$") {
            var n = 0
            for k in line { let d = Int(f[k]) - 48; if d < 0 || d > 9 { return nil }; n = n * 10 + d }
            guard i + n <= f.count else { return nil }
            let r = i..<(i + n)
            i += n + 2
            return r
        }
        return nil
    }
}
