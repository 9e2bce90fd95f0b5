import ArgumentParser
import Foundation
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a local coalition of the five founding members on loopback and show it converge.",
        discussion: """
            Creates a coalition CA, keys, certificates and a roster under --dir, starts
            one `paxsync serve` per member (SG, AU, JP, KR, IL) on free loopback ports,
            loads sample facilities, stocks, a shipment and pooled-reserve pledges at
            each, then takes JP offline while AU and JP edit the same shipment and two
            members raise their pledges at once. When JP returns, every node converges.
            Then Canada (CA) joins by quorum: its node, made from the genesis alone, is
            refused until AU's proposal has enough approvals, then catches up and
            writes; the roster is printed before and after. Finally the status table,
            the common digest and the detected conflict are printed.
            The coalition keeps running until Ctrl-C (or exits at once with
            --exit-when-converged); every daemon it started is stopped on exit.

            Examples:
              paxsync demo
              paxsync demo --dir /tmp/coalition --nodes 7
              paxsync demo --exit-when-converged --json
              paxsync status --data-dir /tmp/coalition/AU      # while the demo runs
            """)

    @Option(help: ArgumentHelp("Directory for the coalition (default: a new temporary directory).", valueName: "DIR")) var dir: String?
    @Option(help: "Number of members, 3–10: the five founders first, then NZ, CA, IN, DE, FR.") var nodes = 5
    @Flag(name: .customLong("exit-when-converged"), help: "Stop the coalition and exit once it has converged.") var exitWhenConverged = false
    @Option(help: "Seconds to wait for convergence before giving up.") var timeout: Double = 120
    @OptionGroup var json: JSONFlag

    func validate() throws {
        guard (3...CoalitionDemo.candidates.count).contains(nodes) else {
            throw ValidationError("--nodes must be between 3 and \(CoalitionDemo.candidates.count)")
        }
        if json.enabled && !exitWhenConverged { throw ValidationError("--json prints one report at the end: add --exit-when-converged") }
    }

    func run() throws {
        let base = dir ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("paxsync-demo-\(ProcessInfo.processInfo.processIdentifier)")
        if FileManager.default.fileExists(atPath: (base as NSString).appendingPathComponent("ca")) {
            throw PaxsyncError(.usage, "a demo coalition already exists here; choose another --dir or remove it", subject: base)
        }
        let demo = CoalitionDemo(base: base, count: nodes, timeout: timeout, quiet: json.enabled)
        let coalition = try demo.setUp()
        defer { coalition.stopAll() }
        let report = try demo.run(coalition)
        if json.enabled { Output.json(report) }
        guard report.converged else { throw ExitCode(1) }
        if !exitWhenConverged {
            print("\nThe coalition keeps running. In another terminal, try:")
            print("  paxsync status --data-dir \(coalition.dataDir("AU"))")
            print("  paxsync explain --data-dir \(coalition.dataDir("JP")) shipments AU-SHP-0001")
            print("  kill -TERM \(coalition.pid("KR").map(String.init) ?? "<pid of KR>")   # stop KR; status on AU shows it disconnected and behind")
            print("Press Ctrl-C to stop every node.")
            fflush(nil)   // nil: every stream (`stdout` is not concurrency-safe to name)
            waitForInterrupt()
            print("\nStopping \(coalition.ids.count) nodes…")
        }
    }

    /// Blocks until SIGINT or SIGTERM.
    private func waitForInterrupt() {
        let done = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { done.signal() }
            source.resume()
            sources.append(source)
        }
        done.wait()
        sources.forEach { $0.cancel() }
    }
}

/// The walk-through behind `paxsync demo`: real daemons, real TLS, real sync.
struct CoalitionDemo {
    struct NodeReport: Codable {
        let node: String
        let digest: String
        let logEntries: Int
        let peersConnected: Int
        let peers: Int
        let lagEntries: UInt64
        let openConflicts: Int
    }

    struct Report: Codable {
        let dir: String
        let nodes: [NodeReport]
        let digest: String?
        let converged: Bool
        let seconds: Double
        let conflicts: [Conflict]
    }

    static let candidates: [LocalCoalition.Member] = [
        .init(id: "SG", country: "SG", name: "Singapore"), .init(id: "AU", country: "AU", name: "Australia"),
        .init(id: "JP", country: "JP", name: "Japan"), .init(id: "KR", country: "KR", name: "South Korea"),
        .init(id: "IL", country: "IL", name: "Israel"), .init(id: "NZ", country: "NZ", name: "New Zealand"),
        .init(id: "CA", country: "CA", name: "Canada"), .init(id: "IN", country: "IN", name: "India"),
        .init(id: "DE", country: "DE", name: "Germany"), .init(id: "FR", country: "FR", name: "France"),
    ]

