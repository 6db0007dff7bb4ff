// Runner: starting the simulator on its own loop thread (tests, embedding) and parsing the
// command line of `respite-maintsim`.

import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// A simulator running on its own thread. `stop()` closes everything and stops its backends.
public final class SimulatorHandle: @unchecked Sendable {
    public let port: Int
    public let apiPort: Int
    public let backendAddress: String
    let simulator: MaintenanceSimulator
    private let done: Latch<Bool>
    private let stopped = Locked(false)

    init(simulator: MaintenanceSimulator, done: Latch<Bool>) {
        self.simulator = simulator
        self.done = done
        port = simulator.port
        apiPort = simulator.apiPort
        backendAddress = simulator.backendAddress
    }

    /// Shuts the simulator down and waits (bounded) for its thread to finish.
    public func stop() {
        let first = stopped.with { s -> Bool in let was = s; s = true; return !was }
        guard first else { return }
        let sim = simulator
        if !sim.mailbox.post({ sim.shutdown() }) { sim.stopAllBackends() }
        if done.wait(timeoutMs: 15_000) == nil { sim.stopAllBackends() }
    }

    deinit { stop() }
}

extension MaintenanceSimulator {
    /// Starts a simulator on a new thread with its own `Loop`; returns once it is ready.
    public static func startInBackground(_ options: SimulatorOptions) throws -> SimulatorHandle {
        let ready = Latch<Result<Box<MaintenanceSimulator>, SimulatorError>>()
        let done = Latch<Bool>()
        startThread {
            let loop = Loop()
            do {
                let sim = try MaintenanceSimulator(loop: loop, options: options)
                ready.open(.success(Box(sim)))
                loop.run()
                sim.shutdown()
            } catch {
                ready.open(.failure(error as? SimulatorError ?? SimulatorError("\(error)")))
            }
            done.open(true)
        }
        guard let r = ready.wait(timeoutMs: 30_000) else { throw SimulatorError("simulator did not start in 30 s") }
        return SimulatorHandle(simulator: try r.get().value, done: done)
    }

    /// The command-line usage text.
    public static let usage = """
        Usage: respite-maintsim --port P [--bind 127.0.0.1] --api-port A [--redis-server PATH]
                                [--workdir DIR] [--seq-start N]
        A maintenance-notification simulator in front of real redis-server processes.
        Prints "READY port=P api=A backend=host:port" when ready. See docs/maintenance-simulator.md.
        """

    /// Parses `respite-maintsim` arguments; nil for `--help`.
    public static func parseArguments(_ args: [String]) throws -> SimulatorOptions? {
        var o = SimulatorOptions()
        var i = 0
        func value() throws -> String {
            guard i + 1 < args.count else { throw SimulatorError("\(args[i]) needs a value") }
            i += 1
            return args[i]
        }
        func number(_ name: String, _ s: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let n = Int(s), range.contains(n) else { throw SimulatorError("\(name) must be a number in \(range)") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--port": o.port = try number("--port", try value(), 0...65535)
            case "--bind": o.bind = try value()
            case "--api-port": o.apiPort = try number("--api-port", try value(), 0...65535)
            case "--redis-server": o.redisServer = try value()
            case "--workdir": o.workdir = try value()
            case "--seq-start": o.seqStart = try number("--seq-start", try value(), 0...Int(Int32.max))
            case "-h", "--help": return nil
            default: throw SimulatorError("unknown option '\(args[i])'")
            }
            i += 1
        }
        return o
    }
}
