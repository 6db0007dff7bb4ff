// respite-maintsim: a maintenance-notification simulator in front of real redis-server
// processes. Parses the command line, starts the first backend, the client listener and the
// HTTP API, prints the READY line, and runs until SIGTERM or SIGINT, then stops every backend.

import EventLoop
import MaintenanceSimulator
#if canImport(Glibc)
import Glibc
#endif

func printError(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

final class StopContext {
    let simulator: MaintenanceSimulator
    init(_ s: MaintenanceSimulator) { simulator = s }
}

let onStop: EventCallback = { _, _, ctx in
    Unmanaged<StopContext>.fromOpaque(ctx!).takeUnretainedValue().simulator.shutdown()
}

@MainActor func run() -> Int32 {
    let options: SimulatorOptions
    do {
        guard let o = try MaintenanceSimulator.parseArguments(Array(CommandLine.arguments.dropFirst())) else {
            print(MaintenanceSimulator.usage)
            return 0
        }
        options = o
    } catch {
        printError("respite-maintsim: \(error)\n\(MaintenanceSimulator.usage)")
        return 2
    }
    let loop = Loop()
    let simulator: MaintenanceSimulator
    do {
        simulator = try MaintenanceSimulator(loop: loop, options: options)
    } catch {
        printError("respite-maintsim: \(error)")
        return 1
    }
    let ctx = Unmanaged.passRetained(StopContext(simulator)).toOpaque()
    let term = loop.signal(SIGTERM, onStop, ctx)
    let int = loop.signal(SIGINT, onStop, ctx)
    term.add()
    int.add()
    print(simulator.readyLine)
    fflush(nil)
    loop.run()
    simulator.shutdown()
    term.free()
    int.free()
    // Released with the events that held it, so the simulator ends with nothing leaked.
    Unmanaged<StopContext>.fromOpaque(ctx).release()
    return 0
}

exit(run())
