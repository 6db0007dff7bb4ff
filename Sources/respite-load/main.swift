// respite-load: drives a RESP endpoint (redis-server, Respite, ...) with simulated clients and
// reports what they saw. Parses the command line, runs the engine, prints the final table and
// optionally writes the JSON report. Exit status is 0 whatever the clients saw; 2 for a bad
// command line, 1 when the report cannot be written.

import RespiteLoad
#if canImport(Glibc)
import Glibc
#endif

func printError(_ s: String) {
    _ = (s + "\n").withCString { write(2, $0, strlen($0)) }
}

@MainActor func main() -> Int32 {
    var options: LoadOptions
    do {
        guard let o = try LoadOptions.parse(Array(CommandLine.arguments.dropFirst())) else {
            print(LoadOptions.usage)
            return 0
        }
        options = o
    } catch {
        printError("respite-load: \(error)\n\(LoadOptions.usage)")
        return 2
    }
    options.handleSignals = true
    let report = LoadEngine(options: options).run()
    print(report.table(), terminator: "")
    if let path = options.jsonPath {
        do {
            try report.writeJSON(to: path)
        } catch {
            printError("respite-load: \(error)")
            return 1
        }
    }
    return 0
}

exit(main())
