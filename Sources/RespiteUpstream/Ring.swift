// Ring: a growable FIFO of plain values, used for in-flight request queues and reply slots.
// Push at the tail, pop at the head, index from the head; no allocation once warmed up. Every
// member is inlinable so users in other modules get a specialized copy (no generic dispatch,
// no metadata lookups on the request path).

/// A growable ring buffer (FIFO). Elements should be plain values.
public struct Ring<Element> {
    @usableFromInline var storage: [Element?]
    @usableFromInline var head = 0
    @usableFromInline var _count = 0

    @inlinable public init(capacity: Int = 16) {
        storage = Array(repeating: nil, count: max(4, capacity))
    }

    @inlinable public var count: Int { _count }
    @inlinable public var isEmpty: Bool { _count == 0 }

    @inlinable public mutating func append(_ e: Element) {
        if _count == storage.count { grow() }
        var i = head + _count
        if i >= storage.count { i -= storage.count }
        storage[i] = e
        _count += 1
    }

    @inlinable public mutating func popFirst() -> Element? {
        guard _count > 0 else { return nil }
        let e = storage[head]
        storage[head] = nil
        head += 1
        if head == storage.count { head = 0 }
        _count -= 1
        return e
    }

    @inlinable public var first: Element? { _count > 0 ? storage[head] : nil }

    @inlinable public subscript(i: Int) -> Element {
        get { storage[(head + i) % storage.count]! }
        set { storage[(head + i) % storage.count] = newValue }
    }

    @inlinable public mutating func removeAll() {
        while _count > 0 { _ = popFirst() }
        head = 0
    }

    @usableFromInline mutating func grow() {
        var fresh = [Element?](repeating: nil, count: storage.count * 2)
        for i in 0..<_count { fresh[i] = storage[(head + i) % storage.count] }
        storage = fresh
        head = 0
    }
}
