// ReplySlot: the values that keep a client's replies in request order — one slot per request
// (ReplyOrder.slots), the extras a few slots carry (EXEC's shapes and rewrites, a tracking
// change, an override), keyed by the slot's sequence number.

import RESP
import RespiteCommands

/// One reply owed to the client, in request order. A plain value (nothing to reference-count
/// as it moves through the ring); what only a few slots need lives in `Session.slotExtras`.
struct ReplySlot {
    var seq: UInt32
    /// Sub/unsub confirmations (pushes) still expected for this request.
    var pushesExpected: Int32 = 0
    /// How to render the reply for a RESP2 client.
    var shape: ReplyShape
    /// The reply's bytes are ready, in `slotExtras[seq].local` (a local reply, or an upstream
    /// reply that overtook an older one); false while the upstream owes it.
    var ready = false
    /// The client asked for no reply (CLIENT REPLY OFF / SKIP).
    var suppress = false
    /// `slotExtras` holds an entry for this slot.
    var hasExtras = false

    init(seq: UInt32, shape: ReplyShape, suppress: Bool, pushesExpected: Int32 = 0) {
        self.seq = seq; self.shape = shape; self.suppress = suppress; self.pushesExpected = pushesExpected
    }
}

/// What a few reply slots carry besides the plain fields, keyed by slot sequence number.
struct SlotExtras {
    /// Reply bytes ready to go out.
    var local: [UInt8]?
    /// For EXEC: the shapes of the queued commands.
    var execShapes: [ReplyShape]?
    /// For EXEC: the client name a queued CLIENT SETNAME sets once the transaction runs.
    var nameOnSuccess: [UInt8]?
    /// For EXEC: the database a queued SELECT moves the client to once the transaction runs.
    var dbOnSuccess: Int?
    /// The reply carries upstream secrets to mask (run with Respite's own identity).
    var secretMask: SecretMask?
    /// For EXEC: the queued commands whose replies Respite rewrites.
    var execRewrites: [ExecRewrite]?
    /// For CLIENT TRACKING: the tracking state that holds once the server accepts it.
    var tracking: TrackingChange?
    /// For CLIENT GETREDIR / TRACKINGINFO: the server's id of the redirect target, shown as
    /// the Respite client id it belongs to.
    var redirectRewrite: RedirectIDs?
    /// Bytes that answer the client instead of the server's reply (an aborted EXEC).
    var replyOverride: [UInt8]?
    /// A request split by node: the fragments still owed and how they merge (ReplyOrder).
    var fragments: Fragments?
}

/// A queued command of a transaction whose reply (element `index` of EXEC's) Respite rewrites:
/// secrets masked, or the answer Respite gives for its own client (CLIENT ID, GETNAME).
struct ExecRewrite {
    var index: Int
    var mask: SecretMask?
    var value: RESPValue?
}

/// A redirect target named both ways: the server's id of its connection, and its Respite id.
struct RedirectIDs {
    var server: Int64
    var client: Int64
}

/// The tracking state a CLIENT TRACKING request sets when it succeeds.
struct TrackingChange {
    var on: Bool
    var redirect: RedirectIDs?
}
