import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import PaxsyncWire
import ServiceLifecycle
import Synchronization

/// Keeps a session open to one peer: dials, runs the session, and on any
/// failure waits (exponential backoff with jitter) and dials again. Each new
/// session resumes from the version vectors exchanged in the hellos.
public struct PeerDialer: Service {
    let replica: Replica
    let peerID: String
    let host: String
    let port: Int
    let tls: TLSFiles
    let check: PeerCertificateCheck
    /// Why TLS refused the peer's certificate in the session being dialed, if it did.
    let refusal = RefusalNote()
    let registry: PeerRegistry
    let logger: Logger
    var backoff: Backoff

    public init(replica: Replica, peer: String, address: String, tls: TLSFiles, registry: PeerRegistry,
                backoff: Backoff = Backoff(), logger: Logger) throws {
        let (host, port) = try SyncConfiguration.address(address)
        self.replica = replica
        self.peerID = peer
        self.host = host
        self.port = port
        self.tls = tls
        self.check = try tls.peerCheck(roster: { replica.roster })
        self.registry = registry
        self.backoff = backoff
        var logger = logger
        logger[metadataKey: "peer"] = "\(peer)"
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.dialLoop() }
    }

    /// Dials until the task is cancelled (for a dialer that is not a service of its own).
    public func dialUntilCancelled() async throws {
        await dialLoop()
    }

    private func dialLoop() async {
        var redialer = Redialer(backoff: backoff, random: SystemRandomNumberGenerator(), clock: registry.clock)
        await redialer.run(session) { error, failures in
            guard let error else { return }
            // TLS tells the dialer only that the handshake failed; the reason is ours.
            let reason = refusal.take().map { "refused the peer's TLS certificate: \($0)" } ?? "\(error)"
            registry.failed(peerID, reason)
            // The first failure in a row, then every 20th, at notice; the rest at debug.
            let level: Logger.Level = failures == 1 || failures % 20 == 0 ? .notice : .debug
            logger.log(level: level, "sync session with peer ended", metadata: ["error": "\(reason)", "attempt": "\(failures)"])
        }
    }

    private func session() async throws {
        if let refusal = registry.quarantineRefusal(peerID) {
            throw PaxsyncError(.unavailable, refusal, subject: "peer \(peerID)")
        }
        var config = HTTP2ClientTransport.Posix.Config.defaults
        // TLS verifies that the server's certificate names the node we dial.
        config.http2.authority = CoalitionPKI.dnsName(forNode: peerID)
        // The same HTTP/2 receive window as the listener's (64 KiB): with grpc-swift's client
        // default (8 MiB) a node catching up as the dialer held 0.6–1.5 GB at its peak
        // (`paxsync-bench catchup --fresh-dials`, 1M rows), 154 MB with this, at the same rate.
        config.http2.targetWindowSize = (1 << 16) - 1
        config.backoff = .init(initial: .milliseconds(100), max: .seconds(1), multiplier: 2, jitter: 0.2)
        let logger = self.logger
        config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
            TLSVersionGuard.install(on: channel) { logger.warning("refused the peer's server", metadata: ["reason": "\($0)"]) }
        }
        // Roster addresses may be host names (resolved on every dial) or IP literals.
        let transport = try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port),
                                                       transportSecurity: tls.clientSecurity(check: check, dialed: peerID) { reason in
                                                           refusal.note(reason)
                                                       }, config: config)
        try await withGRPCClient(transport: transport) { client in
            let sync = Paxsync_V1_Sync.Client(wrapping: client)
            let runner = SessionRunner(replica: replica, peerID: peerID, registry: registry, logger: logger)
            var options = CallOptions.defaults
            options.maxResponseMessageBytes = SyncProtocol.maxMessageBytes
            try await runner.start()
            try await sync.session(options: options) { writer in
                // The request stream is the session's only writer, with gRPC's backpressure.
                try await runner.sendLoop { message in try await writer.write(message.toWire()) }
            } onResponse: { response in
                registry.connected(peerID, runner)
                defer { registry.disconnected(peerID, runner) }
                logger.info("connected to peer")
                try await runner.receiveLoop(response.messages.map { wire throws in try SyncMessage.received(wire, from: peerID) })
            }
        }
    }
}

/// The last reason a dialer's TLS check gave for refusing the peer's certificate.
final class RefusalNote: Sendable {
    private let reason = Mutex<String?>(nil)
    func note(_ text: String) { reason.withLock { $0 = text } }
    /// The reason noted since the last call, if any.
    func take() -> String? { reason.withLock { value in defer { value = nil }; return value } }
}
