import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

// Superseded branches (PROTOCOL §3.5): a revoked key or a resolved equivocation
// decides which branch of an origin stands from a sequence number on. Entries of
// any other branch stay in the log, marked superseded (`paxsync_superseded`), and
// are relayed like any other, so every node ends with the same entries; their row
// changes leave the records' histories, the records they touched are merged again,
// and the origin's chain continues from the entry before the branch point with the
// entries of the standing branch (`paxsync_standing` is the log without the others).
extension Replica {
    /// How many logged entries are superseded, whichever process superseded them: a
    /// daemon reconnects its sessions when it changes, so peers send the standing branch.
    public func supersededCount() throws -> Int {
        try writer.read { db in
            try db.tableExists("paxsync_superseded") ? Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paxsync_superseded") ?? 0 : 0
        }
    }

    /// The logged entries of superseded branches, in log order (what a bundle's header lists).
    public func supersededEntries() throws -> [EntryRef] {
        try writer.read { db in
            guard try db.tableExists("paxsync_superseded") else { return [] }
            return try Row.fetchAll(db, sql: """
                SELECT l.origin, l.seq, l.hash FROM paxsync_log l JOIN paxsync_superseded s ON s.position = l.position ORDER BY l.position
                """).map { EntryRef(origin: $0["origin"], seq: UInt64($0["seq"] as Int64), hash: [UInt8]($0["hash"] as Data)) }
        }
    }

    /// Why an entry arriving now is on a superseded branch of its origin, or nil.
    /// Only resolutions need this: an entry signed with a revoked key fails its signature.
    func supersededBranch(_ db: Database, _ cs: ChangeSet, hash: [UInt8]) throws -> String? {
        let state = governance
        guard !state.resolutions.isEmpty, let resolution = state.resolution(of: cs.origin, at: cs.seq) else { return nil }
        let why = "not on the branch of \(cs.origin) that decision \(resolution.by) keeps from \(resolution.keep)"
        if cs.seq == resolution.keep.seq { return hash == resolution.keep.hash ? nil : why }
        if let standing = try Data.fetchOne(db, sql: "SELECT hash FROM paxsync_standing WHERE origin = ? AND seq = ?",
                                            arguments: [cs.origin, Int64(cs.seq - 1)]) {
            return [UInt8](standing) == cs.prevHash ? nil : why
        }
        let afterSuperseded = try Bool.fetchOne(db, sql: """
            SELECT 1 FROM paxsync_log l JOIN paxsync_superseded s ON s.position = l.position WHERE l.origin = ? AND l.seq = ? AND l.hash = ?
            """, arguments: [cs.origin, Int64(cs.seq - 1), Data(cs.prevHash)]) ?? false
        return afterSuperseded ? why : nil
    }

