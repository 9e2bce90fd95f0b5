import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

/// A change a local user asks for, before it becomes a signed row change.
public struct WriteIntent: Sendable {
    public enum Kind: Sendable {
        /// Create the record with every field.
        case create
        /// Set some fields.
        case update
        /// Create if absent, else update the fields that differ (imports, `stock set`).
        case upsert
        case delete
        /// Add a delta to a counter field.
        case adjust
        /// Set a counter field to a value by adjusting it by the difference (imports).
        case setCounter
    }

    public var table: TableSpec
    public var keyParts: [String]
    public var kind: Kind
    public var values: [String: FieldValue]
    /// Where the intent came from (`stocks.csv:12`), named in errors.
    public var source: String?

    public init(table: TableSpec, keyParts: [String], kind: Kind, values: [String: FieldValue] = [:], source: String? = nil) {
        self.table = table
        self.keyParts = keyParts
        self.kind = kind
        self.values = values
        self.source = source
    }

    public var key: String { table.makeKey(keyParts) }
    public var recordName: String { "\(table.name) \(key)" }
}

extension Replica {
    /// Commits local changes as one signed change set. Nothing is written if any
    /// intent is refused. Returns nil when the intents change nothing.
    @discardableResult
    public func commit(_ intents: [WriteIntent], note: String = "") throws -> SignedEntry? {
        try commitBatches(intents, batchSize: max(intents.count, 1), note: note).first
    }

    /// Commits local changes as change sets of at most `batchSize` row changes,
    /// all in one SQLite transaction: all or nothing. `progress` is called with
    /// the number of intents done.
    @discardableResult
    public func commitBatches(_ intents: [WriteIntent], batchSize: Int, note: String = "",
                              progress: ((Int) -> Void)? = nil) throws -> [SignedEntry] {
        var written: [SignedEntry] = []
        var rest = intents[...]
        _ = try commitStream(batchSize: batchSize, note: note, next: { rest.popFirst() }, progress: progress) { written.append($0) }
        return written
    }

    /// What `commitStream` wrote.
    public struct StreamResult: Sendable {
        /// The entries, in order (none when nothing changed).
        public var entries: [EntryID] = []
        /// Row changes across them.
        public var changes = 0
        /// Intents read.
        public var intents = 0
    }

    /// Commits the intents that `next` yields (nil ends them) as one entry per
    /// `batchSize` intents, all in one transaction: every batch is written, or
    /// none is. Holds one batch at a time, so an import of any size is written
    /// in bounded memory. `written` sees each entry as it is signed.
    public func commitStream(batchSize: Int, note: String = "", next: () throws -> WriteIntent?,
                             progress: ((Int) -> Void)? = nil,
                             written: (SignedEntry) -> Void = { _ in }) throws -> StreamResult {
        guard !configuration.readOnly else { throw PaxsyncError(.usage, "the replica is open read-only", subject: path) }
        guard let signingKey else { throw PaxsyncError(.usage, "local writes need the node's signing key", subject: nodeID) }
        let now = clock.nowMilliseconds()
        return try writer.write { db in try historyCache.transaction(db) {
            try Self.checkLocalWritesAllowed(db, nodeID: nodeID)
            var result = StreamResult()
            var ended = false
            while !ended {
                var changes: [RowChange] = []
                let histories = LocalHistories()
                var batch: [WriteIntent] = []
                while batch.count < batchSize {
                    guard let intent = try next() else {
                        ended = true
                        break
                    }
                    batch.append(intent)
                }
                let taken = batch.count
                // An import asks once per table which of its records have a history at all.
                let stored = taken >= 8 ? try recordsWithHistory(db, records: batch.map { ($0.table.name, $0.key) }) : nil
                for intent in batch {
                    do {
                        if let change = try prepare(db, intent, histories: histories,
                                                    known: stored.map { $0.contains(intent.recordName) }) {
                            changes.append(change)
                        }
                    } catch let error as PaxsyncError {
                        throw intent.source.map { error.within($0) } ?? error
                    }
                }
                result.intents += taken
                if !changes.isEmpty {
                    let entry = try signAndApply(db, changes: changes, note: note, key: signingKey, now: now, histories: histories)
                    result.entries.append(entry.id)
                    result.changes += changes.count
                    written(entry)
                }
                if taken > 0 { progress?(result.intents) }
            }
            return result
        } }
    }

