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

    /// Runs `body` (a local write) on the replica opened for writing. When local
    /// writes are paused (the daemon just started, or the replica was restored)
    /// and a daemon runs on the directory, first waits up to
    /// `PAXSYNC_WRITE_PAUSE_WAIT` seconds (default 15) for a peer to confirm this
    /// node's head, saying so on standard error. A daemon that was still starting
    /// may pause writes after the check: then `body` is refused, and is run once
    /// more after the same wait. Refused still, the error says why.
    func withLocalWrites<T>(_ body: (Replica) throws -> T) throws -> T {
        let dir = try directory()
        let replica = try dir.openReplica(writable: true)
        if try replica.localWritePause() != nil { waitForPauseLifted(replica, dir) }
        do {
            return try body(replica)
        } catch let error as PaxsyncError where error.code == .unavailable {
            guard (try? replica.localWritePause()) != nil, waitForPauseLifted(replica, dir) else { throw error }
            return try body(replica)
        }
    }

    /// Waits while the pause lasts and a daemon runs; true if it was lifted.
    @discardableResult
    private func waitForPauseLifted(_ replica: Replica, _ dir: NodeDirectory) -> Bool {
        // A standby's pause is lifted by `paxsync promote` only: nothing to wait for.
        guard ServeLock.runningDaemon(in: dir) != nil, (try? replica.localWritePause())??.untilPromoted != true else { return false }
        let wait = ProcessInfo.processInfo.environment["PAXSYNC_WRITE_PAUSE_WAIT"].flatMap(Double.init) ?? 15
        FileHandle.standardError.write(Data("local writes are paused until a peer confirms \(replica.nodeID)'s head; waiting up to \(Int(wait)) s…\n".utf8))
        let deadline = Date().addingTimeInterval(wait)
        while Date() < deadline {
            if (try? replica.localWritePause()) == nil { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
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
