// RESPValue: a decoded RESP2/RESP3 value, for the few frames Respite itself must understand
// (handshake replies, COMMAND, maintenance pushes, local commands). The data path never builds
// these; it forwards byte ranges that the scanner framed.

/// One decoded RESP value. Strings are raw bytes; doubles and big numbers keep their wire text.
public indirect enum RESPValue: Equatable, Sendable {
    case simpleString([UInt8])
    case error([UInt8])
    case integer(Int64)
    /// A bulk string; `nil` is RESP2's null bulk (`$-1`).
    case bulkString([UInt8]?)
    /// An array; `nil` is RESP2's null array (`*-1`).
    case array([RESPValue]?)
    /// RESP3 null (`_`).
    case null
    /// RESP3 double, as its wire text (`1.5`, `inf`, `-inf`, `nan`).
    case double([UInt8])
    case boolean(Bool)
    /// RESP3 big number, as its wire text.
    case bigNumber([UInt8])
    /// RESP3 verbatim string: a three-byte format (`txt`, `mkd`) and the text.
    case verbatim(format: [UInt8], text: [UInt8])
    case bulkError([UInt8])
    /// RESP3 map, as alternating keys and values.
    case map([RESPValue])
    case set([RESPValue])
    /// RESP3 push (`>`), e.g. pub/sub messages and maintenance notifications.
    case push([RESPValue])
}
