import Crypto
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// Five founders and a candidate (CA) with its own key, and the replicas built for them.
struct GovernanceFixture {
    static let founders = ["AU", "JP", "KR", "SG", "IL"]
    let coalition = TestCoalition(founders + ["CA"])
    let dir = TemporaryDirectory("paxsync-governance")

    /// The founders' roster (CA is not in it).
    var foundersRoster: Roster {
        Roster(coalition: coalition.roster.coalition, members: coalition.roster.members.filter { $0.id != "CA" })
    }

    var candidate: GovernedMember {
        GovernedMember(id: "CA", country: "CA", name: "Canada", signingKey: coalition.keys["CA"]!.key.publicKey.rawRepresentation.map { $0 },
                       address: "127.0.0.1:7600", tlsPin: nil)
    }

    /// A founder's replica: the founders' roster, founded by it.
    func founder(_ id: String) throws -> Replica {
        try Replica(path: dir.file("\(id)-\(UUID().uuidString.prefix(6)).sqlite"), nodeID: id, roster: foundersRoster,
                    signingKey: coalition.keys[id], clock: ManualClock(milliseconds: TestTime.start),
                    configuration: ReplicaConfiguration(founders: foundersRoster))
    }

    /// CA's replica: it lists itself beside the founders, but governance starts from the founders alone.
    func candidateReplica() throws -> Replica {
        try Replica(path: dir.file("CA-\(UUID().uuidString.prefix(6)).sqlite"), nodeID: "CA", roster: coalition.roster,
                    signingKey: coalition.keys["CA"], clock: ManualClock(milliseconds: TestTime.start),
                    configuration: ReplicaConfiguration(founders: foundersRoster))
    }

    /// The distinct entries of `logs` (by hash), in a fixed order to shuffle from.
    static func distinct(_ logs: [SignedEntry]) -> [SignedEntry] {
        var unique: [String: SignedEntry] = [:]
        for e in logs { unique[e.hash.hex] = e }
        return unique.values.sorted { $0.id < $1.id || ($0.id == $1.id && $0.hash.hex < $1.hash.hex) }
    }

    /// Applies `entries` to `node` in an order `rng` shuffles and in random batches of 1 to 4,
    /// as sessions would deliver them.
    static func deliverShuffled(_ entries: [SignedEntry], to node: Replica, rng: inout SplitMix64) async throws {
        var order = entries
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var rest = order[...]
        while !rest.isEmpty {
            let n = Int(rng.next() % 4) + 1
            try node.apply(Array(rest.prefix(n)))
            rest = rest.dropFirst(n)
            // Synchronous work: leave the cooperative threads to other tests between batches.
            await Task.yield()
        }
    }

    /// A CA entry signed by CA, written without a replica (CA cannot write before its admission).
    func caEntry(seq: UInt64 = 1, prev: [UInt8] = []) -> SignedEntry {
        let cs = ChangeSet(origin: "CA", seq: seq, hlc: HLC(physicalMilliseconds: TestTime.start + 50, logical: 0), prevHash: prev,
                           changes: [RowChange(table: "facilities", key: "CA-SUDBURY", op: .create, fields: [
                               FieldChange(name: "name", value: .text("Sudbury")), FieldChange(name: "kind", value: .text("mine")),
                               FieldChange(name: "country", value: .text("CA")), FieldChange(name: "latitude", value: .real(46.5)),
                               FieldChange(name: "longitude", value: .real(-81.0))])])
        return coalition.sign(cs)
    }
}

@Suite("Governance: proposals and approvals decide membership by quorum (PROTOCOL §3.5)")
struct GovernanceTests {
    let f = GovernanceFixture()

    @Test("CA proposed by AU: with 2 approvals nothing changes; the 3rd admits it and its quarantined entry is accepted")
    func admission() throws {
        let au = try f.founder("AU"), jp = try f.founder("JP"), kr = try f.founder("KR")
        try au.commit([Records.facility("AU-A")])
        let proposal = try au.propose(.admit(f.candidate), reason: "Canada joins")
        #expect(proposal.changeSet.formatVersion == 3)
        // CA's first entry arrives before its admission: quarantined as unknown-origin, not blocking.
        let early = f.caEntry()
        guard case .quarantined(let why) = try au.apply([early])[0] else { Issue.record("CA's entry was not quarantined"); return }
        #expect(why.code == .unknownOrigin)
        // JP approves: AU's proposal + JP = 2 of 5, not more than half.
        try jp.apply(try au.allEntries())
        try jp.approve(proposal.id)
        try au.apply(try jp.allEntries())
        let pending = try #require(au.governance.proposals[proposal.id])
        #expect(pending.approvals.map(\.member) == ["AU", "JP"] && !pending.certified && pending.needed == 3)
        #expect(pending.missing == ["IL", "KR", "SG"])
        #expect(au.governance.members["CA"] == nil && au.roster.member("CA") == nil)
        // KR's approval is the third: CA is a member everywhere it arrives, and its entry counts.
        try kr.apply(try jp.allEntries())
        try kr.approve(proposal.id)
        try au.apply(try kr.allEntries())
        #expect(au.governance.members["CA"]?.status == .active && au.governance.members["CA"]?.admittedBy == proposal.id)
        #expect(au.roster.member("CA")?.name == "Canada")
        #expect(try au.quarantined().isEmpty)
        #expect(try au.query("SELECT id FROM facilities WHERE owner = 'CA'").rows.count == 1)
        // CA's own node, founded by the same founders, reaches the same state from the logs, and may write.
        let ca = try f.candidateReplica()
        #expect(throws: PaxsyncError.self) { try ca.commit([Records.facility("CA-X", country: "CA")]) }
        try ca.apply(try au.allEntries())
        #expect(ca.governance == au.governance)
        try ca.commit([Records.facility("CA-ELLIOT", country: "CA")])
        try au.apply(try ca.allEntries())
        #expect(try au.digest() == ca.digest())
    }

