// paxsync beside the tool an agency would otherwise use: PostgreSQL logical
// replication over TLS between two local clusters (Benchmarks/pg-logical-replication.sh),
// with the same rows: the initial copy against paxsync's catch-up, and
// streaming of many small transactions against paxsync's live sync.
import Foundation
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport

/// What the PostgreSQL script measured.
struct PostgresFigures {
    var version = "?"
    var tls = false
    var initialCopySeconds: Double
    var streamingSeconds: Double
    var commitsSeconds: Double
}

/// Runs the PostgreSQL baseline; nil (having said why and how to get it) when
/// PostgreSQL is not installed.
func runPostgresBaseline(rows: StockRows, rowCount: Int, transactions: Int, perTransaction: Int) throws -> PostgresFigures? {
    let script = packageRoot.appendingPathComponent("Benchmarks/pg-logical-replication.sh").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [script, "\(rowCount)", "\(transactions)", "\(perTransaction)"]
    var environment = ProcessInfo.processInfo.environment
    environment["PG_MINERALS"] = rows.minerals.joined(separator: ",")
    environment["PG_FORMS"] = rows.forms.joined(separator: ",")
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    if process.terminationStatus == 3 {
        print("paxsync-bench pg: PostgreSQL is not installed, so there is no baseline (the bench installs nothing): "
              + "apt-get install -y postgresql, then run it again")
        return nil
    }
    guard process.terminationStatus == 0 else {
        throw PaxsyncError(.invalidState, "the PostgreSQL baseline failed (exit \(process.terminationStatus)); its output:\n\(text)",
                           subject: script)
    }
    var values: [String: String] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("pg ") {
        for pair in line.dropFirst(3).split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
    }
    guard let copy = values["initial_copy_seconds"].flatMap(Double.init),
          let streaming = values["streaming_seconds"].flatMap(Double.init),
          let commits = values["commits_seconds"].flatMap(Double.init) else {
        throw PaxsyncError(.invalidState, "the PostgreSQL baseline printed no figures; its output:\n\(text)", subject: script)
    }
    return PostgresFigures(version: values["version"] ?? "?", tls: values["tls"] == "t", initialCopySeconds: copy,
                           streamingSeconds: streaming, commitsSeconds: commits)
}

