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
