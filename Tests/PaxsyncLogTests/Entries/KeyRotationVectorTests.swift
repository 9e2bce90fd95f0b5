import Crypto
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// Protocol/rotation-vectors.json: AU's chain across a signing-key rotation
/// (PROTOCOL §3.4): AU:1 signed with AU's test key, AU:2 (format 2) naming the
/// next key, AU:3 signed with it, and AU:3 signed with the old key, which must
/// not verify. Regenerate (only when the format changes on purpose) with
/// `PAXSYNC_WRITE_VECTORS=1 swift test --filter RotationVector`.
struct RotationVectors: Codable, Equatable {
    struct Entry: Codable, Equatable {
        let name: String
        let entry: String
        let formatVersion: UInt32
        let bodyHex: String
        let signatureHex: String
        let hashHex: String
        let prevHashHex: String
        /// The key in effect for this entry, which its signature must verify against.
        let keyInEffectHex: String
        /// format 2: the key the origin's later entries are signed with.
        let nextSigningKeyHex: String
        let valid: Bool
    }
    let description: String
    let signingContextHex: String
    /// AU's first key (its roster key) and the key it rotates to.
    let firstPrivateKeyHex: String
    let nextPrivateKeyHex: String
    let entries: [Entry]
}

@Suite("Key rotation vectors")
struct RotationVectorTests {
    static let url = packageRoot.appendingPathComponent("Protocol/rotation-vectors.json")

    static func make() throws -> RotationVectors {
        let first = vectorCoalition.keys["AU"]!.key
        let next = try Curve25519.Signing.PrivateKey(rawRepresentation: Array(SHA256.hash(data: Array("paxsync rotation vector AU".utf8))))
        let nextPublic = Array(next.publicKey.rawRepresentation)
        let t: UInt64 = 1_795_910_400_000 << 16
        let one = SignedEntry(signing: ChangeSet(origin: "AU", seq: 1, hlc: HLC(rawValue: t), prevHash: [], changes: [
            RowChange(table: "facilities", key: "AU-MTWELD", op: .create, fields: [
                FieldChange(name: "name", value: .text("Mount Weld")), FieldChange(name: "kind", value: .text("mine")),
                FieldChange(name: "country", value: .text("AU")), FieldChange(name: "lat", value: .real(-28.86)),
                FieldChange(name: "lon", value: .real(122.55)),
            ]),
        ]), with: first)
        let two = SignedEntry(signing: ChangeSet(origin: "AU", seq: 2, hlc: HLC(rawValue: t + (1 << 16)), prevHash: one.hash,
                                                 changes: [], note: "key rotate", formatVersion: 2, nextSigningKey: nextPublic), with: first)
        let threeBody = ChangeSet(origin: "AU", seq: 3, hlc: HLC(rawValue: t + (2 << 16)), prevHash: two.hash, changes: [
            RowChange(table: "facilities", key: "AU-MTWELD", op: .update, fields: [FieldChange(name: "name", value: .text("Mt Weld"))]),
        ])
        let three = SignedEntry(signing: threeBody, with: next)
        let forged = SignedEntry(signing: threeBody, with: first)
        let firstPublic = Array(first.publicKey.rawRepresentation)
        func vector(_ name: String, _ e: SignedEntry, key: [UInt8], valid: Bool = true) -> RotationVectors.Entry {
            .init(name: name, entry: e.id.description, formatVersion: e.changeSet.formatVersion, bodyHex: e.body.hex,
                  signatureHex: e.signature.hex, hashHex: e.hash.hex, prevHashHex: e.changeSet.prevHash.hex, keyInEffectHex: key.hex,
                  nextSigningKeyHex: (e.changeSet.nextSigningKey ?? []).hex, valid: valid)
        }
        return RotationVectors(
            description: "AU's chain across a key rotation (PROTOCOL.md §3.4). Each entry's signature is Ed25519 over signingContextHex "
                + "and bodyHex, by the key in effect: AU's roster key (the test key of test-vectors.json) for AU:1 and AU:2, the key "
                + "AU:2 names for AU:3. The last vector is AU:3 signed with the old key: it must not verify.",
            signingContextHex: SignedEntry.signingContext.hex,
            firstPrivateKeyHex: Array(first.rawRepresentation).hex, nextPrivateKeyHex: Array(next.rawRepresentation).hex,
            entries: [
                vector("AU:1, signed with AU's first key", one, key: firstPublic),
                vector("AU:2, format 2: rotates AU's key; signed with the key it replaces", two, key: firstPublic),
                vector("AU:3, signed with the key AU:2 installed", three, key: nextPublic),
                vector("AU:3 signed with AU's old key after the rotation: a forgery", forged, key: nextPublic, valid: false),
            ])
    }

    @Test("the committed rotation vectors are exactly what this implementation writes, and each verifies as marked")
    func vectors() throws {
        let vectors = try Self.make()
        let committed = try VectorFile.committed(vectors, at: Self.url)
        #expect(committed == vectors)
        var verifier = LogVerifier(roster: vectorCoalition.roster)
        for (i, v) in committed.entries.enumerated() {
            let entry = try SignedEntry(body: [UInt8](hex: v.bodyHex)!, signature: [UInt8](hex: v.signatureHex)!)
            #expect(entry.verify(publicKey: [UInt8](hex: v.keyInEffectHex)!) == v.valid, "\(v.name)")
            if v.valid {
                try verifier.check(body: entry.body, signature: entry.signature, position: "vector \(i + 1)")
            } else {
                #expect(throws: PaxsyncError.self) { try verifier.check(body: entry.body, signature: entry.signature, position: "forged") }
            }
        }
        #expect(verifier.report.entries == 3 && verifier.report.rotations.count == 1)
    }
}
