/// Provides a record's merged state as it was in an entry's causal past: only
/// the events of entries the origin had applied when it wrote the entry.
public typealias CausalPastLookup = (_ table: TableSpec, _ key: String) throws(PaxsyncError) -> ResolvedRecord

/// The schema, authorization and state rules every node applies to every entry
/// (PROTOCOL.md, "Verdicts"). The verdict depends only on the entry, the roster
/// and the entry's causal past, so every node reaches the same one.
public enum EntryRules {
    /// Whether the entry is of a format and schema this node understands. Entries
    /// from newer versions are held, not rejected, until this node is upgraded.
    ///
    /// - Parameter schemaVersion: The newest schema this node implements.
    /// - Returns: Why the entry cannot be judged yet, or nil.
    public static func unsupportedVersion(_ cs: ChangeSet, schemaVersion: UInt32 = Schema.version) -> String? {
        if ![ChangeSet.formatVersion, ChangeSet.keyRotationFormatVersion, ChangeSet.governanceFormatVersion].contains(cs.formatVersion) {
            return "change-set format \(cs.formatVersion) is not supported by this node (supports \(ChangeSet.formatVersion) "
                + "to \(ChangeSet.governanceFormatVersion))"
        }
        if cs.schemaVersion > schemaVersion {
            return "schema version \(cs.schemaVersion) is newer than this node's \(schemaVersion): upgrade paxsync"
        }
        return nil
    }

    /// Checks shape and field values, independent of any state.
    public static func checkStructure(_ cs: ChangeSet, members: Set<String>) throws(PaxsyncError) {
        let subject = cs.id.description
        func fail(_ code: PaxsyncError.Code, _ message: String, _ more: String? = nil) -> PaxsyncError {
            PaxsyncError(code, message, subject: more.map { "\(subject) \($0)" } ?? subject)
        }
        guard members.contains(cs.origin) else { throw fail(.unknownOrigin, "origin \(cs.origin) is not in the roster") }
        guard cs.seq >= 1 else { throw fail(.malformedEntry, "sequence numbers start at 1") }
        guard cs.hlc > .zero else { throw fail(.malformedEntry, "missing clock time") }
        guard cs.schemaVersion >= 1 else { throw fail(.malformedEntry, "missing schema version") }
        if cs.seq == 1 {
            guard cs.prevHash.isEmpty else { throw fail(.malformedEntry, "the first entry of an origin has no previous hash") }
        } else {
            guard cs.prevHash.count == 32 else { throw fail(.malformedEntry, "previous hash must be 32 bytes (SHA-256), got \(cs.prevHash.count)") }
        }
        for (origin, seq) in cs.deps {
            guard origin != cs.origin, seq > 0, members.contains(origin) else {
                throw fail(.malformedEntry, "dependency \(origin):\(seq) is not a positive sequence of another roster member")
            }
        }
        // Format 2 is format 1 plus the next signing key, which it must carry; it may change no record.
        // Format 3 carries a governance action and nothing else.
        if cs.formatVersion == ChangeSet.governanceFormatVersion {
            guard let action = cs.governance else { throw fail(.malformedEntry, "a format-3 entry carries a governance action") }
            guard cs.changes.isEmpty, cs.nextSigningKey == nil else {
                throw fail(.malformedEntry, "a governance entry changes no record and rotates no key")
            }
            try action.checkStructure(subject: subject)
        } else if cs.governance != nil {
            throw fail(.malformedEntry, "only a format-3 entry may carry a governance action")
        } else if cs.formatVersion == ChangeSet.keyRotationFormatVersion {
            guard let next = cs.nextSigningKey, next.count == 32 else {
                throw fail(.malformedEntry, "a format-2 entry names the origin's next signing key (32 bytes)")
            }
        } else {
            guard cs.nextSigningKey == nil else {
                throw fail(.malformedEntry, "only a format-2 entry may name a next signing key")
            }
            guard !cs.changes.isEmpty else { throw fail(.malformedEntry, "a change set holds at least one row change") }
        }
        var seen = Set<String>()
        for change in cs.changes {
            let record = change.recordName
            guard let table = Schema.table(named: change.table) else {
                throw fail(.malformedEntry, "unknown table \"\(change.table)\"")
            }
            guard seen.insert(record).inserted else { throw fail(.malformedEntry, "changes the same record twice", record) }
            let parts: [String]
            do { parts = try table.parseKey(change.key) } catch { throw error.within(subject) }
            try checkFields(change, table: table, parts: parts, origin: cs.origin, members: members, subject: "\(subject) \(record)")
        }
    }

