import Foundation
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("paxsync command line", .serialized)
struct CLITests {
    let dir = TemporaryDirectory("paxsync-cli")

    func node(_ id: String = "AU") async throws -> (Paxsync, String) {
        let path = dir.file(id.lowercased())
        let paxsync = Paxsync(dataDir: path)
        try await paxsync.ok(["node", "init", "--node-id", id, "--data-dir", path])
        return (paxsync, path)
    }

    static let commands: [[String]] = [
        [], ["demo"], ["node", "init"], ["node", "show"], ["roster", "show"], ["roster", "set"], ["roster", "add"],
        ["facility", "create"], ["facility", "update"], ["facility", "delete"], ["stock", "set"], ["stock", "delete"],
        ["shipment", "create"], ["shipment", "update"], ["shipment", "advance"], ["shipment", "cancel"], ["shipment", "delete"],
        ["reserve", "pledge"], ["import"], ["export"], ["query"], ["log", "list"], ["log", "show"], ["log", "verify"],
        ["log", "export"], ["log", "import"], ["replay"], ["digest"], ["conflicts"], ["explain"], ["quarantine"], ["codes"],
        ["ca", "init"], ["ca", "issue"], ["serve"], ["status"], ["peers"], ["backup"],
        ["member", "propose", "admit"], ["member", "propose", "revoke"], ["member", "approve"], ["proposals"],
        ["entry", "void"], ["equivocation", "resolve"], ["key", "rotate"], ["key", "new"], ["key", "install"],
    ]

    @Test("every command's --help shows an example", arguments: commands)
    func helpHasExample(command: [String]) async throws {
        let r = try await Paxsync().run(command + ["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Example") || r.stdout.contains("paxsync "), "\(command): \(r.stdout)")
        #expect(r.stdout.contains("paxsync") && r.stdout.contains("USAGE"))
    }

