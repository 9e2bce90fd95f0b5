import Foundation
import PaxsyncCLI
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncNet
import PaxsyncStore
import PaxsyncTestSupport
import Testing

import Logging
import PaxsyncModel

/// Operators' tools against real `paxsync serve` processes: status, peers,
/// the admin socket's permissions, metrics, backup, and the demo.
@Suite("operators: status, admin endpoint, metrics, demo", .serialized)
struct OperatorTests {
    static let members: [LocalCoalition.Member] = ["AU", "JP", "KR"].map { .init(id: $0, country: $0, name: "Member \($0)") }

    func status(_ c: LocalCoalition, _ id: String) async throws -> NodeStatus {
        let text = try await Paxsync(dataDir: c.dataDir(id)).ok(["status", "--json"])
        return try JSONDecoder().decode(NodeStatus.self, from: Data(text.utf8))
    }

    /// AU and JP set up, AU's daemon started.
    func runningAU(_ prefix: String) throws -> (TemporaryDirectory, LocalCoalition) {
        let dir = TemporaryDirectory(prefix)
        let c = try LocalCoalition(base: dir.path, members: Array(Self.members.prefix(2)), executable: Paxsync.binary)
        try c.start("AU")
        return (dir, c)
    }

    func write(_ c: LocalCoalition, _ id: String, _ facility: String) async throws {
        try await Paxsync(dataDir: c.dataDir(id)).ok(["facility", "create", "--id", facility, "--name", "F", "--kind", "port",
                                                "--country", id, "--lat", "1", "--lon", "2"])
    }

    @Test("listen on port 0 takes a free port, and status and the log name the port it got")
    func listenOnPortZero() async throws {
        let dir = TemporaryDirectory("paxsync-port-zero")
        let c = try LocalCoalition(base: dir.path, members: Array(Self.members.prefix(2)), executable: Paxsync.binary) { id, config in
            if id == "AU" { config.listen = "127.0.0.1:0" }
        }
        defer { c.stopAll() }
        try c.start("AU")
        // The daemon logs the port it got as soon as it is bound.
        let port = try await loggedPort(c, "AU", "listening for peers")
        #expect(port > 0)
        #expect(acceptsConnections(port: port), "the reported port is the one listening")
        // Status names the same address once the daemon answers (slow to, on a loaded machine).
        let answered = try await waitFor("AU's daemon answers status", seconds: 60) {
            try await Paxsync(dataDir: c.dataDir("AU")).run(["status", "--require-daemon"]).status == 0
        }
        try #require(answered)
        #expect(try await status(c, "AU").listen == "127.0.0.1:\(port)")
    }

    @Test("status shows connected peers, then a stopped peer disconnected and behind, then caught up; status without a daemon says so")
    func statusThroughOutage() async throws {
        let dir = TemporaryDirectory("paxsync-status")
        let c = try LocalCoalition(base: dir.path, members: Self.members, executable: Paxsync.binary) { id, config in
            if id == "AU" { config.metricsListen = "127.0.0.1:0" }
        }
        defer { c.stopAll() }
        for id in c.ids { try c.start(id) }
        try await write(c, "JP", "JP-A")
        _ = try await waitFor("AU sees both peers connected and JP:1") {
            let s = try await status(c, "AU")
            return s.peers.allSatisfy(\.connected) && s.origins.first { $0.origin == "JP" }?.heldSeq == 1
        }
        var au = try await status(c, "AU")
        #expect(au.daemonRunning && au.node == "AU" && au.roster.map(\.id) == ["AU", "JP", "KR"])
        #expect(au.peers.map(\.id) == ["JP", "KR"])
        #expect(au.origins.allSatisfy { $0.lagEntries == 0 && $0.state == "ok" })
        #expect(au.peers.reduce(0) { $0 + $1.entriesIn } >= 1, "JP:1 came from JP or relayed by KR")
        let table = try await Paxsync(dataDir: c.dataDir("AU")).ok(["status"])
        #expect(table.contains("node AU") && table.contains("connected") && table.contains("ORIGIN"))
        #expect(try await Paxsync(dataDir: c.dataDir("AU")).ok(["peers"]).contains("KR"))

        // Metrics: counters from the sessions, gauges refreshed at the scrape.
        let metricsPort = try await loggedPort(c, "AU", "metrics endpoint listening")
        let metrics = try httpGet("http://127.0.0.1:\(metricsPort)/metrics")
        #expect(metrics.contains("paxsync_peer_connected{peer=\"KR\"} 1"), "\(metrics)")
        #expect(metrics.contains("paxsync_entries_applied_total{origin=\"JP\"} 1"))
        #expect(metrics.contains("paxsync_apply_duration_seconds_bucket"))
        #expect(try httpGet("http://127.0.0.1:\(metricsPort)/other").contains("not found"))

        // KR goes down; JP writes; AU shows KR disconnected and one entry behind.
        #expect(c.stop("KR") == 0)
        try await write(c, "JP", "JP-B")
        _ = try await waitFor("AU holds JP:2 and shows KR down") {
            let s = try await status(c, "AU")
            return s.origins.first { $0.origin == "JP" }?.heldSeq == 2 && s.peers.first { $0.id == "KR" }?.connected == false
        }
        au = try await status(c, "AU")
        let kr = au.peers.first { $0.id == "KR" }!
        #expect(!kr.connected && kr.behindEntries == 1 && kr.sessions == 1)
        let down = try await Paxsync(dataDir: c.dataDir("KR")).run(["status"])
        #expect(down.status == 0 && down.stdout.contains("daemon NOT RUNNING"))
        let offline = try await status(c, "KR")
        #expect(!offline.daemonRunning && offline.peers.isEmpty && offline.origins.first { $0.origin == "JP" }?.heldSeq == 1)

        // KR returns and catches up; AU sees it connected again with nothing missing.
        try c.start("KR")
        _ = try await waitFor("KR catches up") {
            let kr = try await status(c, "KR"), au = try await status(c, "AU")
            return kr.origins.first { $0.origin == "JP" }?.heldSeq == 2 && au.peers.first { $0.id == "KR" }?.behindEntries == 0
        }
        au = try await status(c, "AU")
        #expect(au.peers.first { $0.id == "KR" }!.connected && au.peers.first { $0.id == "KR" }!.sessions == 2)
        #expect(try await status(c, "KR").origins.allSatisfy { $0.lagEntries == 0 })
    }

