// Ring: a growable FIFO of plain values, used for in-flight request queues and reply slots.
// Push at the tail, pop at the head, index from the head; no allocation once warmed up. The
// storage is one block of raw memory owned by the ring, so appends and pops involve no
// uniqueness checks and no optional wrapping; every member is inlinable so users in other
// modules get a specialized copy. A reference type: one owner, on one loop thread.

/// A growable ring buffer (FIFO). Elements should be plain values.
public final class Ring<Element> {
    @usableFromInline var storage: UnsafeMutablePointer<Element>
    @usableFromInline var capacity: Int
    @usableFromInline var head = 0
    @usableFromInline var _count = 0

    @inlinable public init(capacity: Int = 16) {
        var c = 4
        while c < capacity { c <<= 1 }
        self.capacity = c
        storage = .allocate(capacity: c)
    }

    deinit {
        removeAll()
        storage.deallocate()
    }

    @inlinable public var count: Int { _count }
    @inlinable public var isEmpty: Bool { _count == 0 }

    @inlinable @inline(__always) func slot(_ i: Int) -> Int { (head &+ i) & (capacity &- 1) }

    @inlinable public func append(_ e: Element) {
        if _count == capacity { grow() }
        (storage + slot(_count)).initialize(to: e)
        _count &+= 1
    }

    @inlinable @discardableResult public func popFirst() -> Element? {
        guard _count > 0 else { return nil }
        let e = (storage + head).move()
        head = (head &+ 1) & (capacity &- 1)
        _count &-= 1
        return e
    }

    @inlinable public var first: Element? { _count > 0 ? storage[head] : nil }

    @inlinable public subscript(i: Int) -> Element {
        get {
            precondition(i >= 0 && i < _count, "Ring index out of range")
            return storage[slot(i)]
        }
        set {
            precondition(i >= 0 && i < _count, "Ring index out of range")
            storage[slot(i)] = newValue
        }
    }

    @inlinable public func removeAll() {
        while _count > 0 { popFirst() }
        head = 0
    }

    @usableFromInline func grow() {
        let fresh = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
        for i in 0..<_count { (fresh + i).moveInitialize(from: storage + slot(i), count: 1) }
        storage.deallocate()
        storage = fresh
        capacity *= 2
        head = 0
    }
}
