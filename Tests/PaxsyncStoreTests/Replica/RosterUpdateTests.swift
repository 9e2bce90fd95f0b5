import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Replacing the roster of a running replica")
struct RosterUpdateTests {
    let coalition = TestCoalition(["AU", "JP", "KR"])
    let dir = TemporaryDirectory("paxsync-roster-update")

    @Test("a member added releases its entries quarantined as unknown-origin; a key change is refused")
    func addReleasesQuarantine() throws {
        let kr = try coalition.replica("KR", in: dir)
        try kr.commit([Records.facility("KR-A", country: "KR")])
        try kr.commit([Records.facility("KR-B", country: "KR")])
        var withoutKR = coalition.roster
        withoutKR.members.removeAll { $0.id == "KR" }
        let au = try Replica(path: dir.file("au-\(UUID().uuidString.prefix(6)).sqlite"), nodeID: "AU", roster: withoutKR,
                             signingKey: coalition.keys["AU"], clock: ManualClock(milliseconds: TestTime.start))
        let outcomes = try au.apply(try kr.allEntries())
        #expect(outcomes.allSatisfy { if case .quarantined(let e) = $0 { e.code == .unknownOrigin } else { false } }, "\(outcomes)")

        let change = try au.updateRoster(coalition.roster, source: "roster.json")
        #expect(change.added == ["KR"] && change.removed.isEmpty)
        #expect(change.released.map(\.description) == ["KR:1", "KR:2"])
        #expect(try au.quarantined().isEmpty && au.logCount() == 2)
        #expect(try au.digest() == kr.digest())

        var rekeyed = coalition.roster
        rekeyed.members[2].signingKey = NodeSigningKey().publicKeyBase64
        #expect(throws: PaxsyncError.self) { try au.updateRoster(rekeyed, source: "roster.json") }
        var withoutAU = coalition.roster
        withoutAU.members.removeAll { $0.id == "AU" }
        #expect(throws: PaxsyncError.self) { try au.updateRoster(withoutAU, source: "roster.json") }
        #expect(au.memberIDs == ["AU", "JP", "KR"], "a refused roster changes nothing")
        let removal = try au.updateRoster(withoutKR, source: "roster.json")
        #expect(removal.removed == ["KR"] && au.memberIDs == ["AU", "JP"])
    }
}
