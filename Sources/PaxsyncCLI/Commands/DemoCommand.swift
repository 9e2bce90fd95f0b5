import ArgumentParser
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a local coalition of the five founding members and show it converge.",
        discussion: """
            Creates five nodes (SG, AU, JP, KR, IL) with keys and a shared roster under
            --dir, writes sample facilities, stocks, shipments and reserve pledges at
            each, makes one deliberately concurrent edit of a shipment, exchanges the
            signed logs between the nodes in random order, and prints every node's
            state digest (all equal), the pooled reserves and the conflict it detected.
            Until peer sync lands, nodes exchange their logs in-process as bundles would.

            Example:
              paxsync demo --dir /tmp/coalition
              PAXSYNC_DATA_DIR=/tmp/coalition/AU paxsync conflicts
            """)

    @Option(help: ArgumentHelp("Directory for the nodes (default: a new temporary directory).", valueName: "DIR")) var dir: String?
    @Option(help: "Random seed for the exchange order.") var seed: UInt64?
    @OptionGroup var json: JSONFlag

    func run() throws {
        let base = dir ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("paxsync-demo-\(ProcessInfo.processInfo.processIdentifier)")
        let seed = seed ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let report = try CoalitionDemo(base: base, seed: seed, say: json.enabled ? { _ in } : { print($0) }).run()
        if json.enabled { Output.json(report) }
    }
}

/// The walk-through behind `paxsync demo`.
struct CoalitionDemo {
    struct Report: Codable {
        let dir: String
        let seed: UInt64
        let digests: [String: String]
        let converged: Bool
        let conflicts: [Conflict]
    }

    static let founders: [(id: String, name: String)] = [
        ("SG", "Singapore"), ("AU", "Australia"), ("JP", "Japan"), ("KR", "South Korea"), ("IL", "Israel"),
    ]

    let base: String
    let seed: UInt64
    let say: (String) -> Void

