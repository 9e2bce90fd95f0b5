import Crypto
import PaxsyncLog
import PaxsyncModel

/// Checks a sequence of log entries: every body decodes, every signature
/// verifies against the roster, and every origin's chain runs from seq 1 with
/// no gap and each previous-hash matching. Used by `paxsync log verify` on a
/// data directory and on a bundle.
public struct LogVerifier {
    public struct Report: Codable, Sendable {
        public var entries = 0
        public var origins: [String: UInt64] = [:]
        /// Where the public keys the signatures were checked against came from.
        public var trust = ""
        /// The keys trusted, member id → SHA-256 fingerprint of the public key.
        public var trustedKeys: [String: String] = [:]
        /// The coalition id of the genesis a bundle carries, when it carries one.
        public var coalitionId: String?
        /// The key rotations found, in log order (§3.4).
        public var rotations: [String] = []
        /// The governance decisions the log's proposals and approvals reached (§3.5), in order.
        public var decisions: [String] = []
        /// Entries of superseded branches (§3.5): signature checked, outside the chains, each justified by a decision.
        public var superseded: [String] = []
        /// For a bundle: the entry count its header announces.
        public var announcedEntries: UInt64?
        /// The first problem found, naming the entry; nil when the log is sound.
        public var firstError: String?
        public var ok: Bool { firstError == nil }
    }

    /// Each origin's key in effect for its next entry: the roster's, then each rotation's (§3.4).
    private var keys: [String: [UInt8]]
    private var headsSeen: [String: (seq: UInt64, hash: [UInt8])] = [:]
    public private(set) var report = Report()
    /// Where governance starts (the genesis's founders, or the trusted roster) and the governance entries verified so far.
    private let founders: [GovernedMember]
    private let quorum: QuorumRule
    private var governance: [GovernanceRecord] = []
    /// The state `governance` decides, evaluated again only when an entry was added.
    private var decided: (count: Int, state: GovernanceState) = (0, .empty)
    /// From which seq each origin's key in `keys` signs (0: its first key).
    private var keyFrom: [String: UInt64] = [:]
    /// Every key each origin has held so far: a superseded entry was signed with one of them.
    private var keysHeld: [String: [[UInt8]]] = [:]
    /// The entries the source marks superseded (§3.5), by hash, and those met so far.
    private var supersededHashes: Set<[UInt8]> = []
    private var supersededSeen: [(entry: SignedEntry, position: String)] = []
    /// The standing entries just before superseded ones (`origin:seq−1`), by hash: a
    /// superseded entry must not continue the standing chain past a resolved seq.
    private var standingBefore: [EntryID: [UInt8]] = [:]

    /// The entries the source lists as superseded (a bundle's header, a replica's table).
    public mutating func markSuperseded(_ refs: [EntryRef]) {
        supersededHashes = Set(refs.map(\.hash))
        standingBefore = [:]
        for ref in refs where ref.seq > 1 { standingBefore[EntryID(origin: ref.origin, seq: ref.seq - 1)] = [] }
    }

    private mutating func decidedState() -> GovernanceState {
        if decided.count != governance.count {
            decided = (governance.count, GovernanceState.evaluate(founders: founders, rule: quorum, records: governance))
        }
        return decided.state
    }

    /// - Parameters:
    ///   - roster: The keys trusted from the start.
    ///   - founders: Where governance starts (§3.5): the genesis's founders; nil for `roster`. A member
    ///     admitted by decision is trusted with the key its admission names, from the entry that certifies it on.
    public init(roster: Roster, trust: String = "the log's own roster", founders: Roster? = nil, quorum: QuorumRule = .majority) {
        keys = Dictionary(uniqueKeysWithValues: roster.members.map { ($0.id, $0.publicKeyBytes) })
        report.trust = trust
        report.trustedKeys = Dictionary(uniqueKeysWithValues: roster.members.map { ($0.id, $0.keyFingerprint) })
        self.founders = (founders ?? roster).members.map(\.governed)
        self.quorum = quorum
    }

    /// The key a governance decision among the entries verified so far admitted `origin` with, if any.
    private mutating func admittedKey(_ origin: String) -> [UInt8]? {
        guard !governance.isEmpty else { return nil }
        let state = decidedState()
        guard let member = state.members[origin], let by = member.admittedBy, let proposal = state.proposals[by] else { return nil }
        keys[origin] = member.member.signingKey
        report.trustedKeys[origin] = Array(SHA256.hash(data: member.member.signingKey)).hex
        report.decisions.append("\(origin) admitted by proposal \(by), approved by \(proposal.approvals.map { "\($0.member) (\($0.entry))" }.joined(separator: ", ")): "
                                + "key \(Array(SHA256.hash(data: member.member.signingKey)).hex)")
        return member.member.signingKey
    }

