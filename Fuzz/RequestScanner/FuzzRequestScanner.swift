// Fuzz target: the request path. Arbitrary bytes, fed to RequestScanner in random chunk splits
// the way Session feeds it (inline lines split with InlineSplitter, re-encoded and re-scanned),
// must never crash or read out of bounds, and must give exactly what Redis 7.0's parser gives
// for the same bytes (RedisRequestModel): a frame the scanner passes goes to a shared upstream
// connection, where one Redis refuses would close it under every other client.
// Option byte 0: bit 0 = not authenticated. Byte 1 seeds the chunk sizes.

@testable import RESP

/// The scanner's outcomes for `bytes` fed in `chunks`, as Session drives it.
func scannerOutcomes(_ bytes: [UInt8], chunks: [Int], authenticated: Bool) -> [RequestOutcome] {
    var scanner = RequestScanner()
    scanner.authenticated = authenticated
    var buffer: [UInt8] = []
    var out: [RequestOutcome] = []
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
            var consumed = 0
            switch r {
            case .incomplete:
                break
            case .frame(let len):
                guard len > 0 && len <= buffer.count else { fuzzFail("frame length \(len) of \(buffer.count) bytes") }
                let args: [[UInt8]] = scanner.args.map { a in
                    let s = Int(a.offset), l = Int(a.length)
                    guard s >= 0 && l >= 0 && s + l <= len else { fuzzFail("argument \(s)+\(l) outside a \(len)-byte frame") }
                    return Array(buffer[s..<(s + l)])
                }
                out.append(.command(args))
                consumed = len
            case .inline(let len):
                guard len > 0 && len <= buffer.count && buffer[len - 1] == 10 else { fuzzFail("inline length \(len)") }
                var end = len - 1
                if end > 0 && buffer[end - 1] == 13 { end -= 1 }
                guard let parts = buffer.withUnsafeBytes({ InlineSplitter.split(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }) else {
                    out.append(.error(Array("Protocol error: unbalanced quotes in request".utf8)))
                    return out
                }
                // Session re-encodes the parts and scans that copy: it must be the same command.
                let scratch = ByteBuffer(capacity: 64)
                InlineSplitter.encode(parts, into: scratch)
                var sub = RequestScanner(limits: RESPLimits())
                let again = sub.scan(scratch.readPointer, scratch.readableCount)
                if parts.isEmpty {
                    guard case .empty = again else { fuzzFail("no arguments re-scan as \(again)") }
                    out.append(.empty)
                } else {
                    guard case .frame(let flen) = again, flen == scratch.readableCount else { fuzzFail("inline re-scan: \(again)") }
                    let p = scratch.readPointer
                    let args = sub.args.map { Array(UnsafeBufferPointer(start: p + Int($0.offset), count: Int($0.length))) }
                    guard args == parts else { fuzzFail("inline re-scan changed the arguments") }
                    out.append(.command(parts))
                }
                consumed = len
            case .empty(let len):
                guard len > 0 && len <= buffer.count else { fuzzFail("empty length \(len)") }
                out.append(.empty)
                consumed = len
            case .error(let e):
                out.append(.error(e.wire))
                return out
            }
            if consumed == 0 { break }
            buffer.removeFirst(consumed)
        }
        if chunkIndex >= chunks.count { break }
    }
    if !buffer.isEmpty { out.append(.incomplete) }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestScanner(_ p: UnsafeRawPointer, _ n: Int) -> CInt {
    var input = FuzzInput(p, n)
    // The model reads the whole buffer; Redis's "too big" checks depend on how much has arrived,
    // so they agree only below PROTO_INLINE_MAX_SIZE.
    guard input.data.count < RedisRequestModel.inlineMax else { return 0 }
    let authenticated = input.options[0] & 1 == 0
    let got = scannerOutcomes(input.data, chunks: input.chunks(), authenticated: authenticated)
    let whole = scannerOutcomes(input.data, chunks: input.data.isEmpty ? [] : [input.data.count], authenticated: authenticated)
    let want = RedisRequestModel.process(input.data, authenticated: authenticated)
    guard got == whole else { fuzzFail("split-dependent: \(got) vs in one piece \(whole)") }
    guard got == want else { fuzzFail("scanner \(got) but Redis \(want)") }
    return 0
}
