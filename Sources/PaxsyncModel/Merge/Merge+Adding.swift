extension Merge {
    /// The record after one more event, without going over its history again,
    /// when the result can be told from the record as merged before it:
    ///
    /// - the first event of a record (a creation on an empty history);
    /// - an update of a live record, stamped later than every event of the
    ///   history, whose every field is merged by last-writer-wins and replaced
    ///   that field's current winner (what a local write, or any write made with
    ///   the whole record in its causal past, does).
    ///
    /// Returns exactly `resolve(table:key:events: history + [event])` in those
    /// cases (a property test holds it to that), and nil in every other case,
    /// which the caller resolves from all events.
    ///
    /// - Parameters:
    ///   - prior: `resolve(table:key:events: history)`; unused for an empty history.
    ///   - history: The record's events before `event`, all of which count.
    public static func adding(_ event: RecordEvent, to prior: ResolvedRecord?, table: TableSpec, key: String,
                              history: [RecordEvent]) -> ResolvedRecord? {
        guard !table.isCounter else { return nil }
        let change = event.change
        if history.isEmpty {
            guard change.op == .create else { return nil }
            var fields: [String: ResolvedField] = [:]
            fields.reserveCapacity(change.fields.count)
            for spec in table.fields {
                guard let field = change.fields.first(where: { $0.name == spec.name }) else { continue }
                // One write: it wins and loses to nothing, by either rule.
                fields[spec.name] = spec.rule == .shipmentStatus
                    ? resolveStatus([Write(event: event, field: field)], since: event.stamp).0
                    : ResolvedField(value: field.value, stamp: event.stamp, entry: event.entry, version: event.stamp,
                                    decision: .lastWriterWins)
            }
            return ResolvedRecord(table: table, key: key, state: .live, createdBy: event.entry, deletedBy: nil,
                                  fields: fields, conflicts: [], version: event.stamp)
        }
        guard change.op == .update, let prior, prior.state == .live,
              history.allSatisfy({ $0.stamp < event.stamp }) else { return nil }
        var fields = prior.fields
        var touched = Set<String>()
        for field in change.fields {
            guard let spec = table.field(field.name), spec.rule == .lastWriterWins,
                  let winner = prior.fields[field.name], field.replaced == winner.stamp else { return nil }
            // Later than every write of the field and replacing the latest: it wins, and
            // no write is later than what it replaced, so the field has no conflicts left.
            fields[field.name] = ResolvedField(value: field.value, stamp: event.stamp, entry: event.entry,
                                               version: event.stamp, decision: .lastWriterWins)
            touched.insert(field.name)
        }
        return ResolvedRecord(table: table, key: key, state: .live, createdBy: prior.createdBy, deletedBy: nil,
                              fields: fields, conflicts: prior.conflicts.filter { !touched.contains($0.field) },
                              version: event.stamp)
    }
}
