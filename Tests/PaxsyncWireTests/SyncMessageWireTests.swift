import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncSync
import PaxsyncTestSupport
@testable import PaxsyncWire
import SwiftProtobuf
import Testing

@Suite("Sync messages on the wire")
struct SyncMessageWireTests {
    /// Two real entries, AU:1 and AU:2, signed with the test keys.
    static let entries: [RawEntry] = {
        let coalition = TestCoalition()
        let first = coalition.sign(ChangeSet(origin: "AU", seq: 1, hlc: HLC(physicalMilliseconds: TestTime.start, logical: 0),
                                             prevHash: [], changes: [], note: "first"))
        let second = coalition.sign(ChangeSet(origin: "AU", seq: 2, hlc: HLC(physicalMilliseconds: TestTime.start, logical: 1),
                                              prevHash: first.hash, changes: []))
        return [first, second].map { RawEntry(id: $0.id, body: $0.body, signature: $0.signature) }
    }()

    static let messages: [SyncMessage] = [
        .hello(.init(nodeID: "AU", versionVector: ["AU": 3, "JP": 1])),
        .hello(.init(nodeID: "KR", protocolVersion: 2, schemaVersion: 7, versionVector: [:])),
        .entries(entries, caughtUp: true),
        .entries([], caughtUp: false),
        .ack(versionVector: ["KR": 9, "SG": 1]),
        .ack(versionVector: [:]),
        .heartbeat(sentAtMilliseconds: TestTime.start),
        .heartbeat(sentAtMilliseconds: TestTime.start, holds: ["AU": 3, "KR": 1]),
        .goodbye(reason: "shutting down"),
    ]

    /// Through the generated type and its bytes, as a peer receives it.
    func overTheWire(_ message: SyncMessage) throws -> SyncMessage? {
        let bytes: [UInt8] = try message.toWire().serializedBytes()
        return SyncMessage(wire: try Paxsync_V1_SyncMessage(serializedBytes: bytes))
    }

    @Test("every kind of message round-trips through the generated type and its bytes", arguments: messages)
    func roundTrip(message: SyncMessage) throws {
        #expect(try overTheWire(message) == message)
    }

    @Test("the wire fields are the ones paxsync_sync.proto names")
    func fields() {
        let hello = SyncMessage.hello(.init(nodeID: "AU", versionVector: ["JP": 1, "AU": 3])).toWire()
        #expect(hello.hello.nodeID == "AU")
        #expect(hello.hello.protocolVersion == SyncProtocol.version && hello.hello.schemaVersion == Schema.version)
        #expect(hello.hello.versionVector.map { "\($0.origin):\($0.seq)" } == ["AU:3", "JP:1"], "sorted by origin")
        let batch = SyncMessage.entries(Self.entries, caughtUp: true).toWire()
        #expect(batch.entries.caughtUp)
        #expect(batch.entries.entries.map { Array($0.body) } == Self.entries.map(\.body))
        #expect(batch.entries.entries.map { Array($0.signature) } == Self.entries.map(\.signature))
        #expect(SyncMessage.heartbeat(sentAtMilliseconds: 42).toWire().heartbeat.sentAtMs == 42)
        #expect(SyncMessage.goodbye(reason: "bye").toWire().goodbye.reason == "bye")
        #expect(SyncMessage.ack(versionVector: ["KR": 9]).toWire().ack.versionVector.map(\.seq) == [9])
    }

    @Test("an entry's id is read from its body on arrival, not taken from the sender")
    func entryIDFromBody() throws {
        let claimed = RawEntry(id: EntryID(origin: "JP", seq: 99), body: Self.entries[0].body, signature: Self.entries[0].signature)
        let received = try overTheWire(.entries([claimed], caughtUp: false))
        #expect(received == .entries([Self.entries[0]], caughtUp: false))
    }

    @Test("version-vector items that name no member id are dropped")
    func invalidOrigins() throws {
        var ack = Paxsync_V1_Ack()
        ack.versionVector = ([("AU", 3), ("bad origin", 5), ("", 1), ("jp", 2), ("KR", 0)] as [(String, UInt64)]).map { origin, seq in
            var d = Paxsync_V1_Dependency()
            d.origin = origin
            d.seq = seq
            return d
        }
        var wire = Paxsync_V1_SyncMessage()
        wire.ack = ack
        #expect(SyncMessage(wire: wire) == .ack(versionVector: ["AU": 3]))
    }

    @Test("a message of no known kind (empty, or only a field this version does not know) converts to nothing", arguments: [
        [UInt8](), [0x78, 0x01], [0x82, 0x01, 0x02, 0x68, 0x69],
    ])
    func unknownKind(bytes: [UInt8]) throws {
        let wire = try Paxsync_V1_SyncMessage(serializedBytes: bytes)
        #expect(wire.kind == nil)
        #expect(Array(wire.unknownFields.data) == bytes, "kept as unknown fields")
        #expect(SyncMessage(wire: wire) == nil)
    }

    @Test("bytes that are no message are refused by the decoder with its error", arguments: [
        ([0x0A, 0x0A, 0x01, 0x02] as [UInt8], BinaryDecodingError.truncated),
        ([0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], .malformedProtobuf),
        ([0x07], .malformedProtobuf),
    ])
    func malformed(bytes: [UInt8], error: BinaryDecodingError) {
        #expect(throws: error) { try Paxsync_V1_SyncMessage(serializedBytes: bytes) }
    }
}
