// RESPWriter: appends replies to a ByteBuffer exactly as Redis 7.0 writes them to a client of
// protocol 2 or 3 (networking.c's addReply* family). Used for replies Respite makes itself
// (local commands, errors) and by tests. Integers never go through String.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ByteBuffer {
    // MARK: - Types that are the same in both protocols

    /// `+text\r\n`. The text must not hold CR or LF.
    public func appendSimpleString(_ text: StaticString) {
        append(RESPByte.plus)
        append(text)
        append("\r\n" as StaticString)
    }

    /// `+text\r\n`; CR and LF in `text` become spaces.
    public func appendSimpleString(_ text: String) {
        append(RESPByte.plus)
        appendSanitizedLine(text)
    }

    /// An error reply: `-` + `message` + CRLF, where `message` is the full text without the
    /// leading `-` (`"ERR unknown command"`, `"WRONGTYPE …"`). CR and LF become spaces.
    public func appendError(_ message: String) {
        append(RESPByte.minus)
        appendSanitizedLine(message)
    }

    /// An error reply from static text (see `appendError(_: String)`).
    public func appendError(_ message: StaticString) {
        append(RESPByte.minus)
        append(message)
        append("\r\n" as StaticString)
    }

    /// `:n\r\n`.
    public func appendInteger(_ n: Int) {
        reserve(24)
        append(RESPByte.colon)
        appendDecimal(n)
        append("\r\n" as StaticString)
    }

    /// `$len\r\nbytes\r\n`.
    public func appendBulk(_ bytes: UnsafeRawBufferPointer) {
        appendLength(RESPByte.dollar, bytes.count)
        append(bytes)
        append("\r\n" as StaticString)
    }

    /// `$len\r\nbytes\r\n`.
    public func appendBulk(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { appendBulk($0) }
    }

    /// `$len\r\ntext\r\n` of the UTF-8 bytes of `text`.
    public func appendBulk(_ text: String) {
        var text = text
        text.withUTF8 { appendBulk(UnsafeRawBufferPointer($0)) }
    }

    /// `*n\r\n`.
    public func appendArrayHeader(_ n: Int) {
        appendLength(RESPByte.star, n)
    }

    // MARK: - Types whose form depends on the protocol

    /// A null: `$-1` in RESP2, `_` in RESP3 (`addReplyNull`).
    public func appendNull(proto: Int) {
        append(proto >= 3 ? "_\r\n" as StaticString : "$-1\r\n" as StaticString)
    }

    /// A null array: `*-1` in RESP2, `_` in RESP3 (`addReplyNullArray`).
    public func appendNullArray(proto: Int) {
        append(proto >= 3 ? "_\r\n" as StaticString : "*-1\r\n" as StaticString)
    }

    /// A map of `n` pairs: `*2n` in RESP2, `%n` in RESP3; the caller writes keys and values.
    public func appendMapHeader(_ n: Int, proto: Int) {
        if proto >= 3 { appendLength(RESPByte.percent, n) } else { appendLength(RESPByte.star, n * 2) }
    }

    /// A set of `n` elements: `*n` in RESP2, `~n` in RESP3.
    public func appendSetHeader(_ n: Int, proto: Int) {
        appendLength(proto >= 3 ? RESPByte.tilde : RESPByte.star, n)
    }

    /// A push of `n` elements: `*n` in RESP2 (pub/sub messages), `>n` in RESP3.
    public func appendPushHeader(_ n: Int, proto: Int) {
        appendLength(proto >= 3 ? RESPByte.push : RESPByte.star, n)
    }

    /// A boolean: `:1`/`:0` in RESP2, `#t`/`#f` in RESP3.
    public func appendBool(_ value: Bool, proto: Int) {
        if proto >= 3 {
            append(value ? "#t\r\n" as StaticString : "#f\r\n" as StaticString)
        } else {
            append(value ? ":1\r\n" as StaticString : ":0\r\n" as StaticString)
        }
    }

    /// A double as Redis 7.0 prints it (`%.17g`, `inf`, `-inf`): a bulk string in RESP2,
    /// `,text` in RESP3.
    public func appendDouble(_ value: Double, proto: Int) {
        var tmp: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &tmp) { raw in
            let buf = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            let len: Int
            if value.isInfinite {
                len = value > 0 ? 3 : 4
                let text: StaticString = value > 0 ? "inf" : "-inf"
                UnsafeMutableRawPointer(buf).copyMemory(from: text.utf8Start, byteCount: len)
            } else {
                len = Int(withVaList([value]) { vsnprintf(buf, raw.count, "%.17g", $0) })
            }
            let text = UnsafeRawBufferPointer(start: buf, count: max(0, min(len, raw.count - 1)))
            if proto >= 3 {
                append(RESPByte.comma)
                append(text)
                append("\r\n" as StaticString)
            } else {
                appendBulk(text)
            }
        }
    }

    /// A verbatim string: a bulk string of `text` in RESP2, `=len\r\nfmt:text` in RESP3.
    /// `format` must be three bytes (`txt`, `mkd`).
    public func appendVerbatim(_ text: String, format: StaticString = "txt", proto: Int) {
        var text = text
        text.withUTF8 { utf8 in
            let body = UnsafeRawBufferPointer(utf8)
            if proto >= 3 {
                appendLength(RESPByte.equals, body.count + 4)
                append(format)
                append(RESPByte.colon)
                append(body)
                append("\r\n" as StaticString)
            } else {
                appendBulk(body)
            }
        }
    }

    /// A big number from its decimal text: a bulk string in RESP2, `(digits` in RESP3.
    public func appendBigNumber(_ digits: String, proto: Int) {
        if proto >= 3 {
            append(RESPByte.lparen)
            append(digits)
            append("\r\n" as StaticString)
        } else {
            appendBulk(digits)
        }
    }

    /// An error that may be long: `!len\r\ntext` in RESP3, a simple error in RESP2 (CR and LF
    /// become spaces). `message` is the full text without a leading `-`.
    public func appendBulkError(_ message: String, proto: Int) {
        if proto >= 3 {
            var message = message
            message.withUTF8 { utf8 in
                appendLength(RESPByte.bang, utf8.count)
                append(UnsafeRawBufferPointer(utf8))
                append("\r\n" as StaticString)
            }
        } else {
            appendError(message)
        }
    }

    // MARK: - Decoded values

    /// Encodes `value` in its own (RESP3) form; `.bulkString(nil)` and `.array(nil)` keep their
    /// RESP2 null forms.
    public func append(_ value: RESPValue) {
        append(value, proto: 3)
    }

    /// Encodes `value` for a client of protocol `proto`: in RESP2, RESP3-only types are written
    /// as Redis writes them to a RESP2 client (maps flat, nulls `$-1`, doubles as bulk strings).
    public func append(_ value: RESPValue, proto: Int) {
        switch value {
        case .simpleString(let b):
            append(RESPByte.plus); appendSanitizedLine(b)
        case .error(let b):
            append(RESPByte.minus); appendSanitizedLine(b)
        case .integer(let n):
            appendInteger(Int(n))
        case .bulkString(let b):
            if let b { appendBulk(b) } else { append("$-1\r\n" as StaticString) }
        case .array(let items):
            guard let items else { append("*-1\r\n" as StaticString); return }
            appendArrayHeader(items.count)
            for v in items { append(v, proto: proto) }
        case .null:
            appendNull(proto: proto)
        case .double(let text):
            if proto >= 3 { append(RESPByte.comma); append(text); append("\r\n" as StaticString) } else { appendBulk(text) }
        case .boolean(let b):
            appendBool(b, proto: proto)
        case .bigNumber(let text):
            if proto >= 3 { append(RESPByte.lparen); append(text); append("\r\n" as StaticString) } else { appendBulk(text) }
        case .verbatim(let format, let text):
            if proto >= 3 {
                appendLength(RESPByte.equals, text.count + format.count + 1)
                append(format); append(RESPByte.colon); append(text); append("\r\n" as StaticString)
            } else {
                appendBulk(text)
            }
        case .bulkError(let b):
            if proto >= 3 {
                appendLength(RESPByte.bang, b.count); append(b); append("\r\n" as StaticString)
            } else {
                append(RESPByte.minus); appendSanitizedLine(b)
            }
        case .map(let items):
            appendMapHeader(items.count / 2, proto: proto)
            for v in items { append(v, proto: proto) }
        case .set(let items):
            appendSetHeader(items.count, proto: proto)
            for v in items { append(v, proto: proto) }
        case .push(let items):
            appendPushHeader(items.count, proto: proto)
            for v in items { append(v, proto: proto) }
        }
    }

    // MARK: - Helpers

    /// `type` + decimal `n` + CRLF.
    @inline(__always)
    func appendLength(_ type: UInt8, _ n: Int) {
        reserve(24)
        append(type)
        appendDecimal(n)
        append("\r\n" as StaticString)
    }

    /// The bytes of `text` with CR and LF turned into spaces, then CRLF.
    func appendSanitizedLine(_ text: String) {
        var text = text
        text.withUTF8 { appendSanitizedLine(UnsafeRawBufferPointer($0)) }
    }

    func appendSanitizedLine(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { appendSanitizedLine($0) }
    }

    func appendSanitizedLine(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count + 2)
        let w = writePointer
        for k in 0..<bytes.count {
            let b = bytes[k]
            w[k] = (b == RESPByte.cr || b == RESPByte.lf) ? RESPByte.space : b
        }
        commit(bytes.count)
        append("\r\n" as StaticString)
    }
}