    static func checkFields(_ change: RowChange, table: TableSpec, parts: [String], origin: String,
                            members: Set<String>, subject: String) throws(PaxsyncError) {
        func fail(_ code: PaxsyncError.Code, _ message: String) -> PaxsyncError {
            PaxsyncError(code, message, subject: subject)
        }
        var names = Set<String>()
        for field in change.fields {
            guard let spec = table.field(field.name) else { throw fail(.malformedEntry, "unknown field \"\(field.name)\"") }
            guard names.insert(field.name).inserted else { throw fail(.malformedEntry, "field \(field.name) set twice") }
            if field.value.isNull {
                guard spec.nullable, change.op != .adjust else { throw fail(.invalidField, "field \(field.name) may not be empty") }
            } else {
                do { try spec.type.validate(field.value, field: field.name) } catch { throw error.within(subject) }
            }
        }
        switch (change.op, table.isCounter) {
        case (.adjust, true):
            // Every name is a distinct field of the table (checked above), so equal counts mean all are set.
            guard names.count == table.fields.count else { throw fail(.malformedEntry, "an adjustment sets every counter field") }
            guard change.fields.contains(where: { $0.value.integer != 0 }) else { throw fail(.malformedEntry, "an adjustment of zero changes nothing") }
        case (_, true):
            throw fail(.malformedEntry, "\(table.name) is changed only by adjustments")
        case (.adjust, false):
            throw fail(.malformedEntry, "\(table.name) has no counter fields to adjust")
        case (.create, false):
            if names.count != table.fields.count {
                let missing = table.fields.map(\.name).filter { !names.contains($0) }
                throw fail(.malformedEntry, "a creation sets every field; missing \(missing.joined(separator: ", "))")
            }
        case (.update, false):
            guard !names.isEmpty else { throw fail(.malformedEntry, "an update sets at least one field") }
            if let immutable = change.fields.first(where: { table.field($0.name)!.immutable }) {
                throw fail(.invalidField, "field \(immutable.name) is set at creation and never changed")
            }
        case (.delete, false):
            guard names.isEmpty else { throw fail(.malformedEntry, "a deletion sets no fields") }
        }
        if table.kind == .shipments {
            let exporter = table.owner(ofKeyParts: parts)
            func value(_ n: String) -> String? { change.fields.first { $0.name == n }?.value.text }
            if let from = value("from_facility"), Identifier.namespace(of: from) != exporter {
                throw fail(.invalidField, "field from_facility: \(from) is not a facility of the exporter \(exporter)")
            }
            if let importer = value("importer") {
                guard importer != exporter else { throw fail(.invalidField, "field importer: exporter and importer are the same member") }
                guard members.contains(importer) else { throw fail(.invalidField, "field importer: \(importer) is not in the roster") }
                if let to = value("to_facility"), Identifier.namespace(of: to) != importer {
                    throw fail(.invalidField, "field to_facility: \(to) is not a facility of the importer \(importer)")
                }
            }
            if change.op == .create, value("status") == ShipmentStatus.cancelled.rawValue {
                throw fail(.invalidField, "field status: a shipment cannot be created cancelled")
            }
        }
    }

