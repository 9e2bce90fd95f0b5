import Crypto
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncTestSupport
import Testing

/// Protocol/test-vectors.json: exact keys, bodies, hashes and signatures that
/// any implementation of PROTOCOL.md must reproduce. Regenerate (only when the
/// format changes on purpose) with `PAXSYNC_WRITE_VECTORS=1 swift test --filter TestVector`.
struct TestVectors: Codable, Equatable {
    struct Member: Codable, Equatable {
        let id: String
        let privateKeyHex: String
        let publicKeyHex: String
    }
    struct Entry: Codable, Equatable {
        let name: String
        let entry: String
        let bodyHex: String
        let signingInputHex: String
        let signatureHex: String
        let hashHex: String
        let prevHashHex: String
        let valid: Bool
    }
    struct DigestVector: Codable, Equatable {
        let description: String
        let rows: [[String]]
        let digestHex: String
    }
    let format: Int
    let note: String
    let signingContextHex: String
    let members: [Member]
    let entries: [Entry]
    let digest: DigestVector
}

func repositoryRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

func makeVectors() -> TestVectors {
    let c = TestCoalition(["AU", "JP"], seed: 42)
    let first = c.sign(sampleChangeSet())
    var secondCS = sampleChangeSet(seq: 2, prev: first.hash)
    secondCS.hlc = HLC(physicalMilliseconds: TestTime.start + 1000, logical: 0)
    secondCS.changes = [secondCS.changes[3]]
    secondCS.note = ""
    let second = c.sign(secondCS)
    var forgedSig = second.signature
    forgedSig[0] ^= 0x01

    func vector(_ name: String, _ e: SignedEntry, signature: [UInt8]? = nil, valid: Bool = true) -> TestVectors.Entry {
        TestVectors.Entry(name: name, entry: e.id.description, bodyHex: e.body.hex,
                          signingInputHex: (SignedEntry.signingContext + e.body).hex,
                          signatureHex: (signature ?? e.signature).hex, hashHex: e.hash.hex,
                          prevHashHex: e.changeSet.prevHash.hex, valid: valid)
    }
    var d = StateDigest()
    let rows: [[FieldValue]] = [[.text("AU-MTWELD"), .text("AU"), .text("Mount Weld"), .text("mine"), .text("AU"), .real(-28.86), .real(122.55)]]
    for table in Schema.tables {
        d.beginTable(table.name)
        if table.name == "facilities" { rows.forEach { d.addRow($0) } }
    }
    return TestVectors(
        format: 1,
        note: "Test keys only. Ed25519 per RFC 8032 (deterministic); SHA-256; protobuf bodies as in Protocol/paxsync_log.proto.",
        signingContextHex: SignedEntry.signingContext.hex,
        members: c.ids.map { id in
            TestVectors.Member(id: id, privateKeyHex: Array(c.keys[id]!.key.rawRepresentation).hex,
                               publicKeyHex: Array(c.keys[id]!.key.publicKey.rawRepresentation).hex)
        },
        entries: [
            vector("AU:1, every operation and value type", first),
            vector("AU:2, chained to AU:1", second),
            vector("AU:2 with one signature bit flipped: must not verify", second, signature: forgedSig, valid: false),
        ],
        digest: TestVectors.DigestVector(
            description: "State digest of a replica holding only the facility AU-MTWELD (columns id, owner, name, kind, country, latitude, longitude); other tables empty",
            rows: rows.map { $0.map(\.description) }, digestHex: d.finalize()))
}

@Suite("Test vectors")
struct TestVectorTests {
    let url = repositoryRoot().appendingPathComponent("Protocol/test-vectors.json")

    @Test("the committed vectors are exactly what this implementation produces")
    func matchesImplementation() throws {
        let vectors = makeVectors()
        if ProcessInfo.processInfo.environment["PAXSYNC_WRITE_VECTORS"] == "1" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try (encoder.encode(vectors) + Data("\n".utf8)).write(to: url)
        }
        let committed = try JSONDecoder().decode(TestVectors.self, from: Data(contentsOf: url))
        #expect(committed == vectors)
    }

    @Test("every committed vector checks from its bytes alone: decode, hash, chain, signature")
    func checkFromBytes() throws {
        let v = try JSONDecoder().decode(TestVectors.self, from: Data(contentsOf: url))
        let keys = Dictionary(uniqueKeysWithValues: v.members.map { ($0.id, [UInt8](hex: $0.publicKeyHex)!) })
        for m in v.members {
            let priv = try Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](hex: m.privateKeyHex)!)
            #expect(Array(priv.publicKey.rawRepresentation).hex == m.publicKeyHex)
        }
        var lastHash: [String: String] = [:]
        for e in v.entries {
            let entry = try SignedEntry(body: [UInt8](hex: e.bodyHex)!, signature: [UInt8](hex: e.signatureHex)!)
            #expect(entry.id.description == e.entry)
            #expect(entry.hash.hex == e.hashHex)
            #expect((SignedEntry.signingContext + entry.body).hex == e.signingInputHex)
            #expect(entry.verify(publicKey: keys[entry.changeSet.origin]!) == e.valid, "\(e.name)")
            if e.valid {
                #expect(e.prevHashHex == (lastHash[entry.changeSet.origin] ?? ""), "\(e.name)")
                lastHash[entry.changeSet.origin] = e.hashHex
            }
        }
    }
}
