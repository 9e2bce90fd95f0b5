import Foundation
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// `paxsync restore` and the pause of local writes, on real `paxsync serve`
/// processes with mutual TLS: AU restored from an old backup while JP holds
/// AU's newer entries.
@Suite("restore: an old backup, local writes paused until AU's entries are back", .serialized)
struct RestoreCommandTests {
    static let members: [LocalCoalition.Member] = ["AU", "JP"].map { .init(id: $0, country: $0, name: "Member \($0)") }

    @Test("restore from an old backup: refused while AU runs; writes refused; AU's entries come back; writes resume; no equivocation",
          .timeLimit(.minutes(3)))
    func restoreOldBackup() async throws {
        let dir = TemporaryDirectory("paxsync-restore")
        let c = try LocalCoalition(base: dir.file("coalition"), members: Self.members, executable: Paxsync.binary)
        var finished = false
        defer {
            c.stopAll()
            // Stopped by a failed requirement: what the daemons said.
            if !finished { c.printLogs(["AU", "JP"]) }
        }
        try c.start("AU")
        try c.start("JP")
        let au = Paxsync(dataDir: c.dataDir("AU"))

        // AU:1, then the backup, then AU:2 and AU:3, which JP receives.
        let first = try await au.createFacility("AU-A")
        try #require(first.status == 0 && first.stdout.contains("Committed AU:1"), "\(first.output)")
        let backup = dir.file("au-old.sqlite")
        try await au.ok(["backup", "--out", backup])
        for facility in ["AU-B", "AU-C"] { try await au.ok(["facility", "create", "--id", facility, "--name", "F", "--kind", "port",
                                                              "--country", "AU", "--lat", "1", "--lon", "2"]) }
        try #require(try await waitFor("JP holds AU:3", seconds: 60) { try c.head("JP", of: "AU") == 3 })

        // Refused while AU's daemon runs on the directory.
        let busy = try await au.run(["restore", "--from", backup])
        #expect(busy.status == 69 && busy.stderr.contains("another paxsync serve already runs"), "\(busy.output)")

        c.stop("AU")
        let restored = try await au.run(["restore", "--from", backup, "--json"])
        #expect(restored.status == 0, "\(restored.output)")
        let report = try JSONSerialization.jsonObject(with: Data(restored.stdout.utf8)) as? [String: String]
        #expect(report?["head"] == "AU:1" && report?["replaced_head"] == "AU:3" && report?["local_writes"] == "paused")
        let kept = try #require(report?["previous_replica"])
        #expect(FileManager.default.fileExists(atPath: kept), "the replaced replica is kept")
        #expect(try c.head("AU", of: "AU") == 1)

        // Without a daemon nothing lifts the pause: a write is refused, saying why.
        let refused = try await au.createFacility("AU-FORK")
        #expect(refused.status == 69, "\(refused.output)")
        #expect(refused.stderr.contains("local writes are paused (restored from au-old.sqlite"), "\(refused.stderr)")
        #expect(try c.head("AU", of: "AU") == 1, "nothing was signed")

        // AU starts; JP's hello names AU:3; AU:2 and AU:3 come back; the pause lifts.
        try c.start("AU")
        try #require(try await waitFor("AU's writes resume", seconds: 60) {
            try await au.ok(["writes", "status", "--json"]).contains("\"local_writes\" : \"allowed\"")
        })
        #expect(try c.head("AU", of: "AU") == 3, "AU's own later entries came back before writes resumed")
        let next = try await au.createFacility("AU-D")
        try #require(next.status == 0 && next.stdout.contains("Committed AU:4"), "\(next.output)")
        try #require(try await waitFor("JP holds AU:4", seconds: 60) { try c.head("JP", of: "AU") == 4 })

        // No equivocation, nothing quarantined, the same state on both.
        for id in ["AU", "JP"] {
            let replica = try c.directory(id).openReplica(writable: false)
            #expect(try replica.quarantined().isEmpty, "\(id) quarantined nothing")
            #expect(try replica.equivocations().isEmpty, "\(id) saw no equivocation")
        }
        #expect(try await waitFor("equal digests", seconds: 60) {
            try c.directory("AU").openReplica(writable: false).digest() == c.directory("JP").openReplica(writable: false).digest()
        })
        finished = true
    }

    @Test("writes resume needs --force; writes status says paused or allowed")
    func resumeByHand() async throws {
        let dir = TemporaryDirectory("paxsync-resume")
        let c = try LocalCoalition(base: dir.file("coalition"), members: Self.members, executable: Paxsync.binary)
        let au = Paxsync(dataDir: c.dataDir("AU"))
        try c.directory("AU").openReplica().pauseLocalWrites(reason: "test")
        #expect(try await au.ok(["writes", "status"]).contains("Local writes on AU are paused (test"))
        let unforced = try await au.run(["writes", "resume"])
        #expect(unforced.status == 64 && unforced.stderr.contains("--force"), "\(unforced.output)")
        #expect(try await au.ok(["writes", "resume", "--force"]).contains("resumed (they were paused: test)"))
        #expect(try await au.ok(["writes", "status"]).contains("Local writes on AU are allowed"))
    }
}
