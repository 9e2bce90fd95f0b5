// Relay traffic in a full mesh: one origin writes, every node counts the copies
// of each entry it receives from its peers, over real `paxsync serve` processes.
import Foundation
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport

/// `nodes` daemons in a full mesh; the first writes `writes` change sets of one
/// row each, ringing its daemon after each as the CLI does; once every node holds
/// them all, each node's sessions say how many entries and bytes they received.
func meshBench(nodes: Int, writes: Int) throws {
    let executable = try paxsyncExecutable()
    let dir = TemporaryDirectory("paxsync-bench-mesh")
    let ids = (0..<nodes).map { String(format: "N%02d", $0) }
    let coalition = try LocalCoalition(base: dir.file("coalition"),
                                       members: ids.map { .init(id: $0, country: "AU", name: "Node \($0)") }, executable: executable)
    for id in ids { try coalition.start(id) }
    defer { coalition.stopAll() }
    try coalition.waitUntilWritable(ids, timeout: 300)
    let origin = ids[0]
    let writer = try coalition.directory(origin).openReplica()
    let readers = try ids.map { try coalition.directory($0).openReplica(writable: false) }
    let cpuBefore = ids.map { id in coalition.pid(id).flatMap { cpuSeconds(pid: $0) } ?? 0 }

    let began = DispatchTime.now().uptimeNanoseconds
    _ = try writer.commit([Records.facility("\(origin)-MESH", country: "AU")])
    for i in 1..<writes {
        _ = try writer.commit([Records.stock("\(origin)-MESH", "Li", "ore", kg: Int64(i))])
        _ = try? AdminClient.request(coalition.dataDir(origin) + "/admin.sock", AdminClient.wake, timeoutSeconds: 2)
        if i % 50 == 0 { progress("mesh: \(i)/\(writes) change sets written at \(origin)") }
    }
    try waitUntil("every node holds \(origin):\(writes)", timeout: 1800, poll: 0.1) {
        let held = try readers.map { try $0.versionVector()[origin] }
        progress("mesh: converging, \(held.filter { $0 >= UInt64(writes) }.count)/\(nodes) nodes hold all \(writes)")
        return held.allSatisfy { $0 >= UInt64(writes) }
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
    FileHandle.standardError.write(Data("\n".utf8))

    // What each node's sessions received, from its daemon's status.
    var rows: [(id: String, copies: Double, bytes: Double, adverts: Double, cpu: Double, rss: Int?)] = []
    for (index, id) in ids.enumerated() {
        let json = try AdminClient.request(coalition.dataDir(id) + "/admin.sock", AdminClient.status)
        let status = try JSONDecoder().decode(NodeStatus.self, from: Data(json))
        let entries = status.peers.reduce(0) { $0 + $1.entriesIn }
        let bytes = status.peers.reduce(0) { $0 + $1.bytesIn }
        let adverts = status.peers.reduce(0) { $0 + ($1.advertisementsIn ?? 0) }
        let cpu = (coalition.pid(id).flatMap { cpuSeconds(pid: $0) } ?? 0) - cpuBefore[index]
        rows.append((id, Double(entries) / Double(writes), Double(bytes) / Double(writes), Double(adverts) / Double(writes), cpu,
                     coalition.pid(id).flatMap { peakResidentBytes(pid: $0) }))
    }
    let receivers = rows.dropFirst()
    let mean = receivers.map(\.copies).reduce(0, +) / Double(max(1, receivers.count))
    print("""
        paxsync-bench mesh: \(nodes) nodes in a full mesh (mutual TLS on loopback), \(origin) writes \(writes) change sets of one row
        converged in \(String(format: "%.1f", seconds)) s (every node holds \(origin):\(writes))

        (bytes in: entry bodies and signatures; adverts: heartbeats advertising a version vector, PROTOCOL §13.6)

        node   copies/entry   bytes in/entry   adverts in/entry   CPU s   peak RSS
        """)
    for row in rows {
        print(row.id.padding(toLength: 7, withPad: " ", startingAt: 0)
              + String(format: "%12.2f   %14.0f   %16.2f   %5.1f   ", row.copies, row.bytes, row.adverts, row.cpu) + megabytes(row.rss)
              + (row.id == origin ? "   (the origin)" : ""))
    }
    print("copies per entry per node: \(String(format: "%.2f", mean))")
}
