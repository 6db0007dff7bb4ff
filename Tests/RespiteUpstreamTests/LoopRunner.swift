// Runs a test's loop until a condition holds, bounded in time.

import EventLoop

/// Runs `loop` until `done()` holds or `ms` pass; whether `done()` held.
func runLoop(_ loop: Loop, until done: @escaping () -> Bool, withinMs ms: Int64 = 5000) -> Bool {
    let check = LoopCheck(loop: loop, done: done, deadline: monotonicMs() + ms)
    let timer = loop.timer(persist: true, loopCheckTick, Unmanaged.passUnretained(check).toOpaque())
    timer.add(timeoutMs: 5)
    if !done() { withExtendedLifetime(check) { loop.run() } }
    timer.free()
    return done()
}

final class LoopCheck {
    let loop: Loop
    let done: () -> Bool
    let deadline: Int64
    init(loop: Loop, done: @escaping () -> Bool, deadline: Int64) {
        self.loop = loop; self.done = done; self.deadline = deadline
    }
}

let loopCheckTick: EventCallback = { _, _, ctx in
    let c = Unmanaged<LoopCheck>.fromOpaque(ctx!).takeUnretainedValue()
    if c.done() || monotonicMs() >= c.deadline { c.loop.stop() }
}

