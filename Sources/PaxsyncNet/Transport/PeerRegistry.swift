import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import X509

/// Which peers have a live session, and their counters over every session
/// since the daemon started.
public final class PeerRegistry: @unchecked Sendable {
    public let observer: (any SyncObserver)?
    /// Rung when the log grows; wakes every session's sender.
    public let wakeup = LogWakeup()
    private let lock = NSLock()
    private var runners: [String: SessionRunner] = [:]
    private var errors: [String: String] = [:]
    /// Sums over ended sessions.
    private var totals: [String: PeerStatistics] = [:]
    private var disconnectedAt: [String: Date] = [:]
    private var versionVectors: [String: VersionVector] = [:]
    /// Entries and bytes each peer's sessions got quarantined since start.
    private var quarantinedFrom: [String: (entries: Int, bytes: Int)] = [:]

    public init(observer: (any SyncObserver)? = nil) { self.observer = observer }

    func connected(_ peer: String, _ runner: SessionRunner) {
        lock.withLock { runners[peer] = runner }
        observer?.session(peer: peer, outcome: .opened)
    }

    func disconnected(_ peer: String, _ runner: SessionRunner) {
        let reason = runner.closedReason
        lock.withLock {
            if runners[peer] === runner { runners[peer] = nil }
            if let reason { errors[peer] = reason }
            let s = runner.statistics
            var t = totals[peer] ?? PeerStatistics()
            t.sessions += 1
            t.entriesIn += s.entriesIn
            t.entriesOut += s.entriesOut
            t.bytesIn += s.bytesIn
            t.bytesOut += s.bytesOut
            t.lastContact = s.lastContact ?? t.lastContact
            totals[peer] = t
            disconnectedAt[peer] = Date()
            versionVectors[peer] = runner.peerVersionVector
        }
        observer?.session(peer: peer, outcome: .ended)
    }

    func failed(_ peer: String, _ error: String) {
        lock.withLock { errors[peer] = error }
        observer?.session(peer: peer, outcome: .failed)
    }

    /// Counts entries from `peer` that went to quarantine.
    func quarantined(from peer: String, entries: Int, bytes: Int) {
        lock.withLock {
            var total = quarantinedFrom[peer] ?? (0, 0)
            total.entries += entries
            total.bytes += bytes
            quarantinedFrom[peer] = total
        }
    }

    /// Why `peer` is refused for having filled the quarantine, or nil.
    public func quarantineRefusal(_ peer: String) -> String? {
        guard let total = lock.withLock({ quarantinedFrom[peer] }),
              total.entries >= SyncProtocol.maxQuarantinedPerPeer || total.bytes >= SyncProtocol.maxQuarantinedBytesPerPeer else {
            return nil
        }
        return "\(peer) has sent \(total.entries) entries (\(total.bytes) bytes) that were quarantined since this node started; "
            + "it is refused until the node restarts (see `paxsync quarantine`)"
    }

    /// Ends every live session with a goodbye (graceful shutdown).
    public func closeAll(_ reason: String) {
        for runner in lock.withLock({ Array(runners.values) }) { runner.stop(reason) }
    }

    /// Peers with a live session.
    public var connectedPeers: [String] { lock.withLock { runners.keys.sorted() } }
    public func lastError(_ peer: String) -> String? { lock.withLock { errors[peer] } }

    /// Counters over every session with a peer since the daemon started: the
    /// live one's `since` is when it connected, else when the last one ended.
    public func statistics(_ peer: String) -> PeerStatistics? {
        let (runner, total, downSince) = lock.withLock { (runners[peer], totals[peer], disconnectedAt[peer]) }
        guard let runner else {
            guard var total else { return nil }
            total.connected = false
            total.since = downSince
            return total
        }
        var s = runner.statistics
        s.sessions = (total?.sessions ?? 0) + 1
        s.entriesIn += total?.entriesIn ?? 0
        s.entriesOut += total?.entriesOut ?? 0
        s.bytesIn += total?.bytesIn ?? 0
        s.bytesOut += total?.bytesOut ?? 0
        return s
    }

    /// What the peer announced it holds (live session, or the last one).
    public func versionVector(of peer: String) -> VersionVector {
        let runner = lock.withLock { runners[peer] }
        return runner?.peerVersionVector ?? lock.withLock { versionVectors[peer] ?? [:] }
    }
}
