// Router: where one request goes, decided from a snapshot of its session and what the command
// table says of the command — a pure function with no sockets, unit-tested on its own
// (RouterTests). Session+Routing.swift takes the snapshot, asks, and carries the decision out.
//
// The decisions keep Redis's order of checks: a login or a subscription move in progress holds
// everything; then authentication; then a transaction whose MULTI failed; then MULTI's queueing;
// then RESP2's subscribed context; then the command's route. Standalone upstreams have one node,
// so "shared" needs no node yet; the cluster router adds the node (and fan-out) here.

import RespiteCommands

/// What the router sees of a session when a request arrives.
struct RouteState: Equatable {
    var proto = 2
    var authenticated = true
    /// A pass-through login is being checked upstream.
    var loginPending = false
    /// Subscriptions are moving to a new connection (Session+SubscriptionMove.swift).
    var subscriptionsMoving = false
    /// The open transaction could not start upstream.
    var transactionFailed = false
    var inMulti = false
    var subscribed = false
    /// A SUBSCRIBE-like request is still being confirmed.
    var subscriptionPending = false
    var hasPinned = false
    /// The pinned connection holds (or is getting) subscriptions.
    var pinnedForSubscriptions = false
    var sharedInFlight = 0
    /// The client runs under Respite's own upstream identity (not a pass-through login).
    var ownIdentity = true
    /// A `CLIENT PAUSE` seen passing through still holds writes.
    var writesPaused = false
}

/// What the command table says of the request's command (and, for a `blockingWithArg` route,
/// whether this call's syntax blocks).
struct RouteCommand: Equatable {
    var route: CommandRoute = CommandTable.unknownRoute
    var kind = CommandKind.other
    var interruptsBusy = false
    var runsScript = false
    var heldByWritePause = false
    var hasSecrets = false
    var blocksNow = false
    /// The request names something after the command (channels for UNSUBSCRIBE).
    var hasArguments = false
}

/// Where a request goes.
enum RouteDecision: Equatable {
    /// Not now: it waits for replies still owed (or a login, or a subscription move).
    case wait
    case noAuth
    /// EXEC or DISCARD ends a transaction that never started upstream.
    case endFailedTransaction(exec: Bool)
    /// Any other command of a transaction that never started upstream.
    case refuseInFailedTransaction
    /// Queued (or controlled) in the open transaction.
    case queueInMulti
    /// RESP2 subscribers: PING gets `*2 pong …`, other commands Redis's context error.
    case pingWhileSubscribed
    case refuseWhileSubscribed
    case local
    /// Shared-route commands that need something else than the shared connection.
    case masked
    case interrupt
    /// On the session's pinned connection (it has one for its state).
    case pinned
    /// On a connection leased for this request (a script, a write held by a pause).
    case own
    case shared
    case blocking
    /// MULTI, WATCH, UNWATCH, EXEC, DISCARD outside a transaction's queueing.
    case beginMulti
    case watch
    case unwatch
    /// UNWATCH with nothing watched upstream: `+OK` here.
    case unwatchNothing
    /// EXEC or DISCARD on the pinned connection (after a WATCH: Redis answers).
    case endTransaction
    /// EXEC or DISCARD with no MULTI and no pinned connection: Redis's error, here.
    case withoutMulti(exec: Bool)
    case subscribe
    case unsubscribe
    /// UNSUBSCRIBE and friends with no subscription anywhere: answered here as Redis would.
    case unsubscribeNotSubscribed
    case tracking
    case trackingState
    case replication
    case monitor
    case unsupported(String)
}

enum Router {
    static func isAuthExempt(_ kind: CommandKind) -> Bool {
        kind == .auth || kind == .hello || kind == .quit || kind == .reset
    }

    @inline(__always)
    static func decide(_ s: RouteState, _ c: RouteCommand) -> RouteDecision {
        if s.loginPending || s.subscriptionsMoving { return .wait }
        if !s.authenticated && !isAuthExempt(c.kind) { return .noAuth }
        if s.transactionFailed && c.kind != .quit && c.kind != .reset {
            if c.kind == .exec { return .endFailedTransaction(exec: true) }
            if c.kind == .discard { return .endFailedTransaction(exec: false) }
            return .refuseInFailedTransaction
        }
        if s.inMulti { return .queueInMulti }
        if s.proto == 2 {
            let managesSubscriptions: Bool
            switch c.route {
            case .subscribe, .unsubscribe: managesSubscriptions = true
            default: managesSubscriptions = false
            }
            // Whether it runs in the subscribed context depends on whether the SUBSCRIBE ahead
            // of it is accepted.
            if s.subscriptionPending && !managesSubscriptions { return .wait }
            if s.subscribed && !managesSubscriptions {
                if c.kind == .ping { return .pingWhileSubscribed }
                if c.kind != .quit && c.kind != .reset { return .refuseWhileSubscribed }
            }
        }
        switch c.route {
        case .local:
            return .local
        case .shared:
            if c.hasSecrets && s.ownIdentity { return .masked }
            if c.interruptsBusy { return .interrupt }
            if s.hasPinned { return .pinned }
            if c.runsScript || (s.writesPaused && c.heldByWritePause) { return .own }
            return .shared
        case .blockingWithArg:
            if c.blocksNow { return .blocking }
            return s.hasPinned ? .pinned : .shared
        case .blocking:
            return s.sharedInFlight > 0 ? .wait : .blocking
        case .transaction:
            if s.sharedInFlight > 0 { return .wait }
            switch c.kind {
            case .multi: return .beginMulti
            case .watch: return .watch
            case .unwatch: return s.hasPinned ? .unwatch : .unwatchNothing
            default: return s.hasPinned ? .endTransaction : .withoutMulti(exec: c.kind == .exec)
            }
        case .subscribe:
            return s.sharedInFlight > 0 ? .wait : .subscribe
        case .unsubscribe:
            // With no channel named it answers once per subscription: counted exactly only
            // once the subscriptions still being confirmed are.
            if !c.hasArguments && s.subscriptionPending { return .wait }
            return s.hasPinned && s.pinnedForSubscriptions ? .unsubscribe : .unsubscribeNotSubscribed
        case .tracking:
            return .tracking
        case .trackingState:
            return .trackingState
        case .replication:
            return .replication
        case .monitor:
            return s.sharedInFlight > 0 ? .wait : .monitor
        case .unsupported(let reason):
            return .unsupported(reason)
        }
    }
}
