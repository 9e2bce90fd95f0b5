import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Signing-key rotation (PROTOCOL §3.4)")
struct KeyRotationTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory("paxsync-rotate")

    /// AU writes, rotates to a new key, and writes again with it. Returns AU's
    /// replica (reopened with the new key), its entries and the new key.
    func rotatedAU() throws -> (Replica, [SignedEntry], NodeSigningKey) {
        let au = try coalition.replica("AU", in: dir)
        try au.commit([Records.facility("AU-A")])
        let next = NodeSigningKey()
        let rotation = try au.rotateSigningKey(to: next)
        #expect(rotation.changeSet.formatVersion == 2 && rotation.changeSet.changes.isEmpty)
        #expect(rotation.changeSet.nextSigningKey == Array(next.key.publicKey.rawRepresentation))
        // The old key may no longer write; the replica opens only with the new one.
        #expect(throws: PaxsyncError.self) { try au.commit([Records.facility("AU-X")]) }
        #expect(throws: PaxsyncError.self) {
            try Replica(path: au.path, nodeID: "AU", roster: coalition.roster, signingKey: coalition.keys["AU"]!,
                        clock: ManualClock(milliseconds: TestTime.start + 10))
        }
        let reopened = try Replica(path: au.path, nodeID: "AU", roster: coalition.roster, signingKey: next,
                                   clock: ManualClock(milliseconds: TestTime.start + 10))
        try reopened.commit([Records.facility("AU-B")])
        #expect(try reopened.currentSigningKey() == Array(next.key.publicKey.rawRepresentation))
        return (reopened, try reopened.allEntries(), next)
    }

    @Test("entries before the rotation verify with the old key, after it with the new one, in one batch too")
    func peersFollowTheChain() async throws {
        let (au, entries, next) = try rotatedAU()
        #expect(entries.map(\.id.description) == ["AU:1", "AU:2", "AU:3"])
        let old = coalition.roster.member("AU")!.publicKeyBytes
        #expect(entries[0].verify(publicKey: old) && entries[1].verify(publicKey: old))
        #expect(entries[2].verify(publicKey: Array(next.key.publicKey.rawRepresentation)) && !entries[2].verify(publicKey: old))
        let jp = try coalition.replica("JP", in: dir)
        let result = try await jp.applyReceived(entries.map { ($0.body, $0.signature) })
        #expect(result.applied == 3, "\(result)")
        #expect(try jp.digest() == au.digest())
        #expect(try jp.quarantined().isEmpty)
        #expect(entries.allSatisfy { jp.signatureIsValid($0) })
    }

    @Test("after the rotation, an entry signed with the old key is a forgery: quarantined, blocking nothing")
    func oldKeyAfterRotation() throws {
        let (_, entries, _) = try rotatedAU()
        let forged = coalition.sign(entries[2].changeSet, as: "AU")   // AU:3's body, signed with AU's first key
        let jp = try coalition.replica("JP", in: dir)
        #expect(try jp.apply(Array(entries[0...1])) == [.applied, .applied])
        guard case .quarantined(let error) = try jp.apply([forged])[0] else { Issue.record("the old key still signs"); return }
        #expect(error.code == .badSignature && error.message.contains("current key"), "\(error)")
        #expect(try jp.apply([entries[2]]) == [.applied], "the genuine AU:3 still applies")
    }

    @Test("an entry signed with the new key that arrives before the rotation is judged again once the rotation is applied")
    func newKeyBeforeRotation() throws {
        let (au, entries, _) = try rotatedAU()
        let jp = try coalition.replica("JP", in: dir)
        guard case .quarantined(let error) = try jp.apply([entries[2]])[0] else { Issue.record("AU:3 was not quarantined"); return }
        #expect(error.code == .badSignature)
        #expect(try jp.apply(Array(entries[0...1])) == [.applied, .applied])
        #expect(try jp.logCount() == 3, "AU:3 was applied once AU:2 installed its key")
        #expect(try jp.quarantined().isEmpty)
        #expect(try jp.digest() == au.digest())
    }

    @Test("the log verifier and a bundle follow the rotation; a rotation to the current key is refused")
    func verifierAndBundle() throws {
        let (au, entries, next) = try rotatedAU()
        var verifier = LogVerifier(roster: coalition.roster)
        for (i, e) in entries.enumerated() { try verifier.check(body: e.body, signature: e.signature, position: "entry \(i + 1)") }
        #expect(verifier.report.ok && verifier.report.entries == 3 && verifier.report.rotations.count == 1)
        // The old key signing AU:3 fails the verifier too.
        var strict = LogVerifier(roster: coalition.roster)
        let forged = coalition.sign(entries[2].changeSet, as: "AU")
        for e in entries[0...1] { try strict.check(body: e.body, signature: e.signature, position: "x") }
        #expect(throws: PaxsyncError.self) { try strict.check(body: forged.body, signature: forged.signature, position: "x") }
        #expect(throws: PaxsyncError.self) { try au.rotateSigningKey(to: next) }
    }

    @Test("format 2 must name a 32-byte next key; format 1 may not; format 4 is held")
    func structure() throws {
        let base = ChangeSet(origin: "AU", seq: 1, hlc: HLC(rawValue: 1 << 16), prevHash: [], changes: [])
        var rotation = base
        rotation.formatVersion = 2
        rotation.nextSigningKey = [UInt8](repeating: 7, count: 32)
        try EntryRules.checkStructure(rotation, members: ["AU"])
        var short = rotation
        short.nextSigningKey = [1, 2, 3]
        #expect(throws: PaxsyncError.self) { try EntryRules.checkStructure(short, members: ["AU"]) }
        var missing = rotation
        missing.nextSigningKey = nil
        #expect(throws: PaxsyncError.self) { try EntryRules.checkStructure(missing, members: ["AU"]) }
        var smuggled = base
        smuggled.changes = [RowChange(table: "facilities", key: "AU-A", op: .delete)]
        smuggled.nextSigningKey = rotation.nextSigningKey
        #expect(throws: PaxsyncError.self) { try EntryRules.checkStructure(smuggled, members: ["AU"]) }
        var future = rotation
        future.formatVersion = 4
        #expect(EntryRules.unsupportedVersion(future) != nil && EntryRules.unsupportedVersion(rotation) == nil)
        // The body round-trips with its key.
        #expect(try ChangeSet(body: rotation.serializedBody()) == rotation)
    }

    @Test("a replica written before rotations existed (committed fixture) migrates, losing nothing, and can rotate")
    func migratesFixture() throws {
        let fixture = packageRoot.appendingPathComponent("Tests/Fixtures/replica-v1").path
        let copy = dir.file("fixture-\(UUID().uuidString.prefix(6))")
        try FileManager.default.copyItem(atPath: fixture, toPath: copy)
        let roster = try Roster.decode(Data(contentsOf: URL(fileURLWithPath: copy + "/roster.json")), source: "fixture roster")
        let key = try NodeSigningKey(fileContents: String(contentsOfFile: copy + "/node.key", encoding: .utf8), source: "fixture key")
        // Read-only first: the un-migrated file is readable as it is.
        let readOnly = try Replica(path: copy + "/replica.sqlite", nodeID: "AU", roster: roster,
                                   configuration: ReplicaConfiguration(readOnly: true))
        let digest = "32f4a6d1df3d4207ce8f7ff8bfc988379919540519723d542236cf88b3b95399"
        #expect(try readOnly.digest().hex == digest)
        #expect(try readOnly.allEntries().allSatisfy { readOnly.signatureIsValid($0) })
        let replica = try Replica(path: copy + "/replica.sqlite", nodeID: "AU", roster: roster, signingKey: key)
        #expect(try replica.digest().hex == digest && replica.logCount() == 2)
        let next = NodeSigningKey()
        try replica.rotateSigningKey(to: next)
        #expect(try replica.currentSigningKey() == Array(next.key.publicKey.rawRepresentation))
    }
}
