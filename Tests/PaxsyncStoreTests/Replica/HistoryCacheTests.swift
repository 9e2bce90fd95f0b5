import Foundation
import PaxsyncLog
import PaxsyncModel
@testable import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// The write path keeps decoded record histories between writes; what it
/// reads must stay what the database holds.
@Suite("Record history cache")
struct HistoryCacheTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    /// The `replaced` stamp of the quantity the last entry wrote, and the stamp of the entry before it.
    func lastReplacedAndPrevious(_ replica: Replica) throws -> (replaced: Stamp?, previous: Stamp) {
        let entries = try replica.allEntries()
        let last = entries[entries.count - 1].changeSet
        let replaced = last.changes[0].fields.first { $0.name == "quantity_kg" }?.replaced
        return (replaced, entries[entries.count - 2].changeSet.stamp)
    }

    /// A fresh replica (its history cache cold) applying `replica`'s log reaches
    /// the same digest and conflicts.
    func expectSameAsFresh(_ replica: Replica) throws {
        let cold = try coalition.replica("KR", in: dir)
        _ = try cold.apply(try replica.allEntries())
        #expect(try cold.digest() == replica.digest())
        #expect(try cold.conflicts() == replica.conflicts())
    }

    @Test("a write made through another connection (another process) is seen by the next write")
    func otherConnection() throws {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-MTWELD")])
        for kg in 1...3 { try au.commit([Records.stock("AU-MTWELD", "Nd", kg: Int64(kg))]) }
        // Another writer on the same file: the CLI while a daemon runs.
        let other = try Replica(path: au.path, nodeID: "AU", roster: coalition.roster, signingKey: coalition.keys["AU"],
                                clock: ManualClock(milliseconds: TestTime.start))
        try other.commit([Records.stock("AU-MTWELD", "Nd", kg: 4)])
        try au.commit([Records.stock("AU-MTWELD", "Nd", kg: 5)])
        let (replaced, previous) = try lastReplacedAndPrevious(au)
        #expect(replaced == previous, "the write replaced the other connection's, the newest")
        #expect(try au.query("SELECT quantity_kg FROM stocks").rows == [[.integer(5)]])
        try expectSameAsFresh(au)
    }

    @Test("another connection's write keeps the other records' histories; a change to stored events drops them all")
    func otherConnectionKeepsOrDrops() throws {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-MTWELD")])
        for kg in 1...3 {
            try au.commit([Records.stock("AU-MTWELD", "Nd", kg: Int64(kg))])
            try au.commit([Records.stock("AU-MTWELD", "Li", kg: Int64(kg))])
        }
        let nd = Schema.stocks.makeKey(["AU-MTWELD", "Nd", "oxide"]), li = Schema.stocks.makeKey(["AU-MTWELD", "Li", "oxide"])
        func cached(_ key: String) throws -> (events: [RecordEvent], merged: ResolvedRecord?)? {
            try au.writer.write { db in try au.historyCache.transaction(db) { try au.historyCache.lookup(db, table: "stocks", key: key) } }
        }
        #expect(try cached(li)?.merged != nil, "AU's own writes keep Li's history and its merge")
        let other = try Replica(path: au.path, nodeID: "AU", roster: coalition.roster, signingKey: coalition.keys["AU"],
                                clock: ManualClock(milliseconds: TestTime.start))
        // Another process adds an event to Nd: Li's history stays cached, Nd's is read again.
        try other.commit([Records.stock("AU-MTWELD", "Nd", kg: 4)])
        #expect(try cached(li)?.events.count == 3)
        #expect(try cached(nd) == nil, "Nd has a row the cache lacks")
        // Another process changes a stored event (what a cut does, then merges again): nothing stays.
        try other.writer.write { db in
            try db.execute(sql: "UPDATE paxsync_record_changes SET counts = 0 WHERE tbl = 'stocks' AND key = ? AND seq = 7", arguments: [li])
            try other.remerge(db, ["stocks \(li)"])
        }
        #expect(try cached(li) == nil, "the changed events are read again, not taken from the cache")
        let reread = try au.writer.write { db in try au.loadHistoryMerged(db, table: "stocks", key: li) }
        #expect(reread.events.map(\.counts) == [true, true, false])
        #expect(try au.query("SELECT quantity_kg FROM stocks WHERE mineral = 'Li'").rows == [[.integer(2)]])
    }

    @Test("a transaction rolled back leaves no trace in what the next write reads")
    func rollback() throws {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-MTWELD")])
        for kg in 1...3 { try au.commit([Records.stock("AU-MTWELD", "Nd", kg: Int64(kg))]) }
        // The first change set is applied in the transaction, the second is refused: all rolls back.
        #expect(throws: PaxsyncError.self) {
            try au.commitBatches([Records.stock("AU-MTWELD", "Nd", kg: 99), Records.stock("AU-NOWHERE", "Nd", kg: 1)], batchSize: 1)
        }
        try au.commit([Records.stock("AU-MTWELD", "Nd", kg: 4)])
        let (replaced, previous) = try lastReplacedAndPrevious(au)
        #expect(replaced == previous, "the write replaced AU's last committed write, not the one rolled back")
        #expect(try au.allEntries().count == 5)
        try expectSameAsFresh(au)
    }

    @Test("an event the table does not hold (a commit that failed without a rollback notice) is never used")
    func phantom() throws {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-MTWELD")])
        for kg in 1...3 { try au.commit([Records.stock("AU-MTWELD", "Nd", kg: Int64(kg))]) }
        // What a COMMIT failing on a full disk can leave: the cache has an event, the table not.
        let key = Schema.stocks.makeKey(["AU-MTWELD", "Nd", "oxide"])
        let phantom = RecordEvent(entry: EntryID(origin: "AU", seq: 5), stamp: Stamp(hlc: HLC(physicalMilliseconds: TestTime.start + 1, logical: 0), origin: "AU"),
                                  change: RowChange(table: "stocks", key: key, op: .update, fields: [FieldChange(name: "quantity_kg", value: .integer(77))]))
        try au.writer.write { db in au.historyCache.inserted(db, "stocks \(key)", phantom) }
        try au.commit([Records.stock("AU-MTWELD", "Nd", kg: 4)])
        let (replaced, previous) = try lastReplacedAndPrevious(au)
        #expect(replaced == previous, "the write replaced AU's last committed write, not the phantom")
        try expectSameAsFresh(au)
    }

    @Test("many writes to the same records, locally and from a peer, end where a fresh replica of the log ends")
    func longHistories() throws {
        let au = try coalition.replica("AU", in: dir)
        let jp = try coalition.replica("JP", in: dir)
        try au.commit([Records.facility("AU-MTWELD")])
        try jp.commit([Records.facility("JP-KOBE", kind: "port", country: "JP")])
        _ = try jp.apply(try au.allEntries())
        _ = try au.apply(try jp.allEntries())
        try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP")])
        _ = try jp.apply(try au.allEntries())
        for i in 0..<40 {
            try au.commit([Records.stock("AU-MTWELD", "Nd", ["oxide", "metal"][i % 2], kg: Int64(i))])
            try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["eta": .text("2026-12-\(10 + i % 18)T00:00:00Z")])])
            // The importer edits the same field concurrently now and then: conflicts.
            if i % 3 == 0 {
                try jp.commit([Records.update(Schema.shipments, ["AU-S1"], ["eta": .text("2027-01-\(10 + i % 18)T00:00:00Z")])])
            }
            // And they exchange every few writes, onto long cached histories.
            if i % 7 == 6 {
                _ = try jp.apply(try au.allEntries())
                _ = try au.apply(try jp.allEntries())
            }
        }
        _ = try jp.apply(try au.allEntries())
        _ = try au.apply(try jp.allEntries())
        // One last pair of concurrent edits from the same state: a conflict for sure.
        try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["eta": .text("2027-02-01T00:00:00Z")])])
        try jp.commit([Records.update(Schema.shipments, ["AU-S1"], ["eta": .text("2027-02-02T00:00:00Z")])])
        _ = try jp.apply(try au.allEntries())
        _ = try au.apply(try jp.allEntries())
        #expect(try au.digest() == jp.digest())
        #expect(try au.conflicts() == jp.conflicts())
        #expect(try !au.conflicts().isEmpty, "the concurrent edits left conflicts")
        try expectSameAsFresh(au)
    }
}