    @Test("node init creates a 0600 key, a commented config, a roster and a replica sqlite3 can read")
    func nodeInit() async throws {
        let (paxsync, path) = try await node()
        let mode = try FileManager.default.attributesOfItem(atPath: path + "/node.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let config = try String(contentsOfFile: path + "/paxsync.conf", encoding: .utf8)
        #expect(config.contains("# ") && config.contains("node_id = \"AU\""))
        #expect(try await paxsync.ok(["node", "show", "--json"]).contains("\"nodeId\" : \"AU\""))
        let again = try await paxsync.run(["node", "init", "--node-id", "AU", "--data-dir", path])
        #expect(again.status != 0 && again.stderr.contains("already initialised"))
    }

    @Test("roster add --from merges another node's roster and refuses a member with another key")
    func rosterAddFrom() async throws {
        let (au, auPath) = try await node("AU")
        let (_, jpPath) = try await node("JP")
        #expect(try await au.ok(["roster", "add", "--from", jpPath + "/roster.json"]).contains("Added JP; the roster lists AU, JP"))
        #expect(try await au.ok(["roster", "add", "--from", jpPath + "/roster.json"]).contains("Added nobody new"))
        #expect(try await au.ok(["roster", "show", "--json"]).contains("\"JP\""))
        // A different JP (new key) is refused, naming the member; the roster is unchanged.
        let other = dir.file("other-jp")
        try await Paxsync().ok(["node", "init", "--node-id", "JP", "--data-dir", other])
        let r = try await au.run(["roster", "add", "--from", other + "/roster.json"])
        #expect(r.status != 0 && r.stderr.contains("JP is already in the roster with another key"))
        func key(_ path: String, _ id: String) throws -> String? {
            let roster = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/roster.json"))) as! [String: Any]
            return (roster["members"] as! [[String: Any]]).first { $0["id"] as? String == id }?["signingKey"] as? String
        }
        #expect(try key(auPath, "JP") == key(jpPath, "JP"))
        #expect(try key(auPath, "JP") != key(other, "JP"))
    }

    @Test("the walk-through: write, import, query, export, verify, bundle, tamper, replay")
    func walkThrough() async throws {
        let (paxsync, path) = try await node()
        try await paxsync.ok(["facility", "create", "--id", "AU-MTWELD", "--name", "Mount Weld", "--kind", "mine", "--country", "AU",
                        "--lat", "-28.86", "--lon", "122.55"])
        let csv = dir.file("stocks.csv")
        try "facility_id,mineral,form,quantity_kg,grade_pct,as_of\nAU-MTWELD,Nd,oxide,1200,99.5,2026-11-28\nAU-MTWELD,Pr,concentrate,800,,2026-11-28\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        #expect(try await paxsync.ok(["import", "--table", "stocks", csv]).contains("Imported 2 rows"))
        let q = try await paxsync.ok(["query", "--json", "SELECT mineral, quantity_kg FROM stocks ORDER BY mineral"])
        #expect(q.contains("\"quantity_kg\" : 1200") && q.contains("\"mineral\" : \"Pr\""))
        #expect(try await paxsync.ok(["export", "--table", "stocks"]).hasPrefix("facility_id,mineral,form,quantity_kg,grade_pct,as_of\nAU-MTWELD,Nd,oxide,1200,99.5"))
        #expect(try await paxsync.ok(["log", "list"]).contains("AU:2"))
        #expect(try await paxsync.ok(["log", "show", "AU:1"]).contains("signature  valid"))
        #expect(try await paxsync.ok(["log", "verify", "--quiet"]).hasPrefix("OK: 2 entries"))

        let bundle = dir.file("au.pxb")
        try await paxsync.ok(["log", "export", "--out", bundle, "--quiet"])
        let own = try await Paxsync().ok(["log", "verify", "--bundle", bundle, "--quiet"])
        #expect(own.hasPrefix("OK") && own.contains("internal consistency only") && own.contains("not evidence"), "\(own)")
        let shown = try await paxsync.ok(["roster", "show"])
        let fingerprint = try #require(shown.split(separator: "\n").first { $0.hasPrefix("  AU  ") }).split(separator: " ").last!
        let trusted = try await Paxsync().ok(["log", "verify", "--bundle", bundle, "--quiet", "--trust-fingerprint", "AU:\(fingerprint)"])
        #expect(trusted.hasPrefix("OK") && trusted.contains("AU  \(fingerprint)"), "\(trusted)")
        let distrusted = try await Paxsync().run(["log", "verify", "--bundle", bundle, "--quiet", "--trust-fingerprint", "AU:" + String(repeating: "0", count: 64)])
        #expect(distrusted.status == 1 && distrusted.stdout.contains("not the trusted"), "\(distrusted.output)")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bundle)))
        let needle = Array("Mount Weld".utf8)
        let at = try #require((0..<bytes.count - needle.count).first { Array(bytes[$0..<$0 + needle.count]) == needle })
        bytes[at] ^= 0x20
        let tampered = dir.file("tampered.pxb")
        try Data(bytes).write(to: URL(fileURLWithPath: tampered))
        let failed = try await Paxsync().run(["log", "verify", "--bundle", tampered, "--quiet"])
        #expect(failed.status == 1)
        #expect(failed.stdout.contains("FAILED") && failed.stdout.contains("AU:1") && failed.stdout.contains("signature"))

        let live = try await paxsync.ok(["digest"]).split(separator: " ")[0]
        let replay = try await paxsync.ok(["replay", "--into", dir.file("rebuilt.sqlite"), "--quiet"])
        #expect(replay.contains("matches the live replica's digest"))
        #expect(try await Paxsync().ok(["digest", "--replica", dir.file("rebuilt.sqlite")]).hasPrefix(String(live)))
        let fromBundle = try await Paxsync().ok(["replay", "--bundle", bundle, "--into", dir.file("b.sqlite"), "--quiet", "--json"])
        #expect(fromBundle.contains(String(live)))
        _ = path
    }

    @Test("a bundle carrying a crafted entry body is refused by verify, import and replay, without a crash")
    func poisonBundle() async throws {
        let (paxsync, _) = try await node()
        try await paxsync.ok(["facility", "create", "--id", "AU-A", "--name", "A", "--kind", "mine", "--country", "AU", "--lat", "1", "--lon", "1"])
        let bundle = dir.file("one.pxb")
        try await paxsync.ok(["log", "export", "--out", bundle, "--quiet"])
        // Keep the magic and the header frame; replace the one entry frame by a crafted one.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bundle)))
        let headerLength = Int(bytes[8]) << 24 | Int(bytes[9]) << 16 | Int(bytes[10]) << 8 | Int(bytes[11])
        let envelope: [UInt8] = [0x0A, UInt8(HostileBodies.hugeLength.count)] + HostileBodies.hugeLength + [0x12, 64] + Array(repeating: 0, count: 64)
        let poisoned = Array(bytes[0..<12 + headerLength]) + [0, 0, 0, UInt8(envelope.count)] + envelope
        let path = dir.file("poisoned.pxb")
        try Data(poisoned).write(to: URL(fileURLWithPath: path))

        let verify = try await Paxsync().run(["log", "verify", "--bundle", path, "--quiet"])
        #expect(verify.status == 1, "\(verify.output)")
        #expect(verify.stdout.contains("FAILED") && verify.stdout.contains("bundle entry 1") && verify.stdout.contains("does not decode"),
                "\(verify.output)")
        let (jp, _) = try await node("JP")
        // Imported entries are judged as if a peer sent them: the crafted one is quarantined.
        let imported = try await jp.run(["log", "import", path])
        #expect(imported.status == 0 && imported.stdout.contains("1 quarantined"), "\(imported.output)")
        #expect(try await jp.ok(["quarantine", "--json"]).contains("malformed-entry"))
        let replay = try await Paxsync().run(["replay", "--bundle", path, "--into", dir.file("p.sqlite"), "--quiet"])
        #expect(replay.status == 65 && replay.stderr.contains("bundle entry 1"), "\(replay.output)")
    }

