// Fuzz target: the reply path. Arbitrary bytes go to ReplyScanner in random chunk splits and in
// one piece, under RESPLimits picked by the option byte (small ones, the client defaults, or
// RESPLimits.serverReplies): no crash, frames inside the bytes, and the same frames and error
// whatever the split. RESPDecoder (handshake, COMMAND, maintenance pushes) must agree: a value
// it decodes is a frame the scanner accepts with the same length, every shorter prefix of it
// is "incomplete" (never an error), and an integer the scanner frames is decoded exactly.
// Option byte 0: limits; byte 1 seeds the chunk sizes.

@testable import RESP

enum ReplyOutcome: Equatable, CustomStringConvertible {
    case frame(ReplyFrame)
    case error(String)
    case incomplete
    var description: String {
        switch self {
        case .frame(let f): return "frame(len \(f.length) type \(f.type) resp3 \(f.hasRESP3) at \(f.valueOffset))"
        case .error(let e): return "error \(e)"
        case .incomplete: return "incomplete"
        }
    }
}

func limits(for option: UInt8) -> RESPLimits {
    switch option % 4 {
    case 0: return RESPLimits()
    case 1: return RESPLimits.serverReplies
    default:
        var l = RESPLimits()
        l.maxDepth = 1 + Int(option >> 2) % 8
        l.maxElements = 1 + Int(option >> 4) % 16
        l.maxBulkLength = Int(option) * 3
        l.maxInline = 32 + Int(option)
        return l
    }
}

func replyOutcomes(_ bytes: [UInt8], chunks: [Int], limits: RESPLimits) -> [ReplyOutcome] {
    var scanner = ReplyScanner(limits: limits)
    var buffer: [UInt8] = []
    var out: [ReplyOutcome] = []
    var fed = 0
    var chunkIndex = 0
    while true {
        if chunkIndex < chunks.count {
            buffer += bytes[fed..<(fed + chunks[chunkIndex])]
            fed += chunks[chunkIndex]
            chunkIndex += 1
        }
        while !buffer.isEmpty {
            let r = buffer.withUnsafeBufferPointer { scanner.scan($0.baseAddress!, $0.count) }
            guard case .frame(let f) = r else {
                if case .error(let e) = r { out.append(.error(e.message)); return out }
                break
            }
            guard f.length > 0 && f.length <= buffer.count && f.valueOffset >= 0 && f.valueOffset < f.length else {
                fuzzFail("frame \(f) in \(buffer.count) bytes")
            }
            out.append(.frame(f))
            buffer.removeFirst(f.length)
        }
        if chunkIndex >= chunks.count { break }
    }
    if !buffer.isEmpty { out.append(.incomplete) }
    return out
}

func decode(_ b: ArraySlice<UInt8>) -> Result<(value: RESPValue, consumed: Int)?, RESPDecodeError> {
    Array(b).withUnsafeBytes { raw in
        do { return .success(try RESPValue.decode(raw)) } catch let e as RESPDecodeError { return .failure(e) } catch { fuzzFail("\(error)") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReplyScanner(_ p: UnsafeRawPointer, _ n: Int) -> CInt {
    var input = FuzzInput(p, n)
    let data = input.data
    let l = limits(for: input.options[0])
    let split = replyOutcomes(data, chunks: input.chunks(), limits: l)
    let whole = replyOutcomes(data, chunks: data.isEmpty ? [] : [data.count], limits: l)
    guard split == whole else { fuzzFail("split-dependent: \(split) vs in one piece \(whole)") }

    // The decoder against the scanner with the limits upstream replies are read with.
    guard case .success(let decoded?) = decode(data[...]) else { return 0 }
    var scanner = ReplyScanner(limits: .serverReplies)
    let r = data.withUnsafeBufferPointer { scanner.scan($0.baseAddress!, $0.count) }
    guard case .frame(let f) = r, f.length == decoded.consumed else {
        fuzzFail("decoder took \(decoded.consumed) bytes as \(decoded.value), scanner says \(r)")
    }
    var prefixes = Set<Int>()
    if decoded.consumed <= 64 { prefixes = Set(1..<decoded.consumed) } else {
        for _ in 0..<8 { prefixes.insert(1 + input.rng.below(decoded.consumed - 1)) }
    }
    for k in prefixes {
        switch decode(data[0..<k]) {
        case .success(nil): break
        case .success(let v?): fuzzFail("prefix of \(k) bytes decoded as \(v.value) (\(v.consumed) bytes), the whole as \(decoded.consumed)")
        case .failure(let e): fuzzFail("prefix of \(k) of \(decoded.consumed) bytes refused: \(e)")
        }
    }
    guard case .success(let again?) = decode(data[0..<decoded.consumed]), again.value == decoded.value else {
        fuzzFail("the frame alone decodes differently")
    }
    return 0
}

/// A `:` frame the scanner accepts and whose digits are a 64-bit integer must decode to it
/// (`:-9223372036854775808` is one Redis sends: OBJECT FREQ, INCRBY at the bounds).
@_cdecl("LLVMFuzzerInitialize")
public func fuzzReplyScannerInit(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    for v in [Int64.min, Int64.max, 0, -1] {
        guard case .success(let d?) = decode(Array(":\(v)\r\n".utf8)[...]), d.value == .integer(v) else {
            fuzzFail("RESPDecoder cannot read :\(v)")
        }
    }
    return 0
}
