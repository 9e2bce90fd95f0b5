import Foundation
import PaxsyncCluster
import PaxsyncStore
import PaxsyncTestSupport
import Subprocess

import Testing

/// A running process whose standard output is read line by line.
final class LineReader: @unchecked Sendable {
    let process = Process()
    private let pipe = Pipe()
    private var buffer = Data()

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The next line, waiting for it; nil at the end of the output.
    func next() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer = Data(buffer[(newline + 1)...])
                return line
            }
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffer += chunk
        }
    }

    /// SIGKILL, not SIGTERM: a test that ran a daemon in-process leaves SIGTERM
    /// ignored (the service group's signal handling), and children inherit that —
    /// a shell script then cannot be stopped with SIGTERM at all.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// `paxsync feed` on real daemons: entries arriving from a peer, followed live,
/// nothing missed or repeated across a restart; and the PostgreSQL mirror built on it.
@Suite("feed: applied changes in log order, resumable; mirrored into PostgreSQL", .serialized)
struct FeedCommandTests {
    static let members: [LocalCoalition.Member] = ["AU", "JP"].map { .init(id: $0, country: $0, name: "Member \($0)") }

    func facility(_ c: LocalCoalition, _ id: String) async throws {
        try await Paxsync(dataDir: c.dataDir("AU")).ok(["facility", "create", "--id", id, "--name", "Facility \(id)", "--kind", "port",
                                                        "--country", "AU", "--lat", "1", "--lon", "2"])
    }

