// UpstreamHandshake: the commands that set an upstream connection up, decided as a pure
// function of what the connection is. UpstreamConnection sends them on every connect (and the
// setup steps again after a busy server); UpstreamProbe sends the first of them at start. So a
// new step, or a transport that changes what the handshake needs, is written once.
//
// Order: `HELLO 3 [AUTH user pass] [SETNAME name]`, `SELECT db` (db ≠ 0), `CLIENT ID`, the
// maintenance opt-in (`CLIENT MAINT_NOTIFICATIONS ON moving-endpoint-type …`), then a client's
// own `AUTH` last. A connection logging in as a client runs Respite's steps as Respite's own
// identity first (as a direct client selects its db and then logs in), so the user need not be
// allowed SELECT, CLIENT ID or the opt-in; only when Respite's identity cannot log in at all
// does the client's login go into HELLO instead.

/// A user and password an upstream connection logs in with.
public struct UpstreamLogin: Equatable, Sendable {
    public var user: String
    public var password: String
    public init(user: String, password: String) { self.user = user; self.password = password }
}

/// What a connection is, as far as its handshake goes.
public struct HandshakeInput: Equatable, Sendable {
    /// Respite's own login (identity 0); nil = no AUTH.
    public var ownLogin: UpstreamLogin?
    /// The connection logs in as a client's identity (not Respite's own).
    public var clientIdentity = false
    /// That client's login, while it is known.
    public var clientLogin: UpstreamLogin?
    /// The upstream refused Respite's own login: a client's login has to go into HELLO.
    public var ownLoginRefused = false
    /// `SETNAME`'s name; empty = none.
    public var clientName = ""
    public var db = 0
    /// The maintenance opt-in's `moving-endpoint-type`; nil = no opt-in (maintenance disabled).
    public var maintenanceEndpointType: String?
    /// `HELLO` only (a one-shot connection, the probe at start).
    public var helloOnly = false

    public init(ownLogin: UpstreamLogin? = nil, clientIdentity: Bool = false, clientLogin: UpstreamLogin? = nil,
                ownLoginRefused: Bool = false, clientName: String = "", db: Int = 0,
                maintenanceEndpointType: String? = nil, helloOnly: Bool = false) {
        self.ownLogin = ownLogin; self.clientIdentity = clientIdentity; self.clientLogin = clientLogin
        self.ownLoginRefused = ownLoginRefused; self.clientName = clientName; self.db = db
        self.maintenanceEndpointType = maintenanceEndpointType; self.helloOnly = helloOnly
    }
}

/// The commands of a handshake, in order, and the steps whose replies are read specially
/// (-1 = not in this handshake). Step 0 is always `HELLO` when `helloStep` is 0.
public struct HandshakePlan: Equatable, Sendable {
    public var commands: [[[UInt8]]] = []
    public var helloStep = -1
    public var clientIDStep = -1
    public var optInStep = -1
    /// A client's own login, sent last.
    public var loginStep = -1
    public init() {}
}

public enum UpstreamHandshake {
    /// The handshake a fresh connection sends.
    public static func plan(_ c: HandshakeInput) -> HandshakePlan {
        var plan = HandshakePlan()
        let loginLast = c.clientIdentity && !c.helloOnly && !c.ownLoginRefused
        let helloLogin = loginLast || !c.clientIdentity ? c.ownLogin : c.clientLogin
        var hello: [[UInt8]] = [bytes("HELLO"), bytes("3")]
        if let login = helloLogin { hello += auth(login) }
        if !c.clientName.isEmpty { hello += [bytes("SETNAME"), bytes(c.clientName)] }
        plan.helloStep = 0
        plan.commands.append(hello)
        if c.helloOnly { return plan }
        if c.db != 0 { plan.commands.append([bytes("SELECT"), bytes(String(c.db))]) }
        plan.clientIDStep = plan.commands.count
        plan.commands.append(clientID)
        if let type = c.maintenanceEndpointType {
            plan.optInStep = plan.commands.count
            plan.commands.append(optIn(type))
        }
        if loginLast, let login = c.clientLogin {
            plan.loginStep = plan.commands.count
            plan.commands.append(auth(login))
        }
        return plan
    }

    /// The setup steps a busy server could not run, sent again on a ready connection: `CLIENT
    /// ID` when the id is still unknown, the opt-in when maintenance wants it and it is not on.
    public static func deferredSetup(needsClientID: Bool, maintenanceEndpointType: String?) -> HandshakePlan {
        var plan = HandshakePlan()
        if needsClientID {
            plan.clientIDStep = plan.commands.count
            plan.commands.append(clientID)
        }
        if let type = maintenanceEndpointType {
            plan.optInStep = plan.commands.count
            plan.commands.append(optIn(type))
        }
        return plan
    }

    static let clientID: [[UInt8]] = [bytes("CLIENT"), bytes("ID")]

    static func optIn(_ endpointType: String) -> [[UInt8]] {
        [bytes("CLIENT"), bytes("MAINT_NOTIFICATIONS"), bytes("ON"), bytes("moving-endpoint-type"), bytes(endpointType)]
    }

    static func auth(_ login: UpstreamLogin) -> [[UInt8]] {
        [bytes("AUTH"), bytes(login.user), bytes(login.password)]
    }

    @inline(__always) static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
}
