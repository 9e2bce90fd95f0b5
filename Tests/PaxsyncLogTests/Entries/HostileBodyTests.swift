import PaxsyncLog
import PaxsyncModel
import PaxsyncTestSupport
import Testing

@Suite("Hostile entry bodies")
struct HostileBodyTests {
    @Test("a crafted body is refused as malformed-entry, never a crash", arguments: HostileBodies.all.map(\.body))
    func refused(body: [UInt8]) {
        #expect(ChangeSet.headerID(body: body) == nil)
        do {
            _ = try SignedEntry(body: body, signature: Array(repeating: 0, count: 64))
            Issue.record("a crafted body decoded")
        } catch {
            #expect(error.code == .malformedEntry)
        }
        #expect(throws: PaxsyncError.self) { try SignedEntry(envelope: body) }
    }

    @Test("a valid body announces its id without decoding its changes")
    func headerOfValidBody() {
        let entry = coalition.sign(sampleChangeSet(seq: 7))
        #expect(ChangeSet.headerID(body: entry.body) == EntryID(origin: "AU", seq: 7))
        // The header reads only origin and seq: a body whose later fields are
        // junk still names itself (for messages), but does not decode.
        #expect(ChangeSet.headerID(body: [0x12, 0x02, 0x41, 0x55, 0x18, 0x07]) == EntryID(origin: "AU", seq: 7))
        #expect(ChangeSet.headerID(body: [0x12, 0x02, 0x61, 0x75, 0x18, 0x07]) == nil, "\"au\" is not a member id")
        #expect(ChangeSet.headerID(body: [0x12, 0x02, 0x41, 0x55]) == nil, "no seq")
    }
}