    let base: String
    let count: Int
    let timeout: Double
    let quiet: Bool

    /// A line of the story, written at once: piped or redirected to a file,
    /// standard output is block-buffered and would show nothing until the end.
    func say(_ text: String) {
        guard !quiet else { return }
        print(text)
        fflush(nil)   // nil: every stream (`stdout` is not concurrency-safe to name)
    }

    func setUp() throws -> LocalCoalition {
        let members = Array(Self.candidates.prefix(count))
        say("Creating a coalition of \(count) members in \(base): CA, signing keys, certificates, roster")
        let coalition = try LocalCoalition(base: base, members: members, executable: LocalCoalition.currentExecutable)
        if let id = coalition.coalitionID {
            say("  founded by a genesis all \(count) members signed: coalition \(id)")
        }
        for m in members {
            try coalition.start(m.id)
            say("  \(m.id) (\(m.name)): paxsync serve on \(coalition.roster.member(m.id)!.address), data in \(coalition.dataDir(m.id))")
        }
        try waitUntil("every daemon's admin socket answers") {
            try coalition.ids.allSatisfy { AdminClient.isAnswering(try StatusSource(directory: coalition.directory($0)).socketPath) }
        } progress: { "starting nodes" }
        // Each daemon pauses local writes until a peer confirms its head.
        try waitUntil("every node's local writes allowed") {
            try coalition.ids.allSatisfy { try coalition.directory($0).openReplica(writable: false).localWritePause() == nil }
        } progress: { "peers confirming each node's head" }
        return coalition
    }

