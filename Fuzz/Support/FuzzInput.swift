// FuzzInput: turns one libFuzzer input into a deterministic choice of options and chunk sizes,
// so a reproducer replays exactly, and helpers every target shares.

/// A small deterministic generator (SplitMix64) seeded from the input's first bytes.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}

/// The input split into a header of `headerBytes` option bytes and the payload.
struct FuzzInput {
    let options: [UInt8]
    let data: [UInt8]
    var rng: SplitMix

    init(_ p: UnsafeRawPointer, _ n: Int, headerBytes: Int = 2) {
        let all = Array(UnsafeRawBufferPointer(start: p, count: n))
        let h = min(headerBytes, all.count)
        options = Array(all[0..<h]) + [UInt8](repeating: 0, count: headerBytes - h)
        data = Array(all[h...])
        var seed: UInt64 = 0x5EED
        for b in options { seed = seed &* 31 &+ UInt64(b) }
        rng = SplitMix(state: seed)
    }

    /// Chunk sizes that cover `data`: mostly small (1-7 bytes), sometimes large.
    mutating func chunks() -> [Int] {
        var out: [Int] = []
        var left = data.count
        while left > 0 {
            let k = rng.below(4) == 0 ? 1 + rng.below(max(1, left)) : 1 + rng.below(7)
            let c = min(k, left)
            out.append(c)
            left -= c
        }
        return out
    }
}

/// Stops the run with a message libFuzzer reports as a crash (and keeps the reproducer).
func fuzzFail(_ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError(message(), file: file, line: line)
}