    @Test("a forged approval changes nothing: signed by a non-member (quarantined, unknown origin) or a member's second (quarantined, blocking)")
    func forgedApprovals() throws {
        let au = try f.founder("AU"), jp = try f.founder("JP")
        let proposal = try au.propose(.suspend("IL"), reason: "audit")
        try jp.apply(try au.allEntries())
        let approval = try jp.approve(proposal.id)
        #expect(throws: PaxsyncError.self) { try jp.approve(proposal.id) }
        // A second approval by JP, signed with JP's key, written by hand.
        var second = approval.changeSet
        second.seq += 1
        second.prevHash = approval.hash
        let forgedSecond = f.coalition.sign(second, as: "JP")
        // An approval by CA, not a member.
        let byOutsider = f.coalition.sign(ChangeSet(origin: "CA", seq: 1, hlc: second.hlc, prevHash: [], deps: ["AU": proposal.changeSet.seq],
                                                    changes: [], formatVersion: 3, governance: approval.changeSet.governance))
        let outcomes = try au.apply([approval, forgedSecond, byOutsider])
        #expect(outcomes[0] == .applied)
        guard case .quarantined(let e1) = outcomes[1], case .quarantined(let e2) = outcomes[2] else {
            Issue.record("\(outcomes)"); return
        }
        #expect(e1.code == .invalidState && e1.description.contains("already approved"))
        #expect(e2.code == .unknownOrigin)
        #expect(au.governance.proposals[proposal.id]?.approvals.map(\.member) == ["AU", "JP"])
        #expect(au.governance.members["IL"]?.status == .active)
    }

    @Test("an origin blocked by an invalid entry is released by a void decision and writes again")
    func voidReleasesABlockedOrigin() throws {
        let au = try f.founder("AU"), jp = try f.founder("JP"), kr = try f.founder("KR"), sg = try f.founder("SG")
        try au.commit([Records.facility("AU-A")])
        try jp.apply(try au.allEntries())
        // JP's entry updates a facility it does not own: quarantined everywhere, JP blocked.
        try jp.commit([Records.facility("JP-A", country: "JP")])
        let jpEntries = try jp.allEntries().filter { $0.changeSet.origin == "JP" }
        let bad = f.coalition.sign(ChangeSet(origin: "JP", seq: 2, hlc: HLC(physicalMilliseconds: TestTime.start + 5, logical: 0),
                                             prevHash: jpEntries[0].hash, deps: ["AU": 1],
                                             changes: [RowChange(table: "facilities", key: "AU-A", op: .update,
                                                                 fields: [FieldChange(name: "name", value: .text("taken"))])]))
        let afterBad = f.coalition.sign(ChangeSet(origin: "JP", seq: 3, hlc: HLC(physicalMilliseconds: TestTime.start + 6, logical: 0),
                                                  prevHash: bad.hash, deps: ["AU": 1],
                                                  changes: [RowChange(table: "facilities", key: "JP-B", op: .create, fields: [
                                                      FieldChange(name: "name", value: .text("B")), FieldChange(name: "kind", value: .text("mine")),
                                                      FieldChange(name: "country", value: .text("JP")), FieldChange(name: "latitude", value: .real(1)),
                                                      FieldChange(name: "longitude", value: .real(1))])]))
        let outcomes = try au.apply(jpEntries + [bad, afterBad])
        #expect(outcomes[0] == .applied)
        guard case .quarantined = outcomes[1], case .held(.originQuarantined, _) = outcomes[2] else { Issue.record("\(outcomes)"); return }
        // AU proposes the void; KR and SG approve: JP:2 joins the log as evidence, JP:3 counts.
        let proposal = try au.propose(.void(EntryRef(origin: "JP", seq: 2, hash: bad.hash)), reason: "JP's operator error")
        for node in [kr, sg] {
            try node.apply(try au.allEntries())
            try node.approve(proposal.id)
            try au.apply(try node.allEntries())
        }
        #expect(au.governance.voids[EntryID(origin: "JP", seq: 2)] == [bad.hash])
        #expect(try au.quarantined().isEmpty && au.held().isEmpty)
        #expect(try au.versionVector()["JP"] == 3)
        #expect(try au.query("SELECT name FROM facilities WHERE id = 'AU-A'").rows.first?.first?.description == "Facility")
        #expect(try au.query("SELECT id FROM facilities WHERE id = 'JP-B'").rows.count == 1)
        let voided = try au.logEntries(LogFilter(origin: "JP")).first { $0.entry == "JP:2" }
        #expect(voided?.cut?.contains("voided by decision \(proposal.id)") == true)
        // A node that learns of the void first appends JP:2 as evidence directly, and reaches the same state.
        let il = try f.founder("IL")
        try il.apply(try au.allEntries().filter { $0.changeSet.origin != "JP" })
        try il.apply(try au.allEntries().filter { $0.changeSet.origin == "JP" })
        #expect(try il.digest() == au.digest() && il.quarantined().isEmpty)
    }

