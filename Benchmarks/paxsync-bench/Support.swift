import Foundation
import GRDB
import PaxsyncModel

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func rate(_ n: Int, _ s: Double) -> String { String(format: "%10.0f /s", Double(n) / s) }

func megabytes(_ bytes: Int?) -> String { bytes.map { String(format: "%.0f MB", Double($0) / 1_048_576) } ?? "n/a" }

/// The bytes of an SQLite database: its file and its write-ahead log.
func databaseBytes(_ path: String) -> Int? {
    func size(_ file: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: file)[.size]) as? Int }
    return size(path).map { $0 + (size(path + "-wal") ?? 0) }
}

/// Bytes of each table and its indexes in a database (SQLite's `dbstat`), by the
/// group `group` names for a table or index; nil when SQLite lacks `dbstat`.
func storageBreakdown(_ db: Database, group: (String) -> String) -> [(String, Int)]? {
    guard let rows = try? Row.fetchAll(db, sql: "SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name") else { return nil }
    var sums: [String: Int] = [:]
    for row in rows { sums[group(row["name"]), default: 0] += row["bytes"] as Int }
    return sums.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }
}

/// The same stock rows every measurement writes: facility/mineral/form keys,
/// quantity, grade, date; `perFacility` rows per facility `AU-F<n>`.
struct StockRows {
    typealias Row = (facility: String, mineral: String, form: String, kg: Int64, grade: Double, asOf: String)
    let count: Int
    let minerals = CodeLists.minerals.map(\.code)
    let forms = CodeLists.forms
    var perFacility: Int { minerals.count * forms.count }
    var facilityCount: Int { (count + perFacility - 1) / perFacility }

    subscript(i: Int) -> Row {
        ("AU-F\(i / perFacility)", minerals[(i % perFacility) / forms.count], forms[i % forms.count],
         Int64(1000 + i), Double(i % 1000) / 10, "2026-11-28")
    }
}

/// Progress on one line of standard error.
func progress(_ text: String) {
    FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
}

/// Baseline: raw SQLite (WAL, synchronous FULL, as paxsync runs) inserting the
/// same rows into the same table shape, `transactionRows` per transaction.
func rawInsert(_ rows: StockRows, path: String, transactionRows: Int) throws -> (DatabasePool, Double) {
    var config = Configuration()
    config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let raw = try DatabasePool(path: path, configuration: config)
    try raw.write { db in
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS stocks (facility_id TEXT NOT NULL, mineral TEXT NOT NULL, form TEXT NOT NULL,
                quantity_kg INTEGER NOT NULL, grade_pct REAL, as_of TEXT NOT NULL, PRIMARY KEY (facility_id, mineral, form))
            """)
    }
    let elapsed = try seconds {
        var start = 0
        while start < rows.count {
            let end = min(start + transactionRows, rows.count)
            try raw.write { db in
                let statement = try db.makeStatement(sql: "INSERT INTO stocks VALUES (?, ?, ?, ?, ?, ?)")
                for i in start..<end {
                    let r = rows[i]
                    try statement.execute(arguments: [r.facility, r.mineral, r.form, r.kg, r.grade, r.asOf])
                }
            }
            start = end
        }
    }
    return (raw, elapsed)
}
