/// One applied governance entry, as the evaluation sees it.
public struct GovernanceRecord: Hashable, Sendable {
    public var id: EntryID
    public var hash: [UInt8]
    public var stamp: Stamp
    public var deps: [String: UInt64]
    public var action: GovernanceAction

    public init(id: EntryID, hash: [UInt8], stamp: Stamp, deps: [String: UInt64], action: GovernanceAction) {
        self.id = id
        self.hash = hash
        self.stamp = stamp
        self.deps = deps
        self.action = action
    }

    public init?(_ cs: ChangeSet, hash: [UInt8]) {
        guard let action = cs.governance else { return nil }
        self.init(id: cs.id, hash: hash, stamp: cs.stamp, deps: cs.deps, action: action)
    }

    /// Whether `other` is in this entry's causal past (its own earlier entries or its dependencies).
    public func hasInCausalPast(_ other: EntryID) -> Bool {
        other.origin == id.origin ? other.seq < id.seq : (deps[other.origin] ?? 0) >= other.seq
    }
}

/// Where a member stands in the coalition.
public enum MembershipStatus: String, Sendable, Hashable {
    case active, suspended, removed
}

/// The membership and rules that a set of governance entries decides
/// (PROTOCOL §3.5). A pure function of the founders, the founding rule and the
/// set of entries: every node holding the same entries computes the same state,
/// whatever order they arrived in.
public struct GovernanceState: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var member: GovernedMember
        public var status: MembershipStatus
        /// The proposal that admitted it; nil for a founder.
        public var admittedBy: EntryID?
        /// The proposal behind its current status, if a decision set it.
        public var statusBy: EntryID?
        /// For a removed member: its entries with a greater seq stop counting.
        public var cutSeq: UInt64?
        /// The member's own entry that declared its current TLS pin (a TLS key rotation), if any.
        public var tlsPinDeclaredBy: EntryID?
        /// The pin it replaced, still accepted until `previousTLSPinUntil` (milliseconds since the epoch).
        public var previousTLSPin: [UInt8]?
        public var previousTLSPinUntil: UInt64?
    }

    /// How long a member's previous TLS pin stays accepted after it declares a new one:
    /// time to restart its node with the new certificate while every peer learns the pin.
    public static let previousTLSPinGraceMilliseconds: UInt64 = 7 * 24 * 3600 * 1000

    /// Where one proposal stands.
    public struct Proposal: Sendable, Equatable {
        public var id: EntryID
        public var hash: [UInt8]
        public var stamp: Stamp
        public var decision: GovernanceDecision
        public var reason: String
        /// Members active in the proposal's causal past: those whose approvals count.
        public var active: [String]
        public var rule: QuorumRule
        /// Members whose approval counts, the proposer first, with the approving entry.
        public var approvals: [(member: String, entry: EntryID)]
        /// Approvals that do not count (their author was not active in the proposal's past).
        public var ignoredApprovals: [(member: String, entry: EntryID, why: String)]
        /// Why the proposal can never take effect, if so.
        public var refusal: String?
        /// Whether it reached its quorum.
        public var certified: Bool
        /// Whether its decision changed the state (certified and still applicable when its turn came).
        public var effective: Bool

        public var needed: Int { rule.needed(active: active.count) }
        public var missing: [String] { active.filter { m in !approvals.contains { $0.member == m } } }
        public var isPending: Bool { refusal == nil && !certified }

        public static func == (a: Proposal, b: Proposal) -> Bool {
            a.id == b.id && a.hash == b.hash && a.decision == b.decision && a.active == b.active && a.rule == b.rule
                && a.approvals.map(\.member) == b.approvals.map(\.member) && a.approvals.map(\.entry) == b.approvals.map(\.entry)
                && a.refusal == b.refusal && a.certified == b.certified && a.effective == b.effective
        }
    }

    /// A decided revocation: from `fromSeq` on, the member's entries are signed with `key`.
    public struct Revocation: Sendable, Equatable {
        public var fromSeq: UInt64
        public var key: [UInt8]
        public var by: EntryID
    }

    /// A decided resolution of an equivocation: `keep` stands at its origin and seq.
    public struct Resolution: Sendable, Equatable {
        public var keep: EntryRef
        public var by: EntryID
    }

    public var members: [String: Member]
    public var rule: QuorumRule
    /// Voided entries: id → the hashes voided there.
    public var voids: [EntryID: Set<[UInt8]>]
    /// Revoked keys, per member, in decision order.
    public var revocations: [String: [Revocation]] = [:]
    /// Resolved equivocations, per origin, in decision order.
    public var resolutions: [String: [Resolution]] = [:]
    public var proposals: [EntryID: Proposal]

    /// The state before any decision: no members.
    public static let empty = GovernanceState(members: [:], rule: .majority, voids: [:], proposals: [:])

    /// The revocation that sets the key of `origin`'s entry `seq`: the one with the
    /// greatest `fromSeq` not above it (the later decided on a tie).
    public func revocation(of origin: String, at seq: UInt64) -> Revocation? {
        (revocations[origin] ?? []).enumerated().filter { $0.element.fromSeq <= seq }
            .max { ($0.element.fromSeq, $0.offset) < ($1.element.fromSeq, $1.offset) }?.element
    }

    /// Whether any revocation or resolution was decided.
    public var hasBranchDecisions: Bool { !revocations.isEmpty || !resolutions.isEmpty }

    /// Whether a dependency on `origin:seq` names a seq at or after a decided branch
    /// point of the origin (a revocation or a resolution): it is met without waiting
    /// for the standing branch to reach it (§3.5), the entry being judged on what stands.
    public func dependsOnSupersededBranch(origin: String, seq: UInt64) -> Bool {
        guard !revocations.isEmpty || !resolutions.isEmpty else { return false }
        return revocation(of: origin, at: seq) != nil || resolution(of: origin, at: seq) != nil
    }

    /// The resolution that decides which branch of `origin` stands at `seq`: the
    /// one at the greatest seq not above it.
    public func resolution(of origin: String, at seq: UInt64) -> Resolution? {
        (resolutions[origin] ?? []).filter { $0.keep.seq <= seq }.max { $0.keep.seq < $1.keep.seq }
    }

    public var activeMembers: [String] { members.values.filter { $0.status == .active }.map(\.member.id).sorted() }

    /// Whether entry `id` (with body hash `hash`) counts in the merge: not beyond
    /// its origin's removal cut and not voided.
    public func cut(_ id: EntryID, hash: [UInt8]) -> String? {
        if let m = members[id.origin], m.status == .removed, let cut = m.cutSeq, id.seq > cut {
            return "\(id.origin) was removed (proposal \(m.statusBy.map { "\($0)" } ?? "?")); its entries after \(id.origin):\(cut) do not count"
        }
        if let hashes = voids[id], hashes.contains(hash) {
            return "\(id) was voided by decision"
        }
        return nil
    }

    /// The membership decided by `records`, starting from the founders and the founding rule.
    public static func evaluate(founders: [GovernedMember], rule: QuorumRule, records: [GovernanceRecord]) -> GovernanceState {
        var memo: [EntryRef: GovernanceState] = [:]
        return evaluate(founders: founders, rule: rule, records: records, memo: &memo)
    }

    /// The same, keeping in `memo` the state in each proposal's causal past: it
    /// never changes once the proposal exists, so a caller evaluating again with
    /// more records (and the same founders and rule) passes the same memo and
    /// folds only the new proposals' pasts.
    public static func evaluate(founders: [GovernedMember], rule: QuorumRule, records: [GovernanceRecord],
                                memo: inout [EntryRef: GovernanceState]) -> GovernanceState {
        var evaluation = Evaluation(founders: founders, rule: rule, records: records)
        evaluation.stateAt = memo
        let state = evaluation.fold(records)
        memo = evaluation.stateAt
        return state
    }

    private struct Evaluation {
        let initial: GovernanceState
        let records: [GovernanceRecord]
        var stateAt: [EntryRef: GovernanceState] = [:]

        init(founders: [GovernedMember], rule: QuorumRule, records: [GovernanceRecord]) {
            var members: [String: Member] = [:]
            for f in founders { members[f.id] = Member(member: f, status: .active) }
            initial = GovernanceState(members: members, rule: rule, voids: [:], proposals: [:])
            self.records = records
        }

        /// The state in a proposal's causal past: decided by the governance entries it had applied.
        mutating func state(before proposal: GovernanceRecord) -> GovernanceState {
            let key = EntryRef(origin: proposal.id.origin, seq: proposal.id.seq, hash: proposal.hash)
            if let known = stateAt[key] { return known }
            var state = fold(records.filter { proposal.hasInCausalPast($0.id) })
            // Only the membership, rule and voids are read from it; the proposals would make the memo quadratic.
            state.proposals = [:]
            stateAt[key] = state
            return state
        }

        mutating func fold(_ subset: [GovernanceRecord]) -> GovernanceState {
            var state = initial
            let proposals = subset.filter { if case .proposal = $0.action { true } else { false } }
                .sorted { $0.stamp != $1.stamp ? $0.stamp < $1.stamp : $0.id < $1.id }
            var approvalsOf: [EntryID: [GovernanceRecord]] = [:]
            for record in subset {
                if case .approval(let ref) = record.action { approvalsOf[ref.id, default: []].append(record) }
            }
            for p in proposals {
                guard case .proposal(let decision, let reason) = p.action else { continue }
                let past = self.state(before: p)
                let active = past.activeMembers
                var entry = Proposal(id: p.id, hash: p.hash, stamp: p.stamp, decision: decision, reason: reason, active: active,
                                     rule: past.rule, approvals: [], ignoredApprovals: [], refusal: nil, certified: false, effective: false)
                if !active.contains(p.id.origin) {
                    entry.refusal = "the proposer \(p.id.origin) was not an active member in the proposal's causal past"
                } else if p.id.origin == decision.excludedMember {
                    entry.refusal = "\(p.id.origin) takes no part in a decision on its own key or branches"
                } else if let why = past.whyInapplicable(decision) {
                    entry.refusal = why
                } else {
                    entry.approvals.append((p.id.origin, p.id))
                    let approvals = (approvalsOf[p.id] ?? []).filter {
                        guard case .approval(let ref) = $0.action else { return false }
                        return ref.hash == p.hash
                    }.sorted { $0.id < $1.id }
                    for a in approvals where !entry.approvals.contains(where: { $0.member == a.id.origin }) {
                        if a.id.origin == decision.excludedMember {
                            entry.ignoredApprovals.append((a.id.origin, a.id, "\(a.id.origin) takes no part in a decision on its own key or branches"))
                        } else if active.contains(a.id.origin) {
                            entry.approvals.append((a.id.origin, a.id))
                        } else {
                            entry.ignoredApprovals.append((a.id.origin, a.id, "\(a.id.origin) was not active in the proposal's causal past"))
                        }
                    }
                    entry.certified = past.rule.isMet(approvals: entry.approvals.count, active: active.count)
                }
                if entry.certified, state.whyInapplicable(decision) == nil {
                    state.apply(decision, by: p.id)
                    entry.effective = true
                }
                state.proposals[p.id] = entry
            }
            // TLS key rotations: each member's latest declaration in its own chain, the pin before it kept for a grace period.
            let declarations = subset.compactMap { r -> (GovernanceRecord, [UInt8])? in
                if case .tlsPin(let pin) = r.action { (r, pin) } else { nil }
            }.sorted { $0.0.id < $1.0.id }
            for (record, pin) in declarations where state.members[record.id.origin] != nil {
                let origin = record.id.origin
                if state.members[origin]!.member.tlsPin != pin {
                    state.members[origin]!.previousTLSPin = state.members[origin]!.member.tlsPin
                    state.members[origin]!.previousTLSPinUntil = record.stamp.hlc.physicalMilliseconds + GovernanceState.previousTLSPinGraceMilliseconds
                }
                state.members[origin]!.member.tlsPin = pin
                state.members[origin]!.tlsPinDeclaredBy = record.id
            }
            return state
        }
    }

    /// Why `decision` cannot apply to this state, or nil.
    public func whyInapplicable(_ decision: GovernanceDecision) -> String? {
        switch decision {
        case .admit(let m):
            if let known = members[m.id] {
                return known.status == .removed ? "\(m.id) was removed; a member id is never reused" : "\(m.id) is already a member"
            }
            if let holder = members.values.first(where: { $0.member.signingKey == m.signingKey }) {
                return "the signing key is \(holder.member.id)'s"
            }
        case .suspend(let id):
            guard let m = members[id] else { return "\(id) is not a member" }
            guard m.status == .active else { return "\(id) is \(m.status.rawValue), not active" }
            guard activeMembers.count > 1 else { return "\(id) is the last active member" }
        case .reinstate(let id):
            guard let m = members[id] else { return "\(id) is not a member" }
            guard m.status == .suspended else { return "\(id) is \(m.status.rawValue), not suspended" }
        case .remove(let id, _):
            guard let m = members[id] else { return "\(id) is not a member" }
            guard m.status != .removed else { return "\(id) is already removed" }
            guard activeMembers.filter({ $0 != id }).count >= 1 else { return "\(id) is the last active member" }
        case .quorum:
            return nil
        case .void(let ref):
            guard members[ref.origin] != nil else { return "\(ref.origin) is not a member" }
        case .revoke(let id, let from, let key):
            guard let m = members[id] else { return "\(id) is not a member" }
            guard m.status != .removed else { return "\(id) is removed" }
            if let holder = members.values.first(where: { $0.member.signingKey == key }) { return "the new key is \(holder.member.id)'s" }
            if let (holder, _) = revocations.first(where: { $0.value.contains { $0.key == key } }) { return "the new key is \(holder)'s" }
            if revocations[id]?.contains(where: { $0.fromSeq == from }) ?? false { return "\(id)'s key is already revoked from \(id):\(from)" }
        case .resolve(let ref):
            guard members[ref.origin] != nil else { return "\(ref.origin) is not a member" }
            if resolutions[ref.origin]?.contains(where: { $0.keep.seq == ref.seq }) ?? false { return "\(ref.id) is already resolved" }
        }
        return nil
    }

    mutating func apply(_ decision: GovernanceDecision, by proposal: EntryID) {
        switch decision {
        case .admit(let m):
            members[m.id] = Member(member: m, status: .active, admittedBy: proposal)
        case .suspend(let id):
            members[id]?.status = .suspended
            members[id]?.statusBy = proposal
        case .reinstate(let id):
            members[id]?.status = .active
            members[id]?.statusBy = proposal
        case .remove(let id, let cut):
            members[id]?.status = .removed
            members[id]?.statusBy = proposal
            members[id]?.cutSeq = cut
        case .quorum(let rule):
            self.rule = rule
        case .void(let ref):
            voids[ref.id, default: []].insert(ref.hash)
        case .revoke(let id, let from, let key):
            revocations[id, default: []].append(Revocation(fromSeq: from, key: key, by: proposal))
        case .resolve(let ref):
            resolutions[ref.origin, default: []].append(Resolution(keep: ref, by: proposal))
        }
    }
}
