// Fuzz target: maintenance pushes. Arbitrary bytes as a push frame from the upstream: the
// allocation-free `isMaintenancePush` never reads past the frame (ASan) and, for a frame the
// reply scanner accepts as a push, agrees with `parse` on whether it is a maintenance event;
// `parse` never crashes, and what it returns is consistent (a known type name, an endpoint
// that prints and parses back).
// Option byte 0: the offset the push header is said to start at (0-3).

@testable import RESP
@testable import RespiteMaintenance

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMaintenance(_ p: UnsafeRawPointer, _ n: Int) -> CInt {
    let input = FuzzInput(p, n, headerBytes: 1)
    let data = input.data
    // Exactly the frame's bytes in their own allocation, so ASan sees any read past it.
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: data.count, alignment: 1)
    defer { frame.deallocate() }
    data.withUnsafeBytes { frame.copyMemory(from: $0) }
    let raw = UnsafeRawBufferPointer(frame)

    let offset = Int(input.options[0] % 4)
    let quick = MaintenanceEvent.isMaintenancePush(raw, offset)
    let event = MaintenanceEvent.parse(raw)
    if let event {
        _ = event.typeName
        _ = event.seq
        if case .moving(_, _, let endpoint?) = event, !endpoint.host.contains("["), !endpoint.host.contains("]") {
            guard Endpoint.parse(endpoint.description) == endpoint else { fuzzFail("endpoint \(endpoint) does not read back") }
        }
    }
    // For a whole push frame at offset 0, the cheap check and the parser agree on the family.
    if offset == 0 && !data.isEmpty {
        var scanner = ReplyScanner(limits: .serverReplies)
        if case .frame(let f) = data.withUnsafeBufferPointer({ scanner.scan($0.baseAddress!, $0.count) }),
           f.length == data.count, f.isPush, f.valueOffset == 0, let event {
            let known: Bool
            // A MOVING without its numbers is reported as `MOVING(malformed)`, still of the family.
            if case .unknown(let type) = event { known = MaintenanceEvent.isMaintenanceType(type) || type == "MOVING(malformed)" } else { known = true }
            if quick && !known { fuzzFail("isMaintenancePush yes, parse says \(event)") }
        }
    }
    return 0
}