    func run(_ coalition: LocalCoalition) throws -> Report {
        let began = Date()
        var ids = coalition.ids
        var replicas = try Dictionary(uniqueKeysWithValues: ids.map { ($0, try coalition.directory($0).openReplica()) })
        var rng = SplitMix64(seed: 2026)
        var written = 0

        say("\nEach member records its facilities, stocks and reserve pledges on its own node")
        for id in ids {
            let sample = SampleData.facilities(for: id)
            let facilities = sample.map { f in
                WriteIntent(table: Schema.facilities, keyParts: [f.id], kind: .create, values: [
                    "name": .text(f.name), "kind": .text(f.kind), "country": .text(id),
                    "latitude": .real(f.lat), "longitude": .real(f.lon)])
            }
            let stocks = sample.flatMap { f in f.stocks.map { s in
                WriteIntent(table: Schema.stocks, keyParts: [f.id, s.mineral, s.form], kind: .create, values: [
                    "quantity_kg": .integer(s.kg), "grade_pct": .real(s.grade), "as_of": .text("2026-11-28")])
            } }
            try replicas[id]!.commit(facilities, note: "demo: facilities")
            try replicas[id]!.commit(stocks, note: "demo: stocks")
            written += 2
            for mineral in ["Li", "Nd"] {
                try replicas[id]!.commit([WriteIntent(table: Schema.reservePledges, keyParts: ["POOL-2027", mineral, id], kind: .adjust,
                                                      values: ["share_kg": .integer(Int64(rng.next() % 50 + 10) * 1000)])],
                                         note: "demo: pledge")
                written += 1
            }
            say("  \(id): \(sample.count) facilities, \(stocks.count) stocks, pledges to POOL-2027")
        }
        // The shipment names JP's stockpile, which AU must hold before it may refer to it.
        _ = try converge(coalition, replicas, entries: written, label: "syncing")
        say("AU ships neodymium oxide from Mount Weld to Japan's Kobe stockpile")
        try replicas["AU"]!.commit([WriteIntent(table: Schema.shipments, keyParts: ["AU-SHP-0001"], kind: .create, values: [
            "mineral": .text("Nd"), "form": .text("oxide"), "quantity_kg": .integer(20_000),
            "from_facility": .text("AU-MTWELD"), "to_facility": .text("JP-KOBE"), "importer": .text("JP"),
            "carrier": .text("MV Southern Cross"), "eta": .text("2026-12-20T00:00:00Z"), "status": .text("planned")])],
            note: "demo: shipment")
        written += 1
        _ = try converge(coalition, replicas, entries: written, label: "syncing")

        say("\nJP goes offline; meanwhile, concurrently:")
        coalition.stop("JP")
        say("  AU departs the shipment and revises its ETA to 2026-12-18")
        try replicas["AU"]!.commit([WriteIntent(table: Schema.shipments, keyParts: ["AU-SHP-0001"], kind: .update, values: [
            "status": .text("in_transit"), "departed_at": .text("2026-11-29T06:00:00Z"), "eta": .text("2026-12-18T00:00:00Z")])],
            note: "demo: depart")
        say("  JP, the importer, offline, marks it loading and sets the ETA to 2026-12-21")
        try replicas["JP"]!.commit([WriteIntent(table: Schema.shipments, keyParts: ["AU-SHP-0001"], kind: .update, values: [
            "status": .text("loading"), "eta": .text("2026-12-21T00:00:00Z")])], note: "demo: importer update")
        say("  SG and AU raise their lithium pledges at the same moment")
        for id in ["SG", "AU"] {
            try replicas[id]!.commit([WriteIntent(table: Schema.reservePledges, keyParts: ["POOL-2027", "Li", id], kind: .adjust,
                                                  values: ["share_kg": .integer(5_000)])], note: "demo: pledge increase")
        }
        written += 4
        say("JP comes back online and catches up")
        try coalition.start("JP")
        var converged = try converge(coalition, replicas, entries: written, label: "converging")
        if converged, let joiner = Self.candidates.first(where: { $0.id == "CA" && !ids.contains("CA") })
            ?? Self.candidates.first(where: { c in !ids.contains(c.id) }) {
            converged = try admit(joiner, coalition, &replicas, written: &written)
        }
        ids = coalition.ids

        // Peers that redial a returning node back off for up to a few seconds.
        _ = try? waitUntil("every session re-established", limit: 15) {
            try ids.allSatisfy { id in try StatusSource(directory: coalition.directory(id)).read().0.peers.allSatisfy(\.connected) }
        } progress: { "reconnecting sessions to JP" }
        var nodes: [NodeReport] = []
        for id in ids {
            let status = try StatusSource(directory: coalition.directory(id)).read().0
            nodes.append(NodeReport(node: id, digest: try replicas[id]!.digest().hex, logEntries: status.logEntries,
                                    peersConnected: status.peers.filter(\.connected).count, peers: status.peers.count,
                                    lagEntries: status.origins.reduce(0) { $0 + $1.lagEntries }, openConflicts: status.openConflicts))
        }
        let digests = Set(nodes.map(\.digest))
        let conflicts = try replicas["AU"]!.conflicts()
        say("\nStatus of the coalition:")
        say(String(Output.render(["NODE", "PEERS", "LOG ENTRIES", "LAG", "CONFLICTS", "DIGEST"], nodes.map { n in
            [n.node, "\(n.peersConnected)/\(n.peers) connected", "\(n.logEntries)", "\(n.lagEntries)", "\(n.openConflicts)",
             String(n.digest.prefix(16)) + "…"]
        }).dropLast()))
        if converged, digests.count == 1 {
            say("\nAll \(ids.count) replicas hold the same state: digest \(digests.first!)")
        } else {
            say("\nReplicas DIFFER after \(timeout) s; see each node's serve.log under \(base)")
        }
        let shipment = try replicas["AU"]!.query("SELECT id, status, eta, departed_at FROM shipments")
        say("Shipment on every node: " + shipment.rows.map { $0.map(\.description).joined(separator: "  ") }.joined())
        let pools = try replicas["AU"]!.query("SELECT reserve_id, mineral, total_kg, members FROM pooled_reserves ORDER BY mineral")
        say("Pooled reserves: " + pools.rows.map { "\($0[0]) \($0[1]) \($0[2]) kg from \($0[3]) members" }.joined(separator: "; "))
        say("\nConflicts detected (the same on every node):")
        for c in conflicts {
            say("  \(c.table) \(c.key) \(c.field): kept \(c.winner.value ?? "NULL") (\(c.winner.entry)), lost \(c.loser.value ?? "NULL") (\(c.loser.entry)) by \(c.decision.rawValue)")
        }
        return Report(dir: base, nodes: nodes, digest: digests.count == 1 ? digests.first : nil,
                      converged: converged && digests.count == 1, seconds: Date().timeIntervalSince(began), conflicts: conflicts)
    }