    func run() throws -> Report {
        var rng = SplitMix64(seed: seed)
        let keys = Dictionary(uniqueKeysWithValues: Self.founders.map { ($0.id, NodeSigningKey()) })
        let roster = Roster(coalition: "Critical Minerals Coalition (demo)", members: Self.founders.enumerated().map { i, m in
            RosterMember(id: m.id, country: m.id, name: m.name, signingKey: keys[m.id]!.publicKeyBase64, address: "127.0.0.1:\(7401 + i)")
        })
        say("Creating the coalition in \(base) (seed \(seed))")
        var nodes: [String: Replica] = [:]
        for m in Self.founders {
            let dir = try NodeDirectory.initialize(path: (base as NSString).appendingPathComponent(m.id), nodeID: m.id, country: m.id,
                                                   name: m.name, address: roster.member(m.id)!.address, roster: roster, key: keys[m.id]!)
            nodes[m.id] = try dir.openReplica()
            say("  node \(m.id) (\(m.name)): \(dir.path)")
        }
        let ids = Self.founders.map(\.id)

        say("\nEach member records its facilities, stocks and reserve pledges")
        for id in ids {
            let sample = SampleData.facilities(for: id)
            var intents = sample.map { f in
                WriteIntent(table: Schema.facilities, keyParts: [f.id], kind: .create, values: [
                    "name": .text(f.name), "kind": .text(f.kind), "country": .text(id),
                    "latitude": .real(f.lat), "longitude": .real(f.lon)])
            }
            try nodes[id]!.commit(intents, note: "demo: facilities")
            intents = sample.flatMap { f in f.stocks.map { s in
                WriteIntent(table: Schema.stocks, keyParts: [f.id, s.mineral, s.form], kind: .create, values: [
                    "quantity_kg": .integer(s.kg), "grade_pct": .real(s.grade), "as_of": .text("2026-11-28")])
            } }
            try nodes[id]!.commit(intents, note: "demo: stocks")
            for mineral in ["Li", "Nd"] {
                try nodes[id]!.commit([WriteIntent(table: Schema.reservePledges, keyParts: ["POOL-2027", mineral, id], kind: .adjust,
                                                   values: ["share_kg": .integer(Int64(rng.next() % 50 + 10) * 1000)])],
                                      note: "demo: pledge")
            }
            say("  \(id): \(sample.count) facilities, \(sample.reduce(0) { $0 + $1.stocks.count }) stocks, pledges to POOL-2027")
        }
        try exchange(nodes, ids, &rng, round: "first exchange")

        say("\nAU ships neodymium oxide to Japan")
        try nodes["AU"]!.commit([WriteIntent(table: Schema.shipments, keyParts: ["AU-SHP-0001"], kind: .create, values: [
            "mineral": .text("Nd"), "form": .text("oxide"), "quantity_kg": .integer(20_000),
            "from_facility": .text("AU-MTWELD"), "to_facility": .text("JP-KOBE"), "importer": .text("JP"),
            "carrier": .text("MV Southern Cross"), "eta": .text("2026-12-20T00:00:00Z"), "status": .text("planned")])],
            note: "demo: shipment")
        try exchange(nodes, ids, &rng, round: "second exchange")

        say("\nConcurrently, before they exchange again:")
        say("  AU departs the shipment and revises its ETA to 2026-12-18")
        try nodes["AU"]!.commit([WriteIntent(table: Schema.shipments, keyParts: ["AU-SHP-0001"], kind: .update, values: [
            "status": .text("in_transit"), "departed_at": .text("2026-11-29T06:00:00Z"), "eta": .text("2026-12-18T00:00:00Z")])],
            note: "demo: depart")
        say("  JP, the importer, marks it loading and sets the ETA to 2026-12-21")
        try nodes["JP"]!.commit([WriteIntent(table: Schema.shipments, keyParts: ["AU-SHP-0001"], kind: .update, values: [
            "status": .text("loading"), "eta": .text("2026-12-21T00:00:00Z")])], note: "demo: importer update")
        say("  KR and SG raise their lithium pledges at the same time")
        for id in ["KR", "SG"] {
            try nodes[id]!.commit([WriteIntent(table: Schema.reservePledges, keyParts: ["POOL-2027", "Li", id], kind: .adjust,
                                               values: ["share_kg": .integer(5_000)])], note: "demo: pledge increase")
        }
        try exchange(nodes, ids, &rng, round: "final exchange")

        var digests: [String: String] = [:]
        say("\nState digests:")
        for id in ids {
            digests[id] = try nodes[id]!.digest().hex
            say("  \(id)  \(digests[id]!)")
        }
        let converged = Set(digests.values).count == 1
        say(converged ? "All five replicas hold the same state." : "Replicas DIFFER.")

        let au = nodes["AU"]!
        let shipment = try au.query("SELECT id, status, eta, departed_at FROM shipments")
        say("\nShipment on every node: " + shipment.rows.map { $0.map(\.description).joined(separator: "  ") }.joined())
        let pools = try au.query("SELECT reserve_id, mineral, total_kg, members FROM pooled_reserves ORDER BY mineral")
        say("Pooled reserves: " + pools.rows.map { "\($0[0]) \($0[1]) \($0[2]) kg from \($0[3]) members" }.joined(separator: "; "))
        let conflicts = try au.conflicts()
        say("\nConflicts detected (the same on every node):")
        for c in conflicts {
            say("  \(c.table) \(c.key) \(c.field): kept \(c.winner.value ?? "NULL") (\(c.winner.entry)), lost \(c.loser.value ?? "NULL") (\(c.loser.entry)) by \(c.decision)")
        }
        say("\nTry: PAXSYNC_DATA_DIR=\((base as NSString).appendingPathComponent("JP")) paxsync explain shipments AU-SHP-0001")
        if !converged { throw PaxsyncError(.invalidState, "the demo replicas did not converge", subject: base) }
        return Report(dir: base, seed: seed, digests: digests, converged: converged, conflicts: conflicts)
    }

    /// Every node receives every other node's log, in a random order of pairs.
    private func exchange(_ nodes: [String: Replica], _ ids: [String], _ rng: inout SplitMix64, round: String) throws {
        var pairs = ids.flatMap { a in ids.filter { $0 != a }.map { (a, $0) } }
        pairs.shuffle(using: &rng)
        var applied = 0
        for (from, to) in pairs {
            var entries: [SignedEntry] = []
            try nodes[from]!.forEachLoggedEntry { entry, _ in entries.append(entry); return true }
            applied += try nodes[to]!.apply(entries).filter { $0 == .applied }.count
        }
        say("  \(round): \(pairs.count) log transfers, \(applied) entries applied")
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
        default: []
        }
    }
}
