import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Audit: bundles, verification, replay")
struct AuditTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    /// AU and JP with a few entries each, exchanged, plus a concurrent edit.
    func twoNodes() throws -> (Replica, Replica) {
        let auClock = ManualClock(milliseconds: TestTime.start)
        let au = try coalition.replica("AU", in: dir, clock: auClock)
        let jp = try coalition.replica("JP", in: dir)
        try au.commit([Records.facility("AU-MTWELD"), Records.facility("AU-KWINANA", kind: "refinery")])
        try au.commit([Records.stock("AU-MTWELD", "Nd", kg: 4000)])
        try jp.commit([Records.facility("JP-KOBE", kind: "port", country: "JP", lat: 34.6, lon: 135.2)])
        try au.apply(try jp.allEntries())
        auClock.advance(by: 60_000)
        try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP")])
        try jp.apply(try au.allEntries())
        try jp.commit([Records.update(Schema.shipments, ["AU-S1"], ["eta": .text("2026-12-30T00:00:00Z")])])
        try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["eta": .text("2026-12-29T00:00:00Z")])])
        try au.apply(try jp.allEntries())
        return (au, jp)
    }

    @Test("a full replay of the log reproduces the live digest")
    func replayEqualsLive() throws {
        let (au, _) = try twoNodes()
        let result = try Replay.run(from: .replica(au), into: dir.file("replayed.sqlite"))
        #expect(result.applied == (try au.logCount()))
        #expect(result.digest == (try au.digest().hex))
        #expect(try Replica.digest(ofFile: dir.file("replayed.sqlite")).hex == au.digest().hex)
    }

    @Test("a bundle verifies alone, replays to the live digest, and a flipped byte names the entry")
    func bundle() throws {
        let (au, _) = try twoNodes()
        let path = dir.file("au.pxb")
        let count = try Replay.exportBundle(au, to: path, now: TestTime.start)
        #expect(count == (try au.logCount()))
        let report = try Replay.verify(.bundle(path: path))
        #expect(report.ok && report.entries == count)
        #expect(try Replay.run(from: .bundle(path: path), into: dir.file("b.sqlite")).digest == au.digest().hex)

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let target = try #require(au.allEntries().first { $0.id.description == "AU:3" })
        let needle = Array(target.body.suffix(24))
        let at = try #require((0..<bytes.count - needle.count).first { Array(bytes[$0..<$0 + needle.count]) == needle })
        bytes[at + 5] ^= 0x04
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let broken = try Replay.verify(.bundle(path: path))
        #expect(!broken.ok)
        #expect(broken.firstError?.contains("AU:3") == true, "\(broken.firstError ?? "")")
        #expect(broken.firstError?.contains("bundle entry") == true)

        // A flip inside a text value still decodes, but no longer carries AU's signature.
        bytes[at + 5] ^= 0x04
        let name = Array("Facility".utf8)
        let nameAt = try #require((0..<bytes.count - name.count).first { Array(bytes[$0..<$0 + name.count]) == name })
        bytes[nameAt] = UInt8(ascii: "f")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let forged = try Replay.verify(.bundle(path: path))
        #expect(forged.firstError?.contains("AU:1") == true && forged.firstError?.contains("signature") == true, "\(forged.firstError ?? "")")
    }

    @Test("a truncated bundle is reported as truncated")
    func truncated() throws {
        let (au, _) = try twoNodes()
        let path = dir.file("t.pxb")
        _ = try Replay.exportBundle(au, to: path, now: TestTime.start)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 10).write(to: URL(fileURLWithPath: path))
        let report = try Replay.verify(.bundle(path: path))
        #expect(!report.ok && report.firstError?.contains("truncated") == true)
    }

    @Test("a bundle cut after its header, or between entries, is refused: it announces more than it holds")
    func cutAtFrameBoundary() throws {
        let (au, _) = try twoNodes()
        let path = dir.file("c.pxb")
        let exported = try Replay.exportBundle(au, to: path, now: TestTime.start)
        #expect(exported >= 2)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func frameEnd(_ start: Int) -> Int {
            start + 4 + (Int(bytes[start]) << 24 | Int(bytes[start + 1]) << 16 | Int(bytes[start + 2]) << 8 | Int(bytes[start + 3]))
        }
        let afterHeader = frameEnd(8)
        for (cut, held) in [(afterHeader, 0), (frameEnd(afterHeader), 1)] {
            try Data(bytes[0..<cut]).write(to: URL(fileURLWithPath: path))
            let report = try Replay.verify(.bundle(path: path))
            #expect(!report.ok && report.entries == held && report.announcedEntries == UInt64(exported))
            #expect(report.firstError?.contains("announces \(exported) entries but the bundle holds \(held)") == true, "\(report.firstError ?? "")")
        }
    }

    @Test("a bundle verified with its own keys says so; a trusted roster or fingerprints decide instead")
    func trust() throws {
        let (au, _) = try twoNodes()
        let path = dir.file("trust.pxb")
        _ = try Replay.exportBundle(au, to: path, now: TestTime.start)
        let own = try Replay.verify(.bundle(path: path))
        #expect(own.ok && own.trust.contains("internal consistency only"))
        #expect(own.trustedKeys["AU"] == coalition.roster.member("AU")!.keyFingerprint)

        #expect(try Replay.verify(.bundle(path: path), trusting: .roster(coalition.roster, source: "r.json")).ok)
        // Another coalition's keys for the same member ids: AU's entries do not verify.
        let other = TestCoalition(["AU", "JP"], seed: 9)
        let foreign = try Replay.verify(.bundle(path: path), trusting: .roster(other.roster, source: "other.json"))
        #expect(!foreign.ok && foreign.firstError?.contains("signature") == true, "\(foreign.firstError ?? "")")

        let fingerprints = Dictionary(uniqueKeysWithValues: coalition.roster.members.map { ($0.id, $0.keyFingerprint) })
        #expect(try Replay.verify(.bundle(path: path), trusting: .fingerprints(fingerprints)).ok)
        let wrong = try Replay.verify(.bundle(path: path), trusting: .fingerprints(["AU": other.roster.member("AU")!.keyFingerprint]))
        #expect(!wrong.ok && wrong.firstError?.contains("fingerprint") == true)
        // A member whose fingerprint was not given is not trusted: its entries fail as unknown.
        let partial = try Replay.verify(.bundle(path: path), trusting: .fingerprints(["JP": fingerprints["JP"]!]))
        #expect(!partial.ok && partial.firstError?.contains("AU") == true, "\(partial.firstError ?? "")")
    }

    @Test("a file that is not a bundle is refused by name")
    func notABundle() throws {
        let path = dir.file("x.pxb")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try BundleReader(path: path) } throws: { "\($0)".contains("not a paxsync bundle") }
    }

    @Test("replay until an entry or a time rebuilds the state as of then")
    func partialReplay() throws {
        let (au, _) = try twoNodes()
        let first = try Replay.run(from: .replica(au), into: dir.file("p1.sqlite"), until: .entry(EntryID(origin: "AU", seq: 1)))
        #expect(first.applied == 1)
        let facilities = try Replica.digest(ofFile: dir.file("p1.sqlite")).rows
        #expect(facilities == 2)
        let early = try Replay.run(from: .replica(au), into: dir.file("p2.sqlite"), until: .time(TestTime.start + 1000))
        let total = try au.logCount()
        #expect(early.skipped > 0 && early.applied + early.skipped == total)
        #expect(throws: PaxsyncError.self) {
            try Replay.run(from: .replica(au), into: dir.file("p3.sqlite"), until: .entry(EntryID(origin: "KR", seq: 9)))
        }
    }

    @Test("log verification of a sound replica passes and counts every origin")
    func verifyReplica() throws {
        let (au, _) = try twoNodes()
        let report = try Replay.verify(.replica(au))
        #expect(report.ok)
        #expect(report.origins == ["AU": 4, "JP": 2])
    }

    @Test("the concurrent ETA edit is the same single conflict on both nodes")
    func conflictOnBoth() throws {
        let (au, jp) = try twoNodes()
        try jp.apply(try au.allEntries())
        #expect(try au.digest() == jp.digest())
        let conflicts = try au.conflicts()
        #expect(conflicts == (try jp.conflicts()))
        try #require(conflicts.count == 1)
        #expect(Set([conflicts[0].winner.value, conflicts[0].loser.value]) == ["2026-12-29T00:00:00Z", "2026-12-30T00:00:00Z"])
        let (record, _) = try au.explain(table: Schema.shipments, key: "AU-S1")
        #expect(record.fields["eta"]?.entry.description == conflicts[0].winner.entry)
    }
}

