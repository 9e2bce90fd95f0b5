import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Apply path")
struct ApplyPathTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    /// AU writes a facility and a stock; returns AU's replica and its entries.
    func auWithTwoEntries() throws -> (Replica, [SignedEntry]) {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-MTWELD")])
        try au.commit([Records.stock("AU-MTWELD", "Nd", kg: 1000)])
        return (au, try au.allEntries())
    }

    @Test("a local write is signed, chained, logged and visible in the shared-record tables")
    func localWrite() throws {
        let (au, entries) = try auWithTwoEntries()
        #expect(entries.map(\.id.description) == ["AU:1", "AU:2"])
        #expect(entries[0].changeSet.prevHash.isEmpty)
        #expect(entries[1].changeSet.prevHash == entries[0].hash)
        #expect(entries.allSatisfy { $0.verify(publicKey: coalition.roster.member("AU")!.publicKeyBytes) })
        let rows = try au.query("SELECT id, owner, kind FROM facilities").rows
        #expect(rows == [[.text("AU-MTWELD"), .text("AU"), .text("mine")]])
        #expect(try au.query("SELECT quantity_kg FROM stocks").rows == [[.integer(1000)]])
    }

    @Test("large change sets mixing new records and records with a history apply as on the writer (one history query per table)")
    func largeMixedChangeSets() throws {
        let au = try coalition.replica("AU", in: dir)
        let facilities = (0..<120).map { "AU-F\($0)" }
        try au.commit(facilities.map { Records.facility($0) })
        func stocks(_ range: Range<Int>, kg: Int64) -> [WriteIntent] {
            range.map { i in Records.stock(facilities[i % 120], ["Li", "Nd", "Co", "Ni", "Cu"][i / 120 % 5], CodeLists.forms[i / 600], kg: kg + Int64(i)) }
        }
        try au.commit(stocks(0..<700, kg: 1000))                    // 700 new records: two statements of 512 and 188 keys
        try au.commit(stocks(350..<1050, kg: 5000))                 // 350 updates of existing records, 350 new ones
        try au.commit(stocks(0..<20, kg: 9000) + [Records.facility("AU-G1")])  // two tables in one change set
        let jp = try coalition.replica("JP", in: dir)
        #expect(try jp.apply(try au.allEntries()).allSatisfy { $0 == .applied })
        #expect(try jp.digest() == au.digest())
        #expect(try jp.query("SELECT COUNT(*), SUM(quantity_kg) FROM stocks").rows == au.query("SELECT COUNT(*), SUM(quantity_kg) FROM stocks").rows)
        #expect(try jp.query("SELECT quantity_kg FROM stocks WHERE facility_id = 'AU-F10' AND mineral = 'Li' AND form = 'ore'").rows
                == [[.integer(9010)]])
    }

    @Test("an import's later change set in the same transaction sees the records an earlier one created")
    func importBatchesSeeEarlierBatches() throws {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-MTWELD")])
        let first = (0..<12).map { Records.stock("AU-MTWELD", ["Li", "Nd", "Co"][$0 % 3], CodeLists.forms[$0 / 3], kg: Int64($0)) }
        let second = (0..<12).map { Records.stock("AU-MTWELD", ["Li", "Nd", "Co"][$0 % 3], CodeLists.forms[$0 / 3], kg: 100 + Int64($0)) }
        let written = try au.commitBatches(first + second, batchSize: 12)
        #expect(written.map { $0.changeSet.changes.map(\.op) } == [Array(repeating: .create, count: 12), Array(repeating: .update, count: 12)])
        #expect(try au.query("SELECT SUM(quantity_kg) FROM stocks").rows == [[.integer((0..<12).reduce(0) { $0 + 100 + $1 })]])
    }

    @Test("a peer applies the entries and reaches the same digest; applying again is a no-op")
    func peerApplyAndDuplicates() throws {
        let (au, entries) = try auWithTwoEntries()
        let jp = try coalition.replica("JP", in: dir)
        #expect(try jp.apply(entries) == [.applied, .applied])
        #expect(try jp.digest() == au.digest())
        #expect(try jp.apply(entries) == [.duplicate, .duplicate])
        #expect(try jp.logCount() == 2)
    }

    @Test("a tampered byte fails the signature: quarantined as evidence, the origin not blocked")
    func tamperedByte() throws {
        let (_, entries) = try auWithTwoEntries()
        var body = entries[0].body
        let i = body.lastIndex(of: UInt8(ascii: "M"))!
        body[i] = UInt8(ascii: "N")
        let jp = try coalition.replica("JP", in: dir)
        let outcome = try jp.applyReceived(body: body, signature: entries[0].signature)
        guard case .quarantined(let error) = outcome else { Issue.record("expected quarantine, got \(outcome)"); return }
        #expect(error.code == .badSignature)
        #expect(try jp.quarantined().first?.entry == "AU:1")
        #expect(try jp.apply(entries) == [.applied, .applied], "the genuine entries still apply")
    }

    @Test("an entry signed with another member's key is refused")
    func wrongKey() throws {
        let (_, entries) = try auWithTwoEntries()
        let forged = coalition.sign(entries[0].changeSet, as: "KR")
        let jp = try coalition.replica("JP", in: dir)
        guard case .quarantined(let error) = try jp.apply([forged])[0] else { Issue.record("not quarantined"); return }
        #expect(error.code == .badSignature)
        #expect(try jp.logCount() == 0)
    }

    @Test("bytes that are no change set are quarantined, not thrown away")
    func garbage() throws {
        let jp = try coalition.replica("JP", in: dir)
        guard case .quarantined(let error) = try jp.applyReceived(body: [0xFF, 0xFF, 0x01], signature: []) else {
            Issue.record("not quarantined"); return
        }
        #expect(error.code == .malformedEntry)
        #expect(try jp.quarantined().count == 1)
    }

    @Test("a gap is held, not applied, and released when the missing entry arrives")
    func gap() throws {
        let (au, entries) = try auWithTwoEntries()
        let jp = try coalition.replica("JP", in: dir)
        guard case .held(let code, _) = try jp.apply([entries[1]])[0] else { Issue.record("not held"); return }
        #expect(code == .gap)
        #expect(try jp.logCount() == 0)
        #expect(try jp.held().map(\.entry) == ["AU:2"])
        #expect(try jp.apply([entries[0]]) == [.applied])
        #expect(try jp.logCount() == 2 && jp.held().isEmpty)
        #expect(try jp.digest() == au.digest())
    }

    @Test("a reordered delivery converges once every entry has arrived")
    func reordered() throws {
        let au = try coalition.replica("AU", in: dir)
        for i in 0..<6 { try au.commit([Records.facility("AU-F\(i)")]) }
        let entries = try au.allEntries()
        let jp = try coalition.replica("JP", in: dir)
        for i in [3, 5, 0, 4, 2, 1] { try jp.apply([entries[i]]) }
        #expect(try jp.digest() == au.digest())
        #expect(try jp.held().isEmpty)
    }

    @Test("an entry whose dependency has not arrived is held until it does")
    func dependency() throws {
        let au = try coalition.replica("AU", in: dir)
        let jp = try coalition.replica("JP", in: dir)
        try au.commit([Records.facility("AU-MTWELD")])
        try jp.commit([Records.facility("JP-KOBE", country: "JP", lat: 34, lon: 135)])
        try au.apply(try jp.allEntries())
        try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP")])
        try jp.apply(try au.allEntries())
        try jp.commit([Records.update(Schema.shipments, ["AU-S1"], ["eta": .text("2026-12-24T00:00:00Z")])])
        let jpUpdate = try jp.allEntries().last!
        #expect(jpUpdate.changeSet.deps["AU"] == 2)

        let kr = try coalition.replica("KR", in: dir)
        try kr.apply(try jp.allEntries().filter { $0.changeSet.origin == "JP" })
        #expect(try kr.held().map(\.code) == [.dependency])
        try kr.apply(try au.allEntries())
        #expect(try kr.held().isEmpty)
        #expect(try kr.digest() == jp.digest())
    }

    @Test("a broken chain link is quarantined and holds the origin's later entries behind it")
    func chainMismatch() throws {
        let (_, entries) = try auWithTwoEntries()
        var cs = entries[1].changeSet
        cs.prevHash = Array(repeating: 0xAB, count: 32)
        let bad = coalition.sign(cs)
        let jp = try coalition.replica("JP", in: dir)
        try jp.apply([entries[0]])
        guard case .quarantined(let error) = try jp.apply([bad])[0] else { Issue.record("not quarantined"); return }
        #expect(error.code == .chainMismatch)
        var next = cs
        next.seq = 3
        next.prevHash = bad.hash
        next.changes = [RowChange(table: "facilities", key: "AU-OTHER", op: .create, fields: Records.facility("AU-OTHER").values
            .sorted { $0.key < $1.key }.map { FieldChange(name: $0.key, value: $0.value) })]
        guard case .held(let code, _) = try jp.apply([coalition.sign(next)])[0] else { Issue.record("not held"); return }
        #expect(code == .originQuarantined)
        #expect(try jp.origins().first { $0.origin == "AU" }?.status == .quarantined)
    }

    @Test("an unauthorized entry is rejected whole: nothing of it applied")
    func unauthorizedWhole() throws {
        let jp = try coalition.replica("JP", in: dir)
        let cs = ChangeSet(origin: "JP", seq: 1, hlc: HLC(physicalMilliseconds: TestTime.start, logical: 0), prevHash: [], changes: [
            RowChange(table: "facilities", key: "JP-OK", op: .create, fields: fields(Records.facility("JP-OK", country: "JP"))),
            RowChange(table: "facilities", key: "AU-STOLEN", op: .create, fields: fields(Records.facility("AU-STOLEN"))),
        ])
        let kr = try coalition.replica("KR", in: dir)
        guard case .quarantined(let error) = try kr.apply([coalition.sign(cs)])[0] else { Issue.record("not quarantined"); return }
        #expect(error.code == .unauthorized)
        #expect(error.description.contains("AU-STOLEN") && error.description.contains("JP:1"))
        #expect(try kr.query("SELECT COUNT(*) FROM facilities").rows == [[.integer(0)]])
        _ = jp
    }

    @Test("two different signed entries at one sequence are kept as evidence and stop the origin")
    func equivocation() throws {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-A")])
        let first = try au.allEntries()[0]
        var fork = first.changeSet
        fork.changes = [RowChange(table: "facilities", key: "AU-B", op: .create, fields: fields(Records.facility("AU-B")))]
        let jp = try coalition.replica("JP", in: dir)
        try jp.apply([first])
        guard case .equivocation = try jp.apply([coalition.sign(fork)])[0] else { Issue.record("not detected"); return }
        #expect(try jp.equivocations().map(\.entry) == ["AU:1"])
        #expect(try jp.equivocationEvidence().count == 1)
        #expect(try jp.origins().first { $0.origin == "AU" }?.status == .equivocating)
        try au.commit([Records.facility("AU-C")])
        guard case .held(let code, _) = try jp.apply([try au.allEntries()[1]])[0] else { Issue.record("not held"); return }
        #expect(code == .originEquivocating)
    }

    @Test("an entry stamped beyond the skew bound is held, then applied once the clock is within it")
    func clockSkew() throws {
        let auClock = ManualClock(milliseconds: TestTime.start + 3_600_000)
        let au = try coalition.replica("AU", in: dir, clock: auClock)
        try au.commit([Records.facility("AU-FUTURE")])
        let jpClock = ManualClock(milliseconds: TestTime.start)
        let jp = try coalition.replica("JP", in: dir, clock: jpClock, maxSkewMilliseconds: 60_000)
        guard case .held(let code, _) = try jp.apply(try au.allEntries())[0] else { Issue.record("not held"); return }
        #expect(code == .clockSkew)
        #expect(try jp.retryHeld() == 0)
        jpClock.advance(by: 3_600_000 - 30_000)
        #expect(try jp.retryHeld() == 1)
        #expect(try jp.digest() == au.digest())
    }

    @Test("an entry held for clock skew is released when the node reopens with a wider bound")
    func clockSkewBoundRaised() throws {
        let au = try coalition.replica("AU", in: dir, clock: ManualClock(milliseconds: TestTime.start + 600_000))
        try au.commit([Records.facility("AU-FUTURE")])
        let path = dir.file("jp-skew.sqlite")
        let clock = ManualClock(milliseconds: TestTime.start)
        func jp(bound: UInt64) throws -> Replica {
            try Replica(path: path, nodeID: "JP", roster: coalition.roster, signingKey: coalition.keys["JP"], clock: clock,
                        configuration: ReplicaConfiguration(maxClockSkewMilliseconds: bound))
        }
        guard case .held(.clockSkew, _) = try jp(bound: 30_000).apply(try au.allEntries())[0] else { Issue.record("not held"); return }
        #expect(try jp(bound: 30_000).retryHeld() == 0)
        // The operator raises max_clock_skew_seconds and restarts: the bound in force now decides.
        let widened = try jp(bound: 900_000)
        #expect(try widened.retryHeld() == 1)
        #expect(try widened.digest() == au.digest())
    }

    @Test("entries of a newer schema are held, stay held across restarts, and are released by a node that implements it")
    func versionHold() throws {
        let (au, entries) = try auWithTwoEntries()
        let newer = Schema.version + 1
        var first = entries[0].changeSet, second = entries[1].changeSet
        first.schemaVersion = newer
        let upgradedFirst = coalition.sign(first)
        second.schemaVersion = newer
        second.prevHash = upgradedFirst.hash
        let upgradedSecond = coalition.sign(second)

        let path = dir.file("jp-version.sqlite")
        func jp(schemaVersion: UInt32) throws -> Replica {
            try Replica(path: path, nodeID: "JP", roster: coalition.roster, signingKey: coalition.keys["JP"],
                        clock: ManualClock(milliseconds: TestTime.start),
                        configuration: ReplicaConfiguration(schemaVersion: schemaVersion))
        }
        let reason = "schema version \(newer) is newer than this node's \(Schema.version): upgrade paxsync"
        #expect(try jp(schemaVersion: Schema.version).apply([upgradedFirst, upgradedSecond])
                == [.held(code: .version, reason: reason), .held(code: .version, reason: reason)])
        let held = try jp(schemaVersion: Schema.version).held()
        #expect(held.map(\.entry) == ["AU:1", "AU:2"] && held.map(\.code) == [.version, .version])
        #expect(try jp(schemaVersion: Schema.version).logCount() == 0)
        #expect(try jp(schemaVersion: Schema.version).digest().rows == 0)

        // A restart of the same build retries them and holds them again.
        #expect(try jp(schemaVersion: Schema.version).retryHeld() == 0)
        #expect(try jp(schemaVersion: Schema.version).held().map(\.entry) == ["AU:1", "AU:2"])

        // The upgraded build releases both, in order, keeping the entries as signed.
        let upgraded = try jp(schemaVersion: newer)
        #expect(try upgraded.retryHeld() == 2)
        #expect(try upgraded.held().isEmpty)
        #expect(try upgraded.allEntries().map(\.hash) == [upgradedFirst.hash, upgradedSecond.hash])
        #expect(try upgraded.allEntries().map(\.changeSet.schemaVersion) == [newer, newer])
        #expect(try upgraded.digest() == au.digest())
    }

    @Test("opening an up-to-date replica for a read command writes nothing")
    func readsDoNotWrite() throws {
        let (au, _) = try auWithTwoEntries()
        let watcher = try DatabaseQueue(path: au.path)
        let before = try watcher.read { try Int.fetchOne($0, sql: "PRAGMA data_version") }
        let reopened = try Replica(path: au.path, nodeID: "AU", roster: coalition.roster)
        _ = try reopened.digest()
        _ = try Replay.verify(.replica(reopened))
        let after = try watcher.read { try Int.fetchOne($0, sql: "PRAGMA data_version") }
        #expect(before == after, "another connection committed while a read command ran")
    }

    @Test("an entry of an unknown origin is quarantined")
    func unknownOrigin() throws {
        let other = TestCoalition(["FR", "AU"], seed: 9)
        let fr = try other.replica("FR", in: dir)
        try fr.commit([Records.facility("FR-X", country: "FR")])
        let jp = try coalition.replica("JP", in: dir)
        guard case .quarantined(let error) = try jp.apply(try fr.allEntries())[0] else { Issue.record("not quarantined"); return }
        #expect(error.code == .unknownOrigin)
    }

    @Test("a pledge adjusted back to zero is a row at 0: in its table, counted by pooled_reserves, and in the digest")
    func zeroPledgeIsARow() throws {
        let au = try coalition.replica("AU", in: dir)
        let before = try au.digest()
        try au.commit([Records.pledge("POOL", "Li", member: "AU", adjust: 500)])
        try au.commit([Records.pledge("POOL", "Li", member: "AU", adjust: -500)])
        #expect(try au.query("SELECT reserve_id, mineral, member, share_kg FROM reserve_pledges").rows
                == [[.text("POOL"), .text("Li"), .text("AU"), .integer(0)]])
        #expect(try au.query("SELECT total_kg, members FROM pooled_reserves").rows == [[.integer(0), .integer(1)]])
        let after = try au.digest()
        #expect(after.rows == 1 && after.hex != before.hex)
        // A peer reaches the same row from the two adjustments.
        let jp = try coalition.replica("JP", in: dir)
        try jp.apply(try au.allEntries())
        #expect(try jp.digest() == after)
    }

    @Test("local writes that break a rule are refused and leave nothing behind")
    func localRefusals() throws {
        let au = try coalition.replica("AU", in: dir)
        #expect(throws: PaxsyncError.self) { try au.commit([Records.facility("JP-NOTMINE")]) }
        #expect(throws: PaxsyncError.self) { try au.commit([Records.stock("AU-NOPE", "Li", kg: 5)]) }
        #expect(throws: PaxsyncError.self) { try au.commit([Records.pledge("P", "Li", member: "AU", adjust: -5)]) }
        #expect(throws: PaxsyncError.self) { try au.commit([Records.facility("AU-A"), Records.facility("AU-B", lat: 200)]) }
        #expect(try au.logCount() == 0)
        #expect(try au.quarantined().isEmpty)
    }
}

func fields(_ intent: WriteIntent) -> [FieldChange] {
    intent.table.fields.map { FieldChange(name: $0.name, value: intent.values[$0.name] ?? .null) }
}
