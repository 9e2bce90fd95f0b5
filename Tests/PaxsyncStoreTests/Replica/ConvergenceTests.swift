import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// Random histories of concurrent edits by 3–7 members, each member writing on
/// its own replica from its own view and now and then pulling a peer's log.
struct Simulation {
    static let pool = ["AU", "JP", "KR", "SG", "IL", "NZ", "CA"]

    var rng: SplitMix64
    let coalition: TestCoalition
    let dir: TemporaryDirectory
    var nodes: [String: Replica] = [:]
    var clocks: [String: ManualClock] = [:]
    var counter = 0

    init(seed: UInt64, dir: TemporaryDirectory) throws {
        rng = SplitMix64(seed: seed)
        let count = Int(rng.next() % 5) + 3
        coalition = TestCoalition(Array(Self.pool.prefix(count)), seed: UInt8(seed % 200))
        self.dir = dir
        for id in coalition.ids {
            let clock = ManualClock(milliseconds: TestTime.start + rng.next() % 5)
            clocks[id] = clock
            nodes[id] = try coalition.replica(id, in: dir, clock: clock)
        }
    }

    mutating func pick<T>(_ items: [T]) -> T? { items.isEmpty ? nil : items[Int(rng.next() % UInt64(items.count))] }

    func strings(_ node: Replica, _ sql: String) throws -> [String] {
        try node.query(sql).rows.map { $0[0].description }
    }

    /// One step: a member writes something valid in its view, or pulls a peer's log.
    mutating func step() throws {
        let id = pick(coalition.ids)!
        let node = nodes[id]!
        clocks[id]!.advance(by: rng.next() % 3)
        counter += 1
        let roll = rng.next() % 100
        if roll < 15 {
            let peer = pick(coalition.ids.filter { $0 != id })!
            try node.apply(try nodes[peer]!.allEntries())
            return
        }
        let own = try strings(node, "SELECT id FROM facilities WHERE owner = '\(id)' ORDER BY id")
        let shipments = try node.query("SELECT id, exporter, importer, status FROM shipments ORDER BY id").rows
            .filter { $0[1].text == id || $0[2].text == id }
        var intents: [WriteIntent] = []
        switch roll {
        case 15..<25:
            intents = [Records.facility("\(id)-F\(counter)", name: "Site \(counter)")]
        case 25..<32:
            if let f = pick(own) { intents = [Records.update(Schema.facilities, [f], ["name": .text("Renamed \(counter)")])] }
        case 32..<45:
            if let f = pick(own) { intents = [Records.stock(f, pick(["Li", "Nd", "Co"])!, kg: Int64(rng.next() % 10_000))] }
        case 45..<48:
            let stocks = try node.query("SELECT facility_id, mineral, form FROM stocks WHERE facility_id LIKE '\(id)-%'").rows
            if let s = pick(stocks) {
                intents = [WriteIntent(table: Schema.stocks, keyParts: s.map(\.description), kind: .delete)]
            }
        case 48..<58:
            let others = try strings(node, "SELECT id FROM facilities WHERE owner != '\(id)' ORDER BY id")
            if let from = pick(own), let to = pick(others) {
                intents = [Records.shipment("\(id)-S\(counter)", from: from, to: to, importer: Identifier.namespace(of: to)!)]
            }
        case 58..<72:
            if let s = pick(shipments) {
                intents = [Records.update(Schema.shipments, [s[0].description], ["eta": .text("2026-12-\(10 + rng.next() % 18)T00:00:00Z")])]
            }
        case 72..<85:
            if let s = pick(shipments) {
                let exporter = s[1].text == id
                let choices = exporter ? ["loading", "in_transit", "arrived", "cancelled"] : ["loading", "in_transit", "arrived", "received"]
                intents = [Records.update(Schema.shipments, [s[0].description], ["status": .text(pick(choices)!)])]
            }
        case 85..<88:
            if let s = pick(shipments.filter { $0[1].text == id }) {
                intents = [WriteIntent(table: Schema.shipments, keyParts: [s[0].description], kind: .delete)]
            }
        default:
            let delta = Int64(rng.next() % 2000) - 600
            intents = [Records.pledge("POOL", pick(["Li", "Nd"])!, member: id, adjust: delta == 0 ? 1 : delta)]
        }
        guard !intents.isEmpty else { return }
        do { try node.commit(intents) } catch is PaxsyncError {
            // Refused in this member's view (a backwards status, a share below zero): not written.
        }
    }

    /// Every entry written anywhere, once.
    func union() throws -> [SignedEntry] {
        var seen = Set<EntryID>()
        var out: [SignedEntry] = []
        for id in coalition.ids {
            for e in try nodes[id]!.allEntries() where seen.insert(e.id).inserted { out.append(e) }
        }
        return out
    }
}

/// The seeds a run uses: $PAXSYNC_SEED alone when set (to replay a failure), else fixed ones plus a fresh one.
func seeds(_ fixed: [UInt64]) -> [UInt64] {
    if let env = ProcessInfo.processInfo.environment["PAXSYNC_SEED"], let seed = UInt64(env) { return [seed] }
    return fixed + [UInt64.random(in: 1...UInt64(UInt32.max))]
}

