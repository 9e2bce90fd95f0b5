import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// The state vector of Protocol/test-vectors.json: AU and JP write, each
/// seeing part of the other's log, so that the merged state has a row in every
/// table, nulls, a real written as −0.0, a whole real, non-ASCII text, a
/// deleted record, a pledge adjusted back to zero and an open conflict.
///
/// The entries come from real local writes; the rows and the conflict the log
/// must merge to are written out here by hand from PROTOCOL.md §8, so the
/// vector checks the merge and the digest rather than restating them.
enum StateVectorScenario {
    static let description = """
        A log of AU and JP (keys under members), to apply in the order given to a replica that holds nothing. \
        AU:1 creates two facilities; AU:2 four stocks and AU's pledge (+5000); JP:1 (written before JP had any AU entry) \
        the facility JP-KOBE and JP's pledge (+2000); AU:3 a shipment to JP-KOBE. Then, concurrently, AU:4 sets the \
        shipment's eta and status, deletes the stock AU-MTWELD/Dy/metal and adjusts AU's pledge by -1500, while JP:2 \
        (which had AU:1-3 but not AU:4) sets the same eta to another time and adjusts JP's pledge by -2000. \
        tables gives every live row in §9 order (the stock AU-MTWELD/Pr/oxide's grade was written as -0.0 and is \
        encoded as +0.0; JP's pledge sums to 0 and is a row), conflicts the one open conflict (eta: JP:2 has the \
        higher stamp and wins, AU:4's concurrent write lost), digestHex the §9 digest.
        """

    /// The live rows the log merges to, in §9 order (key columns compared one by one as bytes).
    static let tables: [TestVectors.TableRows] = [
        .init(name: "facilities", columns: SpecDigest.columns["facilities"]!, rows: [
            ["S:AU-MTWELD", "S:AU", "S:Mount Weld", "S:mine", "S:AU", "F:-28.86", "F:122.55"],
            ["S:AU-MTWELD-2", "S:AU", "S:Mount Weld North", "S:mine", "S:AU", "F:-28.8", "F:122.5"],
            ["S:JP-KOBE", "S:JP", "S:神戸港", "S:port", "S:JP", "F:34.68", "F:135.0"],
        ]),
        .init(name: "stocks", columns: SpecDigest.columns["stocks"]!, rows: [
            ["S:AU-MTWELD", "S:Nd", "S:oxide", "I:1200", "F:99.5", "S:2026-11-28"],
            ["S:AU-MTWELD", "S:Pr", "S:oxide", "I:300", "F:-0.0", "S:2026-11-28"],
            ["S:AU-MTWELD-2", "S:Nd", "S:oxide", "I:800", "N", "S:2026-11-28"],
        ]),
        .init(name: "shipments", columns: SpecDigest.columns["shipments"]!, rows: [
            ["S:AU-SHP-1", "S:AU", "S:Nd", "S:oxide", "I:2000", "S:AU-MTWELD", "S:JP-KOBE", "S:JP",
             "N", "N", "S:2026-12-21T00:00:00Z", "N", "S:loading"],
        ]),
        .init(name: "reserve_pledges", columns: SpecDigest.columns["reserve_pledges"]!, rows: [
            ["S:POOL-2027", "S:Li", "S:AU", "I:3500"],
            ["S:POOL-2027", "S:Li", "S:JP", "I:0"],
        ]),
    ]

    /// The open conflicts the log leaves (§8.3).
    static let conflicts: [TestVectors.StateVector.Conflict] = [
        .init(table: "shipments", key: "AU-SHP-1", field: "eta", decision: "last-writer-wins",
              winnerEntry: "JP:2", winnerValue: "2026-12-21T00:00:00Z", loserEntry: "AU:4", loserValue: "2026-12-22T00:00:00Z"),
    ]

