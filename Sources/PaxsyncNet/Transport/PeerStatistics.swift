import Foundation
import Logging
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync

/// Counters of one peer's sessions, read by status tools and logs.
public struct PeerStatistics: Sendable {
    public var connected = false
    public var since: Date?
    public var lastContact: Date?
    public var entriesIn = 0
    public var entriesOut = 0
    public var bytesIn = 0
    public var bytesOut = 0
    public var sessions = 0
    /// Heartbeats advertising a version vector (PROTOCOL §13.6), each way.
    public var advertisementsIn = 0
    public var advertisementsOut = 0
}
