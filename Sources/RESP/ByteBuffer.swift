// ByteBuffer: the growable, contiguous byte store behind every socket Respite owns.
//
// Readable bytes are `[readIndex, writeIndex)`. Sockets read straight into the free tail
// (`reserve` + `commit`), the scanner frames in place over `readable`, and consumers drop whole
// frames with `consume`. Memory is one malloc'd block, so pointers into it stay valid until the
// next call that may grow or compact it. Owned by one connection, on one loop thread.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A contiguous byte buffer with separate read and write indexes. Not thread-safe.
public final class ByteBuffer {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public private(set) var capacity: Int
    public var readIndex: Int = 0
    public var writeIndex: Int = 0

    public init(capacity: Int = 16 * 1024) {
        self.capacity = max(capacity, 64)
        self.base = ByteBuffer.allocate(self.capacity)
    }

    deinit { free(base) }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        guard let p = malloc(n) else { fatalError("ByteBuffer: out of memory allocating \(n) bytes") }
        return p.assumingMemoryBound(to: UInt8.self)
    }

    /// Bytes ready to be read.
    @inlinable public var readableCount: Int { writeIndex - readIndex }
    @inlinable public var isEmpty: Bool { writeIndex == readIndex }
    /// Pointer to the first readable byte.
    @inlinable public var readPointer: UnsafeMutablePointer<UInt8> { base + readIndex }
    /// Pointer to the first free byte.
    @inlinable public var writePointer: UnsafeMutablePointer<UInt8> { base + writeIndex }
    @inlinable public var writableCount: Int { capacity - writeIndex }

    /// Makes at least `n` bytes writable at `writePointer`, compacting before it grows.
    public func reserve(_ n: Int) {
        if capacity - writeIndex >= n { return }
        if readIndex > 0 {
            compact()
            if capacity - writeIndex >= n { return }
        }
        var newCapacity = capacity
        while newCapacity - writeIndex < n { newCapacity = newCapacity &* 2 }
        // realloc: a large block grows in place by remapping its pages (glibc's mremap), so a
        // buffer of hundreds of megabytes is never resident twice while it grows.
        guard let grown = realloc(base, newCapacity) else { fatalError("ByteBuffer: out of memory growing to \(newCapacity) bytes") }
        base = grown.assumingMemoryBound(to: UInt8.self)
        capacity = newCapacity
    }

    /// Moves readable bytes to the start of the block. Invalidates pointers into the buffer.
    public func compact() {
        let n = readableCount
        if readIndex == 0 { return }
        if n > 0 { memmove(base, base + readIndex, n) }
        readIndex = 0
        writeIndex = n
    }

    /// Shrinks an idle, oversized buffer back to `capacity` (called when a large value has gone).
    public func shrinkIfIdle(to target: Int) {
        guard readableCount == 0, capacity > target else { return }
        free(base)
        capacity = target
        base = ByteBuffer.allocate(target)
        readIndex = 0
        writeIndex = 0
    }

    /// Marks `n` bytes written at `writePointer` as readable.
    @inlinable public func commit(_ n: Int) { writeIndex &+= n }

    /// Drops `n` readable bytes; resets indexes when empty so the block is reused from the start.
    @inlinable public func consume(_ n: Int) {
        readIndex &+= n
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    public func clear() { readIndex = 0; writeIndex = 0 }

    public func append(_ bytes: UnsafeRawPointer, count: Int) {
        if count == 0 { return }
        reserve(count)
        (base + writeIndex).update(from: bytes.assumingMemoryBound(to: UInt8.self), count: count)
        writeIndex &+= count
    }

    public func append(_ buffer: UnsafeRawBufferPointer) {
        if let p = buffer.baseAddress { append(p, count: buffer.count) }
    }

    public func append(_ byte: UInt8) {
        reserve(1)
        base[writeIndex] = byte
        writeIndex &+= 1
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func append(_ s: StaticString) {
        append(UnsafeRawPointer(s.utf8Start), count: s.utf8CodeUnitCount)
    }

    public func append(_ s: String) {
        var s = s
        s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends the decimal form of `v` without going through String.
    public func appendDecimal(_ v: Int) {
        reserve(21)
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var n = v.magnitude
        var len = 0
        withUnsafeMutableBytes(of: &tmp) { raw in
            let t = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            repeat {
                t[len] = UInt8(truncatingIfNeeded: n % 10) &+ 48
                n /= 10
                len += 1
            } while n > 0
            if v < 0 { base[writeIndex] = 45; writeIndex &+= 1 }
            var i = len - 1
            while i >= 0 { base[writeIndex] = t[i]; writeIndex &+= 1; i -= 1 }
        }
    }

    /// Copies the readable bytes out (tests and cold paths only).
    public func readableBytes() -> [UInt8] {
        Array(UnsafeBufferPointer(start: readPointer, count: readableCount))
    }
}
