// Network rates with real `paxsync serve` processes on loopback (mutual TLS):
// a fresh node catching up, and write-to-visibility latency across five nodes.
import Foundation
import GRDB
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import PaxsyncTestSupport

/// The `paxsync` executable of the same build, beside this one.
func paxsyncExecutable() throws -> String {
    let dir = (LocalCoalition.currentExecutable as NSString).deletingLastPathComponent
    let path = (dir as NSString).appendingPathComponent("paxsync")
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw PaxsyncError(.notFound, "build it first: swift build -c release", subject: path)
    }
    return path
}

func waitUntil(_ what: String, timeout: Double, poll: Double = 0.05, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        guard Date() < deadline else { throw PaxsyncError(.invalidState, "timed out after \(timeout) s", subject: what) }
        Thread.sleep(forTimeInterval: poll)
    }
}

/// AU's log for the catch-up benchmarks: facilities, then the stock rows in
/// change sets of `batch`.
func prepareLog(_ au: Replica, rows: StockRows, batch: Int) throws {
    _ = try au.commitBatches((0..<rows.facilityCount).map { Records.facility("AU-F\($0)") }, batchSize: batch)
    var start = 0
    let chunk = 50_000
    while start < rows.count {
        let end = min(start + chunk, rows.count)
        let intents = (start..<end).map { i -> WriteIntent in
            let r = rows[i]
            return Records.stock(r.facility, r.mineral, r.form, kg: r.kg, grade: r.grade, asOf: r.asOf)
        }
        _ = try au.commitBatches(intents, batchSize: batch)
        start = end
        progress("preparing AU's log: \(start)/\(rows.count) rows")
    }
}

/// A fresh node (JP) catches up from a peer (AU) holding `rowCount` stock row
/// changes in change sets of 100 rows, over mutual TLS on loopback.
/// `freshDials`: the fresh node is AT, which dials AU (the lower id dials), so it
/// receives the catch-up as the gRPC client; otherwise JP listens and AU dials it.
func catchUpBench(rowCount: Int, batch: Int = 100, freshDials: Bool = false) throws {
    let executable = try paxsyncExecutable()
    let fresh = freshDials ? "AT" : "JP"
    let dir = TemporaryDirectory("paxsync-bench-catchup")
    let rows = StockRows(count: rowCount)

    // Baselines: raw SQLite inserting the same rows, in one transaction and in
    // transactions of `batch` rows (as many commits as change sets).
    let (raw, rawOne) = try rawInsert(rows, path: dir.file("raw-one.sqlite"), transactionRows: rowCount)
    try raw.writeWithoutTransaction { try $0.checkpoint(.truncate) }
    let rawBytes = databaseBytes(dir.file("raw-one.sqlite"))
    let (_, rawBatched) = try rawInsert(rows, path: dir.file("raw-batched.sqlite"), transactionRows: batch)

    let coalition = try LocalCoalition(base: dir.file("coalition"), members: [
        .init(id: "AU", country: "AU", name: "Australia"), .init(id: fresh, country: fresh, name: freshDials ? "Austria" : "Japan"),
    ], executable: executable)

    let au = try coalition.directory("AU").openReplica()
    try prepareLog(au, rows: rows, batch: batch)
    let auEntries = try au.versionVector()["AU"]
    let totalRows = rowCount + rows.facilityCount
    let auDigest = try au.digest().hex
    FileHandle.standardError.write(Data("\n".utf8))

    // The fresh node starts first; the clock starts with AU (JP: AU dials it; AT dials AU once AU listens).
    try coalition.start(fresh)
    try waitUntil("\(fresh)'s daemon answers on its admin socket", timeout: 30) {
        AdminClient.isAnswering(try coalition.directory(fresh).file("admin.sock"))
    }
    let jp = try coalition.directory(fresh).openReplica(writable: false)
    let began = DispatchTime.now().uptimeNanoseconds
    try coalition.start("AU")
    var peakAU = 0, peakJP = 0
    try waitUntil("\(fresh) catching up \(auEntries) entries from AU", timeout: 3600, poll: 0.1) {
        let held = try jp.versionVector()["AU"]
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
        peakAU = max(peakAU, coalition.pid("AU").flatMap { peakResidentBytes(pid: $0) } ?? 0)
        peakJP = max(peakJP, coalition.pid(fresh).flatMap { peakResidentBytes(pid: $0) } ?? 0)
        progress(String(format: "catch-up: %d/%d entries, %.1f s, %.0f rows/s, RSS peak AU %@ \(fresh) %@", held, auEntries, elapsed,
                        Double(held) * Double(batch) / max(elapsed, 0.001), megabytes(peakAU), megabytes(peakJP)))
        return held >= auEntries
    }
    let catchUpSeconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
    FileHandle.standardError.write(Data("\n".utf8))
    peakAU = max(peakAU, coalition.pid("AU").flatMap { peakResidentBytes(pid: $0) } ?? 0)
    peakJP = max(peakJP, coalition.pid(fresh).flatMap { peakResidentBytes(pid: $0) } ?? 0)
    coalition.stopAll()
    let jpDigest = try jp.digest().hex
    guard jpDigest == auDigest else {
        throw PaxsyncError(.invalidState, "\(fresh)'s digest \(jpDigest) differs from AU's \(auDigest) after catch-up", subject: fresh)
    }
    let replicaBytes = databaseBytes(coalition.dataDir(fresh) + "/replica.sqlite")
    // What the replica holds beside the shared records: the log (every signed entry,
    // kept forever) and the record histories (the merge input, referring to the log).
    let parts = try jp.read { db in
        storageBreakdown(db) { name in
            if name.hasPrefix("paxsync_log") { return "log" }
            if name.contains("paxsync_record_changes") { return "histories" }
            if name.hasPrefix("paxsync_") || name.hasPrefix("grdb_") || name.hasPrefix("sqlite_s") { return "other" }
            return "shared records"
        }
    }

    let catchUpRate = Double(totalRows) / catchUpSeconds
    print("""
        paxsync-bench catchup: \(totalRows) row changes (\(rowCount) stocks + \(rows.facilityCount) facilities) in \(auEntries + UInt64(0)) \
        change sets of \(batch) rows, AU → fresh \(fresh) over mutual TLS on loopback (\(freshDials ? "\(fresh) dials AU" : "AU dials \(fresh)")) (SQLite WAL, synchronous FULL)

        measurement                                        rate           ratio
        raw SQLite insert, one transaction                \(rate(rowCount, rawOne))   baseline A
        raw SQLite insert, \(batch) rows per transaction       \(rate(rowCount, rawBatched))   baseline B
        paxsync catch-up (verify, check, merge, log)      \(String(format: "%10.0f /s", catchUpRate))   \
        \(String(format: "%.2f", catchUpRate / (Double(rowCount) / rawOne))) × A, \(String(format: "%.2f", catchUpRate / (Double(rowCount) / rawBatched))) × B
        catch-up time                                     \(String(format: "%8.1f s", catchUpSeconds))
        peak RSS (VmHWM)                                  AU \(megabytes(peakAU)), \(fresh) \(megabytes(peakJP))
        raw table of the same rows                        \(megabytes(rawBytes))
        \(fresh) replica size                                   \(megabytes(replicaBytes))\
        \(replicaBytes.flatMap { r in rawBytes.map { String(format: "   %.2f × raw", Double(r) / Double($0)) } } ?? "")
        \(parts.map { "  of which " + $0.map { "\($0.0) \(megabytes($0.1))" }.joined(separator: ", ") } ?? "  (no dbstat: no breakdown)")
        digests equal                                     \(jpDigest.prefix(16))…
        """)
}

