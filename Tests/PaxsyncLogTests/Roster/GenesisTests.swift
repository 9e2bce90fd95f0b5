import Crypto
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncTestSupport
import Testing

/// Protocol/genesis-vectors.json: a genesis of AU and JP (the test keys of
/// test-vectors.json), its exact body, coalition id and both founders'
/// signatures. Regenerate (only when the format changes on purpose) with
/// `PAXSYNC_WRITE_VECTORS=1 swift test --filter Genesis`.
struct GenesisVectors: Codable, Equatable {
    struct Founder: Codable, Equatable {
        let id: String
        let country: String
        let name: String
        let address: String
        let publicKeyHex: String
        let tlsPinHex: String
        let signatureHex: String
    }
    let description: String
    let signingContextHex: String
    let coalition: String
    let createdAtMs: UInt64
    let quorumNumerator: UInt32
    let quorumDenominator: UInt32
    let founders: [Founder]
    let bodyHex: String
    let coalitionIdHex: String
    /// The genesis file (`genesis.json`) as `paxsync coalition sign` leaves it.
    let file: String
}

@Suite("Genesis: the signed founding document and the coalition id")
struct GenesisTests {
    static let url = packageRoot.appendingPathComponent("Protocol/genesis-vectors.json")

    /// AU and JP with the published test keys; JP's TLS key pinned, AU's not.
    static func founders() -> Roster {
        var roster = vectorCoalition.roster
        roster.coalition = "Critical Minerals Coalition"
        roster.members[0].name = "Australia"
        roster.members[0].address = "au.example.org:7400"
        roster.members[1].country = "JP"
        roster.members[1].name = "Japan"
        roster.members[1].address = "[2001:db8::5]:7400"
        roster.members[1].tlsPin = Array(SHA256.hash(data: Array("JP's TLS key".utf8))).hex
        return roster
    }

    static func signed() throws -> Genesis {
        var genesis = try Genesis.create(roster: founders(), createdAtMilliseconds: 1_795_910_400_000, source: "test")
        for id in ["AU", "JP"] { try genesis.sign(as: id, key: vectorCoalition.keys[id]!, source: "test") }
        return genesis
    }

    static func make() throws -> GenesisVectors {
        let genesis = try signed()
        return GenesisVectors(
            description: "A genesis (Protocol/paxsync_log.proto, message Genesis; PROTOCOL.md §2.2) of AU and JP with the test keys "
                + "of test-vectors.json. bodyHex is the exact serialization the founders sign: each signatureHex is Ed25519 "
                + "(RFC 8032, deterministic) over signingContextHex followed by the body; coalitionIdHex is SHA-256 of the body. "
                + "tlsPinHex is empty for a member without a pin.",
            signingContextHex: Genesis.signingContext.hex, coalition: genesis.roster.coalition,
            createdAtMs: genesis.createdAtMilliseconds, quorumNumerator: genesis.quorum.numerator,
            quorumDenominator: genesis.quorum.denominator,
            founders: genesis.roster.members.map { m in
                GenesisVectors.Founder(id: m.id, country: m.country, name: m.name, address: m.address, publicKeyHex: m.publicKeyBytes.hex,
                                       tlsPinHex: m.tlsPin ?? "", signatureHex: genesis.signatures[m.id]!.hex)
            },
            bodyHex: genesis.body.hex, coalitionIdHex: genesis.coalitionID,
            file: String(decoding: genesis.encoded(), as: UTF8.self))
    }

    @Test("the committed genesis vectors are exactly what this implementation writes and signs")
    func vectors() throws {
        let vectors = try Self.make()
        let committed = try VectorFile.committed(vectors, at: Self.url)
        #expect(committed == vectors)
        // The committed file reads back: body, id and both signatures check.
        let read = try Genesis.decode(Data(committed.file.utf8), source: "genesis-vectors.json")
        #expect(read.body.hex == committed.bodyHex && read.coalitionID == committed.coalitionIdHex && read.isComplete)
        #expect(Array(SHA256.hash(data: [UInt8](hex: committed.bodyHex)!)).hex == committed.coalitionIdHex)
    }

    @Test("signing: only founders, only with their own key; every signature is checked when the file is read")
    func signing() throws {
        var genesis = try Genesis.create(roster: Self.founders(), createdAtMilliseconds: 1, source: "g")
        #expect(genesis.unsigned == ["AU", "JP"] && !genesis.isComplete)
        #expect(throws: PaxsyncError.self) { try genesis.requireComplete(source: "g") }
        #expect(throws: PaxsyncError.self) { try genesis.sign(as: "AU", key: vectorCoalition.keys["JP"]!, source: "g") }
        #expect(throws: PaxsyncError.self) { try genesis.sign(as: "KR", key: NodeSigningKey(), source: "g") }
        try genesis.sign(as: "AU", key: vectorCoalition.keys["AU"]!, source: "g")
        #expect(genesis.unsigned == ["JP"])
        // JP's signature over another body does not count for this one.
        var other = try Genesis.create(roster: Self.founders(), createdAtMilliseconds: 2, source: "h")
        try other.sign(as: "JP", key: vectorCoalition.keys["JP"]!, source: "h")
        #expect(throws: PaxsyncError.self) { try genesis.add(signature: other.signatures["JP"]!, by: "JP", source: "g") }
        try genesis.sign(as: "JP", key: vectorCoalition.keys["JP"]!, source: "g")
        try genesis.requireComplete(source: "g")
        #expect(try Genesis.decode(genesis.encoded(), source: "g") == genesis)
    }