/// PostgreSQL's initial copy and streaming, then paxsync's catch-up of the
/// same rows (AU → a fresh JP) and its streaming: AU commits the same
/// transactions as change sets while JP is connected.
func pgBench(rowCount: Int, transactions: Int, perTransaction: Int) throws {
    let streamed = transactions * perTransaction
    let rows = StockRows(count: rowCount + streamed)
    progress("pg: PostgreSQL logical replication (Benchmarks/pg-logical-replication.sh)")
    let postgres = try runPostgresBaseline(rows: rows, rowCount: rowCount, transactions: transactions, perTransaction: perTransaction)

    let executable = try paxsyncExecutable()
    let dir = TemporaryDirectory("paxsync-bench-pg")
    let coalition = try LocalCoalition(base: dir.file("coalition"), members: [
        .init(id: "AU", country: "AU", name: "Australia"), .init(id: "JP", country: "JP", name: "Japan"),
    ], executable: executable)
    let au = try coalition.directory("AU").openReplica()
    // The facilities of every row (the streamed ones too), then the first `rowCount` rows.
    try prepareLog(au, rows: StockRows(count: rowCount), batch: perTransaction)
    let firstFacility = StockRows(count: rowCount).facilityCount
    _ = try au.commitBatches((firstFacility..<rows.facilityCount).map { Records.facility("AU-F\($0)") }, batchSize: perTransaction)
    let preloaded = try au.versionVector()["AU"]
    FileHandle.standardError.write(Data("\n".utf8))

    // Catch-up: JP listens, AU dials it.
    try coalition.start("JP")
    try waitUntil("JP's daemon answers on its admin socket", timeout: 30) { AdminClient.isAnswering(coalition.dataDir("JP") + "/admin.sock") }
    let jp = try coalition.directory("JP").openReplica(writable: false)
    let catchUpBegan = DispatchTime.now().uptimeNanoseconds
    try coalition.start("AU")
    try waitUntil("JP catching up \(preloaded) entries from AU", timeout: 3600, poll: 0.05) {
        let held = try jp.versionVector()["AU"]
        progress("pg: paxsync catch-up \(held)/\(preloaded) entries")
        return held >= preloaded
    }
    let catchUpSeconds = Double(DispatchTime.now().uptimeNanoseconds - catchUpBegan) / 1e9
    FileHandle.standardError.write(Data("\n".utf8))
    try coalition.waitUntilWritable(["AU"], timeout: 60)

    // Streaming: the same transactions, each a change set of `perTransaction` rows, JP connected.
    let auSocket = coalition.dataDir("AU") + "/admin.sock"
    let streamBegan = DispatchTime.now().uptimeNanoseconds
    for t in 0..<transactions {
        let from = rowCount + t * perTransaction
        let intents = (from..<from + perTransaction).map { i -> WriteIntent in
            let r = rows[i]
            return Records.stock(r.facility, r.mineral, r.form, kg: r.kg, grade: r.grade, asOf: r.asOf)
        }
        _ = try au.commit(intents)
        _ = try? AdminClient.request(auSocket, AdminClient.wake, timeoutSeconds: 2)
        if t % 100 == 0 { progress("pg: paxsync streaming, \(t)/\(transactions) change sets committed at AU") }
    }
    let commitsSeconds = Double(DispatchTime.now().uptimeNanoseconds - streamBegan) / 1e9
    let last = try au.versionVector()["AU"]
    try waitUntil("JP holding AU:\(last)", timeout: 3600, poll: 0.02) { try jp.versionVector()["AU"] >= last }
    let streamingSeconds = Double(DispatchTime.now().uptimeNanoseconds - streamBegan) / 1e9
    FileHandle.standardError.write(Data("\n".utf8))
    coalition.stopAll()
    let (auDigest, jpDigest) = (try au.digest().hex, try jp.digest().hex)
    guard auDigest == jpDigest else {
        throw PaxsyncError(.invalidState, "JP's digest \(jpDigest) differs from AU's \(auDigest)", subject: "JP")
    }

    func cell(_ seconds: Double?, rows: Int) -> String {
        guard let seconds else { return "n/a".padding(toLength: 24, withPad: " ", startingAt: 0) }
        return String(format: "%7.1f s (%7.0f rows/s)", seconds, Double(rows) / seconds)
    }
    func ratio(_ paxsync: Double, _ pg: Double?) -> String { pg.map { String(format: "%.2f×", paxsync / $0) } ?? "n/a" }
    let pgName = postgres.map { "PostgreSQL \($0.version)\($0.tls ? " (TLS)" : "")" } ?? "PostgreSQL (not installed)"
    print("""
        paxsync-bench pg: \(rowCount) stock rows copied, then \(transactions) transactions of \(perTransaction) rows streamed; \
        loopback, both over TLS, durable commits (PostgreSQL synchronous_commit on; paxsync WAL, synchronous FULL)

        measurement                       \(pgName.padding(toLength: 26, withPad: " ", startingAt: 0))paxsync                   paxsync time / PostgreSQL time
        initial copy / catch-up           \(cell(postgres?.initialCopySeconds, rows: rowCount))  \(cell(catchUpSeconds, rows: rowCount))  \
        \(ratio(catchUpSeconds, postgres?.initialCopySeconds))   (target ≤ 2.00×)
        streaming, first commit → peer    \(cell(postgres?.streamingSeconds, rows: streamed))  \(cell(streamingSeconds, rows: streamed))  \
        \(ratio(streamingSeconds, postgres?.streamingSeconds))   (target < 1.00×)
          of which the origin's commits   \(cell(postgres?.commitsSeconds, rows: streamed))  \(cell(commitsSeconds, rows: streamed))  \
        \(ratio(commitsSeconds, postgres?.commitsSeconds))
        digests equal                     \(jpDigest.prefix(16))…
        """)
}
