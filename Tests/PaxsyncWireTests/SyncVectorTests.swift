import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncSync
import PaxsyncTestSupport
import PaxsyncWire
import SwiftProtobuf
import Testing

/// Protocol/sync-vectors.json: the exact bytes of sync messages (PROTOCOL §13),
/// each beside its proto3 JSON form, so an implementation can check its encoder
/// and decoder. Regenerate (only when the wire changes on purpose) with
/// `PAXSYNC_WRITE_VECTORS=1 swift test --filter SyncVector`.
struct SyncVectors: Codable, Equatable {
    struct Message: Codable, Equatable {
        let name: String
        let description: String
        /// The message in the proto3 JSON mapping (uint64 as strings).
        let json: String
        let hex: String
    }
    let description: String
    let messages: [Message]
}

@Suite("Sync message vectors")
struct SyncVectorTests {
    static let url = packageRoot.appendingPathComponent("Protocol/sync-vectors.json")

    static let cases: [(name: String, description: String, message: SyncMessage)] = [
        ("hello", "A hello of AU holding AU:3 and JP:1 (version vector sorted by origin)",
         .hello(.init(nodeID: "AU", versionVector: ["JP": 1, "AU": 3]))),
        ("hello-with-coalition", "A hello of AU with the coalition id of Protocol/genesis-vectors.json (§2.2, §13.2)",
         .hello(.init(nodeID: "AU", versionVector: ["AU": 3],
                      coalitionID: [UInt8](hex: "9c009ba9101d7a7b562000cd241d6187b2ddc84d70337a172f1266f6c8b9e861")!))),
        ("caught-up-empty-batch", "The empty batch with caught_up set that ends a catch-up with nothing to send",
         .entries([], caughtUp: true)),
        ("ack", "An ack: the receiver now holds AU:5, JP:2 and KR:1",
         .ack(versionVector: ["AU": 5, "JP": 2, "KR": 1])),
        ("heartbeat", "A plain heartbeat (sent_at_ms 1795910400000)",
         .heartbeat(sentAtMilliseconds: 1_795_910_400_000)),
        ("heartbeat-advertising", "A heartbeat advertising that the sender holds AU:3 and KR:7 (§13.6); "
            + "a receiver that does not know field 2 reads it as the plain heartbeat with the same sent_at_ms",
         .heartbeat(sentAtMilliseconds: 1_795_910_400_000, holds: ["KR": 7, "AU": 3])),
        ("goodbye", "A goodbye with its reason", .goodbye(reason: "node AU shutting down")),
    ]

    static func make() throws -> SyncVectors {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        let messages = try cases.map { c in
            let wire = c.message.toWire()
            let bytes: [UInt8] = try wire.serializedBytes()
            return SyncVectors.Message(name: c.name, description: c.description,
                                       json: try wire.jsonString(options: options),
                                       hex: bytes.hex)
        }
        return SyncVectors(description: "paxsync.v1.SyncMessage values (Protocol/paxsync_sync.proto): hex is the exact "
                           + "protobuf encoding, fields in field-number order; json is the same message in the proto3 JSON mapping "
                           + "with the .proto's field names. Tools/check-test-vectors.py re-encodes each from its json.",
                           messages: messages)
    }

    @Test("the committed sync vectors are exactly what this implementation encodes")
    func matchesImplementation() throws {
        let vectors = try Self.make()
        let committed = try VectorFile.committed(vectors, at: Self.url)
        #expect(committed == vectors)
    }

    @Test("every committed vector decodes from its bytes to the message it names")
    func decodesFromBytes() throws {
        let committed = try JSONDecoder().decode(SyncVectors.self, from: Data(contentsOf: Self.url))
        #expect(committed.messages.map(\.name) == Self.cases.map(\.name))
        for (vector, c) in zip(committed.messages, Self.cases) {
            let bytes = try #require([UInt8](hex: vector.hex), "\(vector.name): hex")
            let wire = try Paxsync_V1_SyncMessage(serializedBytes: bytes)
            #expect(SyncMessage(wire: wire) == c.message, "\(vector.name)")
            #expect(try Paxsync_V1_SyncMessage(jsonString: vector.json) == wire, "\(vector.name): json and bytes agree")
        }
    }

    @Test("a heartbeat with an empty version vector advertises nothing")
    func emptyAdvertisement() throws {
        let plain = SyncMessage.heartbeat(sentAtMilliseconds: 9, holds: [:])
        let bytes: [UInt8] = try plain.toWire().serializedBytes()
        #expect(SyncMessage(wire: try Paxsync_V1_SyncMessage(serializedBytes: bytes)) == .heartbeat(sentAtMilliseconds: 9, holds: nil))
    }

    @Test("a heartbeat whose version vector names no member id advertises nothing, and round-trips as such (found by fuzz-sync)")
    func strangersOnly() throws {
        // The fuzzer's input: a heartbeat advertising ids "\0\u{1}" and "'\u{8}".
        let bytes: [UInt8] = [0x22, 0x00, 0x70, 0x00, 0xdd, 0x06, 0x0a, 0x02, 0x00, 0x01, 0x22, 0x06, 0x0a, 0x02, 0x27, 0x08, 0x12, 0x00]
        let message = try SyncMessage.received(Paxsync_V1_SyncMessage(serializedBytes: bytes), from: "JP")
        #expect(message == .heartbeat(sentAtMilliseconds: 0, holds: nil))
        let again: [UInt8] = try message.toWire().serializedBytes()
        #expect(try SyncMessage.received(Paxsync_V1_SyncMessage(serializedBytes: again), from: "JP") == message)
    }
}
