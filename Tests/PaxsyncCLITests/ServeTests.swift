import Foundation
import PaxsyncCLI
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A local coalition set up entirely with the CLI (`ca init`, `node init`,
/// `ca issue`, `roster add --from`), its daemons run by `LocalCoalition`.
final class ServedCoalition {
    let dir = TemporaryDirectory("paxsync-serve")
    let ids: [String]
    var ports: [String: Int] = [:]
    private var daemons: LocalCoalition!

    /// How the nodes get their TLS certificates: from a coalition CA, with or
    /// without the roster pinning their keys, or self-signed and pinned (no CA).
    enum TLSSetup { case ca, caPinned, selfSigned }

    init(_ ids: [String], peers: [String: String] = [:], tls: TLSSetup = .ca) async throws {
        self.ids = ids
        let cli = Paxsync()
        if tls != .selfSigned { try await cli.ok(["ca", "init", "--dir", dir.file("ca")]) }
        for id in ids {
            let path = dir.file(id)
            ports[id] = LoopbackPorts.reserve()
            try await cli.ok(["node", "init", "--node-id", id, "--data-dir", path, "--address", "127.0.0.1:\(ports[id]!)"])
            switch tls {
            case .ca:
                try await cli.ok(["ca", "issue", "--ca", dir.file("ca"), "--node-id", id, "--out", path + "/tls"])
            case .caPinned:
                try await cli.ok(["ca", "issue", "--ca", dir.file("ca"), "--node-id", id, "--out", path + "/tls"])
                let pin = try await cli.ok(["tls", "pin", "--data-dir", path]).trimmingCharacters(in: .whitespacesAndNewlines)
                try await cli.ok(["roster", "pin", "--data-dir", path, id, pin])
            case .selfSigned:
                try await cli.ok(["tls", "create", "--data-dir", path, "--host", "127.0.0.1"])
            }
            if let list = peers[id] {
                let config = try String(contentsOfFile: path + "/paxsync.conf", encoding: .utf8)
                try config.replacingOccurrences(of: "peers = \"*\"", with: "peers = \"\(list)\"")
                    .write(toFile: path + "/paxsync.conf", atomically: true, encoding: .utf8)
            }
        }
        for id in ids {
            for other in ids where other != id {
                try await cli.ok(["roster", "add", "--data-dir", dir.file(id), "--from", dir.file(other) + "/roster.json"])
            }
        }
        daemons = try LocalCoalition(opening: dir.path, ids: ids, executable: Paxsync.binary)
    }

    func cli(_ id: String) -> Paxsync { Paxsync(dataDir: dir.file(id)) }

    func start(_ id: String) throws { try daemons.start(id) }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop(_ id: String) -> Int32 { daemons.stop(id) ?? -1 }

    func digest(_ id: String) async throws -> String { try await cli(id).ok(["digest"]).components(separatedBy: " ")[0] }

    /// The distinct digests of every node: one when they agree.
    func digests() async throws -> Set<String> {
        var all: Set<String> = []
        for id in ids { all.insert(try await digest(id)) }
        return all
    }

    /// How many facilities `id`'s replica holds (`query --json`).
    func facilities(_ id: String) async throws -> Int {
        let json = try await cli(id).ok(["query", "--json", "SELECT COUNT(*) AS n FROM facilities"])
        guard let rows = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Int]], let n = rows.first?["n"] else {
            throw PaxsyncError(.badInput, "not a count", subject: json)
        }
        return n
    }

    func log(_ id: String) -> String { (try? String(contentsOfFile: daemons.logPath(id), encoding: .utf8)) ?? "" }
}