    func signAndApply(_ db: Database, changes: [RowChange], note: String, key: NodeSigningKey, now: UInt64,
                      histories: LocalHistories, nextSigningKey: [UInt8]? = nil, governance: GovernanceAction? = nil) throws -> SignedEntry {
        // The entry is checked as signed without verifying it: it must be the key in effect.
        guard try keyInEffect(db, origin: nodeID, seq: .max) == Array(key.key.publicKey.rawRepresentation) else {
            throw PaxsyncError(.badInput, "this node's signing key is not \(nodeID)'s current key (the log rotated it)", subject: nodeID)
        }
        switch self.governance.members[nodeID]?.status {
        case .active?: break
        case .suspended?: throw PaxsyncError(.unauthorized, "this node's member is suspended by decision; it writes again once reinstated", subject: nodeID)
        case .removed?: throw PaxsyncError(.unauthorized, "this node's member was removed from the coalition by decision", subject: nodeID)
        case nil: throw PaxsyncError(.unauthorized, "this node's member is not admitted yet: it writes once a quorum admits it (`paxsync member propose admit` on a member's node)", subject: nodeID)
        }
        let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT last_seq, last_hash, status FROM paxsync_origins WHERE origin = ?"),
                                    arguments: [nodeID])
        if let head, (head["status"] as String) != "ok" {
            throw PaxsyncError(.invalidState, "this node's own chain is blocked (\(head["status"] as String)); see `paxsync quarantine`", subject: nodeID)
        }
        let seq = UInt64(head?["last_seq"] as Int64? ?? 0) + 1
        let prev = head.map { [UInt8]($0["last_hash"] as Data) } ?? []
        var deps = try Self.versionVector(db)
        deps[nodeID] = nil
        let hlc = try tickClock(db, now: now)
        let cs = ChangeSet(origin: nodeID, seq: seq, hlc: hlc, prevHash: prev, deps: deps.filter { $0.value > 0 },
                           changes: changes, note: note,
                           formatVersion: governance != nil ? ChangeSet.governanceFormatVersion
                               : nextSigningKey == nil ? ChangeSet.formatVersion : ChangeSet.keyRotationFormatVersion,
                           nextSigningKey: nextSigningKey, governance: governance)
        let entry = SignedEntry(signing: cs, with: key.key)
        // The same checks every peer will run; a refusal throws and rolls back.
        // Not the signature, just made with this node's key; nor the records'
        // states, which `prepare` resolved from the same histories (the entry's
        // causal past is everything this replica has applied).
        let outcome = try applyOne(db, entry: entry, now: now, releaseHeld: false, local: true, histories: histories, verified: true)
        guard outcome == .applied else {
            throw PaxsyncError(.invalidState, "the local change set was not applied: \(outcome)", subject: entry.id.description)
        }
        return entry
    }

    /// The record histories and states a local write read while preparing its
    /// changes, handed to the apply path so it reads and resolves none again.
    ///
    /// A class, so the apply path can take the histories out of it: the history
    /// cache then holds the only reference to a record's events and adds the new
    /// one in place, instead of copying a long history at every write.
    final class LocalHistories {
        var events: [String: [RecordEvent]] = [:]
        var resolved: [String: ResolvedRecord] = [:]
    }

    /// Turns an intent into a row change against the current local state, with
    /// the checks that only the writing node can make (references to records of
    /// other members, friendly messages). Returns nil for a no-op upsert.
    /// `known`: whether the record has stored events, when the caller asked for the whole batch (nil: read them).
    func prepare(_ db: Database, _ intent: WriteIntent, histories: LocalHistories, known: Bool? = nil) throws -> RowChange? {
        let table = intent.table
        let subject = intent.recordName
        func fail(_ code: PaxsyncError.Code, _ message: String) -> PaxsyncError { PaxsyncError(code, message, subject: subject) }
        _ = try table.parseKey(intent.key)
        // A record the batch's query found no history for is not read again (the query ran after the
        // transaction's earlier change sets were applied, so it saw their rows).
        let (events, merged) = known == false ? ([], nil) : try loadHistoryMerged(db, table: table.name, key: intent.key)
        // The cache's merge is of events that all count, so it is the state they resolve to.
        let current = merged ?? Merge.resolve(table: table, key: intent.key, events: events)
        histories.events[intent.recordName] = events
        histories.resolved[intent.recordName] = current

        var kind = intent.kind
        if kind == .upsert { kind = current.state == .live ? .update : .create }
        for name in intent.values.keys where table.field(name) == nil {
            throw fail(.invalidField, "unknown field \(name); \(table.name) has \(table.fields.map(\.name).joined(separator: ", "))")
        }
        func fieldChanges(_ names: [String]) -> [FieldChange] {
            names.map { FieldChange(name: $0, value: intent.values[$0] ?? .null, replaced: current.fields[$0]?.version) }
        }

        switch kind {
        case .create:
            guard current.state != .live else { throw fail(.invalidState, "already exists; update it instead") }
            let missing = table.fields.filter { !$0.nullable && intent.values[$0.name] == nil }.map(\.name)
            guard missing.isEmpty else { throw fail(.invalidField, "missing \(missing.joined(separator: ", "))") }
            var values = intent.values
            for field in table.fields where values[field.name] == nil {
                if let value = field.defaultValue { values[field.name] = value }
            }
            try checkReferences(db, table: table, keyParts: intent.keyParts, values: values, current: current, subject: subject)
            return RowChange(table: table.name, key: intent.key, op: .create,
                             fields: table.fields.map { FieldChange(name: $0.name, value: values[$0.name] ?? .null,
                                                                    replaced: current.fields[$0.name]?.version) })
        case .update:
            guard current.state == .live else {
                throw fail(.notFound, current.state == .deleted ? "was deleted" : "does not exist")
            }
            let changed = intent.values.filter { current.value($0.key) != $0.value }.map(\.key).sorted()
            if intent.kind == .upsert && changed.isEmpty { return nil }
            guard !changed.isEmpty else { throw fail(.usage, "nothing to change: every given value is already set") }
            try checkReferences(db, table: table, keyParts: intent.keyParts, values: intent.values, current: current, subject: subject)
            for field in table.fields where field.rule == .shipmentStatus && changed.contains(field.name) {
                if let status = intent.values[field.name]?.text.flatMap(ShipmentStatus.init),
                   let old = current.value(field.name)?.text.flatMap(ShipmentStatus.init) {
                    try EntryRules.checkTransition(from: old, to: status, subject: subject)
                }
            }
            return RowChange(table: table.name, key: intent.key, op: .update, fields: fieldChanges(changed))
        case .delete:
            guard current.state == .live else { throw fail(.notFound, "does not exist") }
            try checkNotReferenced(db, table: table, keyParts: intent.keyParts, current: current, subject: subject)
            return RowChange(table: table.name, key: intent.key, op: .delete, replaced: current.version)
        case .adjust, .setCounter:
            guard table.isCounter, let field = table.fields.first else { throw fail(.usage, "\(table.name) has no counter") }
            guard let given = intent.values[field.name]?.integer else { throw fail(.invalidField, "field \(field.name): expected an integer") }
            let now = current.value(field.name)?.integer ?? 0
            let unit = field.unit.map { " \($0)" } ?? ""
            if kind == .setCounter && given < 0 {
                throw fail(.invalidState, "field \(field.name): the \(field.noun) cannot be set to \(given)\(unit); it may not be below zero")
            }
            // Both are ≥ 0 when setting, so the difference is in range.
            let delta = kind == .adjust ? given : given - now
            if delta == 0 {
                if kind == .setCounter { return nil }
                throw fail(.usage, "an adjustment of zero changes nothing")
            }
            // What every node checks (EntryRules), said here before signing, without trapping on overflow.
            let (after, overflow) = now.addingReportingOverflow(delta)
            guard !overflow else {
                throw fail(.invalidState, "field \(field.name): the \(field.noun) is \(now)\(unit); "
                           + "adjusting by \(delta) would take it beyond \(Int64.max)")
            }
            guard after >= 0 else {
                throw fail(.invalidState, "field \(field.name): the \(field.noun) is \(now)\(unit); "
                           + "adjusting by \(delta) would take it below zero")
            }
            return RowChange(table: table.name, key: intent.key, op: .adjust,
                             fields: [FieldChange(name: field.name, value: .integer(delta), replaced: current.fields[field.name]?.version)])
        case .upsert:
            preconditionFailure("upsert resolved above")
        }
    }

    /// References to other records, checked where the write is made: the
    /// referenced records exist in this replica. Also the order of timestamp
    /// fields that may not be earlier than another.
    private func checkReferences(_ db: Database, table: TableSpec, keyParts: [String], values: [String: FieldValue],
                                 current: ResolvedRecord, subject: String) throws {
        func exists(_ reference: Reference, _ value: String) throws -> Bool {
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM \(reference.table) WHERE \(reference.column) = ?"),
                              arguments: [value]) ?? false
        }
        func noun(_ reference: Reference) -> String { Schema.table(named: reference.table)?.noun ?? reference.table }
        for (column, value) in zip(table.key, keyParts) {
            guard let reference = column.references else { continue }
            guard try exists(reference, value) else {
                throw PaxsyncError(.invalidState, "\(noun(reference)) \(value) does not exist; create it first", subject: subject)
            }
        }
        for field in table.fields {
            guard let reference = field.references, let value = values[field.name]?.text else { continue }
            guard try exists(reference, value) else {
                throw PaxsyncError(.invalidField, "field \(field.name): \(noun(reference)) \(value) does not exist in this replica",
                                   subject: subject)
            }
        }
        for field in table.fields {
            guard let earlierField = field.notBefore,
                  let earlier = (values[earlierField] ?? current.value(earlierField))?.text,
                  let later = (values[field.name] ?? current.value(field.name))?.text,
                  let e = CivilTime.parseTimestamp(earlier), let l = CivilTime.parseTimestamp(later), l < e else { continue }
            throw PaxsyncError(.invalidField, "field \(field.name): \(later) is before \(earlierField) \(earlier)", subject: subject)
        }
    }

    /// Refuses deleting a record that records of a table whose reference says
    /// `refuse` still name (a facility with stock).
    private func checkNotReferenced(_ db: Database, table: TableSpec, keyParts: [String], current: ResolvedRecord,
                                    subject: String) throws {
        for referrer in Schema.referrers(to: table.name) where referrer.reference.onDelete == .refuse {
            let column = referrer.reference.column
            let value = table.key.firstIndex { $0.name == column }.map { FieldValue.text(keyParts[$0]) } ?? current.value(column) ?? .null
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(referrer.table.name) WHERE \(referrer.column) = ?",
                                         arguments: [value.databaseValue]) ?? 0
            guard count == 0 else {
                let noun = referrer.table.noun
                throw PaxsyncError(.invalidState, "has \(count) \(noun) record(s); delete them first (paxsync \(noun) delete)",
                                   subject: subject)
            }
        }
    }
}
