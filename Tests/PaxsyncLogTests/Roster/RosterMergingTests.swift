import PaxsyncLog
import PaxsyncModel
import PaxsyncTestSupport
import Testing

@Suite("Roster merging")
struct RosterMergingTests {
    /// Five members with keys; rosters of any subset are cut from it.
    let members = TestCoalition(["AU", "JP", "KR", "SG", "IL"])

    func roster(_ ids: [String], coalition: String = "test coalition") -> Roster {
        Roster(coalition: coalition, members: ids.map { members.roster.member($0)! })
    }

    @Test("members not yet listed are appended in the other roster's order, and reported as added")
    func appendsNewMembers() throws {
        let (merged, added) = try roster(["AU"], coalition: "ours").merging(roster(["KR", "AU", "JP"], coalition: "theirs"), source: "kr.json")
        #expect(merged.members.map(\.id) == ["AU", "KR", "JP"])
        #expect(added.map(\.id) == ["KR", "JP"])
        #expect(merged.coalition == "ours")
        try merged.validate(source: "merged")
    }

    @Test("merging a roster whose members are all listed already changes nothing")
    func nothingNew() throws {
        let ours = roster(["AU", "JP"])
        let (merged, added) = try ours.merging(roster(["JP"]), source: "jp.json")
        #expect(merged == ours)
        #expect(added.isEmpty)
    }

    @Test("a member listed in both keeps the entry already here: name and address are not taken over")
    func keepsExistingEntry() throws {
        var theirs = roster(["JP"])
        theirs.members[0].name = "Renamed"
        theirs.members[0].address = "10.9.9.9:7400"
        let ours = roster(["AU", "JP"])
        let (merged, _) = try ours.merging(theirs, source: "jp.json")
        #expect(merged.member("JP") == ours.member("JP"))
    }

    @Test("a member listed with another key is refused, naming the member and the source, and nothing is merged")
    func conflictingKey() throws {
        var theirs = roster(["KR", "JP"])
        theirs.members[1].signingKey = members.roster.member("SG")!.signingKey
        #expect {
            try roster(["AU", "JP"]).merging(theirs, source: "jp-roster.json")
        } throws: { error in
            guard let error = error as? PaxsyncError else { return false }
            return error.code == .badInput && error.subject == "jp-roster.json" && error.message.contains("JP") && error.message.contains("another key")
        }
    }

    @Test("adding one member appends it; an id already listed is refused whatever its key")
    func addingOne() throws {
        let ours = roster(["AU"])
        let jp = members.roster.member("JP")!
        #expect(try ours.adding(jp).members.map(\.id) == ["AU", "JP"])
        var sameIDOtherKey = members.roster.member("AU")!
        sameIDOtherKey.signingKey = jp.signingKey
        for member in [members.roster.member("AU")!, sameIDOtherKey] {
            #expect {
                try ours.adding(member)
            } throws: { error in
                (error as? PaxsyncError).map { $0.code == .usage && $0.subject == "AU" } ?? false
            }
        }
    }
}
