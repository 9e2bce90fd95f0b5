import PaxsyncModel
import Testing

/// The membership a set of governance entries decides (PROTOCOL §3.5), without storage.
@Suite("Governance state: decisions by quorum of the members active in each proposal's past")
struct GovernanceStateTests {
    static let founders = ["AU", "JP", "KR", "SG", "IL"].map {
        GovernedMember(id: $0, country: $0, name: $0, signingKey: Array(repeating: UInt8($0.utf8.first!), count: 32), address: "\($0):1", tlsPin: nil)
    }

    /// Builds entries with causal pasts given explicitly.
    struct History {
        var records: [GovernanceRecord] = []
        var heads: [String: UInt64] = [:]
        var time: UInt64 = 1

        /// `origin` writes `action`, having applied `seen` (each origin's highest seq).
        @discardableResult
        mutating func write(_ origin: String, _ action: GovernanceAction, seen: [String: UInt64] = [:]) -> GovernanceRecord {
            let seq = (heads[origin] ?? 0) + 1
            heads[origin] = seq
            time += 1
            let hash = Array("\(origin):\(seq)".utf8) + Array(repeating: 0, count: 32 - "\(origin):\(seq)".utf8.count)
            let record = GovernanceRecord(id: EntryID(origin: origin, seq: seq), hash: hash, stamp: Stamp(hlc: HLC(rawValue: time << 16), origin: origin),
                                          deps: seen.filter { $0.key != origin }, action: action)
            records.append(record)
            return record
        }

        /// Everything written so far, as a dependency vector.
        var all: [String: UInt64] { heads }

        func ref(_ r: GovernanceRecord) -> EntryRef { EntryRef(origin: r.id.origin, seq: r.id.seq, hash: r.hash) }

        func state(rule: QuorumRule = .majority) -> GovernanceState {
            GovernanceState.evaluate(founders: GovernanceStateTests.founders, rule: rule, records: records)
        }
    }

    static let ca = GovernedMember(id: "CA", country: "CA", name: "Canada", signingKey: Array(repeating: 9, count: 32), address: "ca:1", tlsPin: nil)

    @Test("the quorum rule: approvals × d > active × n", arguments: [(2, 5, false), (3, 5, true), (2, 4, false), (3, 4, true), (1, 1, true), (4, 6, true), (3, 6, false)])
    func rule(approvals: Int, active: Int, met: Bool) {
        #expect(QuorumRule.majority.isMet(approvals: approvals, active: active) == met)
        #expect((QuorumRule.majority.needed(active: active) <= approvals) == met)
    }

    @Test("an admission is decided by the approval that makes more than half, not before; approvals out of the proposal's hash do not count")
    func admission() {
        var h = History()
        let p = h.write("AU", .proposal(.admit(Self.ca), reason: ""))
        h.write("JP", .approval(h.ref(p)), seen: h.all)
        h.write("KR", .approval(EntryRef(origin: "AU", seq: 1, hash: Array(repeating: 7, count: 32))), seen: h.all)
        #expect(h.state().members["CA"] == nil)
        #expect(h.state().proposals[p.id]?.approvals.map(\.member) == ["AU", "JP"])
        h.write("SG", .approval(h.ref(p)), seen: h.all)
        let state = h.state()
        #expect(state.members["CA"]?.status == .active && state.members["CA"]?.admittedBy == p.id)
        #expect(state.proposals[p.id]?.effective == true && state.activeMembers.count == 6)
    }

