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
}
