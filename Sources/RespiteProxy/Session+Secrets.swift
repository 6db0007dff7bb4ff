// Session+Secrets: replies that would show the upstream's secrets (CONFIG GET requirepass,
// ACL GETUSER / ACL LIST password hashes) to a client running with Respite's own upstream
// identity are masked on the way back (SecretReplies in RespiteCommands decides what), also
// inside an EXEC's reply. A client logged in as its own user (pass-through) sees what Redis
// shows that user.

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
              extras.secretMask != nil || extras.execMasks != nil else { return nil }
        let (mask, execMasks) = (extras.secretMask, extras.execMasks)
        setExtras(at: i) { $0.secretMask = nil; $0.execMasks = nil }
        if info.isError { return nil }
        guard let value = try? RESPValue.decode(frame)?.value else {
            let b = Array("-ERR Respite: unreadable reply withheld (it may hold upstream secrets)\r\n".utf8)
            return (b, ReplyFrame(length: b.count, type: UInt8(ascii: "-"), hasRESP3: false, valueOffset: 0))
        }
        var masked: RESPValue?
        if let mask {
            masked = SecretReplies.mask(value, mask)
        } else if let execMasks, case .array(var items?) = value {
            var changed = false
            for m in execMasks where m.index < items.count {
                if let v = SecretReplies.mask(items[m.index], m.kind) { items[m.index] = v; changed = true }
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
