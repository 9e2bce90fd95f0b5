/// One applied row change of a record, as the merge sees it.
public struct RecordEvent: Sendable, Hashable {
    public let entry: EntryID
    public let stamp: Stamp
    public let change: RowChange

    public init(entry: EntryID, stamp: Stamp, change: RowChange) {
        self.entry = entry
        self.stamp = stamp
        self.change = change
    }
}

/// Which rule decided a field's value; shown by `paxsync explain`.
public enum Decision: String, Sendable, Codable {
    /// The only write, or the latest by stamp among writes that saw each other.
    case lastWriterWins = "last-writer-wins"
    /// The furthest status along planned → loading → in_transit → arrived → received.
    case furthestStatus = "furthest-status"
    /// A cancellation made before the goods departed.
    case cancelledBeforeDeparture = "cancelled-before-departure"
    /// Goods in transit or beyond: a concurrent cancellation no longer takes effect.
    case departureOverridesCancel = "departure-overrides-cancel"
    /// The sum of every adjustment.
    case counterSum = "counter-sum"
    /// An update the deleting origin had not seen loses to the delete.
    case deleteWins = "delete-wins"
}

/// A field's merged value and where it came from.
public struct ResolvedField: Sendable, Hashable {
    public let value: FieldValue
    /// The write that set the value.
    public let stamp: Stamp
    public let entry: EntryID
    /// The highest stamp of all writes to the field: what a new local write replaces.
    public let version: Stamp
    public let decision: Decision
}

/// A detected concurrent write that lost, kept for operators until a later write settles it.
public struct Conflict: Sendable, Hashable, Codable {
    public struct Side: Sendable, Hashable, Codable {
        /// The value, or nil when the side is a deletion.
        public let value: String?
        public let isNull: Bool
        public let deleted: Bool
        public let origin: String
        public let hlc: UInt64
        public let entry: String

        public init(value: String?, isNull: Bool, deleted: Bool, origin: String, hlc: UInt64, entry: String) {
            self.value = value
            self.isNull = isNull
            self.deleted = deleted
            self.origin = origin
            self.hlc = hlc
            self.entry = entry
        }
    }
    public let table: String
    public let key: String
    public let field: String
    public let winner: Side
    public let loser: Side
    /// The rule that chose the winner.
    public let decision: Decision

    public init(table: String, key: String, field: String, winner: Side, loser: Side, decision: Decision) {
        self.table = table
        self.key = key
        self.field = field
        self.winner = winner
        self.loser = loser
        self.decision = decision
    }
}

/// The merged state of one record, computed from all of its events.
public struct ResolvedRecord: Sendable {
    public enum State: String, Sendable { case absent, live, deleted }

    public let table: TableSpec
    public let key: String
    public let state: State
    /// The record's first creation.
    public let createdBy: EntryID?
    /// The tombstone in force, when deleted.
    public let deletedBy: EntryID?
    public let fields: [String: ResolvedField]
    public let conflicts: [Conflict]
    /// The highest stamp of any field write: what a new local delete replaces.
    public let version: Stamp?

    public func value(_ field: String) -> FieldValue? { fields[field]?.value }
}

/// The merge rules of PROTOCOL.md, "Merge", as one pure function of a record's events.
///
/// The result depends only on the set of events, never on their order, so
/// replicas holding the same entries hold the same records and conflicts.
public enum Merge {
    public static func resolve(table: TableSpec, key: String, events: [RecordEvent]) -> ResolvedRecord {
        if table.isCounter { return resolveCounter(table: table, key: key, events: events) }

        var latestCreate: RecordEvent?
        var firstCreate: RecordEvent?
        var latestDelete: RecordEvent?
        var writes: [String: [Write]] = [:]
        var version: Stamp?
        for event in events {
            switch event.change.op {
            case .create:
                if latestCreate.map({ event.stamp > $0.stamp }) ?? true { latestCreate = event }
                if firstCreate.map({ event.stamp < $0.stamp }) ?? true { firstCreate = event }
            case .delete:
                if latestDelete.map({ event.stamp > $0.stamp }) ?? true { latestDelete = event }
                continue
            case .update: break
            case .adjust: continue
            }
            for field in event.change.fields {
                writes[field.name, default: []].append(Write(event: event, field: field))
            }
            if version.map({ event.stamp > $0 }) ?? true { version = event.stamp }
        }

        let state: ResolvedRecord.State
        if let create = latestCreate {
            state = latestDelete.map { $0.stamp > create.stamp } ?? false ? .deleted : .live
        } else {
            state = latestDelete == nil ? .absent : .deleted
        }

        var fields: [String: ResolvedField] = [:]
        var conflicts: [Conflict] = []
        for spec in table.fields {
            guard let all = writes[spec.name], !all.isEmpty else { continue }
            let (resolved, lost) = spec.rule == .shipmentStatus
                ? resolveStatus(all, since: latestCreate?.stamp)
                : resolveLastWriterWins(all)
            fields[spec.name] = resolved
            if state != .deleted {
                let winner = all.first { $0.event.stamp == resolved.stamp }!
                for loser in lost {
                    conflicts.append(Conflict(table: table.name, key: key, field: spec.name,
                                              winner: winner.side, loser: loser.side, decision: resolved.decision))
                }
            }
        }

        if state == .deleted, let tombstone = latestDelete {
            // Updates the deleting origin had not seen lose to the tombstone.
            let floor = latestCreate?.stamp
            for (name, list) in writes.sorted(by: { $0.key < $1.key }) {
                for w in list where w.event.change.op == .update
                    && isAfter(w.event.stamp, tombstone.change.replaced) && isAfter(w.event.stamp, floor) {
                    conflicts.append(Conflict(
                        table: table.name, key: key, field: name,
                        winner: Conflict.Side(value: nil, isNull: false, deleted: true, origin: tombstone.stamp.origin,
                                              hlc: tombstone.stamp.hlc.rawValue, entry: tombstone.entry.description),
                        loser: w.side, decision: .deleteWins))
                }
            }
        }
        conflicts.sort { ($0.field, $0.loser.hlc, $0.loser.origin) < ($1.field, $1.loser.hlc, $1.loser.origin) }
        return ResolvedRecord(table: table, key: key, state: state, createdBy: firstCreate?.entry,
                              deletedBy: state == .deleted ? latestDelete?.entry : nil,
                              fields: fields, conflicts: conflicts, version: version)
    }