    /// Checks who may write what, and that each change fits the record as the
    /// origin knew it (its causal past).
    public static func checkAuthorizationAndState(_ cs: ChangeSet, past: CausalPastLookup) throws(PaxsyncError) {
        for change in cs.changes {
            let table = Schema.table(named: change.table)!
            // checkStructure parsed and checked the key; the count is checked again, cheaply.
            let parts = table.splitKey(change.key)
            let subject = "\(cs.id) \(change.recordName)"
            func fail(_ code: PaxsyncError.Code, _ message: String) -> PaxsyncError {
                PaxsyncError(code, message, subject: subject)
            }
            guard parts.count == table.key.count else { throw fail(.invalidKey, "a \(table.name) key has \(table.key.count) part(s)") }
            let owner = table.owner(ofKeyParts: parts)
            let record = try past(table, change.key)

            switch change.op {
            case .create:
                guard cs.origin == owner else {
                    throw fail(.unauthorized, "only \(owner), whose id namespaces this record, may create it; origin is \(cs.origin)")
                }
                guard record.state != .live else { throw fail(.invalidState, "the record already exists") }
                if let previous = record.value("importer"), let now = change.fields.first(where: { $0.name == "importer" })?.value,
                   previous != now {
                    throw fail(.invalidField, "field importer: a re-created shipment keeps its importer \(previous)")
                }
            case .delete:
                guard cs.origin == owner else { throw fail(.unauthorized, "only \(owner) may delete this record; origin is \(cs.origin)") }
                guard record.state == .live else { throw fail(.invalidState, "deletes a record that does not exist") }
            case .update:
                guard record.state == .live else { throw fail(.invalidState, "updates a record that does not exist (in the entry's causal past)") }
                if cs.origin != owner {
                    let importer = table.kind == .shipments ? record.value("importer")?.text : nil
                    guard cs.origin == importer else {
                        throw fail(.unauthorized, "only \(owner)\(importer.map { " or the importer \($0)" } ?? "") may update this record; origin is \(cs.origin)")
                    }
                    if let field = change.fields.first(where: { !(table.field($0.name)?.importerMayWrite ?? false) }) {
                        throw fail(.unauthorized, "the importer \(cs.origin) may not set field \(field.name)")
                    }
                    if change.fields.contains(where: { $0.name == "status" && $0.value.text == ShipmentStatus.cancelled.rawValue }) {
                        throw fail(.unauthorized, "only the exporter \(owner) may cancel a shipment")
                    }
                }
                if let newStatus = change.fields.first(where: { $0.name == "status" })?.value.text.flatMap(ShipmentStatus.init),
                   let oldStatus = record.value("status")?.text.flatMap(ShipmentStatus.init) {
                    try checkTransition(from: oldStatus, to: newStatus, subject: subject)
                }
                if table.kind == .shipments, let to = change.fields.first(where: { $0.name == "to_facility" })?.value.text,
                   let importer = record.value("importer")?.text, Identifier.namespace(of: to) != importer {
                    throw fail(.invalidField, "field to_facility: \(to) is not a facility of the importer \(importer)")
                }
            case .adjust:
                guard cs.origin == owner else {
                    throw fail(.unauthorized, "only \(owner) may adjust its own pledge; origin is \(cs.origin)")
                }
                for field in change.fields {
                    let current = record.value(field.name)?.integer ?? 0
                    let (sum, overflow) = current.addingReportingOverflow(field.value.integer ?? 0)
                    guard !overflow, sum >= 0 else {
                        throw fail(.invalidState, "field \(field.name): the share would become \(overflow ? "out of range" : String(sum)); a share may not go below zero")
                    }
                }
            }
        }
    }

    /// A status may only move forward; a cancellation only before departure.
    public static func checkTransition(from old: ShipmentStatus, to new: ShipmentStatus, subject: String) throws(PaxsyncError) {
        if old == .cancelled {
            throw PaxsyncError(.invalidState, "field status: the shipment is cancelled; it cannot become \(new.rawValue)", subject: subject)
        }
        if new == .cancelled {
            guard !old.hasDeparted else {
                throw PaxsyncError(.invalidState, "field status: the shipment is already \(old.rawValue); it can no longer be cancelled", subject: subject)
            }
            return
        }
        guard let a = old.rank, let b = new.rank, b > a else {
            throw PaxsyncError(.invalidState, "field status: \(old.rawValue) → \(new.rawValue) does not move forward (planned → loading → in_transit → arrived → received)", subject: subject)
        }
    }
}
