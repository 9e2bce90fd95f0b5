import Crypto
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// Revoking a lost key and resolving an equivocation (PROTOCOL §3.5): a decision
/// names the branch of an origin that stands from a seq on; the other branch
/// leaves the merge and the log (kept as evidence), whatever order things arrive in.
@Suite("Governance: revoked keys and resolved equivocations supersede a branch (PROTOCOL §3.5)")
struct BranchDecisionTests {
    let f = GovernanceFixture()

    /// An entry of `origin` signed with `signer`'s key (the roster key of `origin` by default).
    func entry(_ origin: String, _ seq: UInt64, prev: [UInt8], at offset: UInt64, deps: [String: UInt64] = [:],
               _ change: RowChange, key: Curve25519.Signing.PrivateKey? = nil) -> SignedEntry {
        let cs = ChangeSet(origin: origin, seq: seq, hlc: HLC(physicalMilliseconds: TestTime.start + offset, logical: 0), prevHash: prev,
                           deps: deps, changes: [change])
        return key.map { SignedEntry(signing: cs, with: $0) } ?? f.coalition.sign(cs)
    }

    func rename(_ id: String, _ name: String) -> RowChange {
        RowChange(table: "facilities", key: id, op: .update, fields: [FieldChange(name: "name", value: .text(name))])
    }

    func create(_ id: String, country: String) -> RowChange {
        RowChange(table: "facilities", key: id, op: .create, fields: [
            FieldChange(name: "name", value: .text(id)), FieldChange(name: "kind", value: .text("mine")),
            FieldChange(name: "country", value: .text(country)), FieldChange(name: "latitude", value: .real(1)),
            FieldChange(name: "longitude", value: .real(1))])
    }

    func name(_ replica: Replica, _ id: String) throws -> String? {
        try replica.query("SELECT name FROM facilities WHERE id = '\(id)'").rows.first?.first?.description
    }

    /// Proposes on `proposer` and has `approvers` approve, exchanging logs; returns the proposal.
    @discardableResult
    func decide(_ decision: GovernanceDecision, on proposer: Replica, approvers: [Replica]) throws -> SignedEntry {
        let proposal = try proposer.propose(decision, reason: "test")
        for node in approvers {
            try node.apply(try proposer.allEntries())
            try node.approve(proposal.id)
            try proposer.apply(try node.allEntries())
        }
        return proposal
    }

