import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncTestSupport
import Testing

let coalition = TestCoalition(["AU", "JP"])

func sampleChangeSet(seq: UInt64 = 1, prev: [UInt8] = []) -> ChangeSet {
    ChangeSet(origin: "AU", seq: seq, hlc: HLC(physicalMilliseconds: TestTime.start, logical: 3), prevHash: prev,
              deps: ["JP": 4], changes: [
                RowChange(table: "facilities", key: "AU-MTWELD", op: .create, fields: [
                    FieldChange(name: "name", value: .text("Mount Weld")), FieldChange(name: "kind", value: .text("mine")),
                    FieldChange(name: "country", value: .text("AU")), FieldChange(name: "latitude", value: .real(-28.86)),
                    FieldChange(name: "longitude", value: .real(122.55)),
                ]),
                RowChange(table: "stocks", key: "AU-MTWELD/Nd/oxide", op: .update, fields: [
                    FieldChange(name: "quantity_kg", value: .integer(120_000),
                                replaced: Stamp(hlc: HLC(physicalMilliseconds: TestTime.start - 5, logical: 0), origin: "AU")),
                    FieldChange(name: "grade_pct", value: .null),
                ]),
                RowChange(table: "shipments", key: "AU-S1", op: .delete,
                          replaced: Stamp(hlc: HLC(physicalMilliseconds: TestTime.start - 9, logical: 1), origin: "JP")),
                RowChange(table: "reserve_pledges", key: "POOL/Li/AU", op: .adjust,
                          fields: [FieldChange(name: "share_kg", value: .integer(-250))]),
              ], note: "sample")
}

@Suite("Entry format")
struct EntryFormatTests {
    @Test("a change set survives serialization to body bytes and back, exactly")
    func roundTrip() throws {
        let cs = sampleChangeSet()
        let body = cs.serializedBody()
        #expect(try ChangeSet(body: body) == cs)
        #expect(cs.serializedBody() == body, "serialization is deterministic")
    }

    @Test("row changes round-trip on their own (the per-record merge store)")
    func rowChangeRoundTrip() throws {
        for change in sampleChangeSet().changes {
            #expect(try RowChange(serialized: change.serialized()) == change)
        }
    }

    @Test("a signed entry verifies with its origin's key only")
    func signature() {
        let entry = coalition.sign(sampleChangeSet())
        #expect(entry.verify(publicKey: coalition.roster.member("AU")!.publicKeyBytes))
        #expect(!entry.verify(publicKey: coalition.roster.member("JP")!.publicKeyBytes))
    }

    @Test("flipping any single byte of the body or signature breaks verification")
    func everyByteMatters() throws {
        let entry = coalition.sign(sampleChangeSet())
        let key = coalition.roster.member("AU")!.publicKeyBytes
        for i in entry.body.indices {
            var body = entry.body
            body[i] ^= 0x01
            if let tampered = try? SignedEntry(body: body, signature: entry.signature) {
                #expect(!tampered.verify(publicKey: key), "byte \(i) of the body")
            }
        }
        for i in entry.signature.indices {
            var signature = entry.signature
            signature[i] ^= 0x80
            #expect(!(try SignedEntry(body: entry.body, signature: signature)).verify(publicKey: key), "byte \(i) of the signature")
        }
    }

    @Test("the envelope (body + signature) round-trips")
    func envelope() throws {
        let entry = coalition.sign(sampleChangeSet())
        let back = try SignedEntry(envelope: entry.envelopeBytes())
        #expect(back == entry)
    }

    @Test("garbage bytes are a malformed entry, not a crash", arguments: [
        [UInt8](), [0xFF], [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], Array(repeating: 0x42, count: 100),
    ])
    func garbage(bytes: [UInt8]) {
        #expect(throws: PaxsyncError.self) {
            let cs = try ChangeSet(body: bytes)
            // Some byte strings decode as an empty message; those still fail the rules.
            try EntryRules.checkStructure(cs, members: ["AU", "JP"])
        }
    }

    @Test("an unknown row operation is refused with its record named")
    func unknownOp() throws {
        var body = sampleChangeSet().serializedBody()
        // Field 3 (op) of the first RowChange: find the create op (tag 0x18, value 1) and make it 9.
        let pattern: [UInt8] = [0x18, 0x01]
        let key = Array("AU-MTWELD".utf8)
        let keyAt = try #require((0..<body.count - key.count).first { Array(body[$0..<$0 + key.count]) == key })
        let at = try #require((keyAt..<body.count - 1).first { Array(body[$0...$0 + 1]) == pattern })
        body[at + 1] = 0x09
        #expect { try ChangeSet(body: body) } throws: { ($0 as? PaxsyncError)?.description.contains("facilities AU-MTWELD") ?? false }
    }
}

