// Ring: a growable FIFO of plain values, used for in-flight request queues and reply slots.
// Push at the tail, pop at the head, index from the head; no allocation once warmed up.

/// A growable ring buffer (FIFO). Elements should be plain values.
public struct Ring<Element> {
    @usableFromInline var storage: [Element?]
    @usableFromInline var head = 0
    public private(set) var count = 0

    public init(capacity: Int = 16) {
        storage = Array(repeating: nil, count: max(4, capacity))
    }

    @inlinable public var isEmpty: Bool { count == 0 }

    public mutating func append(_ e: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = e
        count += 1
    }

    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let e = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return e
    }

    public var first: Element? { count > 0 ? storage[head] : nil }

    public subscript(i: Int) -> Element {
        get { storage[(head + i) % storage.count]! }
        set { storage[(head + i) % storage.count] = newValue }
    }

    public mutating func removeAll() {
        while count > 0 { _ = popFirst() }
        head = 0
    }

    private mutating func grow() {
        var fresh = [Element?](repeating: nil, count: storage.count * 2)
        for i in 0..<count { fresh[i] = storage[(head + i) % storage.count] }
        storage = fresh
        head = 0
    }
}
