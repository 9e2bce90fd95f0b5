import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

// Governance (PROTOCOL §3.5): proposals and approvals are format-3 entries in
// their authors' logs. What they decide is a pure function of the founders and
// the set of governance entries applied (`GovernanceState.evaluate`), recomputed
// whenever one is applied; the replica then carries out what changed: members
// admitted (their quarantined entries judged again), entries cut from the merge
// (the records they touched merged again), voided entries released.
extension Replica {
    /// What the governance entries applied here decide.
    public var governance: GovernanceState { governed.withLock { $0.state } }

    /// The roster file as loaded: the founders and members listed by hand,
    /// before governance decisions (what bundles carry and replays start from).
    public var baseRoster: Roster { members.withLock { $0.base } }

    /// Bumped each time ``governance`` changes.
    public var governanceVersion: Int { governed.withLock { $0.version } }

    var foundingMembers: [GovernedMember] {
        (configuration.founders ?? members.withLock { $0.base }).members.map(\.governed)
    }

    /// The governance entries of the log, as the evaluation reads them (decoded
    /// once per replica instance: bodies never change).
    func governanceRecords(_ db: Database) throws -> [GovernanceRecord] {
        guard try db.tableExists("paxsync_governance") else { return [] }
        let ids = try Row.fetchAll(db, sql: "SELECT origin, seq FROM paxsync_governance").map {
            EntryID(origin: $0["origin"], seq: UInt64($0["seq"] as Int64))
        }
        let known = governanceCache.withLock { cache in ids.compactMap { cache.records[$0] } }
        guard known.count < ids.count else { return known }
        var records: [GovernanceRecord] = []
        for id in ids {
            if let cached = governanceCache.withLock({ $0.records[id] }) { records.append(cached); continue }
            guard let row = try Row.fetchOne(db, sql: "SELECT hash, body FROM \(try Self.standingLog(db)) WHERE origin = ? AND seq = ?",
                                             arguments: [id.origin, Int64(id.seq)]),
                  let record = GovernanceRecord(try ChangeSet(body: [UInt8](row["body"] as Data)), hash: [UInt8](row["hash"] as Data))
            else { continue }
            governanceCache.withLock { $0.records[id] = record }
            records.append(record)
        }
        return records
    }

    func evaluateGovernance(_ db: Database) throws -> GovernanceState {
        let records = try governanceRecords(db)
        var memo = governanceCache.withLock { $0.stateAt }
        let state = GovernanceState.evaluate(founders: foundingMembers, rule: configuration.foundingQuorum, records: records, memo: &memo)
        governanceCache.withLock { $0.stateAt = memo }
        return state
    }

    /// The decision that voids this exact entry, named for the log; nil if none.
    func voidingDecision(_ id: EntryID, hash: [UInt8]) -> String? {
        let state = governance
        guard state.voids[id]?.contains(hash) ?? false else { return nil }
        let by = state.proposals.values.first { p in
            if case .void(let ref) = p.decision, ref.id == id, ref.hash == hash, p.effective { return true }
            return false
        }
        return "\(id) was voided by decision \(by.map { "\($0.id)" } ?? "?")"
    }

    /// The verdict rules of an approval (§3.5): it names a proposal in its causal
    /// past by its exact hash, not its own author's, and approves it once.
    func checkApproval(_ db: Database, _ cs: ChangeSet, _ ref: EntryRef) throws(PaxsyncError) {
        let subject = cs.id.description
        guard cs.hasInCausalPast(ref.id) else {
            throw PaxsyncError(.invalidState, "approves \(ref.id), which is not in the approval's causal past", subject: subject)
        }
        guard ref.origin != cs.origin else {
            throw PaxsyncError(.invalidState, "approves \(cs.origin)'s own proposal \(ref.id); a proposal already counts as its author's approval",
                               subject: subject)
        }
        let row: Row?
        let earlier: Int64?
        do {
            row = try Row.fetchOne(db, sql: """
                SELECT l.hash, g.kind FROM paxsync_standing l LEFT JOIN paxsync_governance g ON g.origin = l.origin AND g.seq = l.seq
                WHERE l.origin = ? AND l.seq = ?
                """, arguments: [ref.origin, Int64(ref.seq)])
            earlier = try Int64.fetchOne(db, sql: """
                SELECT seq FROM paxsync_governance WHERE proposal_origin = ? AND proposal_seq = ? AND origin = ? AND kind = 'approval'
                """, arguments: [ref.origin, Int64(ref.seq), cs.origin])
        } catch {
            throw PaxsyncError(.storage, "cannot read the proposal an approval names", subject: subject, underlying: error)
        }
        guard let row, (row["kind"] as String?) == "proposal" else {
            throw PaxsyncError(.invalidState, "approves \(ref.id), which is not a proposal", subject: subject)
        }
        let hash = [UInt8](row["hash"] as Data)
        guard hash == ref.hash else {
            throw PaxsyncError(.invalidState, "approves \(ref.id) with hash \(ref.hash.hex.prefix(16))…, but that entry's hash is \(hash.hex.prefix(16))…",
                               subject: subject)
        }
        if let earlier {
            throw PaxsyncError(.invalidState, "\(cs.origin) already approved \(ref.id) in \(cs.origin):\(earlier); a member approves a proposal once",
                               subject: subject)
        }
    }