    @Test("the order of the entries given never changes the state", arguments: 0..<20)
    func orderIndependence(seed: UInt64) {
        var h = History()
        let admit = h.write("AU", .proposal(.admit(Self.ca), reason: ""))
        let suspend = h.write("JP", .proposal(.suspend("IL"), reason: ""), seen: h.all)
        h.write("KR", .approval(h.ref(admit)), seen: h.all)
        h.write("KR", .approval(h.ref(suspend)), seen: h.all)
        h.write("SG", .approval(h.ref(admit)), seen: h.all)
        h.write("AU", .approval(h.ref(suspend)), seen: h.all)
        let quorum = h.write("SG", .proposal(.quorum(QuorumRule(numerator: 2, denominator: 3)), reason: ""), seen: h.all)
        h.write("CA", .approval(h.ref(quorum)), seen: h.all)
        h.write("IL", .approval(h.ref(quorum)), seen: h.all)
        let reference = h.state()
        var rng = SplitMix64(seed: seed)
        var shuffled = h.records
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let state = GovernanceState.evaluate(founders: Self.founders, rule: .majority, records: shuffled)
        #expect(state == reference)
        #expect(reference.members["CA"]?.status == .active && reference.members["IL"]?.status == .suspended)
        // The quorum change: IL was suspended in its past, so its approval does not count; SG and CA make 2 of 5 active.
        #expect(reference.proposals[quorum.id]?.ignoredApprovals.map(\.member) == ["IL"])
        #expect(reference.rule == .majority)
    }

    @Test("approvals count only from members active in the proposal's causal past")
    func activeInThePast() {
        var h = History()
        let suspend = h.write("AU", .proposal(.suspend("IL"), reason: ""))
        for m in ["JP", "KR"] { h.write(m, .approval(h.ref(suspend)), seen: h.all) }
        // A proposal written after the suspension: IL no longer counts, 4 active, 3 needed.
        let remove = h.write("AU", .proposal(.remove(member: "SG", cutSeq: 0), reason: ""), seen: h.all)
        h.write("IL", .approval(h.ref(remove)), seen: h.all)
        h.write("JP", .approval(h.ref(remove)), seen: h.all)
        #expect(h.state().members["SG"]?.status == .active, "IL's approval does not count")
        #expect(h.state().proposals[remove.id]?.needed == 3)
        h.write("KR", .approval(h.ref(remove)), seen: h.all)
        #expect(h.state().members["SG"]?.status == .removed && h.state().members["SG"]?.cutSeq == 0)
    }

    @Test("a proposal concurrent with another about the same member: the earlier stamp takes effect, the other changes nothing")
    func concurrentAdmissions() {
        var h = History()
        let first = h.write("AU", .proposal(.admit(Self.ca), reason: ""))
        var other = Self.ca
        other.signingKey = Array(repeating: 8, count: 32)
        let second = h.write("JP", .proposal(.admit(other), reason: ""))   // JP had not seen AU's
        for m in ["KR", "SG"] {
            h.write(m, .approval(h.ref(first)), seen: h.all)
            h.write(m, .approval(h.ref(second)), seen: h.all)
        }
        let state = h.state()
        #expect(state.proposals[first.id]?.effective == true && state.proposals[second.id]?.certified == true)
        #expect(state.proposals[second.id]?.effective == false)
        #expect(state.members["CA"]?.member.signingKey == Self.ca.signingKey)
    }

    @Test("proposals that can never apply are refused: an existing member, a stranger, the last active member, a proposer not active")
    func refusals() {
        var h = History()
        let existing = h.write("AU", .proposal(.admit(GovernedMember(id: "JP", country: "JP", name: "J", signingKey: Array(repeating: 5, count: 32),
                                                                         address: "x", tlsPin: nil)), reason: ""))
        let stranger = h.write("AU", .proposal(.suspend("ZZ"), reason: ""))
        let reinstate = h.write("AU", .proposal(.reinstate("JP"), reason: ""))
        let byOutsider = h.write("CA", .proposal(.suspend("AU"), reason: ""))
        let state = h.state()
        #expect(state.proposals[existing.id]?.refusal == "JP is already a member")
        #expect(state.proposals[stranger.id]?.refusal == "ZZ is not a member")
        #expect(state.proposals[reinstate.id]?.refusal == "JP is active, not suspended")
        #expect(state.proposals[byOutsider.id]?.refusal?.contains("not an active member") == true)
        #expect(state.proposals.values.allSatisfy { !$0.effective })
    }