/// Median and p99 time from a local write on one node to its visibility on
/// another, with five nodes in a full mesh, writers and readers rotating.
func latencyBench(writes: Int, wake: Bool = true) throws {
    let executable = try paxsyncExecutable()
    let dir = TemporaryDirectory("paxsync-bench-latency")
    let ids = ["SG", "AU", "JP", "KR", "IL"]
    let coalition = try LocalCoalition(base: dir.file("coalition"),
                                       members: ids.map { .init(id: $0, country: $0, name: $0) }, executable: executable)
    var rig = try LatencyRig(coalition, ids)
    func daemonCPU() -> Double { ids.reduce(0) { $0 + (coalition.pid($1).flatMap { cpuSeconds(pid: $0) } ?? 0) } }
    /// Entries and advertisements the daemons' sessions received so far, over all nodes.
    func received() throws -> (entries: Int, adverts: Int) {
        try ids.reduce((0, 0)) { sum, id in
            let json = try AdminClient.request(coalition.dataDir(id) + "/admin.sock", AdminClient.status)
            let peers = try JSONDecoder().decode(NodeStatus.self, from: Data(json)).peers
            return (sum.0 + peers.reduce(0) { $0 + $1.entriesIn }, sum.1 + peers.reduce(0) { $0 + ($1.advertisementsIn ?? 0) })
        }
    }
    let receivedBefore = try received()
    let cpuBefore = daemonCPU(), wallBefore = DispatchTime.now().uptimeNanoseconds
    let samples = try rig.measure(writes, label: "latency", wake: wake)
    let daemonMilliseconds = (daemonCPU() - cpuBefore) * 1000 / Double(writes)
    let wallMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - wallBefore) / 1e6 / Double(writes)
    let receivedAfter = try received()
    // Each write reaches 4 nodes: copies beyond 1 per node are relays that arrived anyway.
    let copies = Double(receivedAfter.entries - receivedBefore.entries) / Double(writes * (ids.count - 1))
    let adverts = Double(receivedAfter.adverts - receivedBefore.adverts) / Double(writes)
    FileHandle.standardError.write(Data("\n".utf8))
    coalition.stopAll()
    func percentile(_ q: Double) -> Double { PaxsyncBench.percentile(samples, q) }
    // Baseline: the local durable commit alone (what a write costs before any network).
    let local = rig.writers["SG"]!
    var commitSamples: [Double] = []
    for i in 0..<min(writes, 100) {
        commitSamples.append(try seconds { _ = try local.commit([Records.stock("SG-LAT", "Co", "ore", kg: Int64(i))]) } * 1000)
    }
    commitSamples.sort()
    let wakeLine = !wake ? "" : "\n  the wake request alone (admin socket)   "
        + String(format: "%7.1f ms %7.1f ms %7.1f ms", PaxsyncBench.percentile(rig.wakes, 0.5),
                 PaxsyncBench.percentile(rig.wakes, 0.99), rig.wakes.last!)
    print("""
        paxsync-bench latency: \(writes) writes across 5 nodes (full mesh, mutual TLS on loopback), writer and reader rotating,
        \(wake ? "the writer ringing its daemon's admin socket after each commit, as the CLI does" : "the writer not ringing its daemon: the daemon does not poll its log, so a write is found at the next wake-up (another session's batch, or the 5 s heartbeat)")

        measurement                                  median      p99       max
        write → visible on another node           \(String(format: "%7.1f ms %7.1f ms %7.1f ms", percentile(0.5), percentile(0.99), samples.last!))\(wakeLine)
        local durable commit alone (baseline)     \(String(format: "%7.1f ms %7.1f ms %7.1f ms", commitSamples[commitSamples.count / 2], commitSamples[min(commitSamples.count - 1, Int(Double(commitSamples.count) * 0.99))], commitSamples.last!))
        CPU of the 5 daemons per write            \(String(format: "%7.1f ms", daemonMilliseconds)) (2 cores; \(String(format: "%.1f", wallMilliseconds)) ms of wall time per write)
        entry copies received per write per node  \(String(format: "%7.2f", copies)) (1.00: no relay arrived); advertisements received per write: \(String(format: "%.2f", adverts))
        """)
}

