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
