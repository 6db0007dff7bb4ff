// respite: the executable. Parses the command line and configuration, probes the upstream for
// its command table, opens the listeners and runs the loop until SIGTERM or SIGINT.

import EventLoop
#if canImport(Glibc)
import Glibc
#endif
import RespiteConfig
import RespiteProxy

let exitCode = Main.run(arguments: Array(CommandLine.arguments.dropFirst()))
exit(exitCode)
