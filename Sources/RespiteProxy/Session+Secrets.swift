// Session+Secrets: replies that would show the upstream's secrets (CONFIG GET requirepass,
// ACL GETUSER / ACL LIST password hashes) to a client running with Respite's own upstream
// identity are masked on the way back (SecretReplies in RespiteCommands decides what), also
// inside an EXEC's reply. A client logged in as its own user (pass-through) sees what Redis
// shows that user. EXEC's reply is also where CLIENT ID and GETNAME queued in the transaction
// get Respite's answer for the client in place of the server's for its connection.

import RESP
import RespiteCommands
import RespiteUpstream

extension Session {
    /// Sends a command whose reply carries secrets; its slot remembers to mask them.
    func sendMasked(_ frame: UnsafeRawBufferPointer, shape: ReplyShape, mask: SecretMask) -> Bool {
        let seq = nextSeq
        let sent = pinned != nil ? sendPinned(frame, shape: shape) : sendShared(frame, shape: shape, readOnly: true)
        if sent, let i = slotIndex(seq), !slots[i].ready {
            setExtras(at: i) { $0.secretMask = mask }
        }
        return sent
    }

    /// The reply for slot `seq` with its secrets masked, when the slot asks for it and the
    /// reply holds any; the mask is consumed. A reply that cannot be read is replaced by an
    /// error rather than passed on.
    func maskedReply(seq: UInt32, frame: UnsafeRawBufferPointer, info: ReplyFrame) -> (bytes: [UInt8], info: ReplyFrame)? {
        guard let i = slotIndex(seq), slots[i].hasExtras, let extras = slotExtras[seq],
              extras.secretMask != nil || extras.execRewrites != nil else { return nil }
        let (mask, execRewrites) = (extras.secretMask, extras.execRewrites)
        setExtras(at: i) { $0.secretMask = nil; $0.execRewrites = nil }
        if info.isError { return nil }
        guard let value = try? RESPValue.decode(frame)?.value else {
            let b = Array("-ERR Respite: unreadable reply withheld (it may hold upstream secrets)\r\n".utf8)
            return (b, ReplyFrame(length: b.count, type: UInt8(ascii: "-"), hasRESP3: false, valueOffset: 0))
        }
        var masked: RESPValue?
        if let mask {
            masked = SecretReplies.mask(value, mask)
        } else if let execRewrites, case .array(var items?) = value {
            var changed = false
            for m in execRewrites where m.index < items.count {
                if let v = m.value {
                    // Respite's own answer, unless the server refused the command (an ACL).
                    if case .error = items[m.index] { continue }
                    if case .bulkError = items[m.index] { continue }
                    items[m.index] = v; changed = true
                } else if let mask = m.mask, let v = SecretReplies.mask(items[m.index], mask) {
                    items[m.index] = v; changed = true
                }
            }
            if changed { masked = .array(items) }
        }
        guard let masked else { return nil }
        let out = ByteBuffer(capacity: frame.count + 64)
        out.append(masked)
        let b = out.readableBytes()
        return (b, ReplyFrame(length: b.count, type: info.type, hasRESP3: info.hasRESP3, valueOffset: 0))
    }
}
