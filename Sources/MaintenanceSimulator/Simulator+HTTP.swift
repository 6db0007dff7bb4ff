// Simulator+HTTP: the control API, shaped like the ecosystem's fault injector (`/action`) and
// cae-resp-proxy (`/send-to-all-clients`, `/connections`). Runs on the loop thread.
//
//   POST /action                 {"type": …, "parameters": {…}}  → {"action_id": …}
//   GET  /action                 every action
//   GET  /action/{id}            {"status", "log", "error", …}
//   GET  /status                 backend, listeners, connection counts, next seq, last event
//   GET  /connections            one row per client connection
//   POST /send-to-all-clients    body = bytes (?encoding=base64 default, or raw)
//   DELETE /connections          drop every client connection

import EventLoop

extension MaintenanceSimulator {
    func route(_ req: HTTPRequest) -> HTTPResponse {
        let parts = req.path.split(separator: "/").map(String.init)
        switch (req.method, parts.first ?? "", parts.count) {
        case ("GET", "status", 1):
            return ok(statusJSON())
        case ("GET", "action", 1):
            return ok(.array(actions.all.map(\.json)))
        case ("GET", "action", 2):
            guard let r = actions.get(parts[1]) else { return error(404, "no action '\(parts[1])'") }
            return ok(r.json)
        case ("POST", "action", 1):
            return postAction(req)
        case ("GET", "connections", 1):
            return ok(.array(connections.values.sorted { $0.id < $1.id }.map(connectionJSON)))
        case ("DELETE", "connections", 1):
            return ok(.object(["closed": .number(Double(dropConnections(reason: "api")))]))
        case ("POST", "send-to-all-clients", 1):
            var bytes = req.body
            if (req.query["encoding"] ?? "base64") == "base64" {
                guard let d = base64Decode(bytes) else { return error(400, "body is not base64") }
                bytes = d
            }
            return ok(.object(["results": .array(sendToAll(bytes, optedInOnly: false))]))
        default:
            return error(404, "no route \(req.method) \(req.path)")
        }
    }

    private func postAction(_ req: HTTPRequest) -> HTTPResponse {
        let lenient = ["1", "true", "yes"].contains(req.query["lenient"]?.lowercased() ?? "")
        // Raw bytes may come as the body itself: POST /action?type=raw&encoding=raw|base64.
        if let t = req.query["type"] {
            var params: [String: JSON] = [:]
            for (k, v) in req.query where k != "type" && k != "lenient" { params[k] = .string(v) }
            return answer(submitAction(type: t, parameters: .object(params), lenient: lenient,
                                       payload: t == "raw" ? req.body : nil))
        }
        guard let body = JSON.parse(req.body), case .object = body else {
            return error(400, "body must be a JSON object {\"type\": …, \"parameters\": {…}}")
        }
        guard let type = body["type"]?.string else { return error(400, "missing \"type\"") }
        let params = body["parameters"] ?? .object([:])
        guard case .object = params else { return error(400, "\"parameters\" must be an object") }
        let len = lenient || (params["lenient"]?.bool ?? false)
        return answer(submitAction(type: type, parameters: params, lenient: len))
    }

    private func answer(_ r: Result<ActionRecord, SimulatorError>) -> HTTPResponse {
        switch r {
        case .success(let rec): return ok(.object(["action_id": .string(rec.id)]))
        case .failure(let e): return error(400, e.description)
        }
    }

    private func connectionJSON(_ c: RelayConnection) -> JSON {
        .object(["id": .number(Double(c.id)), "peer": .string(c.peer), "listener": .number(Double(c.listenerID)),
                 "backend": .string(c.backend.address), "resp3": .bool(c.resp3), "opted_in": .bool(c.optedIn),
                 "endpoint_type": c.endpointType.map { .string($0.rawValue) } ?? .null, "db": .number(Double(c.db))])
    }

    private func ok(_ j: JSON) -> HTTPResponse { HTTPResponse(status: 200, text: j.text + "\n") }
    private func error(_ status: Int, _ message: String) -> HTTPResponse {
        HTTPResponse(status: status, text: JSON.object(["error": .string(message)]).text + "\n")
    }
}
