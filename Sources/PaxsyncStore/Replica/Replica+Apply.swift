import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

/// What became of an entry handed to `Replica.apply`.
public enum ApplyOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Accepted: merged into the records and appended to the log.
    case applied
    /// Already in the log (or already held, or already quarantined): nothing to do.
    case duplicate
    /// Cannot be judged yet; kept and retried when what it waits for arrives.
    case held(code: HoldReason, reason: String)
    /// Rejected whole and kept in quarantine with the reason.
    case quarantined(PaxsyncError)
    /// A second, different, validly signed entry for an origin and sequence.
    case equivocation(String)
    /// On a branch of its origin a decision superseded (§3.5): logged as evidence, never merged.
    case superseded(String)

    public var description: String {
        switch self {
        case .applied: "applied"
        case .duplicate: "duplicate"
        case .held(let code, let reason): "held (\(code.rawValue)): \(reason)"
        case .quarantined(let error): "quarantined (\(error.code)): \(error)"
        case .equivocation(let why): "equivocation: \(why)"
        case .superseded(let why): "superseded: \(why)"
        }
    }
}

/// Why an entry is held; `wait` names what releases it.
struct Hold: Error {
    let code: HoldReason
    let reason: String
    var waitOrigin: String?
    var waitSeq: UInt64?
    var waitUntil: UInt64?
}

extension Replica {
    /// Applies entries in order, each through the one apply path, all in one
    /// transaction. Entries released from the held set by these are applied too.
    @discardableResult
    public func apply(_ entries: [SignedEntry]) throws -> [ApplyOutcome] {
        guard !configuration.readOnly else { throw PaxsyncError(.usage, "the replica is open read-only", subject: path) }
        let now = clock.nowMilliseconds()
        return try writer.write { db in
            try historyCache.transaction(db) {
                var outcomes: [ApplyOutcome] = []
                outcomes.reserveCapacity(entries.count)
                for entry in entries {
                    outcomes.append(try applyOne(db, entry: entry, now: now, releaseHeld: true))
                }
                return outcomes
            }
        }
    }

    /// Applies raw bytes as received (a body and signature). Bytes that do not
    /// decode are quarantined with the reason, never thrown away.
    public func applyReceived(body: [UInt8], signature: [UInt8]) throws -> ApplyOutcome {
        do {
            let entry = try SignedEntry(body: body, signature: signature)
            return try apply([entry])[0]
        } catch let error as PaxsyncError where error.code == .malformedEntry {
            let now = clock.nowMilliseconds()
            try writer.write { db in
                try quarantine(db, origin: nil, seq: nil, body: body, signature: signature, error: error, blocks: false, now: now)
            }
            logger.warning("quarantined undecodable entry", metadata: ["reason": "\(error)"])
            return .quarantined(error)
        }
    }

    /// Retries held entries whose clock time is now within the skew bound or
    /// whose version this node may now understand.
    @discardableResult
    public func retryHeld() throws -> Int {
        let now = clock.nowMilliseconds()
        return try writer.write { db in try retryHeld(db, now: now) }
    }

