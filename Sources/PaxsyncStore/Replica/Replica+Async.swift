import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

/// An entry read from the log for sending: its id, position and exact bytes.
public struct LoggedEntry: Sendable {
    public let position: Int64
    public let id: EntryID
    public let body: [UInt8]
    public let signature: [UInt8]
    /// On a branch a decision superseded (§3.5): relayed, but not the standing entry at its id.
    public var superseded = false
}

/// Received entries decoded and signature-checked, ready for the apply path.
public struct PreparedBatch: Sendable {
    enum Item: Sendable {
        /// `verified`: the signature checked against the origin's roster key; nil when the origin is unknown.
        /// `structureChecked`: the members the entry's structure (`EntryRules.checkStructure`) passed
        /// against; nil when it did not (the apply path checks it then, and gives the verdict).
        case decoded(SignedEntry, verified: Bool?, structureChecked: Set<String>?)
        case undecodable(body: [UInt8], signature: [UInt8], error: PaxsyncError)
    }

    let items: [Item]
    public var count: Int { items.count }
}

/// What a batch of received entries came to.
public struct BatchResult: Sendable {
    public var duplicate = 0
    /// Entries of a branch a decision superseded (§3.5): logged as evidence, not merged.
    public var superseded = 0
    public var held = 0
    /// Applied entries by origin, and rejected ones by error code (`equivocation` for forks).
    public var appliedByOrigin: [String: Int] = [:]
    public var rejectedByCode: [String: Int] = [:]

    /// Bytes (body and signature) of the entries quarantined.
    public var quarantinedBytes = 0
    /// Entries of the batch left unjudged because the quarantine budget ran out.
    public var skipped = 0
    /// The replica's version vector as this batch committed (`applyPrepared`):
    /// what an ack says, without another read.
    public var versionVector: VersionVector?

    public var applied: Int { appliedByOrigin.values.reduce(0, +) }
    public var equivocations: Int { rejectedByCode[Self.equivocation] ?? 0 }
    public var quarantined: Int { rejectedByCode.values.reduce(0, +) - equivocations }

    static let equivocation = "equivocation"
}

// Async forms for the daemon: they suspend instead of blocking a thread while
// SQLite works, so sessions with many peers share the cooperative pool.
extension Replica {
    /// Applies raw received entries (body + signature) in order, in one transaction.
    /// Bytes that do not decode are quarantined; nothing a peer sends throws here.
    public func applyReceived(_ raw: [(body: [UInt8], signature: [UInt8])]) async throws -> BatchResult {
        try await applyPrepared(prepareReceived(raw))
    }

    /// The part of applying a received batch that needs no database: decoding,
    /// checking signatures against the roster and each entry's structure against
    /// the members. Pure and thread-safe, so a session prepares the next batch
    /// while the previous one is being applied.
    public func prepareReceived(_ raw: [(body: [UInt8], signature: [UInt8])]) -> PreparedBatch {
        let members = memberIDs
        return PreparedBatch(items: raw.map { body, signature in
            do {
                let entry = try SignedEntry(body: body, signature: signature)
                // A rotated origin's key depends on its chain: checked when applied.
                let origin = entry.changeSet.origin
                let verified = rotatedOrigins.withLock({ $0.contains(origin) }) ? nil : publicKeys[origin].map { entry.verify(publicKey: $0) }
                // Checked again when applied if the members changed meanwhile (a decision) or it failed here.
                let structured = (try? EntryRules.checkStructure(entry.changeSet, members: members)) != nil ? members : nil
                return .decoded(entry, verified: verified, structureChecked: structured)
            } catch {
                return .undecodable(body: body, signature: signature, error: error as? PaxsyncError
                                    ?? PaxsyncError(.malformedEntry, "not a valid SignedEntry message", underlying: error))
            }
        })
    }

