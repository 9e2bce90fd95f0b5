import ArgumentParser
import Foundation
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore

/// `--data-dir`, shared by every command that works on a node.
struct NodeOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "The node's data directory (default: $PAXSYNC_DATA_DIR).", valueName: "DIR"))
    var dataDir: String?

    func directory() throws -> NodeDirectory {
        guard let path = dataDir ?? ProcessInfo.processInfo.environment["PAXSYNC_DATA_DIR"] else {
            throw PaxsyncError(.usage, "no node given: pass --data-dir DIR or set PAXSYNC_DATA_DIR")
        }
        return try NodeDirectory.open(path)
    }

    func replica(writable: Bool = false) throws -> Replica {
        try directory().openReplica(writable: writable)
    }

    /// After a local write: tells a running daemon to push the new entries now
    /// (best effort; without a daemon, or if it does not answer, it polls).
    func wakeDaemon() {
        guard let dir = try? directory() else { return }
        let socket = dir.file(dir.configuration.adminSocket)
        guard FileManager.default.fileExists(atPath: socket) else { return }
        _ = try? AdminClient.request(socket, AdminClient.wake, timeoutSeconds: 1)
    }
}

/// `--json`, for commands whose output scripts read.
struct JSONFlag: ParsableArguments {
    @Flag(name: .customLong("json"), help: "Print JSON instead of a table.")
    var enabled = false
}

extension TableSpec: ExpressibleByArgument {
    public init?(argument: String) {
        guard let table = Schema.table(named: argument) else { return nil }
        self = table
    }

    public static var allValueStrings: [String] { Schema.tables.map(\.name) }
}

/// Parses `2026-11-29`, `2026-11-29T10:00:00Z` or `…00.000Z` into milliseconds.
func parseTime(_ text: String, option: String) throws -> UInt64 {
    guard let ms = CivilTime.parseInstant(text) else {
        throw PaxsyncError(.usage, "\(option): expected a date YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM:SSZ", subject: text)
    }
    return ms
}
