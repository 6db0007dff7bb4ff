// Session+Transaction: a request while the client is in MULTI. Everything but the
// transaction's own controls is queued on the pinned connection; commands Respite answers in its
// own clients' terms are refused there (RoutePolicy.refusedInTransaction) and abort the
// transaction at EXEC, as Redis aborts one with a command refused while queueing; SELECT and
// CLIENT SETNAME apply to the client when EXEC succeeds; CLIENT TRACKING is queued translated.

import RESP
import RespiteCommands

extension Session {
    /// Routes one request of an open transaction. False means "not now" (as `handle`).
    func handleInMulti(frame: UnsafeRawBufferPointer, args: ArgList, kind: CommandKind,
                       command cmdID: Int32, route: CommandRoute, shape: ReplyShape) -> Bool {
        let base = frame.baseAddress!
        let argc = args.count
        let table = proxy.commands
        if kind == .exec || kind == .discard {
            let isExec = kind == .exec
            if isExec && multiAborted {
                // A command was refused while queueing: the transaction is discarded
                // upstream and the client gets Redis's EXECABORT.
                multiAborted = false
                endTransactionState()
                let seq = nextSeq
                let discard: StaticString = "*1\r\n$7\r\nDISCARD\r\n"
                let sent = sendPinned(UnsafeRawBufferPointer(start: discard.utf8Start, count: discard.utf8CodeUnitCount), shape: .plain)
                if let i = slotIndex(seq), !slots[i].ready {
                    setExtras(at: i) { $0.replyOverride = Array("-EXECABORT Transaction discarded because of previous errors.\r\n".utf8) }
                }
                return sent
            }
            multiAborted = false
            let shapes = multiShapes
            multiShapes.removeAll()
            pinReasons.remove(.multi)
            pinReasons.remove(.watch)
            let seq = nextSeq
            let sent = sendPinned(frame, shape: shape, execShapes: isExec ? shapes : nil)
            // A CLIENT SETNAME or SELECT queued in the transaction applies to this session
            // when EXEC runs it.
            if isExec, multiName != nil || multiDB != nil, let i = slotIndex(seq) {
                let (queuedName, queuedDB) = (multiName, multiDB)
                setExtras(at: i) { $0.nameOnSuccess = queuedName; $0.dbOnSuccess = queuedDB }
                awaitingLocalEffect = true
            }
            if isExec, !multiRewrites.isEmpty, let i = slotIndex(seq) {
                let masks = multiRewrites
                setExtras(at: i) { $0.execRewrites = masks }
            }
            multiName = nil
            multiDB = nil
            multiRewrites.removeAll()
            return sent
        }
        if kind == .quit || kind == .reset { return handleLocal(frame: frame, args: args, command: cmdID, shape: shape) }
        if cmdID >= 0 && table.entries[Int(cmdID)].refusedInTransaction && table.entries[Int(cmdID)].accepts(argc: argc) {
            // The server would run it against Respite's own upstream connections.
            multiAborted = true
            let shown = String(table.entries[Int(cmdID)].name.uppercased().map { $0 == "|" ? " " : $0 })
            addLocalReply(Array("-ERR Respite: \(shown) is not allowed inside MULTI (it would act on the proxy's upstream connections, not on Respite's clients)\r\n".utf8))
            return true
        }
        if route == .tracking {
            // Queued like any command, with the REDIRECT id translated and the connection
            // kept for good (the tracking state outlives the transaction).
            let before = pinnedInFlight
            guard clientTracking(frame: frame, args: args, command: cmdID, shape: shape) else { return false }
            // Queued upstream, or refused here (then EXEC aborts, as Redis after a queueing error).
            if pinnedInFlight > before { multiShapes.append(shape) } else { multiAborted = true }
            return true
        }
        if kind == .select || kind == .hello || kind == .auth || (cmdID >= 0 && table.entries[Int(cmdID)].isClientCommand) {
            pinReasons.insert(.dirty)
        }
        if kind == .clientSetname && argc == 3 {
            let n = Array(UnsafeRawBufferPointer(start: base + Int(args[2].offset), count: Int(args[2].length)))
            if validClientName(n) { multiName = n }
        }
        if kind == .select && argc == 2,
           let n = Int(String(decoding: UnsafeRawBufferPointer(start: base + Int(args[1].offset), count: Int(args[1].length)), as: UTF8.self)),
           n >= 0 && n < proxy.databases {
            // The server answers +OK for it at EXEC; an invalid index is its error there.
            multiDB = n
        }
        if cmdID >= 0, identity == 0, let mask = table.entries[Int(cmdID)].secretMask {
            multiRewrites.append(ExecRewrite(index: multiShapes.count, mask: mask))
        }
        if route == .local, cmdID >= 0, argc == 2, table.entries[Int(cmdID)].answeredInTransaction {
            // Queued (the server's answer keeps EXEC's shape) and answered for this client.
            let answer: RESPValue
            if kind == .clientID {
                answer = .integer(id)
            } else {
                let n = multiName ?? name
                answer = n.isEmpty ? .null : .bulkString(n)
            }
            multiRewrites.append(ExecRewrite(index: multiShapes.count, value: answer))
        }
        multiShapes.append(shape)
        return sendPinned(frame, shape: shape)
    }
}
