// LocalCommands: the table of the commands Respite answers itself — `CommandKind` → handler —
// and the same per command table, by `CommandID`, so the router dispatches a `.local` request
// with one array read. Every kind the command table routes `.local` has a handler here (a test
// holds that); the handlers are in Session+Local.swift and Session+Client.swift.

import RESP
import RespiteCommands

/// One request to a local handler: its frame, its arguments and the entry it resolved to.
struct LocalRequest {
    let frame: UnsafeRawBufferPointer
    let args: ArgList
    /// Command table index of the entry (`CommandID.rawValue`).
    let command: Int32
    let shape: ReplyShape

    var argc: Int { args.count }
    /// Argument `i`; empty past the last one, so a handler never reads beyond the request
    /// whatever arity a merged table reports.
    func arg(_ i: Int) -> UnsafeRawBufferPointer {
        guard i < args.count else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: frame.baseAddress! + Int(args[i].offset), count: Int(args[i].length))
    }
    func bytes(_ i: Int) -> [UInt8] { Array(arg(i)) }
    func text(_ i: Int) -> String { String(decoding: arg(i), as: UTF8.self) }
}

/// Answers (or forwards) one local request; false only when it must wait for in-flight replies.
typealias LocalHandler = @Sendable (Session, LocalRequest) -> Bool

enum LocalCommands {
    /// The handler of every command kind Respite answers itself.
    static let handlers: [CommandKind: LocalHandler] = [
        .quit: { $0.quitCommand($1) },
        .reset: { $0.resetCommand($1) },
        .auth: { $0.authCommand($1) },
        .hello: { $0.helloCommand($1) },
        .select: { $0.selectCommand($1) },
        .readonly: { $0.clusterDisabledCommand($1) },
        .readwrite: { $0.clusterDisabledCommand($1) },
        .aclWhoami: { $0.aclWhoamiCommand($1) },
        .client: { $0.clientUnlistedCommand($1) },
        .clientID: { $0.clientIDCommand($1) },
        .clientGetname: { $0.clientGetnameCommand($1) },
        .clientSetname: { $0.clientSetnameCommand($1) },
        .clientInfo: { $0.clientInfoCommand($1) },
        .clientSetinfo: { $0.clientSetinfoCommand($1) },
        .clientNoEvict: { $0.clientNoEvictCommand($1) },
        .clientNoTouch: { $0.clientNoEvictCommand($1) },
        .clientReply: { $0.clientReplyCommand($1) },
        .clientList: { $0.clientListCommand($1) },
        .clientKill: { $0.clientKillCommand($1) },
        .clientUnblock: { $0.clientUnblockCommand($1) },
        .clientMaintNotifications: { $0.clientMaintNotificationsCommand($1) },
    ]

    /// The handlers of `table`'s entries by `CommandID`: nil for entries not routed `.local`.
    static func byID(_ table: CommandTable) -> [LocalHandler?] {
        table.entries.map { $0.route == .local ? handlers[$0.kind] : nil }
    }
}
