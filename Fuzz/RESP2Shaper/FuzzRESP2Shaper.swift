// Fuzz target: RESP2Shaper. Input the decoder accepts as one RESP3 value (what an upstream
// sends a RESP3 connection), shaped for a RESP2 client with a ReplyShape picked by the option
// bytes, as a plain reply and as an EXEC reply: shaping must succeed, never crash, and write
// exactly one well-formed RESP2 frame (the decoder reads it whole, nothing RESP3 in it, the
// scanner frames it without RESP3), and `needsShaping` must say yes to anything RESP3-only.
// Option bytes 0-1: the shape; byte 2: the EXEC element shapes.

@testable import RESP

func shape(from a: UInt8, _ b: UInt8) -> ReplyShape {
    ReplyShape(topNull: a & 1 == 0 ? .bulk : .array, nestedNull: a & 2 == 0 ? .bulk : .array,
               nullArrayElements: UInt64(b) | (UInt64(b) << 32), flattenPairs: a & 4 != 0,
               mapAsPairs: a & 8 != 0, nullArrayFromArgumentCount: a >> 4)
}

func isRESP2(_ v: RESPValue) -> Bool {
    switch v {
    case .simpleString, .error, .integer, .bulkString: return true
    case .array(let items): return (items ?? []).allSatisfy(isRESP2)
    default: return false
    }
}

/// One complete RESP2 frame and nothing else.
func checkRESP2(_ out: ByteBuffer, _ what: String) {
    let bytes = Array(UnsafeBufferPointer(start: out.readPointer, count: out.readableCount))
    let decoded: (value: RESPValue, consumed: Int)?
    do { decoded = try RESPValue.decode(bytes, maxDepth: 1 << 20) } catch { fuzzFail("\(what): output is not RESP: \(error)") }
    guard let decoded, decoded.consumed == bytes.count else { fuzzFail("\(what): output is not one whole frame") }
    guard isRESP2(decoded.value) else { fuzzFail("\(what): RESP3 left in the output: \(decoded.value)") }
    var scanner = ReplyScanner(limits: .serverReplies)
    let r = bytes.withUnsafeBufferPointer { scanner.scan($0.baseAddress!, $0.count) }
    guard case .frame(let f) = r, f.length == bytes.count, !f.hasRESP3 else { fuzzFail("\(what): scanner says \(r)") }
    guard !RESP2Shaper.needsShaping(UnsafeRawBufferPointer(start: out.readPointer, count: out.readableCount)) else {
        fuzzFail("\(what): shaped output still needs shaping")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP2Shaper(_ p: UnsafeRawPointer, _ n: Int) -> CInt {
    let input = FuzzInput(p, n, headerBytes: 3)
    let data = input.data
    // Deeper than the shaper recurses (512), so its iterative walk is exercised too.
    guard let decoded = try? RESPValue.decode(data, maxDepth: 1 << 16), decoded.consumed > 0 else { return 0 }
    let frame = Array(data[0..<decoded.consumed])
    // Only what the upstream scanner passes reaches the shaper.
    var scanner = ReplyScanner(limits: .serverReplies)
    guard case .frame(let f) = frame.withUnsafeBufferPointer({ scanner.scan($0.baseAddress!, $0.count) }) else { return 0 }
    let s = shape(from: input.options[0], input.options[1]).resolved(argumentCount: Int(input.options[2] & 15))
    frame.withUnsafeBytes { raw in
        if f.hasRESP3 && !RESP2Shaper.needsShaping(raw) { fuzzFail("a RESP3 frame said not to need shaping") }
        _ = RESP2Shaper.needsShaping(raw, shape: s)

        let out = ByteBuffer(capacity: 16)
        out.append("+before\r\n" as StaticString)
        out.consume(9)
        guard RESP2Shaper.shape(frame: raw, shape: s, into: out) else { fuzzFail("shaping refused a decoded frame") }
        checkRESP2(out, "shape")

        let shapes = (0..<Int(input.options[2] >> 4)).map { shape(from: input.options[0] &+ UInt8($0), input.options[1]) }
        let exec = ByteBuffer(capacity: 16)
        guard RESP2Shaper.shapeExec(frame: raw, elementShapes: shapes, into: exec) else { fuzzFail("EXEC shaping refused a decoded frame") }
        checkRESP2(exec, "shapeExec")
    }
    return 0
}