    /// Adds the other decisions the log reached (suspensions, removals with their cuts, voids, quorum changes) to the report.
    public mutating func concludeGovernance() {
        let state = decidedState()
        for (entry, position) in supersededSeen {
            let cs = entry.changeSet
            let name = "\(cs.id) (\(position))"
            let held = (keysHeld[cs.origin] ?? []) + (state.revocations[cs.origin] ?? []).map(\.key)
            guard held.contains(where: { entry.verify(publicKey: $0) }) else {
                fail(PaxsyncError(.badSignature, "superseded entry: the signature does not verify against any key \(cs.origin) held", subject: name))
                return
            }
            // Off the standing branch by a decision: signed with a key a revocation replaced, or
            // not the entry a resolution keeps (at its seq) nor a continuation of the standing chain (after it).
            var why: String?
            if let r = state.revocation(of: cs.origin, at: cs.seq), !entry.verify(publicKey: r.key) {
                why = "revocation by proposal \(r.by) (signed with the key it replaced)"
            } else if let r = state.resolution(of: cs.origin, at: cs.seq) {
                let offBranch = cs.seq == r.keep.seq ? entry.hash != r.keep.hash : standingBefore[EntryID(origin: cs.origin, seq: cs.seq - 1)] != cs.prevHash
                if offBranch { why = "resolution by proposal \(r.by), keeping \(r.keep)" }
            }
            guard let why else {
                fail(PaxsyncError(.invalidState, "marked superseded, but no decision in the log supersedes it", subject: name))
                return
            }
            report.superseded.append("\(cs.id): superseded by the \(why)")
        }
        guard !governance.isEmpty else { return }
        for p in state.proposals.values.sorted(by: { $0.stamp < $1.stamp }) where p.effective {
            if case .admit = p.decision { continue }
            report.decisions.append("\(p.decision) by proposal \(p.id), approved by \(p.approvals.map(\.member).joined(separator: ", "))")
        }
        let pending = state.proposals.values.filter(\.isPending).count
        if pending > 0 { report.decisions.append("\(pending) proposal(s) still pending") }
    }

    /// Checks the next entry. `position` names it when it cannot be decoded
    /// (`log position 17`, `bundle entry 17`).
    public mutating func check(body: [UInt8], signature: [UInt8], position: String) throws(PaxsyncError) {
        let entry: SignedEntry
        do { entry = try SignedEntry(body: body, signature: signature) } catch {
            let name = ChangeSet.headerID(body: body).map { "\($0) (\(position))" } ?? position
            throw PaxsyncError(.malformedEntry, "the entry body does not decode: it was altered or is corrupt", subject: name,
                               cause: error.cause)
        }
        let cs = entry.changeSet
        let name = "\(cs.id) (\(position))"
        guard var key = keys[cs.origin] ?? admittedKey(cs.origin) else {
            throw PaxsyncError(.unknownOrigin, "origin \(cs.origin) is not in the roster, nor admitted by a decision in the log before it", subject: name)
        }
        if keysHeld[cs.origin] == nil { keysHeld[cs.origin] = [key] }
        // An entry of a superseded branch: outside the chain; checked once the decisions are known (§3.5).
        if !supersededHashes.isEmpty, supersededHashes.contains(entry.hash) {
            supersededSeen.append((entry, position))
            return
        }
        // In chain order first: the key in effect for an entry depends on the origin's entries before it (§3.4).
        let head = headsSeen[cs.origin] ?? (0, [])
        guard cs.seq == head.seq + 1 else {
            throw PaxsyncError(.chainMismatch, cs.seq <= head.seq ? "repeats or reorders \(cs.origin)'s sequence (after \(cs.origin):\(head.seq))"
                                                                    : "gap: \(cs.origin):\(head.seq + 1) is missing", subject: name)
        }
        // A key revoked by a decision earlier in the log: the revocation's key signs from its seq on (§3.5).
        if !governance.isEmpty, let r = decidedState().revocation(of: cs.origin, at: cs.seq), r.fromSeq > keyFrom[cs.origin] ?? 0 {
            key = r.key
            keys[cs.origin] = r.key
            keyFrom[cs.origin] = r.fromSeq
            keysHeld[cs.origin, default: []].append(r.key)
            report.rotations.append("\(cs.origin):\(r.fromSeq): \(cs.origin)'s key revoked by decision \(r.by); signs with key \(Array(SHA256.hash(data: r.key)).hex) from seq \(r.fromSeq)")
        }
        guard entry.verify(publicKey: key) else {
            throw PaxsyncError(.badSignature, "signature does not verify against \(cs.origin)'s key: the entry was altered or forged", subject: name)
        }
        guard cs.prevHash == head.hash else {
            throw PaxsyncError(.chainMismatch, "previous hash does not match the hash of \(cs.origin):\(head.seq)", subject: name)
        }
        headsSeen[cs.origin] = (cs.seq, entry.hash)
        if !standingBefore.isEmpty, standingBefore[cs.id] != nil { standingBefore[cs.id] = entry.hash }
        if let next = cs.nextSigningKey {
            keys[cs.origin] = next
            keyFrom[cs.origin] = cs.seq + 1
            keysHeld[cs.origin, default: []].append(next)
            report.rotations.append("\(cs.id): \(cs.origin) signs with key \(Array(SHA256.hash(data: next)).hex) from seq \(cs.seq + 1)")
        }
        if let record = GovernanceRecord(cs, hash: entry.hash) { governance.append(record) }
        report.entries += 1
        report.origins[cs.origin] = cs.seq
    }

    /// The last verified entry of each origin: its sequence and hash.
    public var heads: [String: (seq: UInt64, hash: [UInt8])] { headsSeen }

    /// Records the coalition id of the genesis the keys were checked against.
    public mutating func note(coalitionId: String) { report.coalitionId = coalitionId }

    /// Records the entry count a bundle's header announced.
    public mutating func announce(_ count: UInt64) { report.announcedEntries = count }

    /// Records the first failure in the report.
    public mutating func fail(_ error: PaxsyncError) { report.firstError = report.firstError ?? error.description }
}