    /// Appends an entry of a superseded branch that arrived after the decision: in the
    /// log (so it is relayed and every node holds it) but superseded at once, never merged.
    func appendSuperseded(_ db: Database, entry: SignedEntry, hash: [UInt8], reason: String, now: UInt64) throws -> ApplyOutcome {
        let position = try appendToLog(db, entry, hash: hash, now: now, cut: nil)
        try db.execute(sql: "INSERT INTO paxsync_superseded(position, origin, seq, reason, superseded_at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [position, entry.changeSet.origin, Int64(entry.changeSet.seq), reason, Int64(now)])
        logger.info("entry of a superseded branch kept as evidence", metadata: ["entry": "\(entry.id)", "reason": "\(reason)"])
        return .superseded(reason)
    }

    /// Carries out the revocations and resolutions `new` adds to `old`.
    /// Returns whether entries were judged again (governance may have changed).
    func carryOutBranchDecisions(_ db: Database, old: GovernanceState, new: GovernanceState, now: UInt64) throws -> Bool {
        var judged = false
        for (origin, revocations) in new.revocations.sorted(by: { $0.key < $1.key }) {
            for r in revocations where !(old.revocations[origin] ?? []).contains(r) {
                try carryOutRevocation(db, origin: origin, r, now: now)
                judged = true
            }
        }
        for (origin, resolutions) in new.resolutions.sorted(by: { $0.key < $1.key }) {
            for r in resolutions where !(old.resolutions[origin] ?? []).contains(r) {
                try carryOutResolution(db, origin: origin, r, now: now)
                judged = true
            }
        }
        return judged
    }

    /// The new key signs the origin's entries from `fromSeq` on; logged entries from
    /// there that it did not sign are superseded, and entries quarantined for a bad
    /// signature (signed with the new key, early) are judged again.
    private func carryOutRevocation(_ db: Database, origin: String, _ r: GovernanceState.Revocation, now: UInt64) throws {
        logger.notice("signing key revoked by decision", metadata: [
            "member": "\(origin)", "from": "\(origin):\(r.fromSeq)", "proposal": "\(r.by)"])
        try db.execute(sql: "INSERT OR REPLACE INTO paxsync_signing_keys(origin, from_seq, key) VALUES (?, ?, ?)",
                       arguments: [origin, Int64(r.fromSeq), Data(r.key)])
        rotatedOrigins.withLock { _ = $0.insert(origin) }
        if let row = try Row.fetchOne(db, sql: "SELECT body, signature FROM paxsync_standing WHERE origin = ? AND seq = ?",
                                      arguments: [origin, Int64(r.fromSeq)]) {
            let entry = try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data))
            if !entry.verify(publicKey: r.key) {
                try supersede(db, origin: origin, fromSeq: r.fromSeq, now: now,
                              reason: "signed with \(origin)'s key revoked from \(origin):\(r.fromSeq) by decision \(r.by)")
            }
        }
        try unblock(db, origin: origin, fromSeq: r.fromSeq, now: now)
        _ = try rejudgeAfterRotation(db, origin: origin, seq: r.fromSeq - 1, now: now)
        try releaseDependents(db, origin: origin, fromSeq: r.fromSeq, now: now)
    }

    /// Entries held for a dependency on `origin` at or after a decided branch point:
    /// the dependency is met now (§3.5), so they are judged.
    private func releaseDependents(_ db: Database, origin: String, fromSeq: UInt64, now: UInt64) throws {
        try rejudgeHeld(db, where: "reason_code = ? AND wait_origin = ? AND wait_seq >= ?",
                        [HoldReason.dependency.rawValue, origin, Int64(fromSeq)], now: now)
    }

    /// The kept entry stands at its seq: a different logged one is superseded with
    /// its successors, and the kept one (from the equivocation evidence) is applied.
    private func carryOutResolution(_ db: Database, origin: String, _ r: GovernanceState.Resolution, now: UInt64) throws {
        let keep = r.keep
        logger.notice("equivocation resolved by decision", metadata: ["entry": "\(keep.id)", "keep": "\(keep)", "proposal": "\(r.by)"])
        if let logged = try Data.fetchOne(db, sql: "SELECT hash FROM paxsync_standing WHERE origin = ? AND seq = ?",
                                          arguments: [origin, Int64(keep.seq)]), [UInt8](logged) != keep.hash {
            try supersede(db, origin: origin, fromSeq: keep.seq, now: now,
                          reason: "\(origin)'s branch at \(keep.id) other than \(keep) (equivocation resolved by decision \(r.by))")
        }
        try unblock(db, origin: origin, fromSeq: keep.seq, now: now)
        // The kept entry and its successors, if this node holds them only as evidence of the
        // equivocation; the apply path quarantines the other branch's as superseded.
        for row in try Row.fetchAll(db, sql: """
            SELECT seq, hash_a, body_a, signature_a, hash_b, body_b, signature_b FROM paxsync_equivocations
            WHERE origin = ? AND seq >= ? ORDER BY seq
            """, arguments: [origin, Int64(keep.seq)]) {
            for side in ["a", "b"] where (row["seq"] as Int64) > Int64(keep.seq) || [UInt8](row["hash_\(side)"] as Data) == keep.hash {
                let entry = try SignedEntry(body: [UInt8](row["body_\(side)"] as Data), signature: [UInt8](row["signature_\(side)"] as Data))
                _ = try applyOne(db, entry: entry, now: now, releaseHeld: true)
            }
        }
        // Entries of the kept branch that met the other branch's entry at their seq − 1 (chain mismatch).
        _ = try rejudgeQuarantined(db, origin: origin, code: .chainMismatch, after: keep.seq, now: now)
        // Entries that arrived on the other branch before the decision, or were rejected as equivocating.
        try rejudgeHeld(db, origin: origin, now: now)
        try releaseDependents(db, origin: origin, fromSeq: keep.seq, now: now)
    }

    /// Lifts the block of `origin` when the entry that caused it is at or after `fromSeq`
    /// (on the branch a decision replaced), and judges its held entries again.
    private func unblock(_ db: Database, origin: String, fromSeq: UInt64, now: UInt64) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, status_entry FROM paxsync_origins WHERE origin = ?", arguments: [origin]),
              (row["status"] as String) != OriginStatus.ok.rawValue,
              let entry = (row["status_entry"] as String?).flatMap { EntryID($0) }, entry.seq >= fromSeq
        else { return }
        try db.execute(sql: "UPDATE paxsync_origins SET status = 'ok', status_reason = NULL, status_entry = NULL WHERE origin = ?",
                       arguments: [origin])
        logger.info("origin released by decision", metadata: ["origin": "\(origin)", "was_blocked_by": "\(entry)"])
        try rejudgeHeld(db, origin: origin, now: now)
    }

    /// Judges again, in seq order, the entries of `origin` held behind a block.
    func rejudgeHeld(_ db: Database, origin: String, now: UInt64) throws {
        try rejudgeHeld(db, where: "origin = ? AND reason_code IN (?, ?)",
                        [origin, HoldReason.originQuarantined.rawValue, HoldReason.originEquivocating.rawValue], now: now)
    }

    /// Takes the held entries `condition` selects out of the held set and judges them again, in seq order.
    private func rejudgeHeld(_ db: Database, where condition: String, _ arguments: StatementArguments, now: UInt64) throws {
        let rows = try Row.fetchAll(db, sql: "SELECT origin, seq, hash, body, signature FROM paxsync_held WHERE \(condition) ORDER BY seq, hlc",
                                    arguments: arguments)
        for row in rows {
            try db.execute(sql: "DELETE FROM paxsync_held WHERE origin = ? AND seq = ? AND hash = ?", arguments: [row["origin"], row["seq"], row["hash"]])
            let entry = try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data))
            _ = try applyOne(db, entry: entry, now: now, releaseHeld: true)
        }
    }

    /// Marks `origin`'s standing entries from `fromSeq` on superseded (they stay in the
    /// log as evidence), takes their changes out of the records' histories, merges the
    /// records again and sets the origin's head to `fromSeq − 1`.
    func supersede(_ db: Database, origin: String, fromSeq: UInt64, now: UInt64, reason: String) throws {
        let rows = try Row.fetchAll(db, sql: """
            SELECT position, seq, body FROM paxsync_standing WHERE origin = ? AND seq >= ? ORDER BY seq DESC
            """, arguments: [origin, Int64(fromSeq)])
        guard !rows.isEmpty else { return }
        var touched = Set<String>()
        for row in rows {
            let seq: Int64 = row["seq"]
            try db.execute(sql: "INSERT INTO paxsync_superseded(position, origin, seq, reason, superseded_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [row["position"] as Int64, origin, seq, reason, Int64(now)])
            let cs = try ChangeSet(body: [UInt8](row["body"] as Data))
            for change in cs.changes {
                try db.execute(sql: "DELETE FROM paxsync_record_changes WHERE tbl = ? AND key = ? AND origin = ? AND seq = ?",
                               arguments: [change.table, change.key, origin, seq])
                touched.insert(change.recordName)
            }
            try db.execute(sql: "DELETE FROM paxsync_cuts WHERE origin = ? AND seq = ?", arguments: [origin, seq])
            try db.execute(sql: "DELETE FROM paxsync_governance WHERE origin = ? AND seq = ?", arguments: [origin, seq])
            logger.warning("entry superseded by decision", metadata: ["entry": "\(origin):\(seq)", "reason": "\(reason)"])
        }
        // Key rotations the superseded entries made; the decided revocations stay.
        try db.execute(sql: "DELETE FROM paxsync_signing_keys WHERE origin = ? AND from_seq > ?", arguments: [origin, Int64(fromSeq)])
        for r in governance.revocations[origin] ?? [] where r.fromSeq > fromSeq {
            try db.execute(sql: "INSERT OR REPLACE INTO paxsync_signing_keys(origin, from_seq, key) VALUES (?, ?, ?)",
                           arguments: [origin, Int64(r.fromSeq), Data(r.key)])
        }
        // The head goes back to the entry before the branch point.
        if let prev = try Row.fetchOne(db, sql: "SELECT seq, hash, hlc FROM paxsync_standing WHERE origin = ? AND seq = ?",
                                       arguments: [origin, Int64(fromSeq) - 1]) {
            try db.execute(sql: "UPDATE paxsync_origins SET last_seq = ?, last_hash = ?, last_hlc = ? WHERE origin = ?",
                           arguments: [prev["seq"], prev["hash"], prev["hlc"], origin])
        } else {
            try db.execute(sql: "UPDATE paxsync_origins SET last_seq = 0, last_hash = x'', last_hlc = 0 WHERE origin = ?", arguments: [origin])
        }
        governanceCache.withLock { $0 = ([:], [:]) }
        try remerge(db, touched)
    }
}
