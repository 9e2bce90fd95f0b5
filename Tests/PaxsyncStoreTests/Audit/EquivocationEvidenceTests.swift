import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Equivocation evidence")
struct EquivocationEvidenceTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    /// JP, having applied AU:1 and then been sent a different AU:1 (and KR's likewise).
    func forked() throws -> (jp: Replica, pairs: [(SignedEntry, SignedEntry)]) {
        let jp = try coalition.replica("JP", in: dir)
        var pairs: [(SignedEntry, SignedEntry)] = []
        for origin in ["KR", "AU"] {
            let node = try coalition.replica(origin, in: dir)
            try node.commit([Records.facility("\(origin)-A")])
            let first = try node.allEntries()[0]
            var fork = first.changeSet
            fork.changes = [RowChange(table: "facilities", key: "\(origin)-B", op: .create, fields: fields(Records.facility("\(origin)-B")))]
            let second = coalition.sign(fork)
            try jp.apply([first])
            guard case .equivocation = try jp.apply([second])[0] else { throw PaxsyncError(.invalidState, "not detected") }
            pairs.append((first, second))
        }
        return (jp, pairs)
    }

    @Test("both entries of every equivocation, by origin, under a header with the roster's keys and the entry count")
    func collects() throws {
        let (jp, pairs) = try forked()
        let evidence = try jp.equivocationEvidence(exportedAt: TestTime.start)
        #expect(evidence.pairs.map(\.first.id.description) == ["AU:1", "KR:1"])
        #expect(evidence.pairs.map(\.first) == [pairs[1].0, pairs[0].0])
        #expect(evidence.pairs.map(\.second) == [pairs[1].1, pairs[0].1])
        #expect(evidence.entries == [pairs[1].0, pairs[1].1, pairs[0].0, pairs[0].1])
        #expect(evidence.header.exportedBy == "JP")
        #expect(evidence.header.exportedAtMilliseconds == TestTime.start)
        #expect(evidence.header.entryCount == 4)
        #expect(evidence.header.roster == jp.roster)
    }

    @Test("written as a bundle, it reads back entry for entry, byte for byte")
    func roundTrip() throws {
        let (jp, _) = try forked()
        let evidence = try jp.equivocationEvidence(exportedAt: TestTime.start)
        let path = dir.file("forks.pxb")
        try BundleWriter.write(evidence.header, entries: evidence.entries, to: path)
        let reader = try BundleReader(path: path)
        #expect(reader.header.entryCount == 4 && reader.header.exportedBy == "JP")
        var read: [SignedEntry] = []
        while let (body, signature) = try reader.nextRaw() { read.append(try SignedEntry(body: body, signature: signature)) }
        #expect(read == evidence.entries)
        for entry in read { #expect(entry.verify(publicKey: coalition.roster.member(entry.changeSet.origin)!.publicKeyBytes)) }
    }

    @Test("a node that saw no equivocation gives empty evidence")
    func none() throws {
        let jp = try coalition.replica("JP", in: dir)
        let evidence = try jp.equivocationEvidence(exportedAt: TestTime.start)
        #expect(evidence.pairs.isEmpty && evidence.entries.isEmpty && evidence.header.entryCount == 0)
    }
}