    /// Reads feed lines until `count` entries have ended (a line with "last"); returns the lines.
    func read(_ feed: LineReader, entries count: Int) throws -> [[String: Any]] {
        var lines: [[String: Any]] = []
        var ended = 0
        while ended < count, let line = feed.next() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            lines.append(object)
            if object["last"] as? Bool == true { ended += 1 }
        }
        return lines
    }

    @Test("following JP's feed while AU's entries arrive, stopped and resumed --since: every entry once, in log order",
          .timeLimit(.minutes(3)))
    func followAndResume() async throws {
        let dir = TemporaryDirectory("paxsync-feed")
        let c = try LocalCoalition(base: dir.file("coalition"), members: Self.members, executable: Paxsync.binary)
        defer { c.stopAll() }
        try c.start("AU")
        try c.start("JP")

        let first = try LineReader(Paxsync.binary, ["feed", "--data-dir", c.dataDir("JP"), "--json", "--follow", "--interval", "0.05"])
        defer { first.stop() }
        for n in 1...5 { try await facility(c, "AU-F\(n)") }
        let before = try read(first, entries: 5)
        first.stop()
        let resumeAt = try #require(before.last?["position"] as? Int)

        for n in 6...8 { try await facility(c, "AU-F\(n)") }
        let second = try LineReader(Paxsync.binary, ["feed", "--data-dir", c.dataDir("JP"), "--json", "--follow", "--since", "\(resumeAt)"])
        defer { second.stop() }
        let after = try read(second, entries: 3)

        let all = before + after
        #expect(all.map { $0["entry"] as? String } == (1...8).map { "AU:\($0)" }, "every entry once, in order")
        let positions = all.compactMap { $0["position"] as? Int }
        #expect(positions == positions.sorted() && Set(positions).count == 8)
        let last = try #require(after.last)
        #expect(last["table"] as? String == "facilities" && last["key"] as? String == "AU-F8" && last["op"] as? String == "create")
        let row = try #require(last["row"] as? [String: Any])
        #expect(row["name"] as? String == "Facility AU-F8" && row["owner"] as? String == "AU")
        #expect((last["fields"] as? [String: Any])?["kind"] as? String == "port")
    }

    /// A PostgreSQL server of its own in `dir` (run as the `postgres` account when root), on a Unix socket only.
    struct Postgres {
        let socketDirectory: String
        let port: Int
        let stopCommand: [String]
        let asRoot: Bool

        /// Stops the server at once (the test is over; nothing in it is kept).
        func stop() async {
            let command = asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + stopCommand : stopCommand
            _ = try? await Subprocess.run(.path(.init(command[0])), arguments: Arguments(Array(command.dropFirst())),
                                          input: .none, output: .discarded, error: .discarded)
        }

        static var bin: String? {
            let base = "/usr/lib/postgresql"
            let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted { Int($0) ?? 0 > Int($1) ?? 0 }
            return versions.map { "\(base)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
        }

        static func start(in dir: TemporaryDirectory) async throws -> Postgres {
            let bin = try #require(bin)
            let root = dir.file("pg")
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let asRoot = getuid() == 0
            if asRoot {
                // initdb refuses root: the server runs as postgres, in a directory it owns.
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
                chown(root, try #require(getpwnam("postgres")).pointee.pw_uid, try #require(getpwnam("postgres")).pointee.pw_gid)
            }
            // swift-subprocess, not Foundation's Process: pg_ctl leaves a daemon behind,
            // and the exit of the command itself is what is waited for.
            func run(_ arguments: [String]) async throws {
                let command = asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments : arguments
                let result = try await Subprocess.run(.path(.init(command[0])), arguments: Arguments(Array(command.dropFirst())),
                                                      input: .none, output: .discarded, error: .discarded)
                try #require(result.terminationStatus.isSuccess, "\(command.joined(separator: " ")): \(result.terminationStatus)")
            }
            let port = LoopbackPorts.reserve()
            try await run(["\(bin)/initdb", "-D", "\(root)/data", "-A", "trust", "-U", "postgres"])
            try await run(["\(bin)/pg_ctl", "-D", "\(root)/data", "-l", "\(root)/log", "-w", "-o",
                           "-k \(root) -p \(port) -c listen_addresses=''", "start"])
            return Postgres(socketDirectory: root, port: port, stopCommand: ["\(bin)/pg_ctl", "-D", "\(root)/data", "-m", "immediate", "stop"],
                            asRoot: asRoot)
        }

        var environment: [String: String] { ["PGHOST": socketDirectory, "PGPORT": "\(port)", "PGUSER": "postgres", "PGDATABASE": "postgres"] }

        /// `psql -At -c sql`, the output trimmed.
        func query(_ sql: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            p.arguments = ["-X", "-At", "-c", sql]
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test("Deploy/mirror/paxsync-postgres-mirror.sh: records mirrored into a real PostgreSQL, a new shipment there within seconds, resumed without loss or repeat",
          .timeLimit(.minutes(3)),
          .enabled(if: Postgres.bin != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/psql"),
                   "PostgreSQL is not installed (Debian package postgresql; .ci/run installs it)"))
    func postgresMirror() async throws {
        let dir = TemporaryDirectory("paxsync-mirror")
        let pg = try await Postgres.start(in: dir)
        var stopped = false
        defer { if !stopped { Task { await pg.stop() } } }
        let c = try LocalCoalition(base: dir.file("coalition"), members: Self.members, executable: Paxsync.binary)
        defer { c.stopAll() }
        try c.start("AU")
        try c.start("JP")
        try await facility(c, "AU-A")
        let au = Paxsync(dataDir: c.dataDir("AU"))
        // The shipment's destination is the importer's facility, which AU must hold first.
        try await Paxsync(dataDir: c.dataDir("JP")).ok(["facility", "create", "--id", "JP-KOBE", "--name", "Kobe", "--kind", "stockpile",
                                                         "--country", "JP", "--lat", "34.6", "--lon", "135.2"])
        try #require(try await waitFor("AU holds JP-KOBE", seconds: 60) {
            try c.directory("AU").openReplica(writable: false).versionVector()["JP"] == 1
        })

        // The mirror follows JP's node; AU's shipment reaches it through JP.
        let script = packageRoot.appendingPathComponent("Deploy/mirror/paxsync-postgres-mirror.sh").path
        let environment = pg.environment.merging(["PAXSYNC": Paxsync.binary, "PAXSYNC_DATA_DIR": c.dataDir("JP"), "MIRROR_INTERVAL": "0.2"]) { $1 }
        let mirror = try LineReader(script, [], environment: environment)
        defer { mirror.stop() }
        #expect(try await waitFor("the facilities mirrored", seconds: 60) {
            (try? pg.query("SELECT count(*) FROM paxsync_records WHERE tbl = 'facilities'")) == "2"
        })

        let began = Date()
        try await au.ok(["shipment", "create", "--id", "AU-SHP-0001", "--mineral", "Nd", "--form", "oxide", "--quantity-kg", "20000",
                         "--from", "AU-A", "--to", "JP-KOBE", "--importer", "JP", "--eta", "2026-12-20T00:00:00Z"])
        #expect(try await waitFor("the shipment in PostgreSQL", seconds: 60) {
            (try? pg.query("SELECT row->>'quantity_kg' FROM paxsync_records WHERE tbl = 'shipments' AND key = 'AU-SHP-0001'")) == "20000"
        })
        let seconds = Date().timeIntervalSince(began)
        #expect(seconds < 10, "write at AU to row in PostgreSQL via JP took \(seconds) s")
        print("mirror: AU's shipment in PostgreSQL (via JP's feed) \(String(format: "%.2f", seconds)) s after the write")

        // Stopped; more writes (an update, a delete); a second run catches up from the stored position.
        mirror.stop()
        try await au.ok(["shipment", "update", "--id", "AU-SHP-0001", "--eta", "2026-12-18T00:00:00Z"])
        try await au.ok(["facility", "create", "--id", "AU-C", "--name", "C", "--kind", "port", "--country", "AU", "--lat", "1", "--lon", "1"])
        try await au.ok(["facility", "delete", "--id", "AU-C"])
        let jpHead = { try c.directory("JP").openReplica(writable: false).versionVector()["AU"] }
        #expect(try await waitFor("JP holds AU:5", seconds: 60) { try jpHead() == 5 })
        let once = Process()
        once.executableURL = URL(fileURLWithPath: script)
        once.arguments = ["--once"]
        once.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try once.run()
        once.waitUntilExit()
        #expect(once.terminationStatus == 0)

        // The mirror holds exactly JP's live records, and the last entry's position.
        let jp = try c.directory("JP").openReplica(writable: false)
        let facilities = try jp.query("SELECT id FROM facilities ORDER BY id").rows.map { $0[0].text ?? "" }
        #expect(try pg.query("SELECT string_agg(key, ',' ORDER BY key) FROM paxsync_records WHERE tbl = 'facilities'")
                == facilities.joined(separator: ","))
        #expect(try pg.query("SELECT row->>'eta' FROM paxsync_records WHERE key = 'AU-SHP-0001'") == "2026-12-18T00:00:00Z")
        #expect(try pg.query("SELECT count(*) FROM paxsync_records") == "3", "AU-A, JP-KOBE and the shipment; AU-C deleted")
        let lastPosition = try await jp.lastLogPosition()
        #expect(try pg.query("SELECT position FROM paxsync_mirror_position") == "\(lastPosition)")
        await pg.stop()
        stopped = true
    }
}
