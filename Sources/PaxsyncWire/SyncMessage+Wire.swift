import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncSync

// Conversion between the session's messages and the generated wire types
// (Protocol/paxsync_sync.proto, generated into Generated/).

extension SyncMessage {
    /// The message as the wire carries it.
    public func toWire() -> Paxsync_V1_SyncMessage {
        var w = Paxsync_V1_SyncMessage()
        switch self {
        case .hello(let h):
            var hello = Paxsync_V1_Hello()
            hello.nodeID = h.nodeID
            hello.protocolVersion = h.protocolVersion
            hello.schemaVersion = h.schemaVersion
            hello.versionVector = Self.wireVector(h.versionVector)
            hello.coalitionID = Data(h.coalitionID)
            w.hello = hello
        case .entries(let entries, let caughtUp):
            var batch = Paxsync_V1_EntryBatch()
            batch.entries = entries.map { e in
                var s = Paxsync_V1_SignedEntry()
                s.body = Data(e.body)
                s.signature = Data(e.signature)
                return s
            }
            batch.caughtUp = caughtUp
            w.entries = batch
        case .ack(let vv):
            var ack = Paxsync_V1_Ack()
            ack.versionVector = Self.wireVector(vv)
            w.ack = ack
        case .heartbeat(let at, let holds):
            var hb = Paxsync_V1_Heartbeat()
            hb.sentAtMs = at
            if let holds { hb.versionVector = Self.wireVector(holds) }
            w.heartbeat = hb
        case .goodbye(let reason):
            var bye = Paxsync_V1_Goodbye()
            bye.reason = reason
            w.goodbye = bye
        }
        return w
    }

    /// Decodes a wire message; nil for one with no known kind.
    public init?(wire: Paxsync_V1_SyncMessage) {
        switch wire.kind {
        case .hello(let h):
            self = .hello(.init(nodeID: h.nodeID, protocolVersion: h.protocolVersion, schemaVersion: h.schemaVersion,
                                versionVector: Self.vector(h.versionVector), coalitionID: Array(h.coalitionID)))
        case .entries(let b):
            self = .entries(b.entries.map { e in
                let body = Array(e.body)
                return RawEntry(id: ChangeSet.headerID(body: body), body: body, signature: Array(e.signature))
            }, caughtUp: b.caughtUp)
        case .ack(let a): self = .ack(versionVector: Self.vector(a.versionVector))
        case .heartbeat(let h):
            // An empty vector says nothing (PROTOCOL §13.6), nor does one whose
            // items all name no member id (they are dropped).
            let holds = Self.vector(h.versionVector)
            self = .heartbeat(sentAtMilliseconds: h.sentAtMs, holds: holds.seqs.isEmpty ? nil : holds)
        case .goodbye(let g): self = .goodbye(reason: g.reason)
        case nil: return nil
        }
    }

    /// Decodes a message received from `peer`; one with no kind this node
    /// knows is a protocol violation that ends the session (PROTOCOL §13.3),
    /// with an error naming the peer.
    public static func received(_ wire: Paxsync_V1_SyncMessage, from peer: String) throws(PaxsyncError) -> SyncMessage {
        guard let message = SyncMessage(wire: wire) else {
            throw PaxsyncError(.malformedEntry, "peer \(peer) sent a sync message of no kind this node knows "
                               + "(hello, entries, ack, heartbeat, goodbye)", subject: "peer \(peer)")
        }
        return message
    }

    static func wireVector(_ vv: VersionVector) -> [Paxsync_V1_Dependency] {
        vv.sorted.map { origin, seq in
            var d = Paxsync_V1_Dependency()
            d.origin = origin
            d.seq = seq
            return d
        }
    }

    static func vector(_ deps: [Paxsync_V1_Dependency]) -> VersionVector {
        var vv = VersionVector()
        for d in deps where Identifier.isValidMember(d.origin) { vv.advance(d.origin, to: d.seq) }
        return vv
    }
}