    @Test("a tampered file is refused, naming what is wrong", arguments: [
        ("body", "does not verify"), ("coalitionId", "is not the SHA-256 of the body"), ("signature", "does not verify"),
        ("stranger", "is not one of its founders"), ("format", "format 2 is not supported"),
    ])
    func tampered(what: String, mention: String) throws {
        var file = try JSONSerialization.jsonObject(with: Self.signed().encoded()) as! [String: Any]
        switch what {
        case "body":
            // Another creation time: a valid genesis, but not the one the founders signed.
            let other = try Genesis.create(roster: Self.founders(), createdAtMilliseconds: 7, source: "x")
            file["body"] = Data(other.body).base64EncodedString()
            file["coalitionId"] = nil
        case "coalitionId": file["coalitionId"] = String(repeating: "0", count: 64)
        case "signature":
            var signatures = file["signatures"] as! [String: String]
            var bytes = Array(Data(base64Encoded: signatures["JP"]!)!)
            bytes[10] ^= 1
            signatures["JP"] = Data(bytes).base64EncodedString()
            file["signatures"] = signatures
        case "stranger":
            var signatures = file["signatures"] as! [String: String]
            signatures["KR"] = signatures["JP"]
            file["signatures"] = signatures
        default: file["format"] = 2
        }
        do {
            _ = try Genesis.decode(JSONSerialization.data(withJSONObject: file), source: "genesis.json")
            Issue.record("a tampered genesis (\(what)) was accepted")
        } catch let error as PaxsyncError {
            #expect(error.subject == "genesis.json" && error.message.contains(mention), "\(error)")
        }
    }

    @Test("a bundle header carries the genesis and its signatures; a forged signature fails reading the header")
    func bundleHeader() throws {
        let genesis = try Self.signed()
        let header = BundleFormat.Header(exportedBy: "AU", exportedAtMilliseconds: 1, roster: genesis.roster, entryCount: 0, genesis: genesis)
        let bytes = BundleFormat.encodeHeader(header)
        #expect(try BundleFormat.decodeHeader(bytes, source: "b").genesis == genesis)
        var signature = genesis.signatures["JP"]!
        signature[0] ^= 1
        // A hostile writer's header: JP's signature altered, the rest as written.
        let tampered = bytes.replacing(genesis.signatures["JP"]!, with: signature)
        #expect(tampered != bytes)
        #expect(throws: PaxsyncError.self) { try BundleFormat.decodeHeader(tampered, source: "b") }
        let plain = BundleFormat.encodeHeader(.init(exportedBy: "AU", exportedAtMilliseconds: 1, roster: genesis.roster, entryCount: 0))
        #expect(try BundleFormat.decodeHeader(plain, source: "b").genesis == nil)
    }

    @Test("the quorum rule: approvals must exceed the fraction of active members", arguments: [
        (1, 2, 5, 3), (1, 2, 4, 3), (1, 2, 1, 1), (2, 3, 6, 5), (2, 3, 5, 4), (1, 3, 9, 4),
    ])
    func quorum(numerator: UInt32, denominator: UInt32, active: Int, required: Int) {
        let quorum = Genesis.Quorum(numerator: numerator, denominator: denominator)
        #expect(quorum.needed(active: active) == required)
        // The definition: the fewest approvals a with a × d > active × n.
        #expect(required * Int(denominator) > active * Int(numerator) && (required - 1) * Int(denominator) <= active * Int(numerator))
    }

    @Test("a quorum that is not a fraction between 0 and 1 is refused", arguments: [(0, 2), (2, 2), (3, 2), (1, 101), (0, 0)])
    func badQuorum(numerator: UInt32, denominator: UInt32) {
        #expect(throws: PaxsyncError.self) {
            try Genesis.create(roster: Self.founders(), createdAtMilliseconds: 1,
                               quorum: .init(numerator: numerator, denominator: denominator), source: "g")
        }
    }
}

@Suite("TLS pins after a rotation by entry")
struct RotatedTLSPinTests {
    @Test("the new pin is accepted; the previous one only until its grace period ends")
    func previousPinGrace() {
        var member = RosterMember(id: "KR", country: "KR", name: "Korea", signingKey: "", address: "x", tlsPin: String(repeating: "b", count: 64))
        member.tlsPinPrevious = String(repeating: "a", count: 64)
        member.tlsPinPreviousUntil = 1_000
        #expect(member.acceptsTLSPin(String(repeating: "b", count: 64), nowMilliseconds: 5_000))
        #expect(member.acceptsTLSPin(String(repeating: "a", count: 64), nowMilliseconds: 1_000))
        #expect(!member.acceptsTLSPin(String(repeating: "a", count: 64), nowMilliseconds: 1_001))
        #expect(!member.acceptsTLSPin(String(repeating: "c", count: 64), nowMilliseconds: 0))
    }
}