    @Test("the admin socket is owner-only; a second daemon on the same data directory is refused")
    func adminEndpointIsPrivate() async throws {
        let (dir, c) = try runningAU("paxsync-admin")
        defer { c.stopAll(); withExtendedLifetime(dir) {} }
        let socket = c.dataDir("AU") + "/admin.sock"
        _ = try await waitFor("admin socket") { await AdminClient.isAnswering(socket) }
        let attributes = try FileManager.default.attributesOfItem(atPath: socket)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == getuid())
        let health = try await Paxsync(dataDir: c.dataDir("AU")).run(["status", "--require-daemon", "--json"])
        #expect(health.status == 0 && health.stdout.contains("\"daemonRunning\" : true"), "\(health.output)")

        // A second daemon for the same data directory stops at once, naming the cause.
        // Port 0: any free port, so the refusal cannot be a port clash.
        let second = try await Paxsync(dataDir: c.dataDir("AU")).run(["serve", "--listen", "127.0.0.1:0"])
        // The first holds the data directory's lock; the refusal names its process.
        let first = try #require(c.pid("AU"))
        #expect(second.status == 69, "\(second.output)")
        #expect(second.output.contains("another paxsync serve already runs for this data directory (pid \(first) holds serve.lock)"),
                "\(second.output)")
        #expect(await AdminClient.isAnswering(socket), "the first daemon keeps its socket")
    }

    @Test("another account is refused by the admin socket's mode",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root and setpriv to run paxsync status as another account"))
    func adminSocketRefusesAnotherAccount() async throws {
        let (dir, c) = try runningAU("paxsync-admin-other")
        defer { c.stopAll() }
        let socket = c.dataDir("AU") + "/admin.sock"
        _ = try await waitFor("admin socket") { await AdminClient.isAnswering(socket) }
        // Let another account through the directories, so only the socket's own mode stands in its way.
        for path in [dir.path, c.dataDir("AU"), (Paxsync.binary as NSString).deletingLastPathComponent] {
            chmod(path, 0o755)
        }
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        other.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", Paxsync.binary, "status", "--data-dir", c.dataDir("AU")]
        let err = Pipe()
        other.standardError = err
        other.standardOutput = Pipe()
        try other.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        other.waitUntilExit()
        #expect(other.terminationStatus == 77, "exit status 77 (permission): \(text)")
        #expect(text.contains("permission denied"), "\(text)")
    }

    @Test("backup: an online copy while the daemon runs, verified, with the live digest")
    func backup() async throws {
        let (dir, c) = try runningAU("paxsync-backup")
        defer { c.stopAll() }
        let au = Paxsync(dataDir: c.dataDir("AU"))
        // JP, AU's only peer, is down: no one can confirm AU's head, so lift the
        // pause the daemon set at start by hand, as an operator would.
        _ = try await waitFor("AU's daemon answers") { await AdminClient.isAnswering(c.dataDir("AU") + "/admin.sock") }
        #expect(try await au.ok(["writes", "resume", "--force"]).contains("resumed (they were paused: the daemon started)"))
        try await write(c, "AU", "AU-A")
        let out = try await au.ok(["backup", "--out", dir.file("copy.sqlite"), "--json"])
        let digest = try await au.ok(["digest"]).components(separatedBy: " ")[0]
        #expect(out.contains(digest) && out.contains("\"entries\" : \"1\""))
        // The copy pauses local writes: put in place by hand, it must not sign over later entries.
        let copy = try Replica(path: dir.file("copy.sqlite"), nodeID: "AU", roster: c.roster, configuration: ReplicaConfiguration(readOnly: true))
        #expect(try copy.localWritePause()?.reason.hasPrefix("a copy made by paxsync backup at ") == true)
        let again = try await au.run(["backup", "--out", dir.file("copy.sqlite")])
        #expect(again.status != 0 && again.stderr.contains("refusing to overwrite"))
    }

    @Test("paxsync demo writes its story as it goes when its output is a pipe, not all at the end", .timeLimit(.minutes(3)))
    func demoProgressPiped() async throws {
        let dir = TemporaryDirectory("paxsync-demo-piped")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paxsync.binary)
        process.arguments = ["demo", "--nodes", "3", "--dir", dir.file("coalition"), "--exit-when-converged"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        // The first line arrives while the demo still runs (it has daemons to start and sync).
        let first = pipe.fileHandleForReading.availableData
        let runningAtFirstLine = process.isRunning
        #expect(String(decoding: first, as: UTF8.self).hasPrefix("Creating a coalition of 3 members"))
        #expect(runningAtFirstLine, "the first line came only when the demo ended")
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(String(decoding: first + rest, as: UTF8.self).contains("JP comes back online and catches up"))
        #expect(String(decoding: first + rest, as: UTF8.self).contains("founded by a genesis all 3 members signed: coalition "))
        #expect(String(decoding: first + rest, as: UTF8.self).contains("Roster after: SG, AU, JP, CA"))
    }

    @Test("paxsync demo --exit-when-converged: five daemons converge with one conflict and are all stopped")
    func demo() async throws {
        let dir = TemporaryDirectory("paxsync-demo")
        let r = try await Paxsync().run(["demo", "--dir", dir.file("coalition"), "--exit-when-converged", "--json"])
        #expect(r.status == 0, "\(r.output)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(report["converged"] as? Bool == true)
        let nodes = report["nodes"] as! [[String: Any]]
        #expect(nodes.map { $0["node"] as! String } == ["SG", "AU", "JP", "KR", "IL", "CA"], "Canada is admitted during the run")
        #expect(Set(nodes.map { $0["digest"] as! String }).count == 1)
        #expect(nodes.allSatisfy { $0["lagEntries"] as? Int == 0 && $0["openConflicts"] as? Int == 1 })
        let conflicts = report["conflicts"] as! [[String: Any]]
        #expect(conflicts.count == 1 && conflicts[0]["field"] as? String == "eta")
        for id in ["SG", "AU", "JP", "KR", "IL", "CA"] {
            #expect(!(await AdminClient.isAnswering(dir.file("coalition/\(id)/admin.sock"))), "\(id)'s daemon was stopped")
        }
    }
}