    @Test("IL removed with a cut: an entry IL signs afterwards leaves the merge wherever it arrived first; its older entries still count")
    func removalCut() throws {
        let au = try f.founder("AU"), jp = try f.founder("JP"), kr = try f.founder("KR"), il = try f.founder("IL")
        try il.commit([Records.facility("IL-NEGEV", name: "Negev", country: "IL")])
        try au.apply(try il.allEntries())
        let proposal = try au.propose(.remove(member: "IL", cutSeq: 1), reason: "left the coalition")
        // IL, unaware, renames its facility: IL:2, beyond the cut.
        try il.commit([Records.update(Schema.facilities, ["IL-NEGEV"], ["name": .text("Negev after removal")])])
        let early = try f.founder("SG")  // applies IL:2 before the decision
        try early.apply(try il.allEntries())
        #expect(try early.query("SELECT name FROM facilities WHERE id = 'IL-NEGEV'").rows.first?.first?.description == "Negev after removal")
        for node in [jp, kr] {
            try node.apply(try au.allEntries())
            try node.approve(proposal.id)
            try au.apply(try node.allEntries())
        }
        #expect(au.governance.members["IL"]?.status == .removed && au.roster.member("IL") == nil)
        #expect(throws: PaxsyncError.self) { try il.apply(try au.allEntries()); try il.commit([Records.facility("IL-X", country: "IL")]) }
        // AU gets IL:2 after the decision; SG got it before: both count IL:1 only.
        try au.apply(try il.allEntries())
        try early.apply(try au.allEntries())
        for node in [au, early] {
            #expect(try node.query("SELECT name FROM facilities WHERE id = 'IL-NEGEV'").rows.first?.first?.description == "Negev")
            #expect(try node.versionVector()["IL"] == 2)
        }
        #expect(try au.digest() == early.digest())
        #expect(au.governance == early.governance)
        #expect(try au.logEntries(LogFilter(origin: "IL")).map { $0.cut != nil } == [false, true])
        #expect(try au.allEntries().filter { $0.changeSet.origin == "IL" }.allSatisfy { au.signatureIsValid($0) })
    }

    @Test("random arrival orders of governance and data entries give equal digests, rosters and conflicts", arguments: 0..<12)
    func orderIndependence(seed: UInt64) async throws {
        // One history: admission of CA, removal of IL with a cut, a suspension, IL writing past its cut, CA writing.
        let au = try f.founder("AU"), jp = try f.founder("JP"), kr = try f.founder("KR"), il = try f.founder("IL")
        try il.commit([Records.facility("IL-A", country: "IL")])
        try au.commit([Records.facility("AU-A")])
        try jp.commit([Records.facility("JP-A", country: "JP")])
        for n in [au, jp, kr] { try n.apply(try il.allEntries() + au.allEntries() + jp.allEntries()) }
        let admit = try au.propose(.admit(f.candidate), reason: "")
        let remove = try jp.propose(.remove(member: "IL", cutSeq: 1), reason: "")
        try il.commit([Records.update(Schema.facilities, ["IL-A"], ["name": .text("late")])])
        try jp.commit([Records.update(Schema.facilities, ["JP-A"], ["name": .text("JP renamed")])])
        for n in [au, jp, kr] { try n.apply(try au.allEntries() + jp.allEntries()) }
        try kr.approve(admit.id)
        try kr.approve(remove.id)
        try au.approve(remove.id)
        try jp.approve(admit.id)
        try au.apply(try kr.allEntries() + jp.allEntries())
        try au.apply([f.caEntry()])
        var all: [SignedEntry] = []
        for n in [au, jp, kr, il] { all += try n.allEntries() }
        all.append(f.caEntry())
        let entries = GovernanceFixture.distinct(all)
        var rng = SplitMix64(seed: seed)
        var reference: (digest: String, governance: GovernanceState, conflicts: Int)?
        for _ in 0..<3 {
            let node = try f.founder("SG")
            try await GovernanceFixture.deliverShuffled(entries, to: node, rng: &rng)
            let state = (try node.digest().hex, node.governance, try node.conflicts().count)
            #expect(state.1.members["CA"]?.status == .active && state.1.members["IL"]?.status == .removed)
            #expect(try node.query("SELECT name FROM facilities WHERE id = 'IL-A'").rows.first?.first?.description == "Facility")
            if let reference {
                #expect(state.0 == reference.digest && state.1 == reference.governance && state.2 == reference.conflicts)
            } else {
                reference = state
            }
        }
    }
}
