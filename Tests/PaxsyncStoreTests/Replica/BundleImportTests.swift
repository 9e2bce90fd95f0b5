import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Bundle import: a bundle's entries through the apply path")
struct BundleImportTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    /// AU with a few records, and a bundle of its log.
    func exported() throws -> (Replica, String) {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-MTWELD"), Records.facility("AU-KWINANA", kind: "refinery")])
        try au.commit([Records.stock("AU-MTWELD", "Nd", kg: 4000)])
        try au.commit([Records.pledge("POOL", "Li", member: "AU", adjust: 500)])
        let path = dir.file("au.pxb")
        _ = try Replay.exportBundle(au, to: path, now: TestTime.start)
        return (au, path)
    }

    @Test("every entry is applied, the state matches, and progress reaches the announced total")
    func importsAll() throws {
        let (au, path) = try exported()
        let jp = try coalition.replica("JP", in: dir)
        var reported: [(Int, Int?)] = []
        let summary = try jp.importBundle(at: path) { reported.append(($0, $1)) }
        var expected = ImportSummary()
        expected.applied = try au.logCount()
        #expect(summary == expected)
        #expect(try jp.digest().hex == au.digest().hex)
        let last = try #require(reported.last)
        #expect(last.0 == expected.applied && last.1 == expected.applied)
    }

    @Test("importing the same bundle again applies nothing: every entry is a duplicate")
    func reimport() throws {
        let (au, path) = try exported()
        let jp = try coalition.replica("JP", in: dir)
        _ = try jp.importBundle(at: path)
        let again = try jp.importBundle(at: path)
        let count = try au.logCount()
        #expect(again.applied == 0 && again.duplicate == count)
    }

    @Test("batches of many entries import whole, across transaction boundaries")
    func manyBatches() throws {
        let au = try coalition.replica("AU", in: dir)
        try au.commitBatches((0..<1_100).map { Records.facility("AU-F\($0)") }, batchSize: 1)
        let path = dir.file("big.pxb")
        _ = try Replay.exportBundle(au, to: path, now: TestTime.start)
        let jp = try coalition.replica("JP", in: dir)
        #expect(try jp.importBundle(at: path).applied == 1_100)
        #expect(try jp.digest().hex == au.digest().hex)
    }

    @Test("bytes that do not decode are quarantined and counted; the other entries still apply")
    func undecodable() throws {
        let (au, _) = try exported()
        let entries = try au.allEntries()
        let header = BundleFormat.Header(exportedBy: "AU", exportedAtMilliseconds: TestTime.start, roster: coalition.roster,
                                         entryCount: UInt64(entries.count + 1))
        // An envelope (field 1: body, field 2: signature) whose body is hostile.
        let hostile: [UInt8] = [0x0A, UInt8(HostileBodies.hugeLength.count)] + HostileBodies.hugeLength + [0x12, 64]
            + Array(repeating: 0, count: 64)
        var bytes = BundleFormat.magic + BundleFormat.frame(BundleFormat.encodeHeader(header)) + BundleFormat.frame(hostile)
        for entry in entries { bytes += BundleFormat.frame(entry.envelopeBytes()) }
        let path = dir.file("poisoned.pxb")
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let jp = try coalition.replica("JP", in: dir)
        let summary = try jp.importBundle(at: path)
        #expect(summary.quarantined == 1 && summary.applied == entries.count)
        #expect(try jp.quarantined().map(\.code) == ["malformed-entry"])
    }

    @Test("an entry whose chain predecessor is missing is held, and counted as held")
    func held() throws {
        let (au, _) = try exported()
        let entries = try au.allEntries()
        let path = dir.file("tail.pxb")
        let writer = try BundleWriter(path: path, header: .init(exportedBy: "AU", exportedAtMilliseconds: TestTime.start,
                                                                roster: coalition.roster, entryCount: 1))
        try writer.append(entries[2])
        try writer.close()
        let jp = try coalition.replica("JP", in: dir)
        #expect(try jp.importBundle(at: path).held == 1)
    }

    @Test("the JSON form lists the outcomes met, and released always")
    func encoding() throws {
        var summary = ImportSummary()
        summary.applied = 3
        summary.quarantined = 1
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(summary), as: UTF8.self)
        #expect(json == #"{"applied":3,"quarantined":1,"released":0}"#)
        #expect(summary.namedCounts.map(\.name) == ["applied", "duplicate", "held", "quarantined", "equivocation", "superseded", "released"])
    }
}