    func recordGovernance(_ db: Database, _ cs: ChangeSet, _ action: GovernanceAction) throws {
        let (kind, proposal): (String, EntryID?) = switch action {
        case .tlsPin: ("tls-pin", nil)
        case .proposal: ("proposal", nil)
        case .approval(let ref): ("approval", ref.id)
        }
        try db.execute(sql: "INSERT INTO paxsync_governance(origin, seq, kind, proposal_origin, proposal_seq) VALUES (?, ?, ?, ?, ?)",
                       arguments: [cs.origin, Int64(cs.seq), kind, proposal?.origin, proposal.map { Int64($0.seq) }])
    }

    /// Catches up with governance entries another process (the CLI) wrote to
    /// this replica's file: when the file holds governance entries this instance
    /// has not evaluated, recomputes and carries out what changed. Cheap otherwise
    /// (one count). Returns whether the governance state changed.
    @discardableResult
    public func followGovernance() throws -> Bool {
        guard !configuration.readOnly else { return false }
        let count = try writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paxsync_governance") ?? 0 }
        guard count != governedEntries.withLock({ $0 }) else { return false }
        let before = governanceVersion
        let now = clock.nowMilliseconds()
        try writer.write { db in try refreshGovernance(db, now: now) }
        governedEntries.withLock { $0 = count }
        return governanceVersion != before
    }

    /// Recomputes what governance decides and carries out what changed, until nothing does.
    func refreshGovernance(_ db: Database, now: UInt64) throws {
        while true {
            let old = governance
            let new = try evaluateGovernance(db)
            guard new != old else { return }
            // Installed before the transaction commits: if it rolls back, the state before it comes back.
            if governanceBeforeTransaction.withLock({ saved in defer { if saved == nil { saved = old } }; return saved == nil }) {
                db.afterNextTransaction(onCommit: { [self] _ in
                    governanceBeforeTransaction.withLock { $0 = nil }
                }, onRollback: { [self] _ in
                    guard let before = governanceBeforeTransaction.withLock({ saved in defer { saved = nil }; return saved }) else { return }
                    governanceCache.withLock { $0 = ([:], [:]) }
                    install(before)
                })
            }
            install(new)
            for (id, m) in new.members.sorted(by: { $0.key < $1.key }) where old.members[id] == nil {
                logger.info("member admitted by decision", metadata: ["member": "\(id)", "proposal": "\(m.admittedBy.map { "\($0)" } ?? "")"])
                try rejudgeUnknownOrigin(db, origin: id, now: now)
            }
            var recutOrigins = Set<String>()
            for (id, m) in new.members where old.members[id]?.status != m.status || old.members[id]?.cutSeq != m.cutSeq {
                if m.status == .removed || old.members[id]?.status == .removed { recutOrigins.insert(id) }
                if m.status != old.members[id]?.status {
                    logger.info("membership changed by decision", metadata: ["member": "\(id)", "status": "\(m.status.rawValue)"])
                }
            }
            for (id, hashes) in new.voids where old.voids[id] != hashes {
                recutOrigins.insert(id.origin)
                try releaseVoided(db, id: id, hashes: hashes, now: now)
            }
            for origin in recutOrigins.sorted() { try recut(db, origin: origin, state: new) }
            let branches = try carryOutBranchDecisions(db, old: old, new: new, now: now)
            // Only entries judged again (admissions, voids, superseded branches) can have changed the governance entries.
            let judgedAgain = branches || new.members.keys.contains { old.members[$0] == nil } || new.voids != old.voids
            if !judgedAgain { return }
        }
    }

    /// Makes `state` the governance state entries are judged and the roster built with.
    func install(_ state: GovernanceState) {
        governed.withLock { $0 = (state, $0.version + 1) }
        members.withLock { $0 = Members($0.base, governance: state) }
    }

