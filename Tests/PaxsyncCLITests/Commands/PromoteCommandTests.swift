import Foundation
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// A standby node of AU on real `paxsync serve` processes: it syncs everything,
/// never writes; the primary is killed with SIGKILL, the standby promoted, and
/// it writes on — no equivocation anywhere, equal digests.
@Suite("standby: syncs, never writes; promoted after the primary dies", .serialized)
struct PromoteCommandTests {
    static let members: [LocalCoalition.Member] = ["AU", "JP", "KR"].map { .init(id: $0, country: $0, name: "Member \($0)") }

    @Test("AU's standby catches up, refuses writes; AU is killed; the standby is promoted and writes AU:4; JP and KR take it",
          .timeLimit(.minutes(3)))
    func failover() async throws {
        let dir = TemporaryDirectory("paxsync-standby")
        let c = try LocalCoalition(base: dir.file("coalition"), members: Self.members, executable: Paxsync.binary)
        var finished = false
        defer {
            c.stopAll()
            if !finished { c.printLogs(["AU", "AU-standby", "JP", "KR"]) }
        }
        // The standby: AU's directory (key, TLS files, roster), its own replica, role standby, its own port.
        let standby = c.dataDir("AU-standby")
        try FileManager.default.copyItem(atPath: c.dataDir("AU"), toPath: standby)
        var config = try String(contentsOfFile: standby + "/paxsync.conf", encoding: .utf8)
        config = config.replacing(/\nlisten = "[^"]*"/, with: "\nlisten = \"127.0.0.1:\(LoopbackPorts.reserve())\"")
            .replacing("role = \"primary\"", with: "role = \"standby\"")
        try config.write(toFile: standby + "/paxsync.conf", atomically: true, encoding: .utf8)

        for id in ["AU", "JP", "KR", "AU-standby"] { try c.start(id) }
        let au = Paxsync(dataDir: c.dataDir("AU")), backup = Paxsync(dataDir: standby)
        for facility in ["AU-A", "AU-B", "AU-C"] {
            let r = try await au.createFacility(facility)
            try #require(r.status == 0, "\(r.output)")
        }
        try #require(try await waitFor("the standby holds AU:3", seconds: 60) { try c.head("AU-standby", of: "AU") == 3 })
        let refused = try await backup.createFacility("AU-X")
        #expect(refused.status == 69 && refused.stderr.contains("this node is a standby"), "\(refused.output)")
        let unforced = try await backup.run(["writes", "resume", "--force"])
        #expect(unforced.status == 64 && unforced.stderr.contains("paxsync promote"), "\(unforced.output)")

        // The primary dies; the standby is stopped, promoted, started.
        let primary = try #require(c.pid("AU"))
        kill(primary, SIGKILL)
        c.stop("AU")
        let busy = try await backup.run(["promote"])
        #expect(busy.status == 69, "refused while the standby's daemon runs: \(busy.output)")
        c.stop("AU-standby")
        let promoted = try await backup.run(["promote", "--json"])
        #expect(promoted.status == 0 && promoted.stdout.contains("\"head\" : \"AU:3\""), "\(promoted.output)")
        #expect(try String(contentsOfFile: standby + "/paxsync.conf", encoding: .utf8).contains("\nrole = \"primary\""))
        try c.start("AU-standby")
        try #require(try await waitFor("the new primary's writes resume", seconds: 60) {
            try await backup.ok(["writes", "status", "--json"]).contains("\"local_writes\" : \"allowed\"")
        })
        let next = try await backup.createFacility("AU-D")
        try #require(next.status == 0 && next.stdout.contains("Committed AU:4"), "\(next.output)")
        try #require(try await waitFor("JP and KR hold AU:4", seconds: 60) {
            try c.head("JP", of: "AU") == 4 && c.head("KR", of: "AU") == 4
        })

        for id in ["AU-standby", "JP", "KR"] {
            let replica = try NodeDirectory.open(c.dataDir(id)).openReplica(writable: false)
            #expect(try replica.equivocations().isEmpty && replica.quarantined().isEmpty, "\(id): no equivocation, nothing quarantined")
        }
        #expect(try await waitFor("equal digests", seconds: 60) {
            let digests = try ["AU-standby", "JP", "KR"].map { try NodeDirectory.open(c.dataDir($0)).openReplica(writable: false).digest() }
            return Set(digests.map(\.hex)).count == 1
        })
        finished = true
    }
}