    struct ScenarioFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Writes the scenario on two replicas and returns the log in causal order.
    static func entries(_ c: TestCoalition) throws -> [SignedEntry] {
        let dir = TemporaryDirectory("paxsync-vectors")
        let auClock = ManualClock(milliseconds: TestTime.start + 1_000)
        let jpClock = ManualClock(milliseconds: TestTime.start + 1_500)
        let au = try c.replica("AU", in: dir, clock: auClock)
        let jp = try c.replica("JP", in: dir, clock: jpClock)
        func write(_ replica: Replica, _ intents: [WriteIntent]) throws -> SignedEntry {
            guard let entry = try replica.commit(intents) else {
                throw ScenarioFailure(description: "\(replica.nodeID)'s write changed nothing")
            }
            return entry
        }
        func deliver(_ entries: [SignedEntry], to replica: Replica) throws {
            let outcomes = try replica.apply(entries)
            guard outcomes.allSatisfy({ $0 == .applied }) else {
                throw ScenarioFailure(description: "\(replica.nodeID) did not apply \(entries.map(\.id)): \(outcomes)")
            }
        }
        let shipment = ["AU-SHP-1"]

        let au1 = try write(au, [
            Records.facility("AU-MTWELD", name: "Mount Weld", lat: -28.86, lon: 122.55),
            Records.facility("AU-MTWELD-2", name: "Mount Weld North", lat: -28.8, lon: 122.5),
        ])
        auClock.advance(by: 100)
        let au2 = try write(au, [
            Records.stock("AU-MTWELD", "Nd", "oxide", kg: 1200, grade: 99.5),
            Records.stock("AU-MTWELD", "Pr", "oxide", kg: 300, grade: -0.0),
            Records.stock("AU-MTWELD", "Dy", "metal", kg: 5, grade: 99.9),
            Records.stock("AU-MTWELD-2", "Nd", "oxide", kg: 800, grade: nil),
            Records.pledge("POOL-2027", "Li", member: "AU", adjust: 5_000),
        ])
        let jp1 = try write(jp, [
            Records.facility("JP-KOBE", name: "神戸港", kind: "port", country: "JP", lat: 34.68, lon: 135),
            Records.pledge("POOL-2027", "Li", member: "JP", adjust: 2_000),
        ])
        try deliver([jp1], to: au)
        try deliver([au1, au2], to: jp)

        auClock.set(TestTime.start + 2_000)
        let au3 = try write(au, [Records.shipment("AU-SHP-1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP", kg: 2_000,
                                                  eta: "2026-12-20T00:00:00Z")])
        try deliver([au3], to: jp)

        // Concurrent: neither has the other's next entry.
        auClock.set(TestTime.start + 3_000)
        let au4 = try write(au, [
            Records.update(Schema.shipments, shipment, ["eta": .text("2026-12-22T00:00:00Z"), "status": .text("loading")]),
            WriteIntent(table: Schema.stocks, keyParts: ["AU-MTWELD", "Dy", "metal"], kind: .delete),
            Records.pledge("POOL-2027", "Li", member: "AU", adjust: -1_500),
        ])
        jpClock.set(TestTime.start + 3_500)
        let jp2 = try write(jp, [
            Records.update(Schema.shipments, shipment, ["eta": .text("2026-12-21T00:00:00Z")]),
            Records.pledge("POOL-2027", "Li", member: "JP", adjust: -2_000),
        ])
        try deliver([jp2], to: au)
        try deliver([au4], to: jp)
        guard try au.digest() == jp.digest() else {
            throw ScenarioFailure(description: "AU and JP hold the same entries but their digests differ")
        }
        return [au1, au2, jp1, au3, au4, jp2]
    }
}

/// Replays the committed state vector on a node that wrote none of it and
/// compares what it holds with what the vector says, cell by cell.
@Suite("State vector replayed")
struct StateVectorReplayTests {
    let dir = TemporaryDirectory("paxsync-state-vector")
    /// AU and JP with the vectors' keys, and KR, a node that only receives.
    let coalition = TestCoalition(["AU", "JP", "KR"], seed: 42)

    func observer() throws -> Replica {
        let v = try loadVectors()
        for member in v.members {
            #expect(coalition.roster.member(member.id)?.publicKeyBytes.hex == member.publicKeyHex, "\(member.id)'s key")
        }
        return try coalition.replica("KR", in: dir)
    }

    static func value(_ cell: String) throws -> FieldValue {
        switch try SpecDigest.cell(cell) {
        case .null: .null
        case .integer(let i): .integer(i)
        case .real(let d): .real(d)
        case .text(let s): .text(s)
        }
    }

    /// What the replica holds against what the vector says: rows, conflicts, digest.
    func check(_ replica: Replica, against v: TestVectors.StateVector) throws {
        for table in v.tables {
            let spec = try #require(Schema.table(named: table.name))
            let held = try replica.query("SELECT \(spec.columns.joined(separator: ", ")) FROM \(spec.name) "
                                         + "ORDER BY \(spec.key.map(\.name).joined(separator: ", "))").rows
            // Cell by cell, of the same kind: a whole real (135.0) is not the integer 135.
            let expected = try table.rows.map { try $0.map(Self.value) }
            #expect(held == expected, "\(table.name)")
        }
        let conflicts = try replica.conflicts().map { c in
            TestVectors.StateVector.Conflict(table: c.table, key: c.key, field: c.field, decision: c.decision.rawValue,
                                             winnerEntry: c.winner.entry, winnerValue: c.winner.value ?? "",
                                             loserEntry: c.loser.entry, loserValue: c.loser.value ?? "")
        }
        #expect(conflicts == v.conflicts)
        #expect(try replica.digest().hex == v.digestHex)
    }

    @Test("applied in the given order, the log merges to the vector's rows and conflict, and its digest")
    func inOrder() throws {
        let v = try loadVectors().state
        let kr = try observer()
        for e in v.entries {
            let outcome = try kr.applyReceived(body: try #require([UInt8](hex: e.bodyHex)),
                                               signature: try #require([UInt8](hex: e.signatureHex)))
            #expect(outcome == .applied, "\(e.entry)")
        }
        try check(kr, against: v)
        #expect(try kr.digest().rows == v.tables.reduce(0) { $0 + $1.rows.count })
    }

    @Test("applied last entry first, held entries are released and the log merges to the same state")
    func reversed() throws {
        let v = try loadVectors().state
        let kr = try observer()
        for e in v.entries.reversed() {
            _ = try kr.applyReceived(body: try #require([UInt8](hex: e.bodyHex)), signature: try #require([UInt8](hex: e.signatureHex)))
        }
        #expect(try kr.held().isEmpty && kr.quarantined().isEmpty)
        #expect(try kr.logCount() == v.entries.count)
        try check(kr, against: v)
    }
}
