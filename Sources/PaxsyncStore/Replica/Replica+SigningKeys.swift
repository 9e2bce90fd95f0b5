import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

// Signing-key rotation (PROTOCOL §3.4): an origin's format-2 entry names the key
// that signs its entries after it. The key in effect for an entry depends only
// on the origin's own chain before it, so every node checks the same key.
extension Replica {
    /// The public key that must sign `origin`'s entry `seq`: its roster key, or
    /// the key named by its last rotation before `seq` that this replica applied.
    /// Nil for an origin outside the roster.
    func keyInEffect(_ db: Database, origin: String, seq: UInt64) throws -> [UInt8]? {
        try keys(db, origin: origin, seq: seq)?.inEffect
    }

    /// The origin's roster key and the key in effect for its entry `seq` (the same
    /// array unless it rotated): one roster lookup, and a query only for a rotated origin.
    func keys(_ db: Database, origin: String, seq: UInt64) throws -> (roster: [UInt8], inEffect: [UInt8])? {
        guard let rosterKey = members.withLock({ $0.publicKeys[origin] }) else { return nil }
        guard rotatedOrigins.withLock({ $0.contains(origin) }) else { return (rosterKey, rosterKey) }
        let key = try Data.fetchOne(db, sql: """
            SELECT key FROM paxsync_signing_keys WHERE origin = ? AND from_seq <= ? ORDER BY from_seq DESC LIMIT 1
            """, arguments: [origin, Int64(clamping: seq)])
        return (rosterKey, key.map { [UInt8]($0) } ?? rosterKey)
    }

    /// Records an applied rotation: its next key signs from `seq + 1` on.
    func recordRotation(_ db: Database, _ cs: ChangeSet) throws {
        guard let next = cs.nextSigningKey else { return }
        rotatedOrigins.withLock { _ = $0.insert(cs.origin) }
        try db.execute(sql: "INSERT OR REPLACE INTO paxsync_signing_keys(origin, from_seq, key) VALUES (?, ?, ?)",
                       arguments: [cs.origin, Int64(cs.seq + 1), Data(next)])
    }

    /// Judges again the quarantined entries of `origin` beyond `seq` whose
    /// signature did not verify: signed with the key the rotation at `seq` installs,
    /// they arrived before it. Returns those now applied.
    func rejudgeAfterRotation(_ db: Database, origin: String, seq: UInt64, now: UInt64) throws -> [EntryID] {
        try rejudgeQuarantined(db, origin: origin, code: .badSignature, after: seq, now: now)
    }

    /// Takes `origin`'s entries quarantined with `code` and a seq above `after` out of
    /// the quarantine and judges them again, in seq order (a failing one goes back in).
    /// Returns those applied.
    func rejudgeQuarantined(_ db: Database, origin: String, code: PaxsyncError.Code, after seq: UInt64 = 0, now: UInt64) throws -> [EntryID] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT id, body, signature FROM paxsync_quarantine WHERE origin = ? AND seq > ? AND code = ? ORDER BY seq
            """, arguments: [origin, Int64(seq), code.rawValue])
        var applied: [EntryID] = []
        for row in rows {
            try db.execute(sql: "DELETE FROM paxsync_quarantine WHERE id = ?", arguments: [row["id"] as Int64])
            let entry = try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data))
            if try applyOne(db, entry: entry, now: now, releaseHeld: true) == .applied { applied.append(entry.id) }
        }
        return applied
    }

    /// The key that must sign this node's next entry.
    public func currentSigningKey() throws -> [UInt8]? {
        try writer.read { db in try keyInEffect(db, origin: nodeID, seq: .max) }
    }

    /// Rotates this node's signing key: writes a format-2 entry, signed with the
    /// current key, that names `next` as the key of every later entry. Nothing else
    /// changes; the caller replaces the key file once this returns.
    @discardableResult
    public func rotateSigningKey(to next: NodeSigningKey, note: String = "key rotate") throws -> SignedEntry {
        guard !configuration.readOnly else { throw PaxsyncError(.usage, "the replica is open read-only", subject: path) }
        guard let signingKey else { throw PaxsyncError(.usage, "rotating the key needs the node's current signing key", subject: nodeID) }
        let nextKey = Array(next.key.publicKey.rawRepresentation)
        guard nextKey != Array(signingKey.key.publicKey.rawRepresentation) else {
            throw PaxsyncError(.usage, "the next key is the current key", subject: nodeID)
        }
        let now = clock.nowMilliseconds()
        return try writer.write { db in
            try Self.checkLocalWritesAllowed(db, nodeID: nodeID)
            return try signAndApply(db, changes: [], note: note, key: signingKey, now: now, histories: LocalHistories(),
                                    nextSigningKey: nextKey)
        }
    }
}

extension Replica {
    /// One applied key rotation: from `fromSeq` on, `origin` signs with `key`.
    public struct KeyRotation: Sendable, Equatable {
        public let origin: String
        public let fromSeq: UInt64
        public let key: [UInt8]
    }

    /// Every key rotation this replica applied, by origin then sequence.
    public func keyRotations() throws -> [KeyRotation] {
        try writer.read { db in
            guard try db.tableExists("paxsync_signing_keys") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT origin, from_seq, key FROM paxsync_signing_keys ORDER BY origin, from_seq").map {
                KeyRotation(origin: $0["origin"], fromSeq: UInt64($0["from_seq"] as Int64), key: [UInt8]($0["key"] as Data))
            }
        }
    }
}
