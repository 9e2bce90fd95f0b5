import PaxsyncLog

/// Collects entries and hands them to `Replica.apply` in batches, one
/// transaction per batch: the shape bundle import and replay share.
///
/// A batch amortizes the cost of a commit over many entries while keeping
/// memory bounded for bundles of any size.
struct ApplyBatcher {
    /// Entries per transaction.
    static let defaultSize = 500

    let replica: Replica
    let size: Int
    /// Called after each batch is applied, with its entries and their outcomes in order.
    let applied: ([SignedEntry], [ApplyOutcome]) throws -> Void
    private var pending: [SignedEntry] = []

    init(replica: Replica, size: Int = defaultSize, applied: @escaping ([SignedEntry], [ApplyOutcome]) throws -> Void) {
        self.replica = replica
        self.size = size
        self.applied = applied
    }

    /// Queues an entry; applies the batch once it is full.
    mutating func add(_ entry: SignedEntry) throws {
        pending.append(entry)
        if pending.count >= size { try flush() }
    }

    /// Applies the queued entries, if any.
    mutating func flush() throws {
        guard !pending.isEmpty else { return }
        let outcomes = try replica.apply(pending)
        try applied(pending, outcomes)
        pending.removeAll(keepingCapacity: true)
    }
}