    /// Entries of `origin` quarantined as `unknown-origin`, judged again now that it
    /// is a member (added to the roster, or admitted by decision). Returns those applied.
    @discardableResult
    func rejudgeUnknownOrigin(_ db: Database, origin: String, now: UInt64) throws -> [EntryID] {
        try rejudgeQuarantined(db, origin: origin, code: .unknownOrigin, now: now)
    }

    /// Marks which of `origin`'s logged entries count under `state`, and merges
    /// again every record whose entries changed sides.
    func recut(_ db: Database, origin: String, state: GovernanceState) throws {
        let from = state.members[origin]?.cutSeq ?? UInt64(Int64.max)
        let voided = state.voids.keys.filter { $0.origin == origin }.map { Int64($0.seq) }
        let rows = try Row.fetchAll(db, sql: """
            SELECT l.seq, l.hash, l.body, c.reason AS cut FROM paxsync_standing l LEFT JOIN paxsync_cuts c ON c.origin = l.origin AND c.seq = l.seq
            WHERE l.origin = ? AND (l.seq > ? OR c.reason IS NOT NULL OR l.seq IN (\(voided.map(String.init).joined(separator: ","))))
            """, arguments: [origin, Int64(clamping: from)])
        var touched = Set<String>()
        for row in rows {
            let id = EntryID(origin: origin, seq: UInt64(row["seq"] as Int64))
            let cut = state.cut(id, hash: [UInt8](row["hash"] as Data))
            let was: String? = row["cut"]
            guard (cut == nil) != (was == nil) else { continue }
            if let cut {
                try db.execute(sql: "INSERT OR REPLACE INTO paxsync_cuts(origin, seq, reason) VALUES (?, ?, ?)", arguments: [origin, Int64(id.seq), cut])
            } else {
                try db.execute(sql: "DELETE FROM paxsync_cuts WHERE origin = ? AND seq = ?", arguments: [origin, Int64(id.seq)])
            }
            let cs = try ChangeSet(body: [UInt8](row["body"] as Data))
            for change in cs.changes {
                try db.execute(sql: "UPDATE paxsync_record_changes SET counts = ? WHERE tbl = ? AND key = ? AND origin = ? AND seq = ?",
                               arguments: [cut == nil, change.table, change.key, origin, Int64(id.seq)])
                touched.insert(change.recordName)
            }
            logger.info(cut == nil ? "entry counts again" : "entry cut by decision", metadata: ["entry": "\(id)", "reason": "\(cut ?? "")"])
        }
        try remerge(db, touched)
    }

    /// Merges `records` (`"table key"`) again from the events that count, after their
    /// histories changed outside the apply path (a cut, a superseded branch).
    func remerge(_ db: Database, _ records: Set<String>) throws {
        guard !records.isEmpty else { return }
        // Other connections' caches drop their histories at their next write (HistoryCache).
        try HistoryCache.bumpGeneration(db)
        historyCache.clear()
        for record in records.sorted() {
            let parts = record.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2, let table = Schema.table(named: parts[0]) else { continue }
            let events = try loadEvents(db, table: table.name, key: parts[1]).filter(\.counts)
            try materialize(db, Merge.resolve(table: table, key: parts[1], events: events), hadHistory: true)
        }
    }

