import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("paxsync quarantine --evidence")
struct QuarantineEvidenceTests {
    @Test("writes both signed entries of every equivocation to a bundle carrying the roster's keys")
    func evidence() async throws {
        let node = try CoalitionNode("AU")
        let au = try node.replica()
        let (first, second) = try node.coalition.fork("JP", in: node.dir)
        #expect(try au.apply([first, second]).map(\.description) == [
            "applied",
            "equivocation: JP signed two different entries at JP:1: \(first.hash.hex.prefix(16))… and \(second.hash.hex.prefix(16))…",
        ])
        let path = node.dir.file("forks.pxb")

        let out = try await node.paxsync.ok(["quarantine", "--evidence", path])
        #expect(out == "Wrote 1 equivocation(s) (2 entries) to \(path)\n")

        let reader = try BundleReader(path: path)
        #expect(reader.header.exportedBy == "AU" && reader.header.entryCount == 2)
        #expect(reader.header.roster.members.map(\.id) == ["AU", "JP", "KR"])
        #expect(reader.header.roster.members.map(\.signingKey) == node.coalition.roster.members.map(\.signingKey))
        var entries: [SignedEntry] = []
        while let (body, signature) = try reader.nextRaw() { entries.append(try SignedEntry(body: body, signature: signature)) }
        #expect(entries.map(\.body) == [first.body, second.body])
        #expect(entries.map(\.signature) == [first.signature, second.signature])
        let jpKey = try #require(node.coalition.roster.member("JP")).publicKeyBytes
        #expect(entries.allSatisfy { $0.verify(publicKey: jpKey) }, "both are JP's own signatures: the evidence")

        let report = try await node.paxsync.ok(["quarantine", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(report.utf8)) as! [String: Any]
        let equivocations = json["equivocations"] as! [[String: Any]]
        #expect(equivocations.map { $0["entry"] as? String } == ["JP:1"])
        #expect(equivocations.map { $0["hashA"] as? String } == [first.hash.hex])
        #expect(equivocations.map { $0["hashB"] as? String } == [second.hash.hex])
    }

    @Test("with no equivocation it writes an empty bundle and says so")
    func noEvidence() async throws {
        let node = try CoalitionNode("AU")
        let path = node.dir.file("none.pxb")
        #expect(try await node.paxsync.ok(["quarantine", "--evidence", path]) == "Wrote 0 equivocation(s) (0 entries) to \(path)\n")
        let reader = try BundleReader(path: path)
        #expect(reader.header.entryCount == 0)
        #expect(try reader.nextRaw() == nil)
    }
}