    /// Applies a prepared batch in order, in one transaction.
    /// Applies a prepared batch in one transaction. Once `quarantineBudget`
    /// entries of it were quarantined, the rest is left unjudged (`skipped`):
    /// a peer sending junk fills the quarantine by a bounded amount per batch.
    public func applyPrepared(_ batch: PreparedBatch, quarantineBudget: Int = .max) async throws -> BatchResult {
        guard !configuration.readOnly else { throw PaxsyncError(.usage, "the replica is open read-only", subject: path) }
        let now = clock.nowMilliseconds()
        return try await writer.write { db in try self.historyCache.transaction(db) {
            var result = BatchResult()
            for (index, item) in batch.items.enumerated() {
                if result.quarantined >= quarantineBudget {
                    result.skipped = batch.items.count - index
                    break
                }
                let outcome: ApplyOutcome
                var origin = "?"
                var bytes = 0
                switch item {
                case .decoded(let entry, let verified, let structureChecked):
                    origin = entry.changeSet.origin
                    bytes = entry.body.count + entry.signature.count
                    outcome = try self.applyOne(db, entry: entry, now: now, releaseHeld: true, verified: verified,
                                                structureChecked: structureChecked)
                case .undecodable(let body, let signature, let error):
                    bytes = body.count + signature.count
                    try self.quarantine(db, origin: nil, seq: nil, body: body, signature: signature, error: error, blocks: false, now: now)
                    outcome = .quarantined(error)
                }
                switch outcome {
                case .applied: result.appliedByOrigin[origin, default: 0] += 1
                case .duplicate: result.duplicate += 1
                case .superseded: result.superseded += 1
                case .held: result.held += 1
                case .quarantined(let error):
                    result.rejectedByCode[error.code.rawValue, default: 0] += 1
                    result.quarantinedBytes += bytes
                case .equivocation: result.rejectedByCode[BatchResult.equivocation, default: 0] += 1
                }
            }
            result.versionVector = VersionVector(try Self.versionVector(db))
            return result
        } }
    }

    /// Up to `limit` logged entries after a log position, in log order.
    public func logEntries(after position: Int64, limit: Int) async throws -> [LoggedEntry] {
        try await logTail(after: position, limit: limit).entries
    }

    /// The log after `position` (as `logEntries(after:limit:)`), and how many
    /// entries are marked superseded so far: a reader that keeps entries it read
    /// earlier knows, when the count moved, that their marks may be stale.
    public func logTail(after position: Int64, limit: Int) async throws -> (entries: [LoggedEntry], supersededCount: Int) {
        try await writer.read { db in
            let entries = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT position, origin, seq, body, signature,
                    EXISTS (SELECT 1 FROM paxsync_superseded s WHERE s.position = l.position) AS superseded
                FROM paxsync_log l WHERE position > ? ORDER BY position LIMIT ?
                """), arguments: [position, limit]).map { row in
                LoggedEntry(position: row["position"], id: EntryID(origin: row["origin"], seq: UInt64(row["seq"] as Int64)),
                            body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data), superseded: row["superseded"])
            }
            let superseded = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM paxsync_superseded")) ?? 0
            return (entries, superseded)
        }
    }

    /// The log position just before the first entry a peer with this version
    /// vector lacks, so catch-up does not rescan what the peer already has.
    public func catchUpStart(for peer: VersionVector) async throws -> Int64 {
        try await writer.read { db in
            var start = Int64.max
            for row in try Row.fetchAll(db, sql: "SELECT origin, last_seq FROM paxsync_origins") {
                let origin: String = row["origin"]
                let have = peer[origin]
                guard UInt64(row["last_seq"] as Int64) > have else { continue }
                if let p = try Int64.fetchOne(db, sql: "SELECT MIN(position) FROM paxsync_log WHERE origin = ? AND seq = ?",
                                              arguments: [origin, Int64(have + 1)]) {
                    start = min(start, p - 1)
                }
            }
            if start == .max { start = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(position), 0) FROM paxsync_log") ?? 0 }
            return start
        }
    }

    /// The highest log position (0 for an empty log).
    public func lastLogPosition() async throws -> Int64 {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(position), 0) FROM paxsync_log") ?? 0 }
    }

    public func versionVectorAsync() async throws -> VersionVector {
        try await writer.read { db in VersionVector(try Self.versionVector(db)) }
    }

    /// `retryHeld`, suspending instead of blocking.
    public func retryHeldAsync() async throws -> Int {
        let now = clock.nowMilliseconds()
        return try await writer.write { db in try self.retryHeld(db, now: now) }
    }
}