    @Test("serve whose listen address is taken exits non-zero at once, naming the address")
    func listenAddressTaken() async throws {
        let (paxsync, path) = try await node()
        try await Paxsync().ok(["ca", "init", "--dir", dir.file("ca")])
        try await Paxsync().ok(["ca", "issue", "--ca", dir.file("ca"), "--node-id", "AU", "--out", path + "/tls"])
        let taken = OccupiedPort()
        let r = try await paxsync.run(["serve", "--listen", "127.0.0.1:\(taken.port)"], timeoutSeconds: 60)
        #expect(r.status != 0 && r.status < 128, "it must exit by itself, not be killed: \(r.output)")
        #expect(r.stderr.contains("127.0.0.1:\(taken.port)") && r.stderr.contains("cannot listen"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path + "/admin.sock"), "the admin socket is removed on the way out")
    }

    @Test("log verify finds a log tail deleted with sqlite3; --deep finds records changed outside the log",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 is not installed; .ci/run installs it"))
    func tamperedReplica() async throws {
        let (paxsync, path) = try await node()
        for id in ["AU-A", "AU-B", "AU-C"] {
            try await paxsync.ok(["facility", "create", "--id", id, "--name", id, "--kind", "mine", "--country", "AU", "--lat", "1", "--lon", "1"])
        }
        #expect(try await paxsync.ok(["log", "verify", "--deep", "--quiet"]).contains("the replayed log gives the live digest"))
        func sqlite(_ sql: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            p.arguments = [path + "/replica.sqlite", sql]
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "sqlite3 \(sql)")
        }
        // A record changed behind paxsync's back: the log still verifies, the deep check does not.
        try sqlite("UPDATE facilities SET name = 'Forged' WHERE id = 'AU-B'")
        #expect(try await paxsync.ok(["log", "verify", "--quiet"]).hasPrefix("OK"))
        let deep = try await paxsync.run(["log", "verify", "--deep", "--quiet"])
        #expect(deep.status == 1 && deep.stdout.contains("Deep: FAILED: the replayed log gives digest"), "\(deep.output)")
        // The log's tail deleted (after dropping the append-only trigger): the heads no longer match.
        try sqlite("DROP TRIGGER paxsync_log_append_only_delete; DELETE FROM paxsync_log WHERE origin = 'AU' AND seq = 3")
        let cut = try await paxsync.run(["log", "verify", "--quiet"])
        #expect(cut.status == 1 && cut.stdout.contains("the log ends at AU:2 but the replica records its head as AU:3"), "\(cut.output)")
    }

