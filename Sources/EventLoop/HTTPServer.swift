// HTTPServer: a small HTTP/1.1 control endpoint on libevent's evhttp, for test tooling and
// admin APIs (never the data path). Every request goes to one Swift handler, on the loop's
// thread; the handler answers synchronously. Strings and arrays are fine here: cold path.

import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP request, as the handler sees it: method, path (percent-decoded), query and body.
public struct HTTPRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var body: [UInt8]
    public init(method: String, path: String, query: [String: String], body: [UInt8]) {
        self.method = method; self.path = path; self.query = query; self.body = body
    }
}

/// One HTTP response.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public init(status: Int, contentType: String = "application/json", body: [UInt8]) {
        self.status = status; self.contentType = contentType; self.body = body
    }
    public init(status: Int, contentType: String = "application/json", text: String) {
        self.init(status: status, contentType: contentType, body: Array(text.utf8))
    }
}

/// What one HTTP request may take: body and header bytes, and seconds to send it (or idle).
public struct HTTPLimits: Sendable {
    public var maxBodyBytes: Int
    public var maxHeadersBytes: Int
    public var timeoutSeconds: Int
    public init(maxBodyBytes: Int = 1 << 20, maxHeadersBytes: Int = 8 << 10, timeoutSeconds: Int = 30) {
        self.maxBodyBytes = maxBodyBytes; self.maxHeadersBytes = maxHeadersBytes; self.timeoutSeconds = timeoutSeconds
    }
}

/// An evhttp server bound to one address on a `Loop`; routes every request to `handler`.
/// Owned by the loop's thread; call `close()` before the loop is freed.
public final class HTTPServer {
    public typealias Handler = (HTTPRequest) -> HTTPResponse

    private var http: OpaquePointer?
    private let handler: Handler
    /// The port actually bound (useful when 0 was asked for).
    public private(set) var port: Int = 0
    public let host: String

    /// Binds `host:port` (0 picks a free port) on `loop` and starts serving, within `limits`.
    public init(loop: Loop, host: String = "127.0.0.1", port: Int, limits: HTTPLimits = HTTPLimits(),
                handler: @escaping Handler) throws {
        self.handler = handler
        self.host = host
        guard let h = evhttp_new(loop.base) else { throw SocketError("evhttp_new", code: ENOMEM) }
        http = h
        // evhttp refuses a larger body (413) or header block (400) and closes the connection
        // before reading it all; the timeout closes connections that send too slowly or idle.
        evhttp_set_timeout(h, Int32(clamping: limits.timeoutSeconds))
        evhttp_set_max_body_size(h, limits.maxBodyBytes)
        evhttp_set_max_headers_size(h, limits.maxHeadersBytes)
        let methods = EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_POST.rawValue | EVHTTP_REQ_PUT.rawValue
            | EVHTTP_REQ_DELETE.rawValue | EVHTTP_REQ_HEAD.rawValue
        evhttp_set_allowed_methods(h, UInt16(truncatingIfNeeded: methods))
        guard let bound = evhttp_bind_socket_with_handle(h, host, UInt16(port)) else {
            let e = SocketError("bind http \(host):\(port)")
            evhttp_free(h)
            http = nil
            throw e
        }
        let fd = evhttp_bound_socket_get_fd(bound)
        let local = Socket.localAddress(fd)
        if let colon = local.lastIndex(of: ":"), let p = Int(local[local.index(after: colon)...]) { self.port = p }
        evhttp_set_gencb(h, httpServerCallback, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { close() }

    /// Stops listening and frees the server (idempotent).
    public func close() {
        if let h = http { evhttp_free(h); http = nil }
    }

    fileprivate func handle(_ req: OpaquePointer) {
        let method: String
        switch evhttp_request_get_command(req).rawValue {
        case EVHTTP_REQ_GET.rawValue: method = "GET"
        case EVHTTP_REQ_POST.rawValue: method = "POST"
        case EVHTTP_REQ_PUT.rawValue: method = "PUT"
        case EVHTTP_REQ_DELETE.rawValue: method = "DELETE"
        case EVHTTP_REQ_HEAD.rawValue: method = "HEAD"
        default: method = "OTHER"
        }
        let uri = evhttp_request_get_uri(req).map { String(cString: $0) } ?? "/"
        var body: [UInt8] = []
        if let input = evhttp_request_get_input_buffer(req) {
            let n = evbuffer_get_length(input)
            if n > 0 {
                body = [UInt8](repeating: 0, count: n)
                _ = body.withUnsafeMutableBytes { evbuffer_remove(input, $0.baseAddress, n) }
            }
        }
        let (path, query) = HTTPServer.splitURI(uri)
        let response = handler(HTTPRequest(method: method, path: path, query: query, body: body))
        let out = evbuffer_new()!
        defer { evbuffer_free(out) }
        if !response.body.isEmpty {
            _ = response.body.withUnsafeBytes { evbuffer_add(out, $0.baseAddress, $0.count) }
        }
        if let headers = evhttp_request_get_output_headers(req) {
            evhttp_add_header(headers, "Content-Type", response.contentType)
        }
        evhttp_send_reply(req, Int32(response.status), HTTPServer.reason(response.status), out)
    }

    /// Splits `/a/b?x=1&y=%20` into a decoded path and query map.
    public static func splitURI(_ uri: String) -> (path: String, query: [String: String]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = percentDecode(String(parts.first ?? "/"))
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = percentDecode(String(kv[0]), plusIsSpace: true)
                query[key] = kv.count > 1 ? percentDecode(String(kv[1]), plusIsSpace: true) : ""
            }
        }
        return (path, query)
    }

    static func percentDecode(_ s: String, plusIsSpace: Bool = false) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 65...70: return c - 55
            case 97...102: return c - 87
            default: return nil
            }
        }
        while i < b.count {
            if b[i] == 37, i + 2 < b.count, let h = hex(b[i + 1]), let l = hex(b[i + 2]) {
                out.append(h << 4 | l); i += 3
            } else if b[i] == 43 && plusIsSpace {
                out.append(32); i += 1
            } else {
                out.append(b[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 500: return "Internal Server Error"
        default: return "Status"
        }
    }
}

private let httpServerCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { req, ctx in
    guard let req = req, let ctx = ctx else { return }
    Unmanaged<HTTPServer>.fromOpaque(ctx).takeUnretainedValue().handle(req)
}