@Suite("Roster and keys")
struct RosterTests {
    @Test("a roster round-trips through JSON")
    func roundTrip() throws {
        let decoded = try Roster.decode(coalition.roster.encoded(), source: "roster.json")
        #expect(decoded == coalition.roster)
    }

    @Test("bad rosters are refused naming the member and what is wrong", arguments: [
        (#"{"format":1,"coalition":"c","members":[]}"#, "no members"),
        (#"{"format":1,"coalition":"c","members":[{"id":"au","country":"AU","name":"A","signingKey":"AAAA","address":""}]}"#, "member au"),
        (#"{"format":1,"coalition":"c","members":[{"id":"AU","country":"ZZ","name":"A","signingKey":"AAAA","address":""}]}"#, "country"),
        (#"{"format":1,"coalition":"c","members":[{"id":"AU","country":"AU","name":"A","signingKey":"AAAA","address":""}]}"#, "signingKey"),
        (#"{"format":2,"coalition":"c","members":[]}"#, "format 2"),
        (#"not json"#, "not a valid roster"),
    ])
    func invalid(json: String, mention: String) {
        #expect { try Roster.decode(Data(json.utf8), source: "r.json") } throws: { error in
            (error as? PaxsyncError).map { $0.description.contains(mention) && $0.description.contains("r.json") } ?? false
        }
    }

    @Test("a signing key file round-trips; a malformed one is refused")
    func keyFile() throws {
        let key = NodeSigningKey()
        let back = try NodeSigningKey(fileContents: key.fileContents, source: "node.key")
        #expect(back.publicKeyBase64 == key.publicKeyBase64)
        #expect(throws: PaxsyncError.self) { try NodeSigningKey(fileContents: "ed25519:short", source: "node.key") }
    }

    @Test("each row change's bytes are located in the body, in order, with unknown fields of every wire type around them")
    func changeRanges() throws {
        func varint(_ v: UInt64) -> [UInt8] {
            var v = v, out: [UInt8] = []
            while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
            return out + [UInt8(v)]
        }
        func tag(_ field: UInt64, _ type: UInt64) -> [UInt8] { varint(field << 3 | type) }
        let cs = sampleChangeSet()
        let body = cs.serializedBody()
        let ranges = try #require(ChangeSet.changeRanges(body: body))
        #expect(try ranges.map { try RowChange(serialized: Array(body[$0])) } == cs.changes)
        // Unknown fields a newer writer might add, before and after the changes: a varint,
        // 64-bit, a nested group, 32-bit and length-delimited bytes.
        let unknown = tag(100, 0) + varint(300) + tag(101, 1) + Array(repeating: 8, count: 8)
            + tag(102, 3) + tag(1, 0) + [5] + tag(2, 3) + tag(3, 5) + [1, 2, 3, 4] + tag(2, 4) + tag(102, 4)
            + tag(103, 5) + [9, 9, 9, 9] + tag(104, 2) + varint(3) + [0x08, 0x10, 0x18]
        for padded in [unknown + body, body + unknown, unknown + body + unknown] {
            #expect(try ChangeSet(body: padded) == cs, "swift-protobuf skips the unknown fields")
            let found = try #require(ChangeSet.changeRanges(body: padded))
            #expect(try found.map { try RowChange(serialized: Array(padded[$0])) } == cs.changes)
        }
        #expect(ChangeSet.changeRanges(body: [])! == [])
        // Not a sequence of fields: a varint that does not end, a length past the end, a group
        // closed by another field's end, wire types 6 and 7, field number 0.
        for bad: [UInt8] in [[0x08, 0xFF], body + tag(104, 2) + varint(9) + [1], tag(102, 3) + tag(101, 4), tag(5, 6), tag(5, 7), [0x00, 0x01]] {
            #expect(ChangeSet.changeRanges(body: bad) == nil, "\(bad)")
        }
    }
}
