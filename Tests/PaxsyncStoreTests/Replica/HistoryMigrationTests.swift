import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// Migration v5: record histories refer to the logged bytes of each row change
/// instead of holding a copy.
@Suite("Replica: histories refer to the log (migration v5)")
struct HistoryMigrationTests {
    let dir = TemporaryDirectory("paxsync-history")

    /// Every record's events, sorted by stamp, and the open conflicts.
    func histories(_ replica: Replica) throws -> [String: [RecordEvent]] {
        var out: [String: [RecordEvent]] = [:]
        for row in try replica.query("SELECT DISTINCT tbl, key FROM paxsync_record_changes").rows {
            let table = try #require(Schema.table(named: row[0].description))
            out["\(table.name) \(row[1].description)"] = try replica.explain(table: table, key: row[1].description).1
        }
        return out
    }

    @Test("a replica written by the v4 schema (committed fixture) migrates: each stored change refers to its logged bytes; histories, merges, conflicts and digest unchanged; writes after it merge as before")
    func migratesFixture() throws {
        let copy = dir.file("replica-v4")
        try FileManager.default.copyItem(atPath: packageRoot.appendingPathComponent("Tests/Fixtures/replica-v4").path, toPath: copy)
        let roster = try Roster.decode(Data(contentsOf: URL(fileURLWithPath: copy + "/roster.json")), source: "fixture roster")
        let key = try NodeSigningKey(fileContents: String(contentsOfFile: copy + "/node.key", encoding: .utf8), source: "fixture key")
        // The digest the v4 release computed for this file.
        let digest = "b6e02fe0f6a21e09591eca00cc96c17e1ac223b85d44c54a3a9c61582e0fd6b5"

        // Read-only, the un-migrated file reads its copies.
        let old = try Replica(path: copy + "/replica.sqlite", nodeID: "AU", roster: roster, configuration: ReplicaConfiguration(readOnly: true))
        #expect(try old.digest().hex == digest)
        let before = try histories(old)
        let conflicts = try old.conflicts()
        #expect(before.count == 12 && before.values.map(\.count).reduce(0, +) == 21 && conflicts.count == 1)
        #expect(before["facilities IL-NEGEV"]?.map(\.counts) == [true, false], "IL:2 is cut")
        #expect(try old.query("SELECT COUNT(*) FROM paxsync_superseded").rows == [[.integer(1)]], "KR:2 of the revoked key")

        let replica = try Replica(path: copy + "/replica.sqlite", nodeID: "AU", roster: roster, signingKey: key,
                                  clock: ManualClock(milliseconds: TestTime.start + 60_000))
        #expect(try replica.query("SELECT COUNT(*), COUNT(position), COUNT(change) FROM paxsync_record_changes").rows
                == [[.integer(21), .integer(21), .integer(0)]], "every change refers to the log, none is copied")
        #expect(try histories(replica) == before)
        #expect(try replica.digest().hex == digest && replica.conflicts() == conflicts && replica.logCount() == 23)
        #expect(try replica.integrityCheck() == ["ok"])

        // A node that applies the migrated log from scratch holds the same histories.
        let fresh = try Replica(path: dir.file("JP.sqlite"), nodeID: "JP", roster: roster, clock: ManualClock(milliseconds: TestTime.start + 60_000))
        try fresh.apply(try replica.allEntries())
        #expect(try fresh.digest().hex == digest && histories(fresh) == before && fresh.conflicts() == conflicts)

        // Writes on records with histories, after the migration, merge the same on both.
        try replica.commit([Records.update(Schema.shipments, ["AU-S1"], ["status": .text("arrived")]),
                            Records.update(Schema.facilities, ["AU-KAL"], ["name": .text("Kalgoorlie east")]),
                            Records.pledge("R1", "Li", member: "AU", adjust: 12)])
        try fresh.apply(try replica.allEntries())
        #expect(try replica.digest() == fresh.digest() && replica.digest().hex != digest)
        #expect(try histories(replica) == histories(fresh))
        #expect(try histories(replica)["shipments AU-S1"]?.count == 4)
        #expect(try replica.query("SELECT name FROM facilities WHERE id = 'AU-KAL'").rows == [[.text("Kalgoorlie east")]])
        #expect(try replica.query("SELECT COUNT(change) FROM paxsync_record_changes").rows == [[.integer(0)]])
    }

    @Test("a stored change whose logged bytes cannot be found keeps its copy through the migration")
    func unmatchedKeepsCopy() throws {
        let copy = dir.file("replica-v4-edited")
        try FileManager.default.copyItem(atPath: packageRoot.appendingPathComponent("Tests/Fixtures/replica-v4").path, toPath: copy)
        let roster = try Roster.decode(Data(contentsOf: URL(fileURLWithPath: copy + "/roster.json")), source: "fixture roster")
        let file = copy + "/replica.sqlite"
        let old = try Replica(path: file, nodeID: "AU", roster: roster, configuration: ReplicaConfiguration(readOnly: true))
        let before = try histories(old)
        // A v4 row whose copy differs from what the log holds for that change (as if the file were edited).
        let edited = RowChange(table: "facilities", key: "AU-PORT", op: .create, fields: [FieldChange(name: "name", value: .text("edited"))])
        try DatabaseQueue(path: file).write { db in
            try db.execute(sql: "UPDATE paxsync_record_changes SET change = ? WHERE tbl = 'facilities' AND key = 'AU-PORT'",
                           arguments: [Data(edited.serialized())])
        }
        let replica = try Replica(path: file, nodeID: "AU", roster: roster)
        #expect(try replica.query("SELECT COUNT(*), COUNT(position), COUNT(change) FROM paxsync_record_changes").rows
                == [[.integer(21), .integer(20), .integer(1)]])
        var expected = before
        expected["facilities AU-PORT"] = expected["facilities AU-PORT"]!.map { RecordEvent(entry: $0.entry, stamp: $0.stamp, change: edited, counts: $0.counts) }
        #expect(try histories(replica) == expected)
    }
}
