import Clocks
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import Synchronization
import X509

/// Which peers have a live session, and their counters over every session
/// since the daemon started.
public final class PeerRegistry: Sendable {
    public let observer: (any SyncObserver)?
    /// Rung when the log grows; wakes every session's sender.
    public let wakeup = LogWakeup()
    /// Rung when a batch from a peer left entries held; wakes the held-entry retrier.
    public let heldWakeup = LogWakeup()
    /// The clock sessions and dialers measure heartbeats, silence and backoff
    /// with (a test clock in tests).
    public let clock: AnyClock<Duration>
    /// How long sessions hold back entries of third members before relaying
    /// them (PROTOCOL §13.6); 0 relays at once.
    public let relayDelayMilliseconds: UInt64
    /// At most one advertisement per session in this time (PROTOCOL §13.6).
    public let advertiseIntervalMilliseconds: UInt64

    private struct State {
        var runners: [String: SessionRunner] = [:]
        /// The last few errors of each peer's sessions and dials, oldest first.
        var errors: [String: [(message: String, at: Date)]] = [:]
        /// Sums over ended sessions.
        var totals: [String: PeerStatistics] = [:]
        var disconnectedAt: [String: Date] = [:]
        var versionVectors: [String: VersionVector] = [:]
        /// Entries and bytes each peer's sessions got quarantined since start.
        var quarantinedFrom: [String: (entries: Int, bytes: Int)] = [:]
        /// What this node holds after the last batch a session applied.
        var held = VersionVector()
        /// The latest TLS certificates this node's server refused, oldest first.
        var certificateRefusals: [(message: String, at: Date)] = []
    }

    private let state = Mutex(State())

    /// SHA-256 of the node's coalition genesis, stated in every hello and required
    /// in the peer's; empty for a node without a genesis.
    public let coalitionID: [UInt8]

    public init(observer: (any SyncObserver)? = nil, clock: AnyClock<Duration> = AnyClock(ContinuousClock()),
                relayDelayMilliseconds: UInt64 = SyncProtocol.relayDelayMilliseconds,
                advertiseIntervalMilliseconds: UInt64 = SyncProtocol.advertiseIntervalMilliseconds,
                coalitionID: [UInt8] = []) {
        self.coalitionID = coalitionID
        self.observer = observer
        self.clock = clock
        self.relayDelayMilliseconds = relayDelayMilliseconds
        self.advertiseIntervalMilliseconds = advertiseIntervalMilliseconds
    }

    /// Records what this node holds after a session applied a batch; the
    /// sessions advertise it to their peers (`heldVersionVector`).
    func holds(_ versionVector: VersionVector) {
        state.withLock { $0.held.formUnion(versionVector) }
    }

    /// What this node held after the last batch a session applied.
    var heldVersionVector: VersionVector { state.withLock { $0.held } }

    /// A decision superseded entries here (PROTOCOL §3.5) and moved heads back: what
    /// this node holds is `versionVector` again (no longer advertised higher), and every
    /// session starts over, so the new hellos say so and peers send the standing branch.
    public func restartAfterSupersession(holding versionVector: VersionVector, _ reason: String) {
        state.withLock { $0.held = versionVector }
        closeAll(reason)
    }

    func connected(_ peer: String, _ runner: SessionRunner) {
        state.withLock { $0.runners[peer] = runner }
        observer?.session(peer: peer, outcome: .opened)
    }

    func disconnected(_ peer: String, _ runner: SessionRunner) {
        let reason = runner.closedReason
        let s = runner.statistics
        let peerVV = runner.peerVersionVector
        state.withLock { state in
            if state.runners[peer] === runner { state.runners[peer] = nil }
            if let reason { Self.record(reason, for: peer, in: &state) }
            var t = state.totals[peer] ?? PeerStatistics()
            t.sessions += 1
            t.entriesIn += s.entriesIn
            t.entriesOut += s.entriesOut
            t.bytesIn += s.bytesIn
            t.bytesOut += s.bytesOut
            t.advertisementsIn += s.advertisementsIn
            t.advertisementsOut += s.advertisementsOut
            t.lastContact = s.lastContact ?? t.lastContact
            state.totals[peer] = t
            state.disconnectedAt[peer] = Date()
            state.versionVectors[peer] = peerVV
        }
        observer?.session(peer: peer, outcome: .ended)
    }