    func retryHeld(_ db: Database, now: UInt64) throws -> Int {
        let rows = try Row.fetchAll(db, sql: """
            SELECT origin, seq, hash, body, signature FROM paxsync_held
            WHERE (reason_code = :skew AND (hlc >> 16) <= :bound)
               OR (reason_code <> :skew AND wait_until IS NOT NULL AND wait_until <= :now)
               OR reason_code = :version
            ORDER BY hlc
            """, arguments: ["skew": HoldReason.clockSkew.rawValue, "version": HoldReason.version.rawValue,
                             "bound": Int64(now + configuration.maxClockSkewMilliseconds), "now": Int64(now)])
        var applied = 0
        for row in rows {
            try db.execute(sql: "DELETE FROM paxsync_held WHERE origin = ? AND seq = ? AND hash = ?",
                           arguments: [row["origin"], row["seq"], row["hash"]])
            let entry = try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data))
            if try applyOne(db, entry: entry, now: now, releaseHeld: true) == .applied { applied += 1 }
        }
        return applied
    }

    /// The apply path (PROTOCOL.md, "Verdicts"), inside a write transaction.
    ///
    /// A `local` entry (written on this node) that breaks a rule is refused with
    /// the error instead of being quarantined; the caller's transaction rolls back.
    /// `histories` carries record histories and states a local write has just read in this
    /// transaction; the apply path takes the histories out of it.
    /// `verified` is the signature check already made against this replica's
    /// roster (`prepareReceived`); nil checks it here.
    func applyOne(_ db: Database, entry: SignedEntry, now: UInt64, releaseHeld: Bool, local: Bool = false,
                  histories: LocalHistories? = nil, verified: Bool? = nil, structureChecked: Set<String>? = nil) throws -> ApplyOutcome {
        let outcome = try judgeAndMerge(db, entry: entry, now: now, local: local, histories: histories, verified: verified,
                                        structureChecked: structureChecked)
        if outcome == .applied, releaseHeld {
            try releaseWaiting(db, on: entry.id, now: now)
        }
        if outcome == .applied, entry.changeSet.nextSigningKey != nil {
            _ = try rejudgeAfterRotation(db, origin: entry.changeSet.origin, seq: entry.changeSet.seq, now: now)
        }
        return outcome
    }

    private func judgeAndMerge(_ db: Database, entry: SignedEntry, now: UInt64, local: Bool = false,
                               histories: LocalHistories? = nil, verified: Bool? = nil,
                               structureChecked: Set<String>? = nil) throws -> ApplyOutcome {
        let cs = entry.changeSet
        let hash = entry.hash

        // An entry of a branch a decision superseded, logged here already: its signature
        // may no longer verify with the key now in effect (a revoked key), but it is known.
        if governance.hasBranchDecisions, try Bool.fetchOne(db, sql: """
            SELECT 1 FROM paxsync_log l JOIN paxsync_superseded s ON s.position = l.position
            WHERE l.origin = ? AND l.seq = ? AND l.hash = ? AND l.signature = ?
            """, arguments: [cs.origin, Int64(cs.seq), Data(hash), Data(entry.signature)]) ?? false {
            return .duplicate
        }

        // 1. Known origin and a valid signature; otherwise evidence, not blocking.
        guard let (rosterKey, key) = try keys(db, origin: cs.origin, seq: cs.seq) else {
            let error = PaxsyncError(.unknownOrigin, "origin \(cs.origin) is not in the roster", subject: cs.id.description)
            return try quarantine(db, entry: entry, error: error, blocks: false, now: now)
        }
        // `verified` was checked against the roster key (a local entry: signed with the key in effect).
        let checkedAlready = local || key == rosterKey ? verified : nil
        let signatureValid = checkedAlready ?? entry.verify(publicKey: key)
        guard signatureValid else {
            // An entry signed with a key that a rotation not applied here yet installs
            // is judged again once that rotation is applied (rejudgeAfterRotation).
            let whose = key == rosterKey ? "\(cs.origin)'s roster key" : "\(cs.origin)'s current key (rotated, §3.4)"
            let error = PaxsyncError(.badSignature, "the signature does not verify against \(whose)", subject: cs.id.description)
            return try quarantine(db, entry: entry, error: error, blocks: false, now: now)
        }

        // 2. Duplicates and equivocation. The log may hold superseded entries at this seq too (§3.5).
        var standing: Row?
        for logged in try Row.fetchAll(db.cachedStatement(sql: """
            SELECT hash, body, signature, EXISTS (SELECT 1 FROM paxsync_superseded s WHERE s.position = l.position) AS superseded
            FROM paxsync_log l WHERE origin = ? AND seq = ?
            """), arguments: [cs.origin, Int64(cs.seq)]) {
            if [UInt8](logged["hash"] as Data) == hash { return .duplicate }
            if !(logged["superseded"] as Bool) { standing = logged }
        }
        // On a branch of its origin a resolved equivocation superseded: logged as evidence, blocks nothing.
        if let why = try supersededBranch(db, cs, hash: hash) {
            return try appendSuperseded(db, entry: entry, hash: hash, reason: why, now: now)
        }
        if let logged = standing {
            return try equivocation(db, entry: entry, otherHash: [UInt8](logged["hash"] as Data), otherBody: logged["body"],
                                    otherSignature: logged["signature"], now: now)
        }
        for held in try Row.fetchAll(db.cachedStatement(sql: "SELECT hash, body, signature FROM paxsync_held WHERE origin = ? AND seq = ?"),
                                     arguments: [cs.origin, Int64(cs.seq)]) {
            let heldHash = [UInt8](held["hash"] as Data)
            if heldHash == hash { return .duplicate }
            return try equivocation(db, entry: entry, otherHash: heldHash, otherBody: held["body"], otherSignature: held["signature"], now: now)
        }
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM paxsync_quarantine WHERE hash = ? AND signature = ?"),
                             arguments: [Data(hash), Data(entry.signature)]) ?? false {
            return .duplicate
        }

        do {
            // 3. Things that may become true later: hold, don't judge.
            if let why = EntryRules.unsupportedVersion(cs, schemaVersion: configuration.schemaVersion) { throw Hold(code: .version, reason: why) }
            let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT last_seq, last_hash, status, status_reason, status_entry FROM paxsync_origins WHERE origin = ?"),
                                        arguments: [cs.origin])
            // A block holds the entries from the one that caused it on (an equivocation can be
            // found among held entries, before the chain reaches the entries below it).
            if let head, let blocked = HoldReason(blocked: try Replica.originStatus(head["status"], origin: cs.origin)),
               cs.seq >= (head["status_entry"] as String?).flatMap({ EntryID($0) })?.seq ?? 0,
               try !firstOfEquivocation(db, cs, hash: hash, head: head) {
                throw Hold(code: blocked, reason: "origin \(cs.origin) is blocked: \(head["status_reason"] as String? ?? "")")
            }
            let lastSeq = UInt64(head?["last_seq"] as Int64? ?? 0)
            if cs.seq > lastSeq + 1 {
                throw Hold(code: .gap, reason: "waiting for \(cs.origin):\(lastSeq + 1) (the chain has no gaps)",
                           waitOrigin: cs.origin, waitSeq: cs.seq - 1)
            }
            // One read of every origin's head, not one per dependency (a coalition of 50 has 49);
            // none for a local entry, whose dependencies are this replica's heads in this transaction.
            let heads = local || cs.deps.isEmpty ? [:] : try Self.versionVector(db)
            for (origin, seq) in local ? [] : cs.deps.sorted(by: { $0.key < $1.key }) {
                let have = heads[origin] ?? 0
                if have < seq, !governance.dependsOnSupersededBranch(origin: origin, seq: seq) {
                    throw Hold(code: .dependency, reason: "waiting for \(origin):\(seq), which \(cs.origin) had applied",
                               waitOrigin: origin, waitSeq: seq)
                }
            }
            if cs.hlc.physicalMilliseconds > now + configuration.maxClockSkewMilliseconds {
                throw Hold(code: .clockSkew,
                           reason: "stamped \(cs.hlc.iso8601), more than \(configuration.maxClockSkewMilliseconds / 1000) s ahead of this node's clock",
                           waitUntil: cs.hlc.physicalMilliseconds - configuration.maxClockSkewMilliseconds)
            }

            // 4. The verdict: chain, schema, authorization, state in the causal past.
            let expectedPrev = head.map { [UInt8]($0["last_hash"] as Data) } ?? []
            guard cs.prevHash == expectedPrev else {
                if let void = voidingDecision(cs.id, hash: hash) {
                    return try appendVoided(db, entry: entry, reason: void, now: now)
                }
                let error = PaxsyncError(.chainMismatch,
                    "previous hash \(cs.prevHash.hex.prefix(16))… does not match \(cs.origin):\(lastSeq) (\(expectedPrev.hex.prefix(16))…)",
                    subject: cs.id.description)
                return try quarantine(db, entry: entry, error: error, blocks: true, now: now)
            }
            var history: [String: [RecordEvent]] = [:]
            // Records as merged before this entry, where known (the writer's or the cache's).
            let preresolved = histories?.resolved ?? [:]
            var merged = preresolved
            do {
                // Skipped when `prepareReceived` found it sound against the same members.
                let members = memberIDs
                if structureChecked != members { try EntryRules.checkStructure(cs, members: members) }
                // A batch of records (a catch-up, an import) asks once which have a history at all.
                let stored = (histories?.events.isEmpty ?? true) && cs.changes.count >= 8 ? try recordsWithHistory(db, cs.changes) : nil
                for change in cs.changes {
                    let record = change.recordName
                    if let events = histories?.events.removeValue(forKey: record) {
                        history[record] = events
                    } else if let stored, !stored.contains(record) {
                        history[record] = []
                    } else {
                        let loaded = try loadHistoryMerged(db, table: change.table, key: change.key)
                        history[record] = loaded.events
                        if let known = loaded.merged { merged[record] = known }
                    }
                }
                try EntryRules.checkAuthorizationAndState(cs) { (table, key) throws(PaxsyncError) in
                    let record = "\(table.name) \(key)"
                    if let resolved = preresolved[record] { return resolved }
                    let events = history[record] ?? []
                    // The whole history in the entry's causal past (its writer had seen
                    // every event: the usual case) is the record as merged already.
                    if let known = merged[record], events.allSatisfy({ cs.hasInCausalPast($0.entry) }) { return known }
                    return Merge.resolve(table: table, key: key, events: events.filter { cs.hasInCausalPast($0.entry) })
                }
                if case .approval(let ref)? = cs.governance { try checkApproval(db, cs, ref) }
            } catch let error as PaxsyncError {
                if local {
                    // Name the record, not an entry that will never exist.
                    var refusal = error
                    if let subject = refusal.subject, subject.hasPrefix("\(cs.id) ") {
                        refusal.subject = String(subject.dropFirst(cs.id.description.count + 1))
                    } else if refusal.subject == cs.id.description {
                        refusal.subject = nodeID
                    }
                    throw refusal
                }
                if let void = voidingDecision(cs.id, hash: hash) {
                    return try appendVoided(db, entry: entry, reason: void, now: now)
                }
                return try quarantine(db, entry: entry, error: error, blocks: true, now: now)
            }

            // 5. Accepted: append and merge in this transaction. An entry a decision
            // cut (§3.5) is appended and kept in the records' histories, but not merged.
            let cut = governance.cut(cs.id, hash: hash)
            let position = try appendToLog(db, entry, hash: hash, now: now, cut: cut)
            // Each change's history row refers to its bytes in the logged body (a body that
            // decoded has them; were it otherwise, the row would hold a copy).
            let ranges = ChangeSet.changeRanges(body: entry.body).flatMap { $0.count == cs.changes.count ? $0 : nil }
            try db.cachedStatement(sql: """
                INSERT INTO paxsync_origins(origin, last_seq, last_hash, last_hlc) VALUES (?, ?, ?, ?)
                ON CONFLICT(origin) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash, last_hlc = excluded.last_hlc
                """).execute(arguments: [cs.origin, Int64(cs.seq), Data(hash), Int64(bitPattern: cs.hlc.rawValue)])
            for (index, change) in cs.changes.enumerated() {
                let record = change.recordName
                let event = RecordEvent(entry: cs.id, stamp: cs.stamp, change: change, counts: cut == nil)
                if let range = ranges?[index] {
                    try db.cachedStatement(sql: """
                        INSERT INTO paxsync_record_changes(tbl, key, origin, seq, hlc, position, change_at, change_size, counts)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [change.table, change.key, cs.origin, Int64(cs.seq), Int64(bitPattern: cs.hlc.rawValue),
                                                 position, range.lowerBound, range.count, cut == nil])
                } else {
                    try db.cachedStatement(sql: "INSERT INTO paxsync_record_changes(tbl, key, origin, seq, hlc, change, counts) VALUES (?, ?, ?, ?, ?, ?, ?)")
                        .execute(arguments: [change.table, change.key, cs.origin, Int64(cs.seq), Int64(bitPattern: cs.hlc.rawValue),
                                               Data(change.serialized()), cut == nil])
                }
                // The record's history is taken out of `history` and released before the cache adds
                // the event: the cache's array is then not shared, and grows in place instead of
                // being copied at each write (a record written again and again has a long history).
                func merge(_ prior: [RecordEvent]) -> (resolved: ResolvedRecord, hadHistory: Bool, allCount: Bool)? {
                    guard cut == nil else { return nil }
                    let table = Schema.table(named: change.table)!
                    if prior.allSatisfy(\.counts) {
                        // Added to the record as merged before, where that gives the same result (§13).
                        let resolved = Merge.adding(event, to: merged[record], table: table, key: change.key, history: prior)
                            ?? Merge.resolve(table: table, key: change.key, events: prior + [event])
                        return (resolved, !prior.isEmpty, true)
                    }
                    return (Merge.resolve(table: table, key: change.key, events: prior.filter(\.counts) + [event]), true, false)
                }
                let outcome = merge(history.removeValue(forKey: record) ?? [])
                historyCache.inserted(db, record, event)
                guard let outcome else { continue }
                if outcome.allCount { historyCache.merged(record, outcome.resolved) }
                try materialize(db, outcome.resolved, hadHistory: outcome.hadHistory)
            }
            try recordRotation(db, cs)
            if let action = cs.governance {
                try recordGovernance(db, cs, action)
                try refreshGovernance(db, now: now)
            }
            // A local entry's time is the clock's tick, stored by `tickClock` already.
            if !local { try observeClock(db, cs.hlc) }
            return .applied
        } catch let hold as Hold {
            try db.execute(sql: """
                INSERT OR IGNORE INTO paxsync_held(origin, seq, hash, hlc, body, signature, reason_code, reason,
                    wait_origin, wait_seq, wait_until, received_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [cs.origin, Int64(cs.seq), Data(hash), Int64(bitPattern: cs.hlc.rawValue), Data(entry.body),
                                 Data(entry.signature), hold.code.rawValue, hold.reason, hold.waitOrigin, hold.waitSeq.map(Int64.init),
                                 hold.waitUntil.map(Int64.init), Int64(now)])
            return .held(code: hold.code, reason: hold.reason)
        }
    }

    /// Appends an entry to the log, with the reason it does not count when a decision cut it (§3.5),
    /// and returns its position. `hash` is the entry's, computed once by the caller.
    @discardableResult
    func appendToLog(_ db: Database, _ entry: SignedEntry, hash: [UInt8], now: UInt64, cut: String?) throws -> Int64 {
        let cs = entry.changeSet
        try db.cachedStatement(sql: """
            INSERT INTO paxsync_log(origin, seq, hlc, hash, prev_hash, body, signature, change_count, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [cs.origin, Int64(cs.seq), Int64(bitPattern: cs.hlc.rawValue), Data(hash), Data(cs.prevHash),
                             Data(entry.body), Data(entry.signature), cs.changes.count, Int64(now)])
        let position = db.lastInsertedRowID
        if let cut {
            try db.execute(sql: "INSERT OR REPLACE INTO paxsync_cuts(origin, seq, reason) VALUES (?, ?, ?)", arguments: [cs.origin, Int64(cs.seq), cut])
        }
        return position
    }

    /// Re-runs held entries that were waiting for `applied` (gaps and dependencies).
    func releaseWaiting(_ db: Database, on applied: EntryID, now: UInt64) throws {
        var queue = [applied]
        while let next = queue.popLast() {
            let rows = try Row.fetchAll(db, sql: """
                SELECT origin, seq, hash, body, signature FROM paxsync_held
                WHERE wait_origin = ? AND wait_seq <= ? ORDER BY hlc
                """, arguments: [next.origin, Int64(next.seq)])
            for row in rows {
                try db.execute(sql: "DELETE FROM paxsync_held WHERE origin = ? AND seq = ? AND hash = ?",
                               arguments: [row["origin"], row["seq"], row["hash"]])
                let entry = try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data))
                if try judgeAndMerge(db, entry: entry, now: now) == .applied {
                    queue.append(entry.id)
                    if entry.changeSet.nextSigningKey != nil {
                        queue += try rejudgeAfterRotation(db, origin: entry.changeSet.origin, seq: entry.changeSet.seq, now: now)
                    }
                }
            }
        }
    }

    @discardableResult
    func quarantine(_ db: Database, entry: SignedEntry, error: PaxsyncError, blocks: Bool, now: UInt64) throws -> ApplyOutcome {
        try quarantine(db, origin: entry.changeSet.origin, seq: entry.changeSet.seq, body: entry.body,
                       signature: entry.signature, error: error, blocks: blocks, now: now)
        logger.warning("quarantined entry", metadata: ["entry": "\(entry.id)", "code": "\(error.code)", "reason": "\(error)"])
        return .quarantined(error)
    }

    func quarantine(_ db: Database, origin: String?, seq: UInt64?, body: [UInt8], signature: [UInt8],
                    error: PaxsyncError, blocks: Bool, now: UInt64) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO paxsync_quarantine(origin, seq, hash, body, signature, code, reason, blocks_origin, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [origin, seq.map(Int64.init), Data(SignedEntry.hash(body: body)), Data(body), Data(signature),
                             error.code.rawValue, error.description, blocks, Int64(now)])
        if blocks, let origin, let seq {
            try setOriginStatus(db, origin: origin, status: .quarantined,
                                reason: "\(origin):\(seq) was quarantined (\(error.code)); later entries wait behind it",
                                entry: "\(origin):\(seq)")
        }
    }

    private func equivocation(_ db: Database, entry: SignedEntry, otherHash: [UInt8], otherBody: Data, otherSignature: Data,
                              now: UInt64) throws -> ApplyOutcome {
        let cs = entry.changeSet
        try db.execute(sql: """
            INSERT OR IGNORE INTO paxsync_equivocations(origin, seq, hash_a, body_a, signature_a, hash_b, body_b, signature_b, detected_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [cs.origin, Int64(cs.seq), Data(otherHash), otherBody, otherSignature,
                             Data(entry.hash), Data(entry.body), Data(entry.signature), Int64(now)])
        let why = "\(cs.origin) signed two different entries at \(cs.id): \(otherHash.hex.prefix(16))… and \(entry.hash.hex.prefix(16))…"
        try setOriginStatus(db, origin: cs.origin, status: .equivocating,
                            reason: "\(why); no entries of \(cs.origin) beyond seq \(cs.seq - 1) are accepted", entry: cs.id.description)
        logger.critical("equivocation: origin forked its log", metadata: ["entry": "\(cs.id)", "origin": "\(cs.origin)"])
        return .equivocation(why)
    }

    /// Whether `cs` is the first-seen entry of an equivocation detected while it was
    /// held (both entries arrived before the chain reached their seq): it takes its
    /// place in the chain like the first entry of any equivocation, so entries that
    /// depend on that seq, such as the decision that resolves it (§3.5), can be judged.
    private func firstOfEquivocation(_ db: Database, _ cs: ChangeSet, hash: [UInt8], head: Row) throws -> Bool {
        guard (head["status"] as String) == OriginStatus.equivocating.rawValue, cs.seq == UInt64(head["last_seq"] as Int64) + 1,
              (head["status_entry"] as String?) == cs.id.description else { return false }
        return try Bool.fetchOne(db, sql: "SELECT 1 FROM paxsync_equivocations WHERE origin = ? AND seq = ? AND hash_a = ?",
                                 arguments: [cs.origin, Int64(cs.seq), Data(hash)]) ?? false
    }

    private func setOriginStatus(_ db: Database, origin: String, status: OriginStatus, reason: String, entry: String) throws {
        try db.execute(sql: """
            INSERT INTO paxsync_origins(origin, last_seq, last_hash, last_hlc, status, status_reason, status_entry)
            VALUES (?, 0, x'', 0, ?, ?, ?)
            ON CONFLICT(origin) DO UPDATE SET status = excluded.status, status_reason = excluded.status_reason,
                status_entry = excluded.status_entry
            WHERE paxsync_origins.status != ?
            """, arguments: [origin, status.rawValue, reason, entry, OriginStatus.equivocating.rawValue])
    }

    /// A record's applied row changes (`loadEvents` for the write path) through the history
    /// cache, and the record as merged from them when the cache knows.
    func loadHistoryMerged(_ db: Database, table: String, key: String) throws -> (events: [RecordEvent], merged: ResolvedRecord?) {
        if let cached = try historyCache.lookup(db, table: table, key: key) { return cached }
        let events = try loadEvents(db, table: table, key: key)
        historyCache.store("\(table) \(key)", events)
        return (events, nil)
    }

    /// Which of the records `changes` touch have stored events, as `"table key"`:
    /// one query per table instead of one per record.
    func recordsWithHistory(_ db: Database, _ changes: [RowChange]) throws -> Set<String> {
        try recordsWithHistory(db, records: changes.map { ($0.table, $0.key) })
    }

    /// Which of `records` (table, key) have stored events, as `"table key"`.
    func recordsWithHistory(_ db: Database, records: [(String, String)]) throws -> Set<String> {
        var found = Set<String>()
        for (table, keys) in Dictionary(grouping: records, by: \.0) {
            // At most 512 keys per statement, far below SQLite's limit on bound values, whatever an entry
            // holds; the list is padded to a power of two so few statements are prepared and cached.
            var start = 0
            while start < keys.count {
                let chunk = keys[start..<min(start + 512, keys.count)]
                start += chunk.count
                var width = 8
                while width < chunk.count { width *= 2 }
                let sql = "SELECT DISTINCT key FROM paxsync_record_changes WHERE tbl = ? AND key IN ("
                    + repeatElement("?", count: width).joined(separator: ", ") + ")"
                var arguments: [(any DatabaseValueConvertible)?] = [table]
                arguments.reserveCapacity(width + 1)
                for (_, key) in chunk { arguments.append(key) }
                for _ in chunk.count..<width { arguments.append(chunk.first!.1) }
                for key in try String.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments)) {
                    found.insert("\(table) \(key)")
                }
            }
        }
        return found
    }

    func loadEvents(_ db: Database, table: String, key: String) throws -> [RecordEvent] {
        // A change is read from its entry's logged body (or its copy, where the row holds one);
        // a file not migrated yet (opened read-only) holds copies only.
        let statement = try db.cachedStatement(sql: try db.columns(in: "paxsync_record_changes").contains { $0.name == "position" }
            ? """
              SELECT r.origin, r.seq, r.hlc, COALESCE(r.change, substr(l.body, r.change_at + 1, r.change_size)) AS change, r.counts
              FROM paxsync_record_changes r LEFT JOIN paxsync_log l ON l.position = r.position WHERE r.tbl = ? AND r.key = ?
              """
            : "SELECT origin, seq, hlc, change, counts FROM paxsync_record_changes WHERE tbl = ? AND key = ?")
        var events: [RecordEvent] = []
        let rows = try Row.fetchCursor(statement, arguments: [table, key])
        while let row = try rows.next() {
            let origin: String = row["origin"]
            let entry = EntryID(origin: origin, seq: UInt64(row["seq"] as Int64))
            let stamp = Stamp(hlc: HLC(rawValue: UInt64(bitPattern: row["hlc"])), origin: origin)
            guard let bytes = row["change"] as Data? else {
                throw PaxsyncError(.storage, "the history of \(table) \(key) refers to a change of \(entry) the log does not hold", subject: "\(table) \(key)")
            }
            events.append(RecordEvent(entry: entry, stamp: stamp, change: try RowChange(serialized: [UInt8](bytes)), counts: row["counts"] as Bool))
        }
        return events
    }

    /// Writes a record's merged state into its shared-record table and its conflicts.
    func materialize(_ db: Database, _ record: ResolvedRecord, hadHistory: Bool) throws {
        let table = record.table
        // Keys reach here checked: an entry's by its verdict, a stored record's when it was applied.
        let parts = table.splitKey(record.key)
        guard parts.count == table.key.count else {
            throw PaxsyncError(.storage, "a \(table.name) key has \(table.key.count) part(s)", subject: "\(table.name) \(record.key)")
        }
        if record.state == .live {
            // Plain values, not `[DatabaseValue]`: GRDB maps the latter with a key path built per call.
            var values: [(any DatabaseValueConvertible)?] = parts
            values.reserveCapacity(parts.count + 1 + table.fields.count)
            if let derived = table.derivedValue(ofKeyParts: parts) { values.append(derived.storable) }
            for field in table.fields { values.append(record.fields[field.name]?.value.storable) }
            try db.cachedStatement(sql: SQL.upsert[table.name]!).execute(arguments: StatementArguments(values))
        } else if hadHistory {
            try db.cachedStatement(sql: SQL.delete[table.name]!).execute(arguments: StatementArguments(parts))
        }
        if hadHistory {
            try db.cachedStatement(sql: "DELETE FROM paxsync_conflicts WHERE tbl = ? AND key = ?")
                .execute(arguments: [table.name, record.key])
        }
        for c in record.conflicts {
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO paxsync_conflicts(tbl, key, field, decision, winner_value, winner_deleted, winner_origin,
                    winner_hlc, winner_entry, loser_value, loser_origin, loser_hlc, loser_entry)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [c.table, c.key, c.field, c.decision.rawValue, c.winner.value, c.winner.deleted, c.winner.origin,
                                         Int64(bitPattern: c.winner.hlc), c.winner.entry, c.loser.value, c.loser.origin,
                                         Int64(bitPattern: c.loser.hlc), c.loser.entry])
        }
    }

    /// Folds a time into the node's hybrid logical clock.
    func observeClock(_ db: Database, _ time: HLC) throws {
        try db.cachedStatement(sql: """
            INSERT INTO paxsync_node(name, value) VALUES ('hlc', ?)
            ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)
            """).execute(arguments: [Int64(bitPattern: time.rawValue)])
    }

    /// Ticks the node's hybrid logical clock for a local write.
    func tickClock(_ db: Database, now: UInt64) throws -> HLC {
        let last = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM paxsync_node WHERE name = 'hlc'")) ?? 0
        var hlc = HybridLogicalClock(last: HLC(rawValue: UInt64(bitPattern: last)))
        let time = hlc.tick(now: now)
        try observeClock(db, time)
        return time
    }
}

/// Statements for the shared-record tables, built once.
enum SQL {
    static let upsert: [String: String] = Dictionary(uniqueKeysWithValues: Schema.tables.map { table in
        (table.name, """
            INSERT OR REPLACE INTO \(table.name)(\(table.columns.joined(separator: ", ")))
            VALUES (\(Array(repeating: "?", count: table.columns.count).joined(separator: ", ")))
            """)
    })
    static let delete: [String: String] = Dictionary(uniqueKeysWithValues: Schema.tables.map { table in
        (table.name, "DELETE FROM \(table.name) WHERE \(table.key.map { "\($0.name) = ?" }.joined(separator: " AND "))")
    })
}
