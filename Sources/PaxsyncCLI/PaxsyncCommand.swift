import ArgumentParser
import PaxsyncModel

/// The `paxsync` command: a node of the critical-minerals coalition.
@available(macOS 15, *)
public struct PaxsyncCommand: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "paxsync",
        abstract: "A node of the critical-minerals coalition: a signed, merged SQLite replica of the shared records.",
        discussion: """
            Every change is a signed, hash-chained log entry; every replica merges the
            same entries to the same state. Start with `paxsync demo`, or:

              paxsync node init --node-id AU --data-dir au
              export PAXSYNC_DATA_DIR=au
              paxsync facility create --id AU-MTWELD --name "Mount Weld" --kind mine --country AU --lat -28.86 --lon 122.55
              paxsync import --table stocks stocks.csv
              paxsync query "SELECT * FROM stocks"
              paxsync log verify

            Exit status:
            \(ExitStatus.allCases.map { "  \($0.rawValue)\t\($0.summary)" }.joined(separator: "\n"))
            """,
        version: version,
        subcommands: [
            DemoCommand.self,
            NodeCommand.self, RosterCommand.self, MemberCommand.self, KeyCommand.self, CoalitionCommand.self, CACommand.self, TLSCommand.self, ServeCommand.self,
            StatusCommand.self, PeersCommand.self, BackupCommand.self, RestoreCommand.self, PromoteCommand.self, WritesCommand.self,
            FacilityCommand.self, StockCommand.self, ShipmentCommand.self, ReserveCommand.self,
            ImportCommand.self, ExportCommand.self, QueryCommand.self, FeedCommand.self,
            LogCommand.self, ReplayCommand.self, DigestCommand.self,
            ConflictsCommand.self, ExplainCommand.self, QuarantineCommand.self, ProposalsCommand.self, EntryCommand.self, EquivocationCommand.self,
            CodesCommand.self,
        ]
    )

    public init() {}

    /// Parses the process arguments, runs the command, and exits with the
    /// status of `ExitStatus`'s table.
    public static func main() async {
        await ExitStatus.run(nil)
    }
}
