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
    packageRoot
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

/// The state digest's byte stream as PROTOCOL.md §9 describes it, written out
/// here from the text alone (not with `StateDigest`), so the committed vector
/// and the implementation are both checked against the specification.
enum SpecDigest {
    enum Cell {
        case null
        case integer(Int64)
        case real(Double)
        case text(String)
    }

    /// §9 item 2: the four tables in this order.
    static let tableOrder = ["facilities", "stocks", "shipments", "reserve_pledges"]

    static func bigEndian32(_ n: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: UInt32(n) >> $0) } }
    static func bigEndian64(_ n: UInt64) -> [UInt8] { [56, 48, 40, 32, 24, 16, 8, 0].map { UInt8(truncatingIfNeeded: n >> $0) } }

    /// SHA-256, lowercase hex, of the stream for `rows` by table name (tables absent are empty).
    static func digest(_ rows: [String: [[Cell]]]) -> String {
        var stream = Array("paxsync-state-v1".utf8) + [0x00]
        for table in tableOrder {
            stream += [0x54] + bigEndian32(table.utf8.count) + Array(table.utf8)   // "T"
            for row in rows[table] ?? [] {
                stream.append(0x52)   // "R"
                for cell in row {
                    switch cell {
                    case .null: stream.append(0x4E)   // "N"
                    case .integer(let i): stream += [0x49] + bigEndian64(UInt64(bitPattern: i))   // "I"
                    case .real(let d): stream += [0x46] + bigEndian64(d == 0 ? 0 : d.bitPattern)   // "F", −0.0 as +0.0
                    case .text(let s): stream += [0x53] + bigEndian32(s.utf8.count) + Array(s.utf8)   // "S"
                    }
                }
            }
        }
        return SHA256.hash(data: stream).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }
}

@Suite("State digest against PROTOCOL.md §9")
struct StateDigestSpecTests {
    @Test("the committed digest vector is SHA-256 of the §9 byte stream, encoded from the text")
    func committedVector() throws {
        let v = try JSONDecoder().decode(TestVectors.self, from: Data(contentsOf: repositoryRoot().appendingPathComponent("Protocol/test-vectors.json")))
        // Columns id, owner, name, kind, country (text), latitude, longitude (reals, §9).
        let rows: [[SpecDigest.Cell]] = try v.digest.rows.map { row in
            try #require(row.count == 7)
            return try row[0..<5].map { .text($0) } + row[5..<7].map { .real(try #require(Double($0))) }
        }
        #expect(rows.count == 1)
        #expect(v.digest.digestHex == SpecDigest.digest(["facilities": rows]))
    }

    @Test("StateDigest encodes null, integers, reals (−0.0 as +0.0, whole reals as reals) and UTF-8 text as §9 says")
    func everyValueType() {
        let stock: [FieldValue] = [.text("AU-MTWELD"), .text("Nd"), .text("oxide"), .text("AU"), .integer(-5), .null, .text("2026-11-28")]
        let facility: [FieldValue] = [.text("JP-KŌBE"), .text("JP"), .text("神戸"), .text("port"), .text("JP"), .real(-0.0), .real(135)]
        var implementation = StateDigest()
        for table in SpecDigest.tableOrder {
            implementation.beginTable(table)
            if table == "facilities" { implementation.addRow(facility) }
            if table == "stocks" { implementation.addRow(stock) }
        }
        let spec = SpecDigest.digest([
            "facilities": [[.text("JP-KŌBE"), .text("JP"), .text("神戸"), .text("port"), .text("JP"), .real(0.0), .real(135.0)]],
            "stocks": [[.text("AU-MTWELD"), .text("Nd"), .text("oxide"), .text("AU"), .integer(-5), .null, .text("2026-11-28")]],
        ])
        #expect(implementation.finalize() == spec)
        // And the encoding matters: an integer where a real belongs changes the digest.
        let wrongType = SpecDigest.digest([
            "facilities": [[.text("JP-KŌBE"), .text("JP"), .text("神戸"), .text("port"), .text("JP"), .real(0.0), .integer(135)]],
            "stocks": [[.text("AU-MTWELD"), .text("Nd"), .text("oxide"), .text("AU"), .integer(-5), .null, .text("2026-11-28")]],
        ])
        #expect(wrongType != spec)
        #expect(SpecDigest.digest([:]) == { var empty = StateDigest(); SpecDigest.tableOrder.forEach { empty.beginTable($0) }; return empty.finalize() }())
    }
}
