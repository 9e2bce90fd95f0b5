import GRDB
import PaxsyncModel
import Synchronization

/// Decoded record histories of the write path, so a record written again and
/// again (a stock level, a shipment's status) is not decoded from all of its
/// stored changes at every write.
///
/// Only the writer connection uses it, inside write transactions. It holds
/// what the database holds: an event is added right after its row is inserted;
/// a rollback drops everything; and so does a commit by any other connection
/// that changed or removed stored events (a cut, a superseded branch), which
/// SQLite's `data_version` and the replica's `history_generation` reveal. Every
/// hit is checked against the number of the record's rows: another process's
/// write (the CLI beside the daemon) only adds rows, which makes the table hold
/// more than the cache; and a commit that fails (a full disk) may roll back
/// without telling anyone, but this connection's inserts all reach the cache,
/// so an event of a transaction that never committed makes the cache hold more
/// than the table (the chaos suite's full disk found that). Either way the
/// record is read again. Records
/// with fewer than `minEvents` events are not kept (decoding them is cheap, and
/// a catch-up of a million new records would fill memory), and the whole cache
/// is dropped once it would exceed `maxEvents`.
final class HistoryCache: Sendable {
    static let minEvents = 2
    static let maxEvents = 200_000

    private struct State {
        var dataVersion: Int64?
        var records: [String: [RecordEvent]] = [:]
        /// The merge of a kept record's events, once known, when all of them count:
        /// what `Merge.resolve` gives for them (the apply path adds to it, §13).
        var merged: [String: ResolvedRecord] = [:]
        var events = 0
        /// A rollback handler is registered for the current transaction.
        var watching = false
        /// `data_version` was read in the current write transaction (`transaction`).
        var versionChecked = false
        /// `history_generation` when the cache was last filled or checked.
        var generation: Int64?
    }

    private let state = Mutex(State())

    /// The cached history of `table`/`key` and its merge when known, checking first that no
    /// other connection changed stored events since the cache was filled and that the table
    /// holds as many rows for the record as the cache holds events.
    func lookup(_ db: Database, table: String, key: String) throws -> (events: [RecordEvent], merged: ResolvedRecord?)? {
        let record = "\(table) \(key)"
        if !state.withLock({ $0.versionChecked }) { try checkVersion(db) }
        let cached = state.withLock { s -> (events: [RecordEvent], merged: ResolvedRecord?)? in
            s.records[record].map { ($0, s.merged[record]) }
        }
        guard let cached else { return nil }
        let rows = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM paxsync_record_changes WHERE tbl = ? AND key = ?"),
                                    arguments: [table, key]) ?? 0
        guard rows == cached.events.count else {
            forget(record)
            return nil
        }
        return cached
    }

    /// When another connection committed since the cache was filled: drops
    /// everything if that commit changed or removed stored events (a cut, a
    /// superseded branch: `remerge` counts them in `history_generation`). Events
    /// it only added (another process's write, the CLI beside the daemon) show in
    /// the per-record row count at the next lookup of that record.
    private func checkVersion(_ db: Database) throws {
        let version = try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0
        guard state.withLock({ $0.dataVersion != version }) else { return }
        let generation = try Self.generation(db)
        state.withLock { s in
            if s.generation != generation {
                s.records.removeAll()
                s.merged.removeAll()
                s.events = 0
                s.generation = generation
            }
            s.dataVersion = version
        }
    }

    /// How many times stored events were changed or removed (not added) in this replica.
    static func generation(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM paxsync_node WHERE name = 'history_generation'")) ?? 0
    }

    /// Counts a change or removal of stored events, in the transaction that makes it.
    static func bumpGeneration(_ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO paxsync_node(name, value) VALUES ('history_generation', 1)
            ON CONFLICT(name) DO UPDATE SET value = value + 1
            """)
    }

    /// Runs `body`, a part of one write transaction, reading `data_version` once
    /// for it instead of at every lookup: no other connection commits while this
    /// one holds the write lock. Lookups outside such a body read it each time.
    func transaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try checkVersion(db)
        state.withLock { $0.versionChecked = true }
        defer { state.withLock { $0.versionChecked = false } }
        return try body()
    }

    private func forget(_ record: String) {
        state.withLock { s in
            if let dropped = s.records.removeValue(forKey: record) { s.events -= dropped.count }
            s.merged[record] = nil
        }
    }

    /// Keeps the merge of a kept record's events, all of which count, right after
    /// the apply path materialized it.
    func merged(_ record: String, _ resolved: ResolvedRecord) {
        state.withLock { s in
            guard s.records[record] != nil else { return }
            s.merged[record] = resolved
        }
    }

    /// Keeps a history just read from the database.
    func store(_ record: String, _ events: [RecordEvent]) {
        guard events.count >= Self.minEvents else { return }
        state.withLock { s in
            let delta = events.count - (s.records[record]?.count ?? 0)
            if s.events + delta > Self.maxEvents {
                s.records.removeAll()
                s.merged.removeAll()
                s.events = 0
            }
            s.events += events.count - (s.records[record]?.count ?? 0)
            s.records[record] = events
            s.merged[record] = nil
        }
    }

    /// Adds an event just inserted into `paxsync_record_changes`, in the order a
    /// read returns them (the table's key: origin, then seq), if the record is
    /// kept; a rollback of this transaction drops the cache.
    func inserted(_ db: Database, _ record: String, _ event: RecordEvent) {
        let register = state.withLock { s -> Bool in
            guard s.records[record] != nil else { return false }
            var index = s.records[record]!.count
            while index > 0, Self.precedes(event, s.records[record]![index - 1]) { index -= 1 }
            s.records[record]!.insert(event, at: index)
            s.merged[record] = nil
            s.events += 1
            defer { s.watching = true }
            return !s.watching
        }
        guard register else { return }
        db.afterNextTransaction { _ in
            self.state.withLock { $0.watching = false }
        } onRollback: { _ in
            self.clear()
        }
    }

    func clear() {
        state.withLock { s in
            s.records.removeAll()
            s.merged.removeAll()
            s.events = 0
            s.dataVersion = nil
            s.generation = nil
            s.watching = false
        }
    }

    /// The order of `paxsync_record_changes` rows of one record: origin (as
    /// SQLite compares text, byte by byte), then seq.
    static func precedes(_ a: RecordEvent, _ b: RecordEvent) -> Bool {
        if a.entry.origin != b.entry.origin { return a.entry.origin.utf8.lexicographicallyPrecedes(b.entry.origin.utf8) }
        return a.entry.seq < b.entry.seq
    }
}
