import PaxsyncCLI

/// The `paxsync` executable: parses arguments and runs the command.
@main
struct Paxsync {
    static func main() async {
        await PaxsyncCommand.main()
    }
}
