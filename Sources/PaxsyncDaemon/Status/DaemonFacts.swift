import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

/// Live session facts the daemon adds to the replica's state.
public struct DaemonFacts: Sendable {
    public var version: String
    public var startedAt: Date
    public var listen: String
    /// Peers this node syncs with.
    public var peers: [String]

    public init(version: String, startedAt: Date, listen: String, peers: [String]) {
        self.version = version
        self.startedAt = startedAt
        self.listen = listen
        self.peers = peers
    }
}
