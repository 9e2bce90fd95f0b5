import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import X509

/// The server side of `paxsync.v1.Sync`: accepts sessions from peers whose
/// certificate names a roster member this node peers with.
struct SyncService: Paxsync_V1_Sync.SimpleServiceProtocol {
    let replica: Replica
    let accepts: @Sendable (String) -> Bool
    let registry: PeerRegistry
    let logger: Logger

    func session(request: RPCAsyncSequence<Paxsync_V1_SyncMessage, any Error>,
                 response: RPCWriter<Paxsync_V1_SyncMessage>, context: ServerContext) async throws {
        let remote = context.remotePeer
        guard let certificate = (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate,
              let peerID = CoalitionPKI.nodeID(of: certificate) else {
            logger.warning("refused a peer: its certificate names no paxsync node", metadata: ["remote": "\(remote)"])
            throw RPCError(code: .unauthenticated, message: "the client certificate names no paxsync node (<id>.node.paxsync)")
        }
        guard replica.roster.member(peerID) != nil else {
            logger.warning("refused a peer: not in the roster", metadata: ["peer": "\(peerID)", "remote": "\(remote)"])
            throw RPCError(code: .permissionDenied, message: "\(peerID) is not in this node's roster")
        }
        guard accepts(peerID) else {
            logger.warning("refused a peer: not one of this node's peers", metadata: ["peer": "\(peerID)", "remote": "\(remote)"])
            throw RPCError(code: .permissionDenied, message: "\(replica.nodeID) does not peer with \(peerID)")
        }
        let runner = SessionRunner(replica: replica, peerID: peerID, logger: logger)
        registry.connected(peerID, runner)
        defer { registry.disconnected(peerID, runner) }
        logger.info("peer connected", metadata: ["peer": "\(peerID)", "remote": "\(remote)"])
        let inbound = request.compactMap { SyncMessage(wire: $0) }
        try await runner.run(inbound: inbound) { message in try await response.write(message.toWire()) }
        if let reason = runner.closedReason, reason.contains("certificate names") || reason.contains("not in the roster") {
            throw RPCError(code: .permissionDenied, message: reason)
        }
    }
}

/// Which peers have a live session, and their counters.
public final class PeerRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var runners: [String: SessionRunner] = [:]
    private var errors: [String: String] = [:]
    private var finished: [String: PeerStatistics] = [:]

    public init() {}

    func connected(_ peer: String, _ runner: SessionRunner) { lock.withLock { runners[peer] = runner } }
    func disconnected(_ peer: String, _ runner: SessionRunner) {
        lock.withLock {
            if runners[peer] === runner { runners[peer] = nil }
            if let reason = runner.closedReason { errors[peer] = reason }
            var stats = runner.statistics
            stats.connected = false
            finished[peer] = stats
        }
    }
    func failed(_ peer: String, _ error: String) { lock.withLock { errors[peer] = error } }

    /// Ends every live session with a goodbye (graceful shutdown).
    public func closeAll(_ reason: String) {
        for runner in lock.withLock({ Array(runners.values) }) { runner.stop(reason) }
    }

    /// Peers with a live session.
    public var connectedPeers: [String] { lock.withLock { runners.keys.sorted() } }
    public func lastError(_ peer: String) -> String? { lock.withLock { errors[peer] } }

    /// Counters of the live session with a peer, or else of the last one that ended.
    public func statistics(_ peer: String) -> PeerStatistics? {
        lock.withLock { runners[peer]?.statistics ?? finished[peer] }
    }
}