    /// A quarantined entry a decision voids joins the log as evidence: its
    /// origin's chain continues past it and the entries held behind it are judged.
    func releaseVoided(_ db: Database, id: EntryID, hashes: Set<[UInt8]>, now: UInt64) throws {
        let rows = try Row.fetchAll(db, sql: "SELECT id, hash, body, signature FROM paxsync_quarantine WHERE origin = ? AND seq = ? ORDER BY id",
                                    arguments: [id.origin, Int64(id.seq)])
        for row in rows where hashes.contains([UInt8](row["hash"] as Data)) {
            try db.execute(sql: "DELETE FROM paxsync_quarantine WHERE id = ?", arguments: [row["id"] as Int64])
            // The origin was blocked by this entry: no longer.
            try db.execute(sql: "UPDATE paxsync_origins SET status = 'ok', status_reason = NULL, status_entry = NULL "
                           + "WHERE origin = ? AND status = 'quarantined' AND status_entry = ?", arguments: [id.origin, id.description])
            let entry = try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data))
            // Judged again: signature, chain position and the verdict; a voided entry is appended instead of quarantined.
            _ = try applyOne(db, entry: entry, now: now, releaseHeld: true)
        }
    }

    /// Appends an entry a decision voided: in the log as evidence, never merged.
    func appendVoided(_ db: Database, entry: SignedEntry, reason: String, now: UInt64) throws -> ApplyOutcome {
        let cs = entry.changeSet
        let hash = entry.hash
        try appendToLog(db, entry, hash: hash, now: now, cut: reason)
        try db.execute(sql: """
            INSERT INTO paxsync_origins(origin, last_seq, last_hash, last_hlc) VALUES (?, ?, ?, ?)
            ON CONFLICT(origin) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash, last_hlc = excluded.last_hlc,
                status = CASE WHEN status = 'quarantined' THEN 'ok' ELSE status END,
                status_reason = CASE WHEN status = 'quarantined' THEN NULL ELSE status_reason END,
                status_entry = CASE WHEN status = 'quarantined' THEN NULL ELSE status_entry END
            """, arguments: [cs.origin, Int64(cs.seq), Data(hash), Int64(bitPattern: cs.hlc.rawValue)])
        try observeClock(db, cs.hlc)
        logger.info("voided entry appended as evidence; its origin's chain continues", metadata: ["entry": "\(cs.id)"])
        // The origin's entries held behind it are judged now.
        try rejudgeHeld(db, origin: cs.origin, now: now)
        try releaseWaiting(db, on: cs.id, now: now)
        return .applied
    }
}

// Writing governance entries on this node.
extension Replica {
    /// Proposes a decision: a format-3 entry in this node's log, counting as its approval.
    @discardableResult
    public func propose(_ decision: GovernanceDecision, reason: String) throws -> SignedEntry {
        try writeGovernance(.proposal(decision, reason: reason), note: "propose \(decision.kind)")
    }

    /// Approves the proposal entry `proposal`, named by its hash as this replica holds it.
    @discardableResult
    public func approve(_ proposal: EntryID) throws -> SignedEntry {
        let hash = try writer.read { db in
            try Data.fetchOne(db, sql: """
                SELECT l.hash FROM paxsync_standing l JOIN paxsync_governance g ON g.origin = l.origin AND g.seq = l.seq
                WHERE l.origin = ? AND l.seq = ? AND g.kind = 'proposal'
                """, arguments: [proposal.origin, Int64(proposal.seq)])
        }
        guard let hash else {
            throw PaxsyncError(.notFound, "this node holds no proposal \(proposal) (`paxsync proposals` lists those it holds)", subject: proposal.description)
        }
        return try writeGovernance(.approval(EntryRef(origin: proposal.origin, seq: proposal.seq, hash: [UInt8](hash))),
                                   note: "approve \(proposal)")
    }

    /// Declares this node's new TLS pin (it rotated its TLS key): an entry in its
    /// own log, no quorum. Peers accept the new pin, and the previous one for a grace period.
    @discardableResult
    public func declareTLSPin(_ pin: [UInt8]) throws -> SignedEntry {
        try writeGovernance(.tlsPin(pin), note: "tls rotate")
    }

    private func writeGovernance(_ action: GovernanceAction, note: String) throws -> SignedEntry {
        guard !configuration.readOnly else { throw PaxsyncError(.usage, "the replica is open read-only", subject: path) }
        guard let signingKey else { throw PaxsyncError(.usage, "a governance entry needs the node's signing key", subject: nodeID) }
        try action.checkStructure(subject: nodeID)
        let state = governance
        guard let me = state.members[nodeID], me.status == .active else {
            let status = state.members[nodeID]?.status.rawValue ?? "not admitted"
            throw PaxsyncError(.unauthorized, "this node is \(status): only an active member proposes or approves", subject: nodeID)
        }
        if case .proposal(let decision, _) = action, let why = state.whyInapplicable(decision) {
            throw PaxsyncError(.invalidState, "the proposal could never take effect: \(why)", subject: nodeID)
        }
        if case .approval(let ref) = action, let p = state.proposals[ref.id] {
            if let refusal = p.refusal { throw PaxsyncError(.invalidState, "proposal \(ref.id) can never take effect: \(refusal)", subject: ref.id.description) }
            if p.approvals.contains(where: { $0.member == nodeID }) {
                throw PaxsyncError(.invalidState, "\(nodeID) already approved \(ref.id)", subject: ref.id.description)
            }
        }
        let now = clock.nowMilliseconds()
        return try writer.write { db in
            try Self.checkLocalWritesAllowed(db, nodeID: nodeID)
            return try signAndApply(db, changes: [], note: note, key: signingKey, now: now, histories: LocalHistories(), governance: action)
        }
    }
}
