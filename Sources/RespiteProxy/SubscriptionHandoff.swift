// SubscriptionHandoff: moving a subscriber's channels, patterns and shard channels from the
// upstream connection being retired (`old`) to a new one (`new`) so that the client hears every
// message once, in order — a pure state machine; Session+SubscriptionMove.swift acts on its
// decisions.
//
// Both connections are subscribed for a while, so a message published in that overlap reaches
// both. To find the seam, both also subscribe to a private marker channel, and once both are
// subscribed one marker message is published: the server puts it at the same place in both
// streams. The client hears `old` up to its marker and `new` after its marker; what `new` got
// before its marker, `old` delivered. When the seam cannot be found — a marker subscription is
// refused, the marker does not reach both, the wait outlasts its deadline or the held messages
// their bound — `new` takes over once it holds every subscription of the client, with
// everything it heard: a message may then repeat, none is lost. Only when `old` ends before
// `new` is subscribed can messages published in between be lost (nobody was listening).

struct SubscriptionHandoff {
    enum Side { case old, new }

    /// What to do with the frame an event came with.
    enum FrameDecision: Equatable {
        case deliver
        case drop
        /// Keep a copy: `new` heard it before `old` reached the seam.
        case hold
    }

    /// What the shell must do next, besides the frame.
    enum Step: Equatable {
        case none
        /// Both sides are subscribed to the marker: publish it (on `new`).
        case publishMarker
        /// `new` is the client's connection from now on; close `old` and deliver `held` first.
        /// `exact` is false when the seam was not found (a message may repeat).
        case switchOver(held: [[UInt8]], exact: Bool)
        /// Nothing more to wait for: the handoff is over.
        case finished
    }

    enum Phase: Equatable {
        /// Subscribing `new` (and `old` to the marker), then waiting for the marker on `old`.
        case seeking
        /// No seam: waiting only for `new` to hold every subscription of the client.
        case givingUp
        /// `old` reached the seam and is gone; `new`'s messages up to its marker are dropped.
        case skippingToMarker
        case done
    }

    let marker: [UInt8]
    private(set) var phase = Phase.seeking
    /// Confirmations still owed by `new` for the client's own subscriptions.
    private(set) var newClientLeft: Int
    private(set) var newMarkerConfirmed = false
    private(set) var oldConfirmed = false
    private(set) var published = false
    private(set) var newMarkerSeen = false
    /// `new`'s messages held while `old` still speaks: before its marker (delivered only if the
    /// seam is never found), and after it.
    private(set) var heldBefore: [[UInt8]] = []
    private(set) var heldAfter: [[UInt8]] = []
    private(set) var heldBytes = 0
    /// Held bytes past which the handoff stops looking for the seam.
    let heldLimit: Int

    /// `newSubscriptions`: the channels, patterns and shard channels `new` subscribes to, not
    /// counting the marker.
    init(marker: [UInt8], newSubscriptions: Int, heldLimit: Int) {
        self.marker = marker
        self.newClientLeft = newSubscriptions
        self.heldLimit = heldLimit
    }

    /// A subscription confirmation (swallowed by the caller): of the marker, or (on `new`) of one
    /// of the client's subscriptions.
    mutating func confirmed(_ side: Side, marker isMarker: Bool) -> Step {
        switch phase {
        case .skippingToMarker, .done:
            return .none
        case .seeking, .givingUp:
            break
        }
        switch side {
        case .old: oldConfirmed = true
        case .new: if isMarker { newMarkerConfirmed = true } else { newClientLeft -= 1 }
        }
        if phase == .givingUp {
            guard newClientLeft <= 0 else { return .none }
            phase = .done
            return .switchOver(held: takeHeld(before: true), exact: false)
        }
        if oldConfirmed && newMarkerConfirmed && newClientLeft <= 0 && !published {
            published = true
            return .publishMarker
        }
        return .none
    }

    /// A message (`message`, `pmessage` or `smessage`) on `side`; `isMarker` when its channel is
    /// the marker. A held frame is copied by the caller and counted with `bytes`. The caller acts
    /// on the step before the frame.
    mutating func message(_ side: Side, isMarker: Bool, bytes: Int) -> (FrameDecision, Step) {
        switch (phase, side) {
        case (.done, _):
            return (isMarker ? .drop : .deliver, .none)
        case (.seeking, .old):
            guard isMarker else { return (.deliver, .none) }
            // The seam on `old`: everything after it there, `new` has too.
            if newMarkerSeen {
                phase = .done
                return (.drop, .switchOver(held: takeHeld(before: false), exact: true))
            }
            phase = .skippingToMarker
            heldBefore = []
            heldBytes = 0
            return (.drop, .switchOver(held: [], exact: true))
        case (.givingUp, .old):
            return (isMarker ? .drop : .deliver, .none)
        case (.seeking, .new), (.givingUp, .new):
            if isMarker { newMarkerSeen = true; return (.drop, .none) }
            heldBytes += bytes
            if phase == .seeking && heldBytes > heldLimit {
                // Too much waits on a seam that has not come.
                let step = giveUp()
                if case .switchOver = step { return (.deliver, step) }   // this frame follows what was held
                return (.hold, step)
            }
            return (.hold, .none)
        case (.skippingToMarker, .new):
            if isMarker { phase = .done; return (.drop, .finished) }
            return (.drop, .none)
        case (.skippingToMarker, .old):
            return (.drop, .none)
        }
    }

    /// Appends a frame the last event said to hold.
    mutating func hold(_ frame: [UInt8]) {
        if newMarkerSeen { heldAfter.append(frame) } else { heldBefore.append(frame) }
    }

    /// The seam will not be found (a marker subscription refused, the marker not heard by both,
    /// the deadline, the held bound): `new` takes over as soon as it holds every subscription
    /// of the client; `old` speaks until then.
    mutating func giveUp() -> Step {
        switch phase {
        case .seeking:
            guard newClientLeft <= 0 else { phase = .givingUp; return .none }
            phase = .done
            return .switchOver(held: takeHeld(before: true), exact: false)
        case .skippingToMarker:
            // `old` is gone already; what `new` heard before its marker, `old` delivered, and
            // without the marker there is no telling where that ends: deliver from here on.
            phase = .done
            return .finished
        case .givingUp, .done:
            return .none
        }
    }

    /// `old` closed (the server ended it): `new` takes over now with what it holds.
    mutating func oldEnded() -> Step {
        switch phase {
        case .seeking, .givingUp:
            phase = .done
            return .switchOver(held: takeHeld(before: true), exact: false)
        case .skippingToMarker, .done:
            return .none
        }
    }

    private mutating func takeHeld(before: Bool) -> [[UInt8]] {
        let all = before ? heldBefore + heldAfter : heldAfter
        heldBefore = []; heldAfter = []; heldBytes = 0
        return all
    }
}
