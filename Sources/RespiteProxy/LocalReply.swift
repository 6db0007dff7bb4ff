// LocalReply: small replies Respite writes itself (local commands, errors), in the client's
// protocol.

import RESP

/// Builds small replies in the client's protocol with RESPWriter, as byte arrays a reply slot
/// can hold (cold path: allocates).
struct LocalReply {
    let proto: Int
    private func encode(_ body: (ByteBuffer) -> Void) -> [UInt8] {
        let b = ByteBuffer(capacity: 64)
        body(b)
        return b.readableBytes()
    }
    func ok() -> [UInt8] { encode { $0.appendSimpleString("OK" as StaticString) } }
    func error(_ text: String) -> [UInt8] { encode { $0.appendError(text) } }
    func integer(_ v: Int) -> [UInt8] { encode { $0.appendInteger(v) } }
    func null() -> [UInt8] { encode { $0.appendNull(proto: proto) } }
    func bulk(_ b: [UInt8]) -> [UInt8] { encode { $0.appendBulk(b) } }
    func arrayHeader(_ n: Int) -> [UInt8] { encode { $0.appendArrayHeader(n) } }
    func mapHeader(_ n: Int) -> [UInt8] { encode { $0.appendMapHeader(n, proto: proto) } }
    func verbatim(_ b: [UInt8]) -> [UInt8] {
        encode { $0.appendVerbatim(String(decoding: b, as: UTF8.self), proto: proto) }
    }
}