/// The loopback port that node `id` logged on its first line containing `marker`
/// (a daemon told to listen on port 0 logs the port it got as soon as it is bound).
func loggedPort(_ c: LocalCoalition, _ id: String, _ marker: String) async throws -> Int {
    let logged = try await waitFor("\(id) logs \"\(marker)\"", seconds: 120) {
        ((try? String(contentsOfFile: c.logPath(id), encoding: .utf8)) ?? "").contains(marker)
    }
    try #require(logged)
    let log = (try? String(contentsOfFile: c.logPath(id), encoding: .utf8)) ?? ""
    let line = try #require(log.split(separator: "\n").first { $0.contains(marker) })
    let match = try #require(line.firstMatch(of: /127\.0\.0\.1:(\d+)/), "\(line)")
    return try #require(Int(match.1), "\(line)")
}

/// GET over plain HTTP/1.1 on loopback with a bare socket; the whole response as text.
func httpGet(_ url: String) throws -> String {
    let rest = url.dropFirst("http://".count)
    let slash = rest.firstIndex(of: "/") ?? rest.endIndex
    let hostPort = rest[..<slash].split(separator: ":")
    let path = slash == rest.endIndex ? "/" : String(rest[slash...])
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr(String(hostPort[0]))
    addr.sin_port = UInt16(hostPort[1])!.bigEndian
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw PaxsyncError(.notFound, "cannot connect", subject: url) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = Array("GET \(path) HTTP/1.1\r\nHost: \(hostPort[0])\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += chunk[0..<n]
    }
    return String(decoding: response, as: UTF8.self)
}

@Suite("journal log lines")
struct JournalLogTests {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var all: [String] = []
        func add(_ line: String) { lock.lock(); all.append(line); lock.unlock() }
    }

    @Test("each line carries its syslog priority, the metadata and the message; lines below the level are dropped")
    func priorities() {
        let lines = Lines()
        var logger = Logger(label: "paxsync") { JournalLogHandler(label: $0, level: .info, write: lines.add) }
        logger[metadataKey: "node"] = "AU"
        logger.warning("quarantined entry", metadata: ["entry": "JP:7"])
        logger.info("serving")
        logger.debug("reconnecting")
        #expect(lines.all == ["<4>warning paxsync: entry=JP:7 node=AU quarantined entry\n", "<6>info paxsync: node=AU serving\n"])
        #expect(JournalLogHandler.priority(.error) == 3 && JournalLogHandler.priority(.critical) == 2)
    }
}
