// FileBudget: how many open files a configuration needs, and how many clients fit when the
// process cannot have that many — Redis's adjustOpenFilesLimit, counting the upstream side too.

/// The open-file arithmetic behind `maxclients` (pure; Main applies it at start).
public enum FileBudget {
    /// Files kept for everything but connections: log, listeners, admin endpoint, DNS
    /// (Redis's CONFIG_MIN_RESERVED_FDS).
    public static let reservedFiles = 32
    /// Databases whose shared connections are counted in the budget (Redis's default 16).
    public static let sharedDatabases = 16

    /// Upstream files that are not a client's own: shared connections (`upstream-pool-size`
    /// per database), short-lived ones (`upstream-control-max`) and the liveness probe.
    public static func upstreamFiles(poolSize: Int, controlMax: Int) -> Int {
        sharedDatabases * poolSize + controlMax + 1
    }

    /// Open files needed for `maxClients` clients, each of which may hold a dedicated upstream
    /// connection (up to `pinnedMax` of them).
    public static func needed(maxClients: Int, pinnedMax: Int, poolSize: Int, controlMax: Int) -> Int {
        reservedFiles + upstreamFiles(poolSize: poolSize, controlMax: controlMax) + maxClients + min(pinnedMax, maxClients)
    }

    /// The most clients that fit in `limit` open files with their dedicated upstream
    /// connections; 0 when not even one does.
    public static func clientsFitting(limit: Int, pinnedMax: Int, poolSize: Int, controlMax: Int) -> Int {
        let budget = limit - reservedFiles - upstreamFiles(poolSize: poolSize, controlMax: controlMax)
        guard budget >= 2 else { return 0 }
        if budget - pinnedMax >= pinnedMax { return budget - pinnedMax }
        return budget / 2
    }
}
