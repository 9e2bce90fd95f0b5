/// One applied row change of a record, as the merge sees it.
public struct RecordEvent: Sendable, Hashable {
    public let entry: EntryID
    public let stamp: Stamp
    public let change: RowChange
    /// False for an entry a governance decision cut (§3.5): it stays in the
    /// record's history for judging later entries, but leaves the merge.
    public var counts: Bool

    public init(entry: EntryID, stamp: Stamp, change: RowChange, counts: Bool = true) {
        self.entry = entry
        self.stamp = stamp
        self.change = change
        self.counts = counts
    }
}
