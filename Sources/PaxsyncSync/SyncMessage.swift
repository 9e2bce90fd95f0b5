import PaxsyncModel

/// A peer-sync message, as the session logic sees it (the wire form is in PaxsyncNet).
public enum SyncMessage: Sendable, Equatable {
    case hello(Hello)
    case entries([RawEntry], caughtUp: Bool)
    case ack(versionVector: VersionVector)
    /// Keeps the session alive; `holds`, when set, advertises what the sender
    /// holds (PROTOCOL §13.6), so the receiver does not relay it those entries.
    case heartbeat(sentAtMilliseconds: UInt64, holds: VersionVector? = nil)
    case goodbye(reason: String)

    public struct Hello: Sendable, Equatable {
        public var nodeID: String
        public var protocolVersion: UInt32
        public var schemaVersion: UInt32
        public var versionVector: VersionVector
        /// SHA-256 of the sender's coalition genesis; empty when it has none (PROTOCOL §2.2).
        public var coalitionID: [UInt8]

        public init(nodeID: String, protocolVersion: UInt32 = SyncProtocol.version, schemaVersion: UInt32 = Schema.version,
                    versionVector: VersionVector, coalitionID: [UInt8] = []) {
            self.nodeID = nodeID
            self.protocolVersion = protocolVersion
            self.schemaVersion = schemaVersion
            self.versionVector = versionVector
            self.coalitionID = coalitionID
        }
    }

    /// A short name for logs.
    public var kind: String {
        switch self {
        case .hello: "hello"
        case .entries: "entries"
        case .ack: "ack"
        case .heartbeat: "heartbeat"
        case .goodbye: "goodbye"
        }
    }
}

/// An entry as carried on the wire: body and signature, decoded and checked only
/// by the apply path, with the entry id its body announces.
public struct RawEntry: Sendable, Equatable {
    /// The `ORIGIN:SEQ` the body's leading fields announce (read by the
    /// transport with the protobuf decoder); nil when they do not decode. Not
    /// yet checked against the signature: the session uses it only to know what
    /// the sender holds, never to accept anything.
    public let id: EntryID?
    public let body: [UInt8]
    public let signature: [UInt8]
    /// On the sending side: the entry is on a superseded branch (PROTOCOL §3.5). It is
    /// sent like any other, but does not count as the peer holding its `ORIGIN:SEQ`,
    /// since the standing entry there may follow. Not on the wire.
    public var superseded = false

    public init(id: EntryID?, body: [UInt8], signature: [UInt8], superseded: Bool = false) {
        self.id = id
        self.body = body
        self.signature = signature
        self.superseded = superseded
    }

    public var byteCount: Int { body.count + signature.count }
}

/// Constants of the peer-sync protocol (PROTOCOL.md, "Peer sync").
public enum SyncProtocol {
    public static let version: UInt32 = 1
    /// Largest gRPC message either side accepts.
    public static let maxMessageBytes = 16 << 20
    /// A batch is cut at this many entries or this many bytes, whichever comes first.
    public static let maxBatchEntries = 256
    public static let maxBatchBytes = 4 << 20
    /// Heartbeat interval; a session silent for three of them is closed.
    public static let heartbeatMilliseconds: UInt64 = 5_000
    /// How long an entry of a third member waits in the log before it is
    /// relayed to a peer that may still get it from elsewhere (PROTOCOL §13.6).
    public static let relayDelayMilliseconds: UInt64 = 1_000
    /// At most one advertisement per peer in this time (PROTOCOL §13.6): well
    /// under the relay delay, so a peer hears of an entry before it would relay it.
    public static let advertiseIntervalMilliseconds: UInt64 = 250
    /// A session whose peer sends this many entries that are quarantined is
    /// closed; the batch that reaches it is not judged further.
    public static let maxQuarantinedPerSession = 100
    /// A peer whose sessions have filled the quarantine with this many entries,
    /// or this many bytes, since the daemon started is refused until it restarts.
    public static let maxQuarantinedPerPeer = 1_000
    public static let maxQuarantinedBytesPerPeer = 16 << 20
}