    /// A member outside the coalition is admitted by quorum while it runs
    /// (PROTOCOL §3.5): its node, made from the genesis alone, is refused until the
    /// decision; then it catches up and writes. Returns whether all converge.
    private func admit(_ joiner: LocalCoalition.Member, _ coalition: LocalCoalition, _ replicas: inout [String: Replica],
                       written: inout Int) throws -> Bool {
        let founders = coalition.ids
        func roster() throws -> String {
            try coalition.directory("AU").openReplica(writable: false).roster.members.map(\.id).joined(separator: ", ")
        }
        say("\n\(joiner.name) (\(joiner.id)) asks to join. Roster before: \(try roster())")
        let join = try coalition.prepareJoiner(joiner)
        try coalition.start(joiner.id)
        say("  \(joiner.id)'s node, made from the genesis alone, runs on \(join.member.address)")
        var refusal = ""
        try? waitUntil("a member refuses \(joiner.id)", limit: 20) {
            let peers = try StatusSource(directory: join.directory).read().0.peers
            refusal = peers.first { $0.lastError?.contains("CERTIFICATE_UNKNOWN") == true }?.id ?? ""
            return !refusal.isEmpty
        } progress: { "\(joiner.id) dialing the members" }
        if !refusal.isEmpty { say("  \(refusal) refuses \(joiner.id)'s certificate at the TLS handshake: not a member") }
        let proposal = try replicas["AU"]!.propose(.admit(join.member), reason: "demo: \(joiner.name) joins")
        written += 1
        let proposed = replicas["AU"]!.governance.proposals[proposal.id]!
        say("  AU proposes admitting \(joiner.id) (\(proposal.id)); a decision needs \(proposed.needed) of the \(proposed.active.count) active members")
        var approvals = 1
        for approver in founders where approver != "AU" && approvals < proposed.needed {
            try waitUntil("\(approver) holds \(proposal.id)") {
                replicas[approver]!.governance.proposals[proposal.id] != nil || (try? replicas[approver]!.logEntry(proposal.id)) != nil
            } progress: { "\(proposal.id) reaching \(approver)" }
            try replicas[approver]!.approve(proposal.id)
            written += 1
            approvals += 1
            say("  \(approver) approves: \(approvals) of \(proposed.needed)" + (approvals < proposed.needed ? "; \(joiner.id) is still refused" : ": decided"))
        }
        try waitUntil("every member admits \(joiner.id)") {
            try founders.allSatisfy { try coalition.directory($0).openReplica(writable: false).governance.members[joiner.id]?.status == .active }
        } progress: { "the decision reaching every member" }
        try coalition.waitUntilWritable([joiner.id], timeout: timeout)
        try waitUntil("\(joiner.id) holds its own admission") {
            try join.directory.openReplica(writable: false).governance.members[joiner.id]?.status == .active
        } progress: { "\(joiner.id) catching up" }
        let node = try join.directory.openReplica()
        replicas[joiner.id] = node
        let sample = SampleData.facilities(for: joiner.id)
        try node.commit(sample.map { f in
            WriteIntent(table: Schema.facilities, keyParts: [f.id], kind: .create, values: [
                "name": .text(f.name), "kind": .text(f.kind), "country": .text(joiner.country),
                "latitude": .real(f.lat), "longitude": .real(f.lon)])
        }, note: "demo: facilities")
        written += 1
        say("  \(joiner.id) caught up and records \(sample.map(\.name).joined(separator: ", "))")
        let converged = try converge(coalition, replicas, entries: written, label: "converging with \(joiner.id)")
        say("  Roster after: \(try roster())")
        return converged
    }

    /// Waits until every node holds `entries` log entries and all digests agree, showing progress.
    private func converge(_ coalition: LocalCoalition, _ replicas: [String: Replica], entries: Int, label: String) throws -> Bool {
        var done = 0
        do {
            try waitUntil("\(label): every node holds \(entries) entries") {
                let counts = try coalition.ids.map { try replicas[$0]!.logCount() }
                done = counts.filter { $0 >= entries }.count
                guard done == counts.count else { return false }
                return Set(try coalition.ids.map { try replicas[$0]!.digest().hex }).count == 1
            } progress: { "\(label): \(done)/\(coalition.ids.count) nodes hold all \(entries) entries" }
            return true
        } catch let error as PaxsyncError where error.message.hasPrefix("timed out") {
            return false
        }
    }