    @Test("query caps the rows it prints and stops a query that runs too long")
    func queryLimits() async throws {
        let (paxsync, _) = try await node()
        let capped = try await paxsync.run(["query", "--max-rows", "5", "--json", "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n"])
        #expect(capped.status == 0 && capped.stderr.contains("first 5 rows"), "\(capped.output)")
        #expect(capped.stdout.contains("\"x\" : 5") && !capped.stdout.contains("\"x\" : 6"), "\(capped.stdout)")
        let endless = try await paxsync.run(["query", "--timeout", "0.5",
                                       "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n"], timeoutSeconds: 120)
        #expect(endless.status == 64 && endless.stderr.contains("was stopped"), "\(endless.output)")
    }

    @Test("bad input gets a clear error naming what was wrong, with the exit status of its kind", arguments: [
        (["facility", "create", "--id", "AU-X", "--name", "X", "--kind", "volcano", "--country", "AU", "--lat", "1", "--lon", "1"], "field kind", 65),
        (["facility", "create", "--id", "JP-X", "--name", "X", "--kind", "mine", "--country", "JP", "--lat", "1", "--lon", "1"], "only JP, whose id namespaces this record", 65),
        (["stock", "set", "--facility", "AU-NONE", "--mineral", "Li", "--form", "ore", "--quantity-kg", "5", "--as-of", "2026-01-01"], "AU-NONE does not exist", 65),
        (["query", "DELETE FROM facilities"], "read-only", 64),
        (["query", "SELEC 1"], "does not compile", 64),
        (["log", "show", "AU-1"], "ORIGIN:SEQ", 64),
        (["log", "show", "AU:99"], "AU:99", 66),
        (["export", "--table", "mines"], "mines", 64),
        (["explain", "facilities", "AU-NOPE"], "no such record", 66),
        (["reserve", "pledge", "--reserve", "P", "--mineral", "Li", "--adjust=-5"], "below zero", 65),
        (["replay", "--into", "/tmp/x.sqlite", "--until", "yesterday"], "--until", 64),
        (["facility", "create", "--id", "AU-X"], "missing name, kind", 65),
        (["facility", "create", "--id"], "Missing value for", 64),
        (["no-such-command"], "Unexpected argument", 64),
    ] as [([String], String, Int32)])
    func badInput(arguments: [String], mention: String, status: Int32) async throws {
        let (paxsync, _) = try await node()
        let r = try await paxsync.run(arguments)
        #expect(r.status == status, "\(arguments): exit \(r.status): \(r.stderr)")
        #expect(r.stderr.contains(mention), "\(arguments): \(r.stderr)")
    }

    @Test("a bad CSV names the line and column and writes nothing")
    func badCSV() async throws {
        let (paxsync, _) = try await node()
        let csv = dir.file("bad.csv")
        try "id,name,kind,country,latitude,longitude\nAU-A,A,mine,AU,1,1\nAU-B,B,mine,AU,1,east\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try await paxsync.run(["import", "--table", "facilities", csv])
        #expect(r.status == 65, "a data error")
        #expect(r.stderr.contains("bad.csv:3: column longitude"), "\(r.stderr)")
        let count = try await paxsync.ok(["query", "--json", "SELECT COUNT(*) AS n FROM facilities"])
        #expect(try JSONSerialization.jsonObject(with: Data(count.utf8)) as? [[String: Int]] == [["n": 0]], "\(count)")
        let list = try await paxsync.ok(["log", "list", "--json"])
        #expect(try JSONDecoder().decode([LogEntrySummary].self, from: Data(list.utf8)).isEmpty, "\(list)")
    }

    @Test("status --require-daemon fails with 69 when no daemon runs, after showing the replica")
    func requireDaemon() async throws {
        let (paxsync, _) = try await node()
        let r = try await paxsync.run(["status", "--require-daemon"])
        #expect(r.status == 69, "\(r.output)")
        #expect(r.stdout.contains("AU") && r.stderr.contains("node AU") && r.stderr.contains("no daemon answers"), "\(r.output)")
        #expect(try await paxsync.run(["status"]).status == 0, "without the flag a stopped daemon is not an error")
    }

