// ReplyOrder: the replies one client is owed, in request order — a ring of slots (ReplySlot),
// one per request, and the extras a few slots carry. A reply that arrives for an older slot
// goes out at once; one that overtakes an older slot waits in its own; a local reply waits
// behind every remote one before it. A slot may expect several fragments (a request split by
// node), merged by its plan (ReplyMerge) once the last has arrived. Pure bookkeeping over bytes:
// the session writes what `drainReady` hands it and flushes once per loop pass.

import RESP
import RespiteCommands
import RespiteUpstream

final class ReplyOrder {
    let slots = Ring<ReplySlot>(capacity: 32)
    var extras: [UInt32: SlotExtras] = [:]
    var nextSeq: UInt32 = 0

    /// Takes the next slot for a request routed upstream.
    func take(shape: ReplyShape, suppress: Bool, pushes: Int32 = 0, execShapes: [ReplyShape]? = nil) -> UInt32 {
        let seq = nextSeq
        nextSeq &+= 1
        var slot = ReplySlot(seq: seq, shape: shape, suppress: suppress, pushesExpected: pushes)
        if let execShapes {
            slot.hasExtras = true
            extras[seq] = SlotExtras(execShapes: execShapes)
        }
        slots.append(slot)
        return seq
    }

    /// A reply made here. With no slot owed before it, it goes out now (true: the caller writes
    /// it); otherwise it waits in a ready slot of its own.
    func addReady(_ bytes: [UInt8], suppress: Bool) -> Bool {
        if slots.isEmpty {
            nextSeq &+= 1
            return true
        }
        var slot = ReplySlot(seq: nextSeq, shape: .plain, suppress: suppress)
        slot.ready = true
        slot.hasExtras = true
        extras[nextSeq] = SlotExtras(local: bytes)
        slots.append(slot)
        nextSeq &+= 1
        return false
    }

    /// Hands every ready slot at the head to `write`, oldest first, and drops it.
    @inline(__always)
    func drainReady(_ write: ([UInt8]) -> Void) {
        while let head = slots.first, head.ready {
            if !head.suppress, let bytes = extras[head.seq]?.local { write(bytes) }
            pop()
        }
    }

    /// Drops the oldest slot, and whatever it kept beside the ring.
    func pop() {
        guard let head = slots.popFirst() else { return }
        if head.hasExtras { extras[head.seq] = nil }
    }

    /// The extras of the slot at `i`, created on first use.
    func setExtras(at i: Int, _ update: (inout SlotExtras) -> Void) {
        let seq = slots[i].seq
        slots[i].hasExtras = true
        update(&extras[seq, default: SlotExtras()])
    }

    /// Index of the slot with sequence number `seq`.
    func index(of seq: UInt32) -> Int? {
        var i = 0
        while i < slots.count {
            if slots[i].seq == seq { return i }
            i += 1
        }
        return nil
    }

    /// Marks slot `i` ready with `bytes` (a reply that overtook an older slot, or a merged one).
    func fill(at i: Int, _ bytes: [UInt8]) {
        setExtras(at: i) { $0.local = bytes }
        slots[i].ready = true
    }

    // MARK: Fragments

    /// Slot `seq` will be answered by `count` fragments, merged by `plan`.
    func expectFragments(_ seq: UInt32, count: Int, plan: ReplyMerge) {
        guard let i = index(of: seq) else { return }
        setExtras(at: i) { $0.fragments = Fragments(plan: plan, parts: Array(repeating: nil, count: count)) }
    }

    /// Fragment `part` of slot `seq` arrived. When it was the last, the slot is ready with the
    /// merged reply (true); false while others are owed (or for an unknown slot or part).
    func addFragment(_ seq: UInt32, part: Int, _ bytes: [UInt8]) -> Bool {
        guard let i = index(of: seq), !slots[i].ready, var f = extras[seq]?.fragments,
              part >= 0, part < f.parts.count, f.parts[part] == nil else { return false }
        f.parts[part] = bytes
        f.left -= 1
        if f.left > 0 {
            extras[seq]!.fragments = f
            return false
        }
        extras[seq]!.fragments = nil
        fill(at: i, f.plan.merge(f.parts.map { $0! }))
        return true
    }

    /// Forgets every slot (the client closed).
    func clear() {
        while !slots.isEmpty { _ = slots.popFirst() }
        extras = [:]
    }
}

/// The fragments a split request is still owed, and how they merge.
struct Fragments {
    var plan: ReplyMerge
    var parts: [[UInt8]?]
    var left: Int

    init(plan: ReplyMerge, parts: [[UInt8]?]) {
        self.plan = plan; self.parts = parts; self.left = parts.count
    }
}