    private func waitUntil(_ what: String, limit: Double? = nil, _ condition: () throws -> Bool, progress: () -> String) throws {
        let timeout = limit ?? self.timeout
        let deadline = Date().addingTimeInterval(timeout)
        let tty = !quiet && isatty(1) != 0
        var last = ""
        while try !condition() {
            guard Date() < deadline else { throw PaxsyncError(.invalidState, "timed out after \(timeout) s", subject: what) }
            let text = progress()
            if tty { FileHandle.standardOutput.write(Data("\r\u{1B}[K\(text)".utf8)) } else if text != last { say(text) }
            last = text
            Thread.sleep(forTimeInterval: 0.05)
        }
        if tty { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        say("  \(progress()) ✓")
    }
}

/// Sample facilities and stocks for the founding members.
enum SampleData {
    struct Facility {
        let id: String
        let name: String
        let kind: String
        let lat: Double
        let lon: Double
        let stocks: [(mineral: String, form: String, kg: Int64, grade: Double)]
    }

    static func facilities(for member: String) -> [Facility] {
        switch member {
        case "AU": [
            Facility(id: "AU-MTWELD", name: "Mount Weld", kind: "mine", lat: -28.86, lon: 122.55,
                     stocks: [("Nd", "concentrate", 450_000, 40.0), ("Pr", "concentrate", 120_000, 38.5)]),
            Facility(id: "AU-KWINANA", name: "Kwinana Lithium Refinery", kind: "refinery", lat: -32.23, lon: 115.77,
                     stocks: [("Li", "oxide", 310_000, 99.5)]),
        ]
        case "JP": [
            Facility(id: "JP-KOBE", name: "Kobe Port Stockpile", kind: "stockpile", lat: 34.68, lon: 135.19,
                     stocks: [("Nd", "oxide", 80_000, 99.0), ("Dy", "oxide", 6_000, 99.5)]),
            Facility(id: "JP-OITA", name: "Oita Magnet Works", kind: "manufacturing", lat: 33.24, lon: 131.61,
                     stocks: [("Nd", "magnet", 25_000, 100.0)]),
        ]
        case "KR": [
            Facility(id: "KR-ULSAN", name: "Ulsan Refinery", kind: "refinery", lat: 35.54, lon: 129.31,
                     stocks: [("Ni", "metal", 210_000, 99.8), ("Co", "metal", 40_000, 99.8)]),
            Facility(id: "KR-GWANGYANG", name: "Gwangyang Cathode Plant", kind: "processing_plant", lat: 34.94, lon: 127.70,
                     stocks: [("Li", "oxide", 150_000, 99.5)]),
        ]
        case "SG": [
            Facility(id: "SG-JURONG", name: "Jurong Island Terminal", kind: "port", lat: 1.27, lon: 103.70,
                     stocks: [("graphite", "concentrate", 500_000, 95.0), ("Ga", "metal", 2_000, 99.99)]),
        ]
        case "IL": [
            Facility(id: "IL-ASHDOD", name: "Ashdod Port", kind: "port", lat: 31.82, lon: 34.64,
                     stocks: [("Mg", "metal", 90_000, 99.9)]),
            Facility(id: "IL-DIMONA", name: "Rotem Processing Plant", kind: "processing_plant", lat: 31.07, lon: 35.03,
                     stocks: [("Ge", "oxide", 1_500, 99.99), ("Sb", "metal", 12_000, 99.6)]),
        ]
        case "NZ": [
            Facility(id: "NZ-TAURANGA", name: "Port of Tauranga", kind: "port", lat: -37.64, lon: 176.18,
                     stocks: [("Mn", "ore", 60_000, 44.0)]),
        ]
        case "CA": [
            Facility(id: "CA-SUDBURY", name: "Sudbury Smelter", kind: "refinery", lat: 46.49, lon: -80.99,
                     stocks: [("Ni", "metal", 180_000, 99.8), ("Co", "metal", 9_000, 99.3)]),
        ]
        case "IN": [
            Facility(id: "IN-VIZAG", name: "Visakhapatnam Rare Earths", kind: "processing_plant", lat: 17.69, lon: 83.22,
                     stocks: [("Nd", "oxide", 14_000, 99.0)]),
        ]
        case "DE": [
            Facility(id: "DE-HAMBURG", name: "Hamburg Metals Terminal", kind: "port", lat: 53.54, lon: 9.97,
                     stocks: [("W", "concentrate", 7_500, 65.0)]),
        ]
        case "FR": [
            Facility(id: "FR-LAROCHELLE", name: "La Rochelle Separation Plant", kind: "processing_plant", lat: 46.16, lon: -1.15,
                     stocks: [("Dy", "oxide", 1_200, 99.9), ("Tb", "oxide", 400, 99.9)]),
        ]
        default: []
        }
    }
}