    func failed(_ peer: String, _ error: String) {
        state.withLock { Self.record(error, for: peer, in: &$0) }
        observer?.session(peer: peer, outcome: .failed)
    }

    /// How many errors per peer `recentErrors` keeps.
    public static let errorHistory = 5

    private static func record(_ message: String, for peer: String, in state: inout State) {
        var list = state.errors[peer] ?? []
        list.append((message, Date()))
        if list.count > errorHistory { list.removeFirst(list.count - errorHistory) }
        state.errors[peer] = list
    }

    /// Counts entries from `peer` that went to quarantine.
    func quarantined(from peer: String, entries: Int, bytes: Int) {
        state.withLock { state in
            var total = state.quarantinedFrom[peer] ?? (0, 0)
            total.entries += entries
            total.bytes += bytes
            state.quarantinedFrom[peer] = total
        }
    }

    /// Why `peer` is refused for having filled the quarantine, or nil.
    public func quarantineRefusal(_ peer: String) -> String? {
        guard let total = state.withLock({ $0.quarantinedFrom[peer] }),
              total.entries >= SyncProtocol.maxQuarantinedPerPeer || total.bytes >= SyncProtocol.maxQuarantinedBytesPerPeer else {
            return nil
        }
        return "\(peer) has sent \(total.entries) entries (\(total.bytes) bytes) that were quarantined since this node started; "
            + "it is refused until the node restarts (see `paxsync quarantine`)"
    }

    /// Ends every live session with a goodbye (graceful shutdown).
    public func closeAll(_ reason: String) {
        for runner in state.withLock({ Array($0.runners.values) }) { runner.stop(reason) }
    }

    /// Ends the live sessions of `peers` with a goodbye (a member suspended or removed).
    public func close(_ peers: Set<String>, _ reason: String) {
        for runner in state.withLock({ $0.runners.filter { peers.contains($0.key) }.map(\.value) }) { runner.stop(reason) }
    }

    /// Peers with a live session.
    public var connectedPeers: [String] { state.withLock { $0.runners.keys.sorted() } }
    /// Notes that the server refused a connecting peer's TLS certificate (kept: the last ``errorHistory``).
    func refusedCertificate(_ reason: String) {
        state.withLock { state in
            state.certificateRefusals.append((reason, Date()))
            if state.certificateRefusals.count > Self.errorHistory { state.certificateRefusals.removeFirst() }
        }
    }

    /// The latest TLS certificates the server refused, and why, oldest first.
    public var recentCertificateRefusals: [(message: String, at: Date)] { state.withLock { $0.certificateRefusals } }

    public func lastError(_ peer: String) -> String? { state.withLock { $0.errors[peer]?.last?.message } }

    /// The last errors of `peer`'s sessions and dials (at most `errorHistory`), oldest first, with when each happened.
    public func recentErrors(_ peer: String) -> [(message: String, at: Date)] { state.withLock { $0.errors[peer] ?? [] } }

    /// Counters over every session with a peer since the daemon started: the
    /// live one's `since` is when it connected, else when the last one ended.
    public func statistics(_ peer: String) -> PeerStatistics? {
        let (runner, total, downSince) = state.withLock { ($0.runners[peer], $0.totals[peer], $0.disconnectedAt[peer]) }
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
        s.advertisementsIn += total?.advertisementsIn ?? 0
        s.advertisementsOut += total?.advertisementsOut ?? 0
        return s
    }

    /// What the peer announced it holds (live session, or the last one).
    public func versionVector(of peer: String) -> VersionVector {
        let (runner, last) = state.withLock { ($0.runners[peer], $0.versionVectors[peer]) }
        return runner?.peerVersionVector ?? last ?? [:]
    }
}
