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