    @Test("KR's stolen key revoked from KR:2: the thief's entries leave the merge on every node, KR writes with its new key, the log verifies")
    func revocation() throws {
        let au = try f.founder("AU"), jp = try f.founder("JP"), sg = try f.founder("SG")
        var kr = try f.founder("KR")
        try kr.commit([Records.facility("KR-ULSAN", name: "Ulsan", country: "KR")])
        let kr1 = try kr.allEntries()[0]
        // The thief signs KR:2 and KR:3 with KR's key; AU applies KR:2 before anyone notices.
        let stolen2 = entry("KR", 2, prev: kr1.hash, at: 10, rename("KR-ULSAN", "stolen"))
        let stolen3 = entry("KR", 3, prev: stolen2.hash, at: 11, create("KR-FAKE", country: "KR"))
        try au.apply([kr1, stolen2])
        #expect(try name(au, "KR-ULSAN") == "stolen")
        // KR's new key; AU proposes the revocation from KR:2, JP and SG approve (3 of 5; KR takes no part).
        let newKey = NodeSigningKey()
        let newPublic = Array(newKey.key.publicKey.rawRepresentation)
        let proposal = try decide(.revoke(member: "KR", fromSeq: 2, newKey: newPublic), on: au, approvers: [jp, sg])
        #expect(au.governance.proposals[proposal.id]?.effective == true)
        #expect(au.governance.revocation(of: "KR", at: 5)?.key == newPublic)
        // On AU the thief's KR:2 stays in the log, superseded, as evidence; the record is as KR left it.
        #expect(try name(au, "KR-ULSAN") == "Ulsan")
        #expect(try au.versionVector()["KR"] == 1)
        #expect(try au.logEntries(LogFilter(origin: "KR")).contains {
            $0.entry == "KR:2" && $0.hash == stolen2.hash.hex && $0.cut?.hasPrefix("superseded: signed with KR's key revoked") == true })
        // The thief's KR:3 arriving now fails its signature: quarantined, blocking nothing.
        guard case .quarantined(let e) = try au.apply([stolen3])[0] else { Issue.record("KR:3 not quarantined"); return }
        #expect(e.code == .badSignature)
        // KR's node: the old key may no longer write; with the new key it writes KR:2.
        try kr.apply(try au.allEntries())
        #expect(throws: PaxsyncError.self) { try kr.commit([Records.update(Schema.facilities, ["KR-ULSAN"], ["name": .text("x")])]) }
        kr = try Replica(path: kr.path, nodeID: "KR", roster: f.foundersRoster, signingKey: newKey, clock: ManualClock(milliseconds: TestTime.start + 100),
                         configuration: ReplicaConfiguration(founders: f.foundersRoster))
        try kr.commit([Records.update(Schema.facilities, ["KR-ULSAN"], ["name": .text("Ulsan refinery")])])
        let outcomes = try au.apply(try kr.allEntries())
        #expect(!outcomes.contains { if case .quarantined = $0 { true } else { false } }, "\(outcomes)")
        #expect(try name(au, "KR-ULSAN") == "Ulsan refinery" && au.versionVector()["KR"] == 2)
        #expect(try au.digest() == kr.digest())
        // A node that gets the thief's entries and KR's new ones before the decision reaches the same state.
        let il = try f.founder("IL")
        try il.apply([kr1, stolen2, stolen3] + kr.allEntries().filter { $0.changeSet.origin == "KR" })
        try il.apply(try au.allEntries())
        #expect(try il.digest() == au.digest() && il.governance == au.governance)
        #expect(try il.versionVector()["KR"] == 2)
        // The log verifies: KR:1 with the first key, KR:2 with the key the decision installed.
        var verifier = LogVerifier(roster: f.foundersRoster)
        for (i, e) in try au.standingEntries().enumerated() { try verifier.check(body: e.body, signature: e.signature, position: "entry \(i + 1)") }
        #expect(verifier.report.ok && verifier.report.rotations.contains { $0.contains("revoked by decision \(proposal.id)") })
        try checkBundle(of: au, superseded: ["KR:2"])
    }

    /// A bundle of `replica`'s log carries the superseded entries and lists them; it
    /// verifies (each justified by a decision) and replays to the replica's digest.
    func checkBundle(of replica: Replica, superseded: [String]) throws {
        let bundle = f.dir.file("\(replica.nodeID)-\(UUID().uuidString.prefix(6)).bundle")
        #expect(try Replay.exportBundle(replica, to: bundle, now: TestTime.start) == replica.logCount())
        #expect(try BundleReader(path: bundle).header.superseded.map(\.id.description) == superseded)
        let report = try Replay.verify(.bundle(path: bundle))
        #expect(report.ok, "\(report.firstError ?? "")")
        // Lines read "KR:2: superseded by the revocation by proposal AU:1".
        let named = report.superseded.map { String($0.prefix { $0 != " " }.dropLast()) }
        #expect(named == superseded, "\(report.superseded)")
        let replayed = try Replay.run(from: .bundle(path: bundle), into: f.dir.file("replayed-\(UUID().uuidString.prefix(6)).sqlite"))
        #expect(replayed.digest == (try replica.digest().hex))
        // A bundle that marks an entry superseded without a decision does not verify (the last entry: its chain stays whole).
        let standing = try replica.standingEntries()
        let forged = f.dir.file("forged-\(UUID().uuidString.prefix(6)).bundle")
        let writer = try BundleWriter(path: forged, header: .init(exportedBy: replica.nodeID, exportedAtMilliseconds: TestTime.start,
                                                                   roster: replica.baseRoster, entryCount: UInt64(standing.count),
                                                                   superseded: [EntryRef(origin: standing.last!.changeSet.origin, seq: standing.last!.changeSet.seq, hash: standing.last!.hash)]))
        for e in standing { try writer.append(e) }
        try writer.close()
        let forgedError = try Replay.verify(.bundle(path: forged)).firstError
        #expect(forgedError?.contains("no decision in the log supersedes it") == true, "\(forgedError ?? "verified")")
    }

    @Test("JP's equivocation at JP:2 resolved by keeping one branch: nodes that held the other supersede it, JP writes again, digests equal")
    func resolution() throws {
        let au = try f.founder("AU"), kr = try f.founder("KR"), sg = try f.founder("SG"), jp = try f.founder("JP")
        try jp.commit([Records.facility("JP-A", country: "JP")])
        let jp1 = try jp.allEntries()[0]
        // Branch A: JP's node writes JP:2 and JP:3. Branch B: a restored backup signs JP:2' and JP:3'.
        try jp.commit([Records.update(Schema.facilities, ["JP-A"], ["name": .text("branch A")])])
        try jp.commit([Records.update(Schema.facilities, ["JP-A"], ["name": .text("branch A again")])])
        let branchA = try jp.allEntries().filter { $0.changeSet.origin == "JP" }
        let b2 = entry("JP", 2, prev: jp1.hash, at: 20, rename("JP-A", "branch B"))
        let b3 = entry("JP", 3, prev: b2.hash, at: 21, create("JP-B", country: "JP"))
        // AU holds A and then sees B: equivocation, JP blocked. KR holds B and then sees A.
        let onAU = try au.apply(branchA + [b2, b3])
        // b3 meets branch A's JP:3: a second equivocation, kept as evidence too.
        guard case .equivocation = onAU[3], case .equivocation = onAU[4] else { Issue.record("\(onAU)"); return }
        try kr.apply([jp1, b2, b3] + branchA)
        #expect(try kr.origins().first { $0.origin == "JP" }?.status == .equivocating)
        // AU proposes keeping B; KR and SG approve (JP takes no part).
        let proposal = try decide(.resolve(EntryRef(origin: "JP", seq: 2, hash: b2.hash)), on: au, approvers: [kr, sg])
        #expect(au.governance.proposals[proposal.id]?.effective == true)
        for node in [au, kr] {
            try node.apply(try au.allEntries() + kr.allEntries())
            #expect(try node.origins().first { $0.origin == "JP" }?.status == .ok)
            #expect(try name(node, "JP-A") == "branch B" && node.query("SELECT id FROM facilities WHERE id = 'JP-B'").rows.count == 1)
            #expect(try node.versionVector()["JP"] == 3)
        }
        #expect(try au.logEntries(LogFilter(origin: "JP")).filter { $0.cut?.hasPrefix("superseded:") == true }.map(\.hash)
                == branchA.dropFirst().map(\.hash.hex))
        #expect(try au.digest() == kr.digest())
        // A's entries arriving again are evidence already held; JP's own node supersedes its branch A and writes on B.
        #expect(try au.apply(branchA).allSatisfy { $0 == .duplicate })
        try jp.apply(try au.allEntries())
        #expect(try jp.versionVector()["JP"] == 3 && name(jp, "JP-A") == "branch B")
        try jp.commit([Records.update(Schema.facilities, ["JP-B"], ["name": .text("after the resolution")])])
        try au.apply(try jp.allEntries())
        #expect(try au.versionVector()["JP"] == 4 && au.digest() == jp.digest())
        // A node that never saw the equivocation: branch A arriving after the decision is superseded, never blocks.
        let il = try f.founder("IL")
        try il.apply(try au.standingEntries())
        let late = try il.apply(branchA)
        #expect(late.dropFirst().allSatisfy { if case .superseded = $0 { true } else { false } }, "\(late)")
        #expect(try il.digest() == au.digest() && il.origins().allSatisfy { $0.status == .ok })
        try checkBundle(of: au, superseded: ["JP:2", "JP:3"])
    }

    @Test("random arrival orders with a revoked key's entries and an equivocation's both branches give equal digests, rosters and conflicts",
          arguments: 0..<8)
    func orderIndependence(seed: UInt64) async throws {
        let au = try f.founder("AU"), jp = try f.founder("JP"), sg = try f.founder("SG"), il = try f.founder("IL")
        let kr = try f.founder("KR")
        try kr.commit([Records.facility("KR-A", country: "KR")])
        try jp.commit([Records.facility("JP-A", country: "JP")])
        try au.commit([Records.facility("AU-A")])
        let kr1 = try kr.allEntries()[0], jp1 = try jp.allEntries()[0]
        // KR's stolen key signs KR:2; JP forks at JP:2 (branch A: a2; branch B: b2, b3).
        let stolen = entry("KR", 2, prev: kr1.hash, at: 30, rename("KR-A", "stolen"))
        let a2 = entry("JP", 2, prev: jp1.hash, at: 31, rename("JP-A", "A"))
        let b2 = entry("JP", 2, prev: jp1.hash, at: 32, rename("JP-A", "B"))
        let b3 = entry("JP", 3, prev: b2.hash, at: 33, create("JP-B", country: "JP"))
        for n in [au, sg, il] { try n.apply([kr1, jp1, stolen, a2] + au.allEntries()) }
        // AU writes after seeing the thief's KR:2 and JP's branch A (its deps name them).
        try au.commit([Records.update(Schema.facilities, ["AU-A"], ["name": .text("AU after")])])
        let newKey = NodeSigningKey()
        try decide(.revoke(member: "KR", fromSeq: 2, newKey: Array(newKey.key.publicKey.rawRepresentation)), on: au, approvers: [sg, il])
        try au.apply([b2, b3])
        try decide(.resolve(EntryRef(origin: "JP", seq: 2, hash: b2.hash)), on: sg, approvers: [au, il])
        // KR learns the decisions and, with its new key, writes KR:2 and KR:3.
        try kr.apply(try sg.allEntries() + au.allEntries() + il.allEntries())
        let krNew = try Replica(path: kr.path, nodeID: "KR", roster: f.foundersRoster, signingKey: newKey, clock: ManualClock(milliseconds: TestTime.start + 200),
                                configuration: ReplicaConfiguration(founders: f.foundersRoster))
        try krNew.commit([Records.update(Schema.facilities, ["KR-A"], ["name": .text("KR new key")])])
        try krNew.commit([Records.facility("KR-B", country: "KR")])
        var all: [SignedEntry] = [kr1, jp1, stolen, a2, b2, b3]
        for n in [au, sg, il, krNew] { all += try n.allEntries() }
        let entries = GovernanceFixture.distinct(all)
        var rng = SplitMix64(seed: seed)
        var reference: (digest: String, governance: GovernanceState, conflicts: Int)?
        for _ in 0..<3 {
            let node = try f.founder("IL")
            try await GovernanceFixture.deliverShuffled(entries, to: node, rng: &rng)
            let held = try node.held()
            #expect(held.isEmpty, "seed \(seed): \(held)")
            #expect(try node.origins().allSatisfy { $0.status == .ok })
            #expect(try name(node, "KR-A") == "KR new key" && name(node, "JP-A") == "B")
            let vector = try node.versionVector()
            let quarantined = try node.quarantined().map { "\($0.entry ?? "") \($0.reason)" }
            #expect(vector["KR"] == 3 && vector["JP"] == 3, "seed \(seed): \(vector), \(quarantined)")
            let state = (try node.digest().hex, node.governance, try node.conflicts().count)
            if let reference {
                #expect(state.0 == reference.digest && state.1 == reference.governance && state.2 == reference.conflicts,
                        "\(state.1.proposals.values.map { "\($0.id) \($0.effective) \($0.approvals.map(\.member))" }.sorted()) vs \(reference.governance.proposals.values.map { "\($0.id) \($0.effective) \($0.approvals.map(\.member))" }.sorted())")
            } else {
                reference = state
            }
        }
    }
}
