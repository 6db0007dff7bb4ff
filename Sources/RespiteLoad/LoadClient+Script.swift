// LoadClient+Script: what a client sends next, by role. Called whenever a client is ready with
// nothing outstanding; it either queues one batch, pauses, or closes the connection on purpose.
//
//   steady   batches of `pipeline` ops forever: SET PFX:<id>:<n> (value = key), every 4th op
//            INCR PFX:<id>:counter
//   cycling  per connection: PING, SET, GET, INCR, a pipeline of max(pipeline, 3) SETs, close,
//            reconnect at once
//   bursty   connected but idle until the engine's burst signal, then 8 batches back to back
//   churn    2 batches, close, pause 0-29 ms, reconnect

extension LoadClient {
    static let burstBatches = 8
    static let churnBatchesPerConnection = 2

    /// Queues and writes the next batch, or pauses or closes; the client is ready and idle.
    func sendNext() {
        if engine.stopping { finish(); return }
        let now = monotonicUs()
        let k = engine.options.pipeline
        var issued = 0
        switch role {
        case .steady:
            issued = issueBasic(k, now: now)
        case .cycling:
            switch cycleStep {
            case 0: issued = issue(.ping, now: now) ? 1 : 0
            case 1: issued = issueSets(1, now: now)
            case 2: issued = issue(.get(max(0, nextKey - 1)), now: now) ? 1 : 0
            case 3: issued = issue(.incr, now: now) ? 1 : 0
            case 4: issued = issueSets(max(k, 3), now: now)
            default:
                cycleStep = 0
                wantSinceUs = nil
                closePlanned()
                connect()
                return
            }
            cycleStep += 1
        case .bursty:
            if burstBatchesLeft == 0 { wantSinceUs = nil; return }  // idle on an open connection
            burstBatchesLeft -= 1
            issued = issueBasic(k, now: now)
        case .churn:
            if churnBatches >= LoadClient.churnBatchesPerConnection {
                churnBatches = 0
                wantSinceUs = nil
                closePlanned()
                arm(afterMs: Int(nextRandom() % 30))
                return
            }
            churnBatches += 1
            issued = issueBasic(k, now: now)
        }
        if issued == 0 { finish(); return }  // the run's request budget is spent
        commitBatch(count: issued, now: now)
    }

    /// The engine's burst signal: send a burst now, or as soon as the connection is ready.
    func burst() {
        burstBatchesLeft = LoadClient.burstBatches
        if state == .ready && inflight == 0 { sendNext() }
    }

    /// `k` ops of the basic mix: SETs of fresh keys, every fourth op an INCR.
    private func issueBasic(_ k: Int, now: Int64) -> Int {
        var n = 0
        while n < k {
            let op: Op
            if opCounter & 3 == 3 { op = .incr } else { op = .set(nextKey) }
            guard issue(op, now: now) else { break }
            if case .set = op { nextKey += 1 }
            opCounter += 1
            n += 1
        }
        return n
    }

    private func issueSets(_ k: Int, now: Int64) -> Int {
        var n = 0
        while n < k, issue(.set(nextKey), now: now) { nextKey += 1; n += 1 }
        return n
    }

    /// xorshift64; deterministic per client.
    func nextRandom() -> UInt64 {
        rng ^= rng << 13
        rng ^= rng >> 7
        rng ^= rng << 17
        return rng
    }
}
