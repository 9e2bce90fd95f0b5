// Peak memory of `paxsync import` on a large CSV file: refused for a bad last
// row, and accepted whole, beside the peak of `paxsync digest` on the same node
// (the process's own baseline) measured in the same run.
import Foundation
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Runs `executable` with `arguments` to its end; returns its exit status and
/// peak resident memory (bytes), from the kernel's accounting of that one child
/// (`wait4`), which a process-runner library does not report.
func runMeasured(_ executable: String, _ arguments: [String]) throws -> (status: Int32, peakBytes: Int) {
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // The child's output is not the benchmark's.
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { throw PaxsyncError(.storage, "cannot run it: \(String(cString: strerror(spawned)))", subject: executable) }
    var status: Int32 = 0
    var usage = rusage()
    guard wait4(pid, &status, 0, &usage) == pid else { throw PaxsyncError(.storage, "lost the child", subject: executable) }
    let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exit, Int(usage.ru_maxrss) * 1024)
}

func importMemoryBench(rowCount: Int) throws {
    let binary = try paxsyncExecutable()
    let dir = TemporaryDirectory("paxsync-bench-import")
    let coalition = TestCoalition(["AU", "JP"])
    let node = try NodeDirectory.initialize(path: dir.file("au"), nodeID: "AU", country: "AU", name: "Australia",
                                            address: "127.0.0.1:7400", roster: coalition.roster, key: coalition.keys["AU"]!)
    let rows = StockRows(count: rowCount)
    do {
        let replica = try node.openReplica()
        try replica.commitBatches((0..<rows.facilityCount).map { Records.facility("AU-F\($0)") }, batchSize: 1000)
    }
    progress("writing \(rowCount) rows of CSV")
    let good = dir.file("stocks.csv"), bad = dir.file("stocks-bad-last-row.csv")
    FileManager.default.createFile(atPath: good, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: good))
    try handle.write(contentsOf: Data("facility_id,mineral,form,quantity_kg,grade_pct,as_of\n".utf8))
    var block = ""
    for i in 0..<rowCount {
        let r = rows[i]
        block += "\(r.facility),\(r.mineral),\(r.form),\(r.kg),\(r.grade),\(r.asOf)\n"
        if block.utf8.count > 1 << 20 {
            try handle.write(contentsOf: Data(block.utf8))
            block = ""
        }
    }
    try handle.write(contentsOf: Data(block.utf8))
    try handle.close()
    try FileManager.default.copyItem(atPath: good, toPath: bad)
    let tail = try FileHandle(forWritingTo: URL(fileURLWithPath: bad))
    try tail.seekToEnd()
    try tail.write(contentsOf: Data("AU-F0,Li,ore,-1,1,2026-11-28\n".utf8))
    try tail.close()
    let fileBytes = (try FileManager.default.attributesOfItem(atPath: good)[.size] as? Int) ?? 0

    progress("paxsync digest (baseline)")
    let baseline = try runMeasured(binary, ["digest", "--data-dir", node.path])
    progress("paxsync import of a file whose last row is bad")
    let refused = try runMeasured(binary, ["import", "--quiet", "--data-dir", node.path, "--table", "stocks", bad])
    progress("paxsync import of the whole file")
    let started = DispatchTime.now().uptimeNanoseconds
    let accepted = try runMeasured(binary, ["import", "--quiet", "--data-dir", node.path, "--table", "stocks", good])
    let importSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    progress("")
    precondition(baseline.status == 0 && accepted.status == 0, "digest or the good import failed")
    precondition(refused.status == 65, "the bad file was not refused as a data error (exit \(refused.status))")

    func ratio(_ bytes: Int) -> String { String(format: "%.2f", Double(bytes) / Double(baseline.peakBytes)) }
    print("""
        paxsync-bench import-memory: \(rowCount) stock rows, \(megabytes(fileBytes)) of CSV

        measurement                                        peak RSS    ratio to baseline
        paxsync digest on the same node                    \(megabytes(baseline.peakBytes).leftPad(8))    baseline
        paxsync import, last row bad (refused, exit 65)    \(megabytes(refused.peakBytes).leftPad(8))    \(ratio(refused.peakBytes)) ×
        paxsync import, every row (\(String(format: "%.1f", importSeconds)) s)                \(megabytes(accepted.peakBytes).leftPad(8))    \(ratio(accepted.peakBytes)) ×
        """)
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