    @Test("cuts: a removed member's entries beyond the cut and a voided entry's exact hash do not count; others do")
    func cuts() {
        var h = History()
        let remove = h.write("AU", .proposal(.remove(member: "IL", cutSeq: 4), reason: ""))
        let void = h.write("AU", .proposal(.void(EntryRef(origin: "JP", seq: 2, hash: Array(repeating: 1, count: 32))), reason: ""))
        for m in ["JP", "KR"] { h.write(m, .approval(h.ref(remove)), seen: h.all); h.write(m, .approval(h.ref(void)), seen: h.all) }
        let state = h.state()
        #expect(state.cut(EntryID(origin: "IL", seq: 4), hash: []) == nil)
        #expect(state.cut(EntryID(origin: "IL", seq: 5), hash: [])?.contains("removed") == true)
        #expect(state.cut(EntryID(origin: "JP", seq: 2), hash: Array(repeating: 1, count: 32))?.contains("voided") == true)
        #expect(state.cut(EntryID(origin: "JP", seq: 2), hash: Array(repeating: 2, count: 32)) == nil)
    }

    @Test("a member rotates its TLS key by declaring the new pin: its latest declaration counts, the pin before it has a grace period")
    func tlsPinRotation() {
        var h = History()
        h.write("KR", .tlsPin(Array(repeating: 1, count: 32)))
        let second = h.write("KR", .tlsPin(Array(repeating: 2, count: 32)))
        h.write("ZZ", .tlsPin(Array(repeating: 3, count: 32)))   // not a member: changes nothing
        let kr = h.state().members["KR"]
        #expect(kr?.member.tlsPin == Array(repeating: 2, count: 32) && kr?.tlsPinDeclaredBy == second.id)
        #expect(kr?.previousTLSPin == Array(repeating: 1, count: 32))
        #expect(kr?.previousTLSPinUntil == second.stamp.hlc.physicalMilliseconds + GovernanceState.previousTLSPinGraceMilliseconds)
        #expect(h.state().members["ZZ"] == nil)
        #expect(throws: PaxsyncError.self) { try GovernanceAction.tlsPin([1, 2]).checkStructure(subject: "KR:3") }
    }

    @Test("structure: shapes a node refuses before any state is read")
    func structure() {
        let bad: [GovernanceAction] = [
            .proposal(.admit(GovernedMember(id: "ca", country: "CA", name: "C", signingKey: Array(repeating: 1, count: 32), address: "a", tlsPin: nil)), reason: ""),
            .proposal(.admit(GovernedMember(id: "CA", country: "Canada", name: "C", signingKey: Array(repeating: 1, count: 32), address: "a", tlsPin: nil)), reason: ""),
            .proposal(.admit(GovernedMember(id: "CA", country: "CA", name: "C", signingKey: [1, 2], address: "a", tlsPin: nil)), reason: ""),
            .proposal(.admit(GovernedMember(id: "CA", country: "CA", name: "C", signingKey: Array(repeating: 1, count: 32), address: "", tlsPin: nil)), reason: ""),
            .proposal(.admit(GovernedMember(id: "CA", country: "CA", name: "C", signingKey: Array(repeating: 1, count: 32), address: "a", tlsPin: [1])), reason: ""),
            .proposal(.quorum(QuorumRule(numerator: 2, denominator: 2)), reason: ""),
            .proposal(.quorum(QuorumRule(numerator: 0, denominator: 3)), reason: ""),
            .proposal(.void(EntryRef(origin: "JP", seq: 0, hash: Array(repeating: 1, count: 32))), reason: ""),
            .approval(EntryRef(origin: "AU", seq: 1, hash: [1])),
        ]
        for action in bad {
            #expect(throws: PaxsyncError.self, "\(action)") { try action.checkStructure(subject: "AU:1") }
        }
        #expect(throws: Never.self) { try GovernanceAction.proposal(.admit(Self.ca), reason: "").checkStructure(subject: "AU:1") }
    }
}
