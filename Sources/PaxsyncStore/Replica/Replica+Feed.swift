import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

/// One applied row change, as `paxsync feed` streams it: in log order (the
/// order this replica applied the entries), resumable from a log position.
public struct FeedChange: Sendable, Encodable, Equatable {
    /// The log position of the entry (`paxsync_log.position`): resume with
    /// `--since` the position of the last entry whose changes were all handled.
    public var position: Int64
    /// The entry, `ORIGIN:SEQ`.
    public var entry: String
    /// When the origin wrote it (the entry's hybrid logical clock, ISO 8601).
    public var at: String
    /// The change's place in its entry, from 0; `last` marks the entry's final change.
    public var index: Int
    public var last: Bool
    public var table: String
    public var key: String
    /// create, update, delete or adjust (a counter's delta).
    public var op: String
    /// The fields the change wrote (for adjust: the delta), by name.
    public var fields: [String: FieldValue]
    /// The record's merged row as the feed read it — every column, keys
    /// included — or nil when the record is deleted. Later changes may already
    /// be in it; applying rows in feed order converges to the replica.
    public var row: [String: FieldValue]?
}

extension Replica {
    /// The changes of up to `limit` entries after log position `position`, in log order.
    public func feed(after position: Int64, limit: Int) throws -> [FeedChange] {
        try writer.read { db in
            var out: [FeedChange] = []
            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT position, body, signature FROM \(try Self.standingLog(db)) WHERE position > ? ORDER BY position LIMIT ?
                """), arguments: [position, limit])
            for row in rows {
                let position: Int64 = row["position"]
                let entry = try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data))
                let changes = entry.changeSet.changes
                for (index, change) in changes.enumerated() {
                    out.append(FeedChange(
                        position: position, entry: entry.id.description,
                        at: CivilTime.iso8601(milliseconds: entry.changeSet.hlc.physicalMilliseconds),
                        index: index, last: index == changes.count - 1, table: change.table, key: change.key, op: change.op.rawValue,
                        fields: Dictionary(change.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 }),
                        row: try Self.currentRow(db, table: change.table, key: change.key)))
                }
            }
            return out
        }
    }

    /// The merged row of `table` `key` (every column), or nil when there is none.
    static func currentRow(_ db: Database, table name: String, key: String) throws -> [String: FieldValue]? {
        guard let table = Schema.table(named: name) else { return nil }
        let parts = try table.parseKey(key)
        let condition = table.key.map { "\($0.name) = ?" }.joined(separator: " AND ")
        let columns = table.columns
        let sql = "SELECT \(columns.joined(separator: ", ")) FROM \(table.name) WHERE \(condition)"
        guard let row = try Row.fetchOne(db.cachedStatement(sql: sql), arguments: StatementArguments(parts)) else { return nil }
        return Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, FieldValue(row[$0] as DatabaseValue)) })
    }
}
