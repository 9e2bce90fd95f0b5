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
