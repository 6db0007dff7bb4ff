// ReplyShape: what a RESP2 client expects from one command's reply beyond the mechanical
// RESP3 → RESP2 type mapping. Most commands need nothing (`ReplyShape.plain`); a few render
// nulls as `*-1`, flatten `[member, score]` pairs, or turn a map into an array of pairs.
// `RespiteCommands.ReplyShapes` holds the per-command values; `RESP2Shaper` applies them.

/// Per-command rules for rendering a RESP3 reply to a RESP2 client. Plain data, cheap to copy.
///
/// "Top level" is the reply itself (or, inside `EXEC`, the reply of one queued command);
/// "nested" is everything below it.
public struct ReplyShape: Sendable, Equatable {
    /// How a RESP3 null (`_`) is written in RESP2.
    public enum Null: UInt8, Sendable {
        /// `$-1` (Redis's `addReplyNull`).
        case bulk
        /// `*-1` (Redis's `addReplyNullArray`).
        case array
    }

    /// Rendering of a top-level null (BLPOP's timeout is `*-1`, GET's miss is `$-1`).
    public var topNull: Null
    /// Rendering of a null anywhere below the top level (GEOPOS's missing member is `*-1`).
    public var nestedNull: Null
    /// Bit `i` set: a null that is element `i` (< 64) of a top-level array renders as `*-1`,
    /// whatever `nestedNull` says (XPENDING's summary ends with a null consumer list).
    public var nullArrayElements: UInt64
    /// A top-level array's elements that are arrays are spliced into it: RESP3's
    /// `[[member, score], …]` becomes RESP2's `[member, score, …]` (ZRANGE … WITHSCORES).
    public var flattenPairs: Bool
    /// A top-level map becomes an array of two-element arrays instead of a flat array (XREAD).
    public var mapAsPairs: Bool
    /// When non-zero, a request with at least this many arguments (name included) has a
    /// top-level null of `*-1` (LPOP key count); `resolved(argumentCount:)` applies it.
    public var nullArrayFromArgumentCount: UInt8

    public init(
        topNull: Null = .bulk, nestedNull: Null = .bulk, nullArrayElements: UInt64 = 0,
        flattenPairs: Bool = false, mapAsPairs: Bool = false, nullArrayFromArgumentCount: UInt8 = 0
    ) {
        self.topNull = topNull
        self.nestedNull = nestedNull
        self.nullArrayElements = nullArrayElements
        self.flattenPairs = flattenPairs
        self.mapAsPairs = mapAsPairs
        self.nullArrayFromArgumentCount = nullArrayFromArgumentCount
    }

    /// The mechanical mapping alone: nulls are `$-1`, maps flatten, nothing else changes.
    public static let plain = ReplyShape()

    /// This shape for a request with `argumentCount` arguments (the command name included).
    @inlinable
    public func resolved(argumentCount: Int) -> ReplyShape {
        guard nullArrayFromArgumentCount != 0, argumentCount >= Int(nullArrayFromArgumentCount) else {
            return self
        }
        var s = self
        s.topNull = .array
        s.nullArrayFromArgumentCount = 0
        return s
    }

    /// True when a reply that holds no RESP3-only type may still differ in RESP2 (pair
    /// flattening applies to plain arrays of arrays, e.g. HRANDFIELD … WITHVALUES).
    @inlinable public var restructuresArrays: Bool { flattenPairs }
}