@Suite("CSV import and export")
struct CSVTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    func importCSV(_ replica: Replica, _ table: TableSpec, _ text: String) throws -> [SignedEntry] {
        let intents = try CSVImport.intents(table: table, data: Data(text.utf8), source: "in.csv", nodeID: replica.nodeID)
        return try replica.commitBatches(intents, batchSize: 2)
    }

    @Test("quoted fields, CRLF and a BOM parse")
    func parsing() throws {
        let rows = try CSV.parse(Data("\u{FEFF}a,b\r\n\"x, \"\"y\"\"\",2\r\n".utf8), source: "f")
        #expect(rows.map(\.fields) == [["a", "b"], ["x, \"y\"", "2"]])
        #expect(throws: PaxsyncError.self) { try CSV.parse(Data("a\n\"open".utf8), source: "f") }
    }

    @Test("an import writes every row as signed change sets, and re-importing changes nothing")
    func importRoundTrip() throws {
        let au = try coalition.replica("AU", in: dir)
        let facilities = """
            id,name,kind,country,latitude,longitude
            AU-A,"Site A, North",mine,AU,-20.5,130
            AU-B,Site B,refinery,AU,-31,115.75
            AU-C,Site C,port,AU,-12.4,130.8
            """
        let entries = try importCSV(au, Schema.facilities, facilities)
        #expect(entries.count == 2, "3 rows in change sets of 2")
        #expect(try au.query("SELECT name FROM facilities WHERE id = 'AU-A'").rows == [[.text("Site A, North")]])
        #expect(try importCSV(au, Schema.facilities, facilities).isEmpty)

        let out = dir.file("facilities.csv")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: out))
        try CSVImport.export(table: Schema.facilities, replica: au, to: handle)
        try handle.close()
        let exported = try String(contentsOfFile: out, encoding: .utf8)
        #expect(exported.hasPrefix("id,owner,name,kind,country,latitude,longitude\n"))
        #expect(exported.contains("AU-A,AU,\"Site A, North\",mine,AU,-20.5,130.0"))
        #expect(try importCSV(au, Schema.facilities, exported).isEmpty, "an export imports back as no change")
    }

    @Test("bad rows are named by line and column, and nothing is written", arguments: [
        ("id,name,kind,country,latitude,longitude\nAU-A,A,mine,AU,1,1\nAU-B,B,mine,AU,95,1\n", "in.csv:3: column latitude"),
        ("id,name,kind,country,latitude,longitude\nAU-A,A,volcano,AU,1,1\n", "in.csv:2: column kind"),
        ("id,name,kind,country,latitude,longitude\nJP-A,A,mine,JP,1,1\n", "belongs to JP"),
        ("id,name,kind,country,latitude\nAU-A,A,mine,AU,1\n", "missing column(s) longitude"),
        ("id,name,kind,country,latitude,longitude,colour\n", "unknown column \"colour\""),
        ("id,name,kind,country,latitude,longitude\nAU-A,A,mine,AU,1\n", "in.csv:2: has 5 fields"),
        ("id,name,kind,country,latitude,longitude\nAU-A,A,mine,AU,1,1\nAU-A,A,mine,AU,1,1\n", "first on line 2"),
        ("", "the file is empty"),
    ])
    func badRows(text: String, mention: String) throws {
        let au = try coalition.replica("AU", in: dir)
        #expect { try importCSV(au, Schema.facilities, text) } throws: { "\($0)".contains(mention) }
        #expect(try au.logCount() == 0)
    }

    @Test("a row refused at write time rolls back the whole import")
    func allOrNothing() throws {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-A")])
        var csv = "facility_id,mineral,form,quantity_kg,grade_pct,as_of\n"
        for i in 0..<50 { csv += "AU-A,Li,\(CodeLists.forms[i % 6]),\(i),,2026-11-01\n" }
        csv = "facility_id,mineral,form,quantity_kg,grade_pct,as_of\n" + (0..<6).map { "AU-A,Li,\(CodeLists.forms[$0]),\($0),,2026-11-01\n" }.joined()
            + "AU-MISSING,Li,ore,5,,2026-11-01\n"
        #expect { try importCSV(au, Schema.stocks, csv) } throws: { "\($0)".contains("in.csv:8") && "\($0)".contains("AU-MISSING") }
        #expect(try au.query("SELECT COUNT(*) FROM stocks").rows == [[.integer(0)]])
        #expect(try au.logCount() == 1)
    }

    @Test("pledges import as a set share, turned into the adjustment that reaches it")
    func pledgeImport() throws {
        let au = try coalition.replica("AU", in: dir)
        _ = try importCSV(au, Schema.reservePledges, "reserve_id,mineral,share_kg\nPOOL,Li,500\nPOOL,Nd,70\n")
        _ = try importCSV(au, Schema.reservePledges, "reserve_id,mineral,share_kg\nPOOL,Li,300\n")
        #expect(try au.query("SELECT mineral, share_kg FROM reserve_pledges ORDER BY mineral").rows
                == [[.text("Li"), .integer(300)], [.text("Nd"), .integer(70)]])
        let last = try #require(au.allEntries().last)
        #expect(last.changeSet.changes.first?.fields.first?.value == .integer(-200))
    }
}
