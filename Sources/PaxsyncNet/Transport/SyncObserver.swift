import PaxsyncStore

/// What the transport reports while sessions run. The daemon's metrics
/// implement it; the transport knows nothing of how the figures are kept.
public protocol SyncObserver: Sendable {
    /// A batch received from `peer` went through the apply path in `nanoseconds`.
    func received(_ result: BatchResult, entries: Int, bytes: Int, peer: String, nanoseconds: UInt64)
    /// Entries and bytes crossed a session with `peer`.
    func traffic(peer: String, direction: TrafficDirection, entries: Int, bytes: Int)
    /// A session with `peer` changed state.
    func session(peer: String, outcome: SessionOutcome)
}

/// Which way entries crossed a session.
public enum TrafficDirection: String, Sendable {
    case inbound = "in"
    case outbound = "out"
}

/// What became of a sync session.
public enum SessionOutcome: String, Sendable {
    case opened
    case ended
    case failed
}