    /// Whether `a` is later than `b`, a nil `b` being earlier than everything.
    static func isAfter(_ a: Stamp, _ b: Stamp?) -> Bool { b.map { a > $0 } ?? true }

    /// Two writes are concurrent when neither origin had seen the other's stamp
    /// (or a later one) on this field.
    static func concurrent(_ a: Write, _ b: Write) -> Bool {
        isAfter(a.event.stamp, b.field.replaced) && isAfter(b.event.stamp, a.field.replaced)
    }

    struct Write {
        let event: RecordEvent
        let field: FieldChange
        var side: Conflict.Side {
            Conflict.Side(value: field.value.isNull ? nil : field.value.description, isNull: field.value.isNull,
                          deleted: false, origin: event.stamp.origin, hlc: event.stamp.hlc.rawValue,
                          entry: event.entry.description)
        }
    }

    /// Latest stamp wins. Writes newer than what the winner replaced were not
    /// seen by its origin: they are concurrent losers.
    static func resolveLastWriterWins(_ writes: [Write]) -> (ResolvedField, [Write]) {
        let winner = writes.max { $0.event.stamp < $1.event.stamp }!
        let lost = writes.filter { $0.event.stamp != winner.event.stamp && isAfter($0.event.stamp, winner.field.replaced) }
        return (ResolvedField(value: winner.field.value, stamp: winner.event.stamp, entry: winner.event.entry,
                              version: winner.event.stamp, decision: .lastWriterWins), lost)
    }

    /// Furthest status wins; a cancellation wins unless the goods have departed.
    static func resolveStatus(_ all: [Write], since creation: Stamp?) -> (ResolvedField, [Write]) {
        let version = all.map(\.event.stamp).max()!
        let current = creation.map { c in all.filter { $0.event.stamp >= c } } ?? all
        let statuses = current.compactMap { w in w.field.value.text.flatMap(ShipmentStatus.init(rawValue:)).map { (w, $0) } }
        let progress = statuses.filter { $0.1 != .cancelled }
        let cancels = statuses.filter { $0.1 == .cancelled }.map(\.0)
        let furthest = progress.max { a, b in a.1 != b.1 ? a.1 < b.1 : a.0.event.stamp < b.0.event.stamp }

        func field(_ w: Write, _ d: Decision) -> ResolvedField {
            ResolvedField(value: w.field.value, stamp: w.event.stamp, entry: w.event.entry, version: version, decision: d)
        }
        if let (winner, status) = furthest, status.hasDeparted {
            let departed = progress.filter { $0.1.hasDeparted }.map(\.0)
            let lost = cancels.filter { c in departed.contains { concurrent($0, c) } }
            return (field(winner, cancels.isEmpty ? .furthestStatus : .departureOverridesCancel), lost)
        }
        if let cancel = cancels.max(by: { $0.event.stamp < $1.event.stamp }) {
            let lost = progress.map(\.0).filter { concurrent($0, cancel) }
            return (field(cancel, .cancelledBeforeDeparture), lost)
        }
        if let (winner, _) = furthest { return (field(winner, .furthestStatus), []) }
        // Only unreadable values (rejected on receipt, so not reached): fall back to stamps.
        let (lww, _) = resolveLastWriterWins(all)
        return (lww, [])
    }

    /// A counter's value is the sum of its adjustments; there are no conflicts.
    static func resolveCounter(table: TableSpec, key: String, events: [RecordEvent]) -> ResolvedRecord {
        var fields: [String: ResolvedField] = [:]
        var version: Stamp?
        for spec in table.fields {
            var sum: Int64 = 0
            var last: RecordEvent?
            for event in events where event.change.op == .adjust {
                guard let delta = event.change.fields.first(where: { $0.name == spec.name })?.value.integer else { continue }
                sum = sum &+ delta
                if last.map({ event.stamp > $0.stamp }) ?? true { last = event }
            }
            if let last {
                fields[spec.name] = ResolvedField(value: .integer(sum), stamp: last.stamp, entry: last.entry,
                                                  version: last.stamp, decision: .counterSum)
                if version.map({ last.stamp > $0 }) ?? true { version = last.stamp }
            }
        }
        let first = events.filter { $0.change.op == .adjust }.min { $0.stamp < $1.stamp }
        return ResolvedRecord(table: table, key: key, state: first == nil ? .absent : .live,
                              createdBy: first?.entry, deletedBy: nil, fields: fields, conflicts: [], version: version)
    }
}
