import Foundation
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("paxsync import --table shipments")
struct ShipmentImportTests {
    static let header = "id,mineral,form,quantity_kg,from_facility,to_facility,importer,carrier,departed_at,eta,arrived_at,status\n"

    /// AU holds its mine AU-MTWELD and JP's port JP-KOBE (from JP's own entry).
    static func node() throws -> CoalitionNode {
        let node = try CoalitionNode("AU")
        let au = try node.replica()
        let (jp, _) = try node.member("JP", at: TestTime.start)
        try au.commit([Records.facility("AU-MTWELD", name: "Mount Weld", lat: -28.86, lon: 122.55)])
        try jp.commit([Records.facility("JP-KOBE", name: "Kobe", kind: "port", country: "JP", lat: 34.68, lon: 135.19)])
        try au.apply(try jp.allEntries())
        return node
    }

    func write(_ node: CoalitionNode, _ csv: String) throws -> String {
        let path = node.dir.file("ships.csv")
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("every row lands as a shipment with exactly its values, in one signed entry")
    func rowsLand() async throws {
        let node = try Self.node()
        let csv = Self.header
            + "AU-SHP-1,Nd,oxide,20000,AU-MTWELD,JP-KOBE,JP,\"MV Pacific, Hold 2\",,2026-12-20T00:00:00Z,,planned\n"
            + "AU-SHP-2,Li,concentrate,5000,AU-MTWELD,JP-KOBE,JP,,2026-12-01T08:00:00Z,2026-12-15T00:00:00Z,,loading\n"
            + "AU-SHP-3,Co,metal,1,AU-MTWELD,JP-KOBE,JP,,,,,planned\n"
        let out = try await node.paxsync.ok(["import", "--table", "shipments", "--json", "--quiet", try write(node, csv)])
        let summary = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        #expect(summary["table"] as? String == "shipments")
        #expect(summary["rows"] as? Int == 3 && summary["changed"] as? Int == 3)
        #expect(summary["entries"] as? [String] == ["AU:2"])

        let replica = try node.directory.openReplica(writable: false)
        let rows = try replica.query("""
            SELECT id, exporter, mineral, form, quantity_kg, from_facility, to_facility, importer, carrier,
                   departed_at, eta, arrived_at, status FROM shipments ORDER BY id
            """).rows
        #expect(rows == [
            [.text("AU-SHP-1"), .text("AU"), .text("Nd"), .text("oxide"), .integer(20000), .text("AU-MTWELD"), .text("JP-KOBE"),
             .text("JP"), .text("MV Pacific, Hold 2"), .null, .text("2026-12-20T00:00:00Z"), .null, .text("planned")],
            [.text("AU-SHP-2"), .text("AU"), .text("Li"), .text("concentrate"), .integer(5000), .text("AU-MTWELD"), .text("JP-KOBE"),
             .text("JP"), .null, .text("2026-12-01T08:00:00Z"), .text("2026-12-15T00:00:00Z"), .null, .text("loading")],
            [.text("AU-SHP-3"), .text("AU"), .text("Co"), .text("metal"), .integer(1), .text("AU-MTWELD"), .text("JP-KOBE"),
             .text("JP"), .null, .null, .null, .null, .text("planned")],
        ])
        let entry = try #require(try replica.allEntries().last)
        #expect(entry.id.description == "AU:2" && entry.changeSet.changes.map(\.key) == ["AU-SHP-1", "AU-SHP-2", "AU-SHP-3"])
        #expect(entry.changeSet.note == "import shipments from ships.csv")

        // What export writes imports back as no change.
        let exported = try await node.paxsync.ok(["export", "--table", "shipments"])
        #expect(exported.hasPrefix("id,exporter,mineral,form,quantity_kg,from_facility,to_facility,importer,carrier,departed_at,eta,arrived_at,status\n"))
        let again = try await node.paxsync.ok(["import", "--table", "shipments", "--json", "--quiet", try write(node, exported)])
        let second = try JSONSerialization.jsonObject(with: Data(again.utf8)) as! [String: Any]
        #expect(second["rows"] as? Int == 3 && second["changed"] as? Int == 0 && second["entries"] as? [String] == [])
    }

    @Test("a bad row is refused naming its line and column, and nothing is written", arguments: [
        ("AU-SHP-2,Nd,oxide,-5,AU-MTWELD,JP-KOBE,JP,,,,,planned\n", "ships.csv:3: column quantity_kg"),
        ("AU-SHP-2,Nd,powder,5,AU-MTWELD,JP-KOBE,JP,,,,,planned\n", "ships.csv:3: column form"),
        ("AU-SHP-2,Nd,oxide,5,AU-MTWELD,JP-KOBE,JP,,,tomorrow,,planned\n", "ships.csv:3: column eta"),
        ("AU-SHP-2,Nd,oxide,5,AU-MTWELD,JP-KOBE,JP,,,,,teleported\n", "ships.csv:3: column status"),
        ("JP-SHP-2,Nd,oxide,5,JP-KOBE,AU-MTWELD,AU,,,,,planned\n", "ships.csv:3: shipments JP-SHP-2 belongs to JP"),
        ("AU-SHP-2,Nd,oxide,5,AU-MTWELD,JP-KOBE,JP,,,,planned\n", "ships.csv:3: has 11 fields; the header has 12"),
        ("AU-SHP-1,Nd,oxide,5,AU-MTWELD,JP-KOBE,JP,,,,,planned\n", "ships.csv:3: shipments AU-SHP-1 appears again (first on line 2)"),
        ("AU-SHP-2,Nd,oxide,5,AU-MTWELD,JP-NOWHERE,JP,,,,,planned\n", "ships.csv:3: shipments AU-SHP-2: field to_facility: facility JP-NOWHERE does not exist in this replica"),
        ("AU-SHP-2,Nd,oxide,5,AU-MTWELD,JP-KOBE,JP,,,,,\n", "ships.csv:3: shipments AU-SHP-2: missing status"),
    ])
    func badRow(row: String, subject: String) async throws {
        let node = try Self.node()
        let csv = Self.header + "AU-SHP-1,Nd,oxide,20000,AU-MTWELD,JP-KOBE,JP,,,,,planned\n" + row
        let r = try await node.paxsync.run(["import", "--table", "shipments", "--quiet", try write(node, csv)])
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.hasPrefix("Error: \(subject)"), "\(r.stderr)")
        let replica = try node.directory.openReplica(writable: false)
        #expect(try replica.query("SELECT COUNT(*) FROM shipments").rows == [[.integer(0)]])
        #expect(try replica.logCount() == 2, "AU:1 and JP:1 only")
    }
}
