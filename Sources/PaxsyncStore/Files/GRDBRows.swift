import GRDB
import PaxsyncModel

/// Reads SQL rows as field values.
enum GRDBRows {
    struct Cursor {
        let rows: RowCursor
        func next() throws -> [FieldValue]? {
            guard let row = try rows.next() else { return nil }
            return (0..<row.count).map { FieldValue(row[$0] as DatabaseValue) }
        }
    }

    static func cursor(_ db: Database, sql: String) throws -> Cursor {
        Cursor(rows: try Row.fetchCursor(db, sql: sql))
    }
}
