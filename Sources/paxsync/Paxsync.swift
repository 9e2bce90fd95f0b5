#if canImport(Glibc)
@preconcurrency import Glibc
#else
@preconcurrency import Darwin
#endif
import PaxsyncCLI

/// The `paxsync` executable: parses arguments and runs the command.
@main
struct Paxsync {
    static func main() async {
        // Line by line even into a pipe or a file, so progress shows as it happens.
        setvbuf(stdout, nil, _IOLBF, 0)
        await PaxsyncCommand.main()
    }
}