@Suite("Convergence")
struct ConvergenceTests {
    @Test("random histories converge to one digest and one conflict set in any delivery order, with duplicates",
          arguments: seeds([1, 2, 3, 4, 5, 6, 7, 8]))
    func anyOrder(seed: UInt64) throws {
        print("convergence seed \(seed) (replay with PAXSYNC_SEED=\(seed))")
        let dir = TemporaryDirectory()
        var sim = try Simulation(seed: seed, dir: dir)
        for _ in 0..<220 { try sim.step() }
        let all = try sim.union()

        // Reference: the members themselves after exchanging everything.
        for id in sim.coalition.ids { try sim.nodes[id]!.apply(all) }
        let reference = sim.nodes[sim.coalition.ids[0]]!
        let digest = try reference.digest().hex
        let conflicts = try reference.conflicts()
        let records = try reference.digest().rows
        print("seed \(seed): \(sim.coalition.ids.count) members, \(all.count) entries, \(records) records, \(conflicts.count) open conflicts")
        #expect(all.count > 40, "the history is too thin to test anything, seed \(seed)")
        for id in sim.coalition.ids {
            #expect(try sim.nodes[id]!.digest().hex == digest, "member \(id), seed \(seed)")
            #expect(try sim.nodes[id]!.conflicts() == conflicts, "member \(id), seed \(seed)")
            #expect(try sim.nodes[id]!.held().isEmpty && sim.nodes[id]!.quarantined().isEmpty, "seed \(seed)")
        }

        // Fresh replicas fed the same entries in shuffled orders, with duplicates, in random batches.
        var rng = SplitMix64(seed: seed ^ 0xABCDEF)
        for round in 0..<4 {
            let observer = try sim.coalition.replica(sim.coalition.ids[0], in: dir)
            var feed = all + (0..<all.count / 4).map { _ in all[Int(rng.next() % UInt64(all.count))] }
            feed.shuffle(using: &rng)
            var i = 0
            while i < feed.count {
                let n = Int(rng.next() % 7) + 1
                try observer.apply(Array(feed[i..<min(i + n, feed.count)]))
                i += n
            }
            #expect(try observer.digest().hex == digest, "round \(round), seed \(seed)")
            #expect(try observer.conflicts() == conflicts, "round \(round), seed \(seed)")
            #expect(try observer.held().isEmpty, "round \(round), seed \(seed)")
            #expect(try observer.logCount() == all.count)
        }
    }

    @Test("entries split among replicas that exchange them pairwise in random order converge",
          arguments: seeds([11, 12, 13]))
    func splitAndGossip(seed: UInt64) throws {
        print("gossip seed \(seed) (replay with PAXSYNC_SEED=\(seed))")
        let dir = TemporaryDirectory()
        var sim = try Simulation(seed: seed, dir: dir)
        for _ in 0..<100 { try sim.step() }
        let all = try sim.union()
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        let replicas = try sim.coalition.ids.map { try sim.coalition.replica($0, in: dir) }
        for entry in all.shuffled(using: &rng) {
            try replicas[Int(rng.next() % UInt64(replicas.count))].apply([entry])
        }
        var rounds = 0
        while try replicas.contains(where: { try $0.logCount() < all.count }) {
            let a = replicas[Int(rng.next() % UInt64(replicas.count))]
            let b = replicas[Int(rng.next() % UInt64(replicas.count))]
            try b.apply(try a.allEntries().shuffled(using: &rng))
            rounds += 1
            try #require(rounds < 500, "no convergence after 500 exchanges, seed \(seed)")
        }
        let digest = try replicas[0].digest().hex
        let conflicts = try replicas[0].conflicts()
        for r in replicas {
            #expect(try r.digest().hex == digest, "seed \(seed)")
            #expect(try r.conflicts() == conflicts, "seed \(seed)")
        }
    }

    @Test("concurrent pledge adjustments all count: no lost update")
    func noLostUpdate() throws {
        let dir = TemporaryDirectory()
        let coalition = TestCoalition(["AU", "JP", "KR", "SG"])
        let nodes = try coalition.ids.map { try coalition.replica($0, in: dir) }
        var expected: Int64 = 0
        var rng = SplitMix64(seed: 77)
        for round in 0..<25 {
            for (i, node) in nodes.enumerated() {
                let delta = Int64(rng.next() % 1000) + 1
                try node.commit([Records.pledge("POOL", "Li", member: coalition.ids[i], adjust: delta)])
                expected += delta
                if round % 5 == 4 {
                    let withdraw = -delta / 2
                    try node.commit([Records.pledge("POOL", "Li", member: coalition.ids[i], adjust: withdraw)])
                    expected += withdraw
                }
            }
        }
        let all = try nodes.flatMap { try $0.allEntries() }
        for node in nodes { try node.apply(all.shuffled(using: &rng)) }
        for node in nodes {
            #expect(try node.query("SELECT total_kg FROM pooled_reserves WHERE reserve_id = 'POOL'").rows == [[.integer(expected)]])
        }
    }
}
