import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import PaxsyncWire
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
        if let refusal = registry.quarantineRefusal(peerID) {
            logger.warning("refused a peer: it filled the quarantine", metadata: ["peer": "\(peerID)", "remote": "\(remote)"])
            throw RPCError(code: .permissionDenied, message: refusal)
        }
        let runner = SessionRunner(replica: replica, peerID: peerID, registry: registry, logger: logger)
        registry.connected(peerID, runner)
        defer { registry.disconnected(peerID, runner) }
        logger.info("peer connected", metadata: ["peer": "\(peerID)", "remote": "\(remote)"])
        let inbound = request.map { wire throws in try SyncMessage.received(wire, from: peerID) }
        do {
            try await runner.run(inbound: inbound) { message in try await response.write(message.toWire()) }
        } catch {
            // The accepting side records and logs a failed session as the dialer
            // does (a full disk, a broken stream): status shows it as the peer's error.
            if !Task.isCancelled {
                registry.failed(peerID, "\(error)")
                logger.warning("sync session with peer failed", metadata: ["peer": "\(peerID)", "error": "\(error)"])
            }
            throw error
        }
        if let refusal = runner.refusal { throw RPCError(code: .permissionDenied, message: refusal) }
    }
}