func waitFor(_ what: String, seconds: Double = 20, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    var lastError: (any Error)?
    while Date() < deadline {
        do {
            if try await condition() { return true }
            lastError = nil
        } catch {
            lastError = error
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    // Once more at the deadline: a test starved of threads on a loaded machine may wake only after it.
    do {
        if try await condition() { return true }
    } catch {
        lastError = error
    }
    let why = lastError.map { " (the last check failed: \($0))" } ?? ""
    Issue.record("timed out after \(seconds) s: \(what)\(why)")
    return false
}

@Suite("paxsync serve: real processes on loopback", .serialized)
struct ServeTests {
    @Test("four nodes writing everywhere converge; a stopped node catches up when restarted")
    func coalition() async throws {
        let c = try await ServedCoalition(["AU", "JP", "KR", "SG"])
        for id in c.ids { try c.start(id) }
        for (i, id) in c.ids.enumerated() {
            try await c.cli(id).ok(["facility", "create", "--id", "\(id)-F", "--name", "F", "--kind", "port", "--country", id,
                              "--lat", "\(i)", "--lon", "\(i)"])
        }
        let converged = try await waitFor("equal digests") {
            let list = try await c.cli("AU").ok(["log", "list", "--json"])
            return try await c.digests().count == 1 && list.contains("SG:1")
        }
        if !converged { for id in c.ids { print("--- \(id)\n\(c.log(id))") } }

        #expect(c.stop("KR") == 0, "SIGTERM ends serve cleanly")
        #expect(c.log("KR").contains("stopped"))
        for id in ["AU", "JP", "SG"] {
            try await c.cli(id).ok(["stock", "set", "--facility", "\(id)-F", "--mineral", "Li", "--form", "ore", "--quantity-kg", "7", "--as-of", "2026-11-29"])
        }
        try c.start("KR")
        let caughtUp = try await waitFor("KR catches up") {
            let count = try await c.cli("KR").ok(["query", "SELECT COUNT(*) AS n FROM stocks"])
            return try await c.digests().count == 1 && count.contains("3")
        }
        if !caughtUp { for id in c.ids { print("--- \(id)\n\(c.log(id))") } }
        // The restarted KR was sent only what it missed (3 entries), never the 4 it held.
        let status = try await JSONDecoder().decode(NodeStatus.self, from: Data(c.cli("KR").ok(["status", "--json"]).utf8))
        #expect(status.daemonRunning && status.peers.allSatisfy { $0.entriesIn <= 3 }, "\(status.peers.map { ($0.id, $0.entriesIn) })")
        #expect(status.peers.reduce(0) { $0 + $1.entriesIn } >= 3, "the 3 missed entries arrived")
        for id in c.ids { c.stop(id) }
        #expect(try await c.cli("KR").ok(["log", "verify", "--quiet"]).hasPrefix("OK"))
    }

    @Test("a line AU–JP–KR (AU and KR not peered) converges through JP")
    func line() async throws {
        let c = try await ServedCoalition(["AU", "JP", "KR"], peers: ["AU": "JP", "JP": "AU,KR", "KR": "JP"])
        for id in c.ids { try c.start(id) }
        try await c.cli("AU").ok(["facility", "create", "--id", "AU-F", "--name", "F", "--kind", "port", "--country", "AU", "--lat", "1", "--lon", "1"])
        try await c.cli("KR").ok(["facility", "create", "--id", "KR-F", "--name", "F", "--kind", "port", "--country", "KR", "--lat", "2", "--lon", "2"])
        let converged = try await waitFor("AU and KR meet through JP") {
            let rows = try await c.facilities("AU")
            return try await c.digests().count == 1 && rows == 2
        }
        if !converged { for id in c.ids { print("--- \(id)\n\(c.log(id))") } }
        let au = try await JSONDecoder().decode(NodeStatus.self, from: Data(c.cli("AU").ok(["status", "--json"]).utf8))
        #expect(au.peers.map(\.id) == ["JP"], "AU has no session with KR")
        for id in c.ids { #expect(c.stop(id) == 0) }
    }

    @Test("a genesis signed by every founder: adopted nodes refuse a node without it; it migrates by adopting, no entry re-signed")
    func genesis() async throws {
        let c = try await ServedCoalition(["AU", "JP", "KR"])
        // KR wrote before the coalition had a genesis.
        try await c.cli("KR").ok(["facility", "create", "--id", "KR-F", "--name", "F", "--kind", "port", "--country", "KR", "--lat", "2", "--lon", "2"])
        let krHead = try await c.cli("KR").ok(["log", "list", "--json"])
        let file = c.dir.file("genesis.json")
        try await c.cli("AU").ok(["coalition", "init", "--out", file])
        // Adopting before every founder signed is refused.
        let early = try await c.cli("AU").run(["coalition", "adopt", file])
        #expect(early.status == 65 && early.stderr.contains("JP, KR must still run `paxsync coalition sign`"), "\(early.stderr)")
        for id in c.ids { try await c.cli(id).ok(["coalition", "sign", file]) }
        let shown = try JSONSerialization.jsonObject(with: Data(try await c.cli("AU").ok(["coalition", "show", file, "--json"]).utf8))
        let id = try #require((shown as? [String: Any])?["coalitionId"] as? String)
        #expect(id.count == 64)
        for node in ["AU", "JP"] { try await c.cli(node).ok(["coalition", "adopt", file]) }
        for node in c.ids { try c.start(node) }
        try await c.cli("AU").ok(["facility", "create", "--id", "AU-F", "--name", "F", "--kind", "port", "--country", "AU", "--lat", "1", "--lon", "1"])
        var refusal: String?
        _ = try await waitFor("AU refuses KR, which states no coalition id") {
            let status = try JSONDecoder().decode(NodeStatus.self, from: Data(try await c.cli("AU").ok(["status", "--json"]).utf8))
            refusal = status.peers.first { $0.id == "KR" }?.lastError
            return refusal?.contains("states no coalition id") == true
        }
        #expect(refusal?.contains("peer KR states no coalition id; this node belongs to coalition \(id)") == true, "\(refusal ?? "")")
        _ = try await waitFor("AU and JP sync") { try await c.digest("AU") == c.digest("JP") }
        #expect(try await c.facilities("KR") == 1, "nothing reached KR")

        // KR migrates: same log, same signatures, the coalition id pinned.
        #expect(c.stop("KR") == 0)
        try await c.cli("KR").ok(["coalition", "adopt", file])
        #expect(try await c.cli("KR").ok(["log", "list", "--json"]) == krHead, "adopting rewrites no entry")
        try c.start("KR")
        let converged = try await waitFor("all three converge once KR adopted the genesis") {
            let rows = try await c.facilities("KR")
            return try await c.digests().count == 1 && rows == 2
        }
        if !converged { for node in c.ids { print("--- \(node)\n\(c.log(node))") } }
        for node in c.ids { #expect(c.stop(node) == 0) }
        for node in c.ids { #expect(try await c.cli(node).ok(["log", "verify", "--quiet"]).hasPrefix("OK")) }
        // A bundle carries the genesis: the auditor checks the founders' keys against it.
        let bundle = c.dir.file("kr.bundle")
        #expect(try await c.cli("KR").ok(["log", "export", "--out", bundle, "--quiet"]).contains("with the genesis of coalition \(id)"))
        let verified = try await Paxsync().ok(["log", "verify", "--bundle", bundle])
        #expect(verified.hasPrefix("OK") && verified.contains("the bundle's genesis, coalition \(id), signed by every founder"), "\(verified)")
    }

    @Test("KR rotates its signing key while the coalition runs: entries before and after verify everywhere, in a bundle too")
    func keyRotation() async throws {
        let c = try await ServedCoalition(["AU", "JP", "KR"])
        for node in c.ids { try c.start(node) }
        try await c.cli("KR").ok(["facility", "create", "--id", "KR-A", "--name", "A", "--kind", "port", "--country", "KR", "--lat", "1", "--lon", "1"])
        let oldKey = try String(contentsOfFile: c.dir.file("KR") + "/node.key", encoding: .utf8)
        let rotated = try await c.cli("KR").ok(["key", "rotate", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(rotated.utf8)) as? [String: Any])?["entry"] as? String == "KR:2", "\(rotated)")
        #expect(try String(contentsOfFile: c.dir.file("KR") + "/node.key", encoding: .utf8) != oldKey)
        #expect(!FileManager.default.fileExists(atPath: c.dir.file("KR") + "/node.key.next"))
        try await c.cli("KR").ok(["facility", "create", "--id", "KR-B", "--name", "B", "--kind", "port", "--country", "KR", "--lat", "2", "--lon", "2"])
        let converged = try await waitFor("KR:3, signed with the new key, reaches everyone") {
            let rows = try await c.facilities("AU")
            return try await c.digests().count == 1 && rows == 2
        }
        if !converged { for node in c.ids { print("--- \(node)\n\(c.log(node))") } }
        for node in c.ids {
            let quarantine = try await c.cli(node).ok(["quarantine", "--json"])
            let lists = try JSONSerialization.jsonObject(with: Data(quarantine.utf8)) as? [String: [Any]]
            #expect(lists?.values.allSatisfy(\.isEmpty) == true, "\(node) quarantined and held nothing: \(quarantine)")
            let verify = try await c.cli(node).ok(["log", "verify"])
            #expect(verify.hasPrefix("OK") && verify.contains("KR:2: KR signs with key"), "\(node): \(verify)")
        }
        let members = try JSONSerialization.jsonObject(with: Data(try await c.cli("AU").ok(["member", "list", "--json"]).utf8))
        let kr = try #require((members as? [[String: Any]])?.first { $0["id"] as? String == "KR" })
        #expect(kr["rotations"] as? [String] == ["KR:2"])
        #expect(kr["currentKeyFingerprint"] as? String != kr["rosterKeyFingerprint"] as? String)
        let bundle = c.dir.file("au.bundle")
        try await c.cli("AU").ok(["log", "export", "--out", bundle])
        let checked = try await Paxsync().ok(["log", "verify", "--bundle", bundle])
        #expect(checked.hasPrefix("OK") && checked.contains("KR:1…3"), "\(checked)")
        for node in c.ids { #expect(c.stop(node) == 0) }
    }

    /// Installs `id`'s roster without `member` (`roster set`), daemon running or not.
    func removeFromRoster(_ c: ServedCoalition, _ id: String, _ member: String) async throws {
        var roster = try Roster.decode(Data(contentsOf: URL(fileURLWithPath: c.dir.file(id) + "/roster.json")), source: "roster")
        roster.members.removeAll { $0.id == member }
        let file = c.dir.file("\(id)-without-\(member)-\(UUID().uuidString.prefix(4)).json")
        try roster.encoded().write(to: URL(fileURLWithPath: file))
        try await c.cli(id).ok(["roster", "set", file])
    }

    func status(_ c: ServedCoalition, _ id: String) async throws -> NodeStatus {
        try JSONDecoder().decode(NodeStatus.self, from: Data(try await c.cli(id).ok(["status", "--json"]).utf8))
    }

    @Test("the daemon follows roster.json: a member added is dialed and synced without a restart, one removed is dropped")
    func followsRoster() async throws {
        let c = try await ServedCoalition(["AU", "JP", "KR"])
        for id in ["AU", "JP"] { try await removeFromRoster(c, id, "KR") }
        // Written before the daemon starts: a started daemon pauses local writes until a peer confirms the head.
        try await c.cli("KR").ok(["facility", "create", "--id", "KR-F", "--name", "F", "--kind", "port", "--country", "KR", "--lat", "2", "--lon", "2"])
        for id in c.ids { try c.start(id) }
        try await c.cli("AU").ok(["facility", "create", "--id", "AU-F", "--name", "F", "--kind", "port", "--country", "AU", "--lat", "1", "--lon", "1"])
        _ = try await waitFor("AU and JP sync without KR") { try await c.digest("AU") == c.digest("JP") }
        #expect(try await c.facilities("KR") == 1, "nobody dials KR yet")

        // KR joins AU's and JP's rosters while their daemons run.
        for id in ["AU", "JP"] { try await c.cli(id).ok(["roster", "add", "--from", c.dir.file("KR") + "/roster.json"]) }
        let joined = try await waitFor("KR is dialed and the three converge, no restart") {
            let rows = try await c.facilities("KR")
            return try await c.digests().count == 1 && rows == 2
        }
        if !joined { for id in c.ids { print("--- \(id)\n\(c.log(id))") } }
        #expect(try await status(c, "AU").peers.map(\.id) == ["JP", "KR"])
        #expect(c.log("AU").contains("roster reloaded"))

        // AU drops KR again: its session with KR ends and KR is no longer its peer.
        try await removeFromRoster(c, "AU", "KR")
        _ = try await waitFor("AU drops KR") {
            let au = try await status(c, "AU")
            return au.peers.map(\.id) == ["JP"] && au.roster.map(\.id) == ["AU", "JP"]
        }
        for id in c.ids { #expect(c.stop(id) == 0) }
    }

    @Test("self-signed certificates pinned in the rosters (tls create, roster add --from): no CA, and the coalition converges")
    func selfSignedPinned() async throws {
        let c = try await ServedCoalition(["AU", "JP", "KR"], tls: .selfSigned)
        #expect(!FileManager.default.fileExists(atPath: c.dir.file("AU") + "/tls/ca.crt"))
        let roster = try Roster.decode(Data(try await c.cli("KR").ok(["roster", "show", "--json"]).utf8), source: "roster show")
        for id in c.ids {
            let pin = try await c.cli(id).ok(["tls", "pin"]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(roster.member(id)?.tlsPin == pin, "KR's roster pins \(id)'s key")
        }
        for id in c.ids { try c.start(id) }
        for (i, id) in c.ids.enumerated() {
            try await c.cli(id).ok(["facility", "create", "--id", "\(id)-F", "--name", "F", "--kind", "port", "--country", id,
                                    "--lat", "\(i)", "--lon", "\(i)"])
        }
        let converged = try await waitFor("equal digests, three facilities everywhere") {
            let rows = try await c.facilities("KR")
            return try await c.digests().count == 1 && rows == 3
        }
        if !converged { for id in c.ids { print("--- \(id)\n\(c.log(id))") } }
        for id in c.ids { #expect(c.stop(id) == 0) }
    }

    @Test("the coalition CA signs a certificate for AU with another key: JP refuses it by the pin, and status says why")
    func caCannotOverridePin() async throws {
        let c = try await ServedCoalition(["AU", "JP"], tls: .caPinned)
        for id in c.ids {
            for other in c.ids where other != id {
                let pin = try await c.cli(other).ok(["tls", "pin"]).trimmingCharacters(in: .whitespacesAndNewlines)
                try await c.cli(id).ok(["roster", "pin", other, pin])
            }
        }
        let pinned = try await c.cli("AU").ok(["tls", "pin"]).trimmingCharacters(in: .whitespacesAndNewlines)
        // The CA issues AU a second certificate, with a new key, and AU's node presents it.
        try await Paxsync().ok(["ca", "issue", "--ca", c.dir.file("ca"), "--node-id", "AU", "--out", c.dir.file("forged")])
        for file in ["node.crt", "node.key"] {
            let path = c.dir.file("AU") + "/tls/" + file
            try FileManager.default.removeItem(atPath: path)
            try FileManager.default.copyItem(atPath: c.dir.file("forged") + "/" + file, toPath: path)
        }
        let forged = try await Paxsync().ok(["tls", "pin", "--certificate", c.dir.file("forged") + "/node.crt"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(forged != pinned)
        try await c.cli("AU").ok(["facility", "create", "--id", "AU-F", "--name", "F", "--kind", "port", "--country", "AU", "--lat", "1", "--lon", "1"])
        for id in c.ids { try c.start(id) }
        var status: NodeStatus?
        _ = try await waitFor("JP reports refusing AU's certificate") {
            status = try JSONDecoder().decode(NodeStatus.self, from: Data(try await c.cli("JP").ok(["status", "--json"]).utf8))
            return !(status?.refusedCertificates ?? []).isEmpty
        }
        #expect(status?.refusedCertificates?.last?.message
            == "the certificate for AU has key \(forged), not the key the roster pins for AU (\(pinned))")
        let text = try await c.cli("JP").ok(["status"])
        #expect(text.contains("refused TLS certificates") && text.contains("not the key the roster pins for AU"), "\(text)")
        #expect(try await c.facilities("JP") == 0, "nothing crossed")
        for id in c.ids { #expect(c.stop(id) == 0) }
    }

    /// Runs `openssl s_client` against a running AU with `options`; returns what it printed.
    func sClient(_ c: ServedCoalition, _ options: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "(sleep 1) | timeout 10 openssl s_client -connect 127.0.0.1:\(c.ports["AU"]!) -CAfile \(c.dir.file("ca"))/ca.crt -servername au.node.paxsync \(options) 2>&1"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text
    }

    @Test("a client without a certificate is refused by the TLS handshake (openssl s_client)",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl is not installed; .ci/run installs it"))
    func noClientCertificate() async throws {
        let c = try await ServedCoalition(["AU", "JP"])
        try c.start("AU")
        defer { c.stop("AU") }
        _ = try await waitFor("AU accepts connections") { acceptsConnections(port: c.ports["AU"]!) }
        let text = try sClient(c, "")
        #expect(text.contains("certificate required"), "\(text)")
    }

    @Test("a client with a valid certificate offering only TLS 1.2 is refused; TLS 1.3 is accepted (openssl s_client)",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl is not installed; .ci/run installs it"))
    func tls12Refused() async throws {
        let c = try await ServedCoalition(["AU", "JP"])
        try c.start("AU")
        defer { c.stop("AU") }
        _ = try await waitFor("AU accepts connections") { acceptsConnections(port: c.ports["AU"]!) }
        let jp = "-cert \(c.dir.file("JP"))/tls/node.crt -key \(c.dir.file("JP"))/tls/node.key"
        let old = try sClient(c, "\(jp) -tls1_2")
        let current = try sClient(c, "\(jp) -tls1_3 -alpn h2")
        // The 1.3 connection stays open for s_client's whole second; the 1.2 one is closed at once.
        #expect(current.contains("Protocol  : TLSv1.3") && !current.contains("closed"), "\(current)")
        #expect(old.contains("closed"), "\(old)")
        _ = try await waitFor("AU logs the refusal") { c.log("AU").contains("TLS 1.3 is required") }
    }
}

/// Whether something accepts TCP connections on a loopback port now.
func acceptsConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