    @Test("a command that does not end is killed at the timeout, keeping what it printed, and the result says so")
    func runnerTimeout() async throws {
        let (paxsync, _) = try await node()
        let r = try await paxsync.run(["status", "--watch", "--interval", "0.2"], timeoutSeconds: 2)
        #expect(r.status == 128 + SIGKILL, "\(r.output)")
        #expect(r.stdout.contains("node AU"), "what it printed before the kill is kept: \(r.stdout)")
        #expect(r.stderr.hasSuffix("\n[killed by signal 9]\n[timed out after 2.0 s]"), "\(r.stderr)")
    }

    @Test("commands without a node say how to give one")
    func noNode() async throws {
        let r = try await Paxsync().run(["digest"])
        #expect(r.status != 0 && r.stderr.contains("--data-dir"))
        let missing = try await Paxsync().run(["digest", "--data-dir", dir.file("nowhere")])
        #expect(missing.status != 0 && missing.stderr.contains("paxsync node init"))
    }

    @Test("two nodes exchange bundles and agree, with the concurrent edit as one conflict")
    func bundleExchange() async throws {
        let au = Paxsync(dataDir: dir.file("au")), jp = Paxsync(dataDir: dir.file("jp"))
        try await au.ok(["node", "init", "--node-id", "AU", "--data-dir", dir.file("au")])
        try await jp.ok(["node", "init", "--node-id", "JP", "--data-dir", dir.file("jp")])
        let roster = dir.file("roster.json")
        let auRoster = try await au.ok(["roster", "show", "--json"])
        let jpRoster = try await jp.ok(["roster", "show", "--json"])
        func member(_ json: String) throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
            return (object["members"] as! [[String: Any]])[0]
        }
        let combined: [String: Any] = ["format": 1, "coalition": "test", "members": [try member(auRoster), try member(jpRoster)]]
        try JSONSerialization.data(withJSONObject: combined).write(to: URL(fileURLWithPath: roster))
        try await au.ok(["roster", "set", roster])
        try await jp.ok(["roster", "set", roster])

        try await au.ok(["facility", "create", "--id", "AU-MTWELD", "--name", "Mount Weld", "--kind", "mine", "--country", "AU", "--lat", "-28.86", "--lon", "122.55"])
        try await jp.ok(["facility", "create", "--id", "JP-KOBE", "--name", "Kobe", "--kind", "port", "--country", "JP", "--lat", "34.68", "--lon", "135.19"])
        func exchange() async throws {
            try await au.ok(["log", "export", "--out", dir.file("a.pxb"), "--quiet"])
            try await jp.ok(["log", "export", "--out", dir.file("j.pxb"), "--quiet"])
            try await au.ok(["log", "import", dir.file("j.pxb"), "--quiet"])
            try await jp.ok(["log", "import", dir.file("a.pxb"), "--quiet"])
        }
        try await exchange()
        try await au.ok(["shipment", "create", "--id", "AU-SHP-1", "--mineral", "Nd", "--form", "oxide", "--quantity-kg", "2000",
                   "--from", "AU-MTWELD", "--to", "JP-KOBE", "--importer", "JP", "--eta", "2026-12-20T00:00:00Z"])
        try await exchange()
        try await au.ok(["shipment", "update", "--id", "AU-SHP-1", "--eta", "2026-12-18T00:00:00Z"])
        try await au.ok(["shipment", "advance", "--id", "AU-SHP-1", "--status", "loading"])
        try await jp.ok(["shipment", "update", "--id", "AU-SHP-1", "--eta", "2026-12-22T00:00:00Z"])
        try await jp.ok(["shipment", "advance", "--id", "AU-SHP-1", "--status", "in_transit"])
        try await exchange()

        #expect(try await au.ok(["digest"]) == (try await jp.ok(["digest"])))
        let conflicts = try await au.ok(["conflicts", "--json"])
        #expect(conflicts == (try await jp.ok(["conflicts", "--json"])))
        #expect(conflicts.contains("2026-12-18T00:00:00Z") && conflicts.contains("2026-12-22T00:00:00Z"))
        let table = try await au.ok(["conflicts"])
        #expect(table.split(separator: "\n").count == 2, "one conflict: \(table)")
        #expect(try await au.ok(["query", "SELECT status FROM shipments"]).contains("in_transit"))
        let explain = try await jp.ok(["explain", "shipments", "AU-SHP-1"])
        #expect(explain.contains("furthest-status") && explain.contains("last-writer-wins"))
    }
}
