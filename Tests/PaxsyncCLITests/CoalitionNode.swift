import Foundation
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport

/// A data directory for one member of a `TestCoalition` (deterministic keys,
/// every member in the roster), so a test can bring in other members' entries
/// in-process, at times it chooses, and then run the `paxsync` binary on it.
struct CoalitionNode {
    let coalition: TestCoalition
    let dir: TemporaryDirectory
    let directory: NodeDirectory
    /// The clock this node's own writes are stamped with (`replica()`).
    let clock: ManualClock

    init(_ member: String = "AU", coalition: TestCoalition = TestCoalition(), at milliseconds: UInt64 = TestTime.start) throws {
        self.coalition = coalition
        dir = TemporaryDirectory("paxsync-cli-node")
        directory = try NodeDirectory.initialize(path: dir.file(member.lowercased()), nodeID: member, country: member,
                                                 name: "Member \(member)", address: "127.0.0.1:7400",
                                                 roster: coalition.roster, key: coalition.keys[member]!)
        clock = ManualClock(milliseconds: milliseconds)
    }

    var path: String { directory.path }

    /// The binary, run on this node's data directory.
    var paxsync: Paxsync { Paxsync(dataDir: directory.path) }

    /// The node's replica, its writes stamped by `clock`.
    func replica() throws -> Replica { try directory.openReplica(clock: clock) }

    /// Another member's replica in the same temporary directory, writing at `milliseconds`.
    func member(_ id: String, at milliseconds: UInt64) throws -> (Replica, ManualClock) {
        let clock = ManualClock(milliseconds: milliseconds)
        return (try coalition.replica(id, in: dir, clock: clock), clock)
    }
}

/// Milliseconds since the epoch of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC).
func instant(_ text: String) -> UInt64 { CivilTime.parseInstant(text)! }

extension TestCoalition {
    /// An equivocation by `member`: two different entries, both validly signed, at
    /// sequence 1 (each creates another facility), as two replicas of it would write.
    func fork(_ member: String, in dir: TemporaryDirectory) throws -> (SignedEntry, SignedEntry) {
        let a = try replica(member, in: dir), b = try replica(member, in: dir)
        try a.commit([Records.facility("\(member)-FORK-A", country: member)])
        try b.commit([Records.facility("\(member)-FORK-B", country: member)])
        return (try a.allEntries()[0], try b.allEntries()[0])
    }
}

extension LocalCoalition {
    /// Prints each node's serve.log: what the daemons said, for a test stopped early.
    func printLogs(_ ids: [String]) {
        for id in ids { print("--- \(id) serve.log\n" + ((try? String(contentsOfFile: logPath(id), encoding: .utf8)) ?? "")) }
    }
}

extension LocalCoalition {
    /// The highest contiguous sequence of `origin` that `node`'s replica holds.
    func head(_ node: String, of origin: String) throws -> UInt64 {
        try directory(node).openReplica(writable: false).versionVector()[origin]
    }
}

extension Paxsync {
    /// `paxsync facility create`: a port in AU's namespace.
    func createFacility(_ id: String) async throws -> Result {
        try await run(["facility", "create", "--id", id, "--name", "F", "--kind", "port", "--country", "AU", "--lat", "1", "--lon", "2"])
    }
}
