import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// A replica restored from a backup must not sign a second entry for a sequence
/// number its origin already used; the pause holds local writes until a peer
/// confirms the head.
@Suite("Local write pause (restore guard)")
struct LocalWritePauseTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    /// AU's live replica with five entries, and a second AU replica holding the
    /// first three (as a backup taken after AU:3 would).
    func liveAndRestored() throws -> (live: Replica, restored: Replica) {
        let live = try coalition.replica("AU", in: dir)
        for n in 1...5 { try live.commit([Records.facility("AU-F\(n)")]) }
        let restored = try coalition.replica("AU", in: dir)
        #expect(try restored.apply(Array(try live.allEntries().prefix(3))) == [.applied, .applied, .applied])
        return (live, restored)
    }

    @Test("while paused, a local write is refused naming the reason and the head; nothing is written")
    func refused() throws {
        let (_, restored) = try liveAndRestored()
        try restored.pauseLocalWrites(reason: "restored from au.sqlite")
        #expect {
            try restored.commit([Records.facility("AU-NEW")])
        } throws: { error in
            guard let error = error as? PaxsyncError else { return false }
            return error.code == .unavailable && error.subject == "AU" && error.message.contains("restored from au.sqlite")
                && error.message.contains("beyond AU:3") && error.message.contains("paxsync writes resume --force")
        }
        #expect(try restored.logCount() == 3)
        #expect(try restored.localWritePause()?.reason == "restored from au.sqlite")
    }

    @Test("a peer holding no more than the head lifts the pause")
    func confirmed() async throws {
        let (_, restored) = try liveAndRestored()
        try restored.pauseLocalWrites(reason: "the daemon started")
        #expect(try await restored.confirmOwnHead(peerHolds: 2) == .confirmed(head: 3))
        #expect(try restored.localWritePause() == nil)
        #expect(try restored.commit([Records.facility("AU-NEW")])?.id.description == "AU:4")
        #expect(try await restored.confirmOwnHead(peerHolds: 9) == .notPaused)
    }

    @Test("a peer holding more keeps the pause until those entries are back; the next write follows them, no equivocation")
    func awaitingOwnEntries() async throws {
        let (live, restored) = try liveAndRestored()
        try restored.pauseLocalWrites(reason: "restored")
        #expect(try await restored.confirmOwnHead(peerHolds: 5) == .awaiting(seq: 5, head: 3))
        // A later peer that holds less does not lift it: another already named AU:5.
        #expect(try await restored.confirmOwnHead(peerHolds: 3) == .awaiting(seq: 5, head: 3))
        #expect(try restored.localWritePause()?.awaitingSeq == 5)
        #expect(throws: PaxsyncError.self) { try restored.commit([Records.facility("AU-NEW")]) }

        // AU's own entries 4 and 5 come back from a peer.
        #expect(try restored.apply(Array(try live.allEntries().suffix(2))) == [.applied, .applied])
        #expect(try await restored.confirmOwnHead(peerHolds: 0) == .confirmed(head: 5))
        let next = try #require(try restored.commit([Records.facility("AU-NEW")]))
        #expect(next.id.description == "AU:6")
        // The live replica takes it as the next entry of the same chain.
        #expect(try live.apply([next]) == [.applied])
        #expect(try live.digest() == restored.digest())
    }

    @Test("without the pause, the restored replica would sign a second AU:4: the equivocation the pause prevents")
    func withoutPause() throws {
        let (live, restored) = try liveAndRestored()
        let fork = try #require(try restored.commit([Records.facility("AU-OTHER")]))
        #expect(fork.id.description == "AU:4")
        #expect(fork.hash != (try live.allEntries()[3]).hash)
    }

    @Test("resume lifts the pause by hand and says what it lifted; a second pause keeps the first reason")
    func resume() throws {
        let (_, restored) = try liveAndRestored()
        try restored.pauseLocalWrites(reason: "first")
        try restored.pauseLocalWrites(reason: "second")
        #expect(try restored.localWritePause()?.reason == "first")
        #expect(try restored.resumeLocalWrites()?.reason == "first")
        #expect(try restored.resumeLocalWrites() == nil)
        #expect(try restored.commit([Records.facility("AU-NEW")]) != nil)
    }
}
