// CommandHash: FNV-1a over ASCII-lowercased bytes, the hash behind the command table's
// case-insensitive, allocation-free lookups.

/// 64-bit FNV-1a, folding ASCII upper case to lower case as it goes.
@usableFromInline enum CommandHash {
    @usableFromInline static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    @usableFromInline static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// ASCII lower case of `byte`; other bytes unchanged.
    @inlinable @inline(__always) static func lower(_ byte: UInt8) -> UInt8 {
        byte &- 65 < 26 ? byte | 0x20 : byte
    }

    @inlinable @inline(__always) static func step(_ hash: UInt64, _ byte: UInt8) -> UInt64 {
        (hash ^ UInt64(lower(byte))) &* prime
    }

    @inlinable static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = offsetBasis) -> UInt64 {
        var h = seed
        for byte in bytes { h = step(h, byte) }
        return h
    }
}
