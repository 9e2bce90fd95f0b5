// libFuzzer target: the sync messages a node decodes from a peer's stream
// (Protocol/paxsync_sync.proto), then the checks a session runs on them.
// Any input may be refused; none may trap.
// Built only by scripts/fuzz.sh (PAXSYNC_FUZZ=1, -sanitize=fuzzer,address).
import PaxsyncModel
import PaxsyncSync
import PaxsyncWire

let members: Set<String> = ["AU", "JP", "KR", "SG", "IL"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let wire = try? Paxsync_V1_SyncMessage(serializedBytes: bytes),
          let message = try? SyncMessage.received(wire, from: "JP") else { return 0 }

    // What the node makes of a message it accepted must survive its own encoding.
    guard let encoded: [UInt8] = try? message.toWire().serializedBytes(),
          let again = try? SyncMessage.received(Paxsync_V1_SyncMessage(serializedBytes: encoded), from: "JP") else {
        fatalError("a decoded sync message does not re-encode: \(message)")
    }
    guard again == message else { fatalError("a sync message changed in a round trip: \(message) became \(again)") }

    // The session state machine on it, as the first message and after a hello.
    var fresh = SyncSession(localNodeID: "AU", certifiedPeerID: "JP", members: members, now: 0)
    _ = fresh.start(localVersionVector: VersionVector(), now: 0)
    _ = fresh.received(message, now: 1)
    var open = SyncSession(localNodeID: "AU", certifiedPeerID: "JP", members: members, now: 0)
    _ = open.start(localVersionVector: VersionVector(), now: 0)
    _ = open.received(.hello(.init(nodeID: "JP", protocolVersion: SyncProtocol.version, schemaVersion: Schema.version,
                                   versionVector: VersionVector())), now: 1)
    _ = open.received(message, now: 2)
    return 0
}
