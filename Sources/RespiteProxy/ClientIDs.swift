// ClientIDs: where client ids come from. Ids are unique in the process, not per loop: every
// Proxy (one per event loop) takes them from the same atomic counter, so CLIENT ID, CLIENT
// LIST's `id=`, CLIENT KILL ID, CLIENT UNBLOCK and TRACKING REDIRECT name one client whatever
// loop serves it. Like Redis's, they start at 1 and only grow (never reused). Taking one is a
// single atomic add per accepted client; nothing else in the process is shared and mutable.

import Synchronization

/// A source of client ids: 1, 2, 3, … in the order they are taken, safe from any thread.
public final class ClientIDSource: Sendable {
    private let next: Atomic<Int64>

    /// A separate source (tests); Respite itself uses `process`.
    public init(first: Int64 = 1) { next = Atomic(first) }

    /// The next id: larger than every id taken before it, from any thread.
    @inline(__always) public func take() -> Int64 {
        next.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// The one source of the process: every Proxy takes its clients' ids here.
    public static let process = ClientIDSource()
}
