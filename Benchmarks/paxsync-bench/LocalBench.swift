// Local rates: CSV import, peer apply and single-row writes, each beside a raw
// SQLite baseline measured in the same run.
import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport

func localBench(rowCount: Int, writeCount: Int) throws {
    let rows = StockRows(count: rowCount)
    let forms = CodeLists.forms
    let facilityCount = rows.facilityCount
    func row(_ i: Int) -> StockRows.Row { rows[i] }
    let dir = TemporaryDirectory("paxsync-bench")
    // Baseline 1: raw SQLite, the same rows into the same table shape, one transaction.
    let (raw, rawSeconds) = try rawInsert(rows, path: dir.file("raw.sqlite"), transactionRows: rowCount)

    // Baseline 2: raw SQLite, one durable single-row transaction at a time.
    let rawSingleSeconds = try seconds {
        for i in 0..<writeCount {
            try raw.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO stocks VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: ["AU-SINGLE", "Li", forms[i % forms.count], Int64(i), 50.0, "2026-11-28"])
            }
        }
    }

    // paxsync: CSV import of the same rows (parse, validate, sign, apply, merge, log).
    let coalition = TestCoalition(["AU", "JP"])
    let au = try coalition.replica("AU", in: dir, clock: SystemClock())
    try au.commitBatches((0..<facilityCount).map { Records.facility("AU-F\($0)") }, batchSize: 1000)
    /// The rows as a stocks CSV file, each quantity plus `added`.
    func stockCSV(added: Int64) -> Data {
        var csv = "facility_id,mineral,form,quantity_kg,grade_pct,as_of\n"
        csv.reserveCapacity(rowCount * 48)
        for i in 0..<rowCount {
            let r = row(i)
            csv += "\(r.facility),\(r.mineral),\(r.form),\(r.kg + added),\(r.grade),\(r.asOf)\n"
        }
        return Data(csv.utf8)
    }
    let csvData = stockCSV(added: 0)
    var importEntries = 0
    let importSeconds = try seconds {
        let intents = try CSVImport.intents(table: Schema.stocks, data: csvData, source: "bench.csv", nodeID: "AU")
        importEntries = try au.commitBatches(intents, batchSize: 1000).count
    }

    // paxsync: single-row local change sets, each its own signed entry and durable commit.
    let writeSeconds = try seconds {
        for i in 0..<writeCount {
            try au.commit([Records.stock("AU-F0", "Li", forms[i % forms.count], kg: Int64(i))])
        }
    }

    // paxsync: a peer applying the imported entries (verify signature, check, merge, log).
    let jp = try coalition.replica("JP", in: dir, clock: SystemClock())
    let entries = try au.allEntries()
    let applySeconds = try seconds {
        var i = 0
        while i < entries.count {
            try jp.apply(Array(entries[i..<min(i + 10, entries.count)]))
            i += 10
        }
    }
    let appliedRows = entries.reduce(0) { $0 + $1.changeSet.changes.count }
    let peerDigest = try jp.digest().hex, auDigest = try au.digest().hex
    precondition(peerDigest == auDigest, "the peer did not reach AU's digest")

    // paxsync: the same file again with every quantity changed, so each row updates a record
    // with a history (merged with its stored change, read from the logged entry).
    let againData = stockCSV(added: 1)
    let reimportSeconds = try seconds {
        let intents = try CSVImport.intents(table: Schema.stocks, data: againData, source: "bench-again.csv", nodeID: "AU")
        _ = try au.commitBatches(intents, batchSize: 1000)
    }
    // Baseline 3: raw SQLite replacing every row, one transaction.
    let rawReplaceSeconds = try seconds {
        try raw.write { db in
            let statement = try db.makeStatement(sql: "INSERT OR REPLACE INTO stocks VALUES (?, ?, ?, ?, ?, ?)")
            for i in 0..<rowCount {
                let r = row(i)
                try statement.execute(arguments: [r.facility, r.mineral, r.form, r.kg + 1, r.grade, r.asOf])
            }
        }
    }

    let cli = try cliOverhead(dir: dir, commands: 30)

    print("""
        paxsync-bench: \(rowCount) stock rows, \(writeCount) single-row writes (SQLite WAL, synchronous FULL)

        measurement                                   rate           ratio to baseline
        raw SQLite insert, one transaction           \(rate(rowCount, rawSeconds))   baseline A
        paxsync import (CSV → \(importEntries) signed entries)     \(rate(rowCount, importSeconds))   \(String(format: "%.2f", rawSeconds / importSeconds)) × A
        peer applies those entries (rows)            \(rate(appliedRows, applySeconds))   \(String(format: "%.2f", (Double(appliedRows) / applySeconds) / (Double(rowCount) / rawSeconds))) × A
        raw SQLite single-row durable transactions   \(rate(writeCount, rawSingleSeconds))   baseline B
        paxsync local change sets (1 row each)       \(rate(writeCount, writeSeconds))   \(String(format: "%.2f", rawSingleSeconds / writeSeconds)) × B
        raw SQLite replace, one transaction          \(rate(rowCount, rawReplaceSeconds))   baseline C
        paxsync import again (every row an update)   \(rate(rowCount, reimportSeconds))   \(String(format: "%.2f", rawReplaceSeconds / reimportSeconds)) × C

        the CLI, one process per command (median of \(cli.count); no daemon running)
        `paxsync stock set` (a single-row change set)   \(String(format: "%6.1f ms", cli.write))
        `paxsync --version` (starting the process)      \(String(format: "%6.1f ms", cli.start))
        the library's commit of the same change        \(String(format: "%6.2f ms", writeSeconds * 1000 / Double(writeCount)))
        """)
}

/// Median wall time of `paxsync stock set` and of `paxsync --version`, each a
/// process of the release build beside this one, on a node of its own.
func cliOverhead(dir: TemporaryDirectory, commands: Int) throws -> (write: Double, start: Double, count: Int) {
    let executable = try paxsyncExecutable()
    let data = dir.file("cli-node")
    func run(_ arguments: [String]) throws -> Double {
        let began = DispatchTime.now().uptimeNanoseconds
        let (status, _) = try runMeasured(executable, arguments)
        guard status == 0 else {
            throw PaxsyncError(.invalidState, "paxsync \(arguments.joined(separator: " ")) exited \(status)", subject: executable)
        }
        return Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6
    }
    _ = try run(["node", "init", "--node-id", "AU", "--data-dir", data])
    _ = try run(["facility", "create", "--data-dir", data, "--id", "AU-CLI", "--name", "CLI bench", "--kind", "mine",
                 "--country", "AU", "--lat", "-28.86", "--lon", "122.55"])
    var writes: [Double] = [], starts: [Double] = []
    for i in 0..<commands {
        writes.append(try run(["stock", "set", "--data-dir", data, "--facility", "AU-CLI", "--mineral", "Li", "--form", "ore",
                               "--quantity-kg", "\(1000 + i)", "--as-of", "2026-11-29"]))
        starts.append(try run(["--version"]))
    }
    return (writes.sorted()[commands / 2], starts.sorted()[commands / 2], commands)
}