enum PaxsyncBench {
    /// The `q` quantile (0...1) of ascending `sorted` samples, nearest rank.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.up)) - 1))]
    }
}

/// Daemons of a coalition started and converged, each with a facility to write
/// stock rows under, for write → visible measurements (`latency`, `attack`).
struct LatencyRig {
    let coalition: LocalCoalition
    let ids: [String]
    let writers: [String: Replica]
    let readers: [String: Replica]
    /// Writes measured so far: each write gets a new quantity, and the rotation goes on.
    private var done = 0
    /// Milliseconds from each commit of the last `measure` to its wake request answered, ascending.
    private(set) var wakes: [Double] = []

    /// Starts `ids`' daemons and waits until each holds every node's facility.
    init(_ coalition: LocalCoalition, _ ids: [String]) throws {
        for id in ids { try coalition.start(id) }
        try coalition.waitUntilWritable(ids)
        let writers = try Dictionary(uniqueKeysWithValues: ids.map { ($0, try coalition.directory($0).openReplica()) })
        let readers = try Dictionary(uniqueKeysWithValues: ids.map { ($0, try coalition.directory($0).openReplica(writable: false)) })
        for id in ids { _ = try writers[id]!.commit([Records.facility("\(id)-LAT", country: id)]) }
        try waitUntil("\(ids.count) nodes connected and converged", timeout: 60) {
            try ids.allSatisfy { id in try readers[id]!.versionVector().count == ids.count }
        }
        (self.coalition, self.ids, self.writers, self.readers) = (coalition, ids, writers, readers)
    }

    /// `count` writes, writer and reader rotating over the nodes; each sample is
    /// the milliseconds from the local commit to the row being visible at the
    /// reader. `wake`: the writer rings its daemon after the commit, as the CLI
    /// does. Returns the samples in ascending order.
    mutating func measure(_ count: Int, label: String, wake: Bool = true) throws -> [Double] {
        var samples: [Double] = []
        wakes = []
        for i in 0..<count {
            let n = done + i
            let writer = ids[n % ids.count]
            let reader = ids[(n % ids.count + 1 + (n / ids.count) % (ids.count - 1)) % ids.count]
            let kg = Int64(1_000_000 + n)
            let began = DispatchTime.now().uptimeNanoseconds
            _ = try writers[writer]!.commit([Records.stock("\(writer)-LAT", "Li", "ore", kg: kg)])
            if wake {
                let committed = DispatchTime.now().uptimeNanoseconds
                _ = try? AdminClient.request(coalition.dataDir(writer) + "/admin.sock", AdminClient.wake)
                wakes.append(Double(DispatchTime.now().uptimeNanoseconds - committed) / 1e6)
            }
            try waitUntil("write \(n) from \(writer) visible at \(reader) (\(label))", timeout: 60, poll: 0.001) {
                try readers[reader]!.read { db in
                    try Int64.fetchOne(db, sql: "SELECT quantity_kg FROM stocks WHERE facility_id = ? AND mineral = 'Li' AND form = 'ore'",
                                       arguments: ["\(writer)-LAT"])
                } == kg
            }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
            if i % 20 == 0 { progress("\(label): \(i + 1)/\(count) writes") }
        }
        done += count
        wakes.sort()
        return samples.sorted()
    }
}
