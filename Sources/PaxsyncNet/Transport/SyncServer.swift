import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import ServiceLifecycle

/// The gRPC server of a node, as a service with graceful shutdown.
public final class SyncServer: Service, @unchecked Sendable {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let registry: PeerRegistry
    let logger: Logger
    /// `host:port` as configured, for messages.
    let address: String
    /// The bounds on connections that have not finished their TLS handshake.
    public let handshakes: HandshakeLimits

    public init(replica: Replica, configuration: SyncConfiguration, registry: PeerRegistry, logger: Logger) throws {
        try configuration.tls.check()
        let peers = configuration.peers
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = SyncProtocol.maxMessageBytes
        let tlsLogger = logger
        let refusals = RateLimitedLog(logger: logger, message: "refused connections before their TLS handshake finished")
        let handshakes = HandshakeLimits(timeout: configuration.handshakeTimeout, maximumPending: configuration.maxPendingHandshakes,
                                         maximumPendingPerAddress: configuration.maxPendingHandshakesPerAddress,
                                         refused: { refusals.record($0) })
        // Over the caps, an accepted connection is closed by the listener's gate,
        // before its TLS, HTTP/2 and gRPC pipeline is built.
        config.channelDebuggingCallbacks.onBindTCPListener = { listener in
            listener.eventLoop.makeCompletedFuture {
                try listener.pipeline.syncOperations.addHandler(handshakes.gate(), position: .first)
            }
        }
        config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
            handshakes.armDeadline(channel).flatMap { admitted in
                guard admitted else { return channel.eventLoop.makeSucceededVoidFuture() }
                return TLSVersionGuard.install(on: channel) { tlsLogger.warning("refused a connection", metadata: ["reason": "\($0)"]) }
            }
        }
        // The listener binds an IP literal; NIO parses it (host names are for dialing).
        let address: GRPCNIOTransportCore.SocketAddress
        switch try? NIOCore.SocketAddress(ipAddress: configuration.listenHost, port: configuration.listenPort) {
        case .v4?: address = .ipv4(host: configuration.listenHost, port: configuration.listenPort)
        case .v6?: address = .ipv6(host: configuration.listenHost, port: configuration.listenPort)
        default:
            throw PaxsyncError(.badInput, "listen must be an IP address and port, like 0.0.0.0:7400 or [::]:7400",
                               subject: "\(configuration.listenHost):\(configuration.listenPort)")
        }
        // The roster decides whom a certificate may speak for: its pins, else the CA.
        let certificateRefusals = RateLimitedLog(logger: logger, message: "refused a peer's TLS certificate")
        let check = try configuration.tls.peerCheck(roster: { replica.roster })
        let transport = HTTP2ServerTransport.Posix(
            address: address,
            transportSecurity: configuration.tls.serverSecurity(check: check) { reason in
                certificateRefusals.record(reason)
                registry.refusedCertificate(reason)
            }, config: config)
        server = GRPCServer(transport: transport, services: [
            SyncService(replica: replica, accepts: configuration.acceptsPeer ?? { peers.contains($0) }, registry: registry, logger: logger),
        ])
        self.registry = registry
        self.logger = logger
        self.handshakes = handshakes
        self.address = "\(configuration.listenHost):\(configuration.listenPort)"
    }

    /// The bound port, once listening.
    public var port: Int? {
        get async throws {
            let address = try await server.listeningAddress
            return address?.ipv4?.port ?? address?.ipv6?.port
        }
    }

    public func run() async throws {
        do {
            try await withGracefulShutdownHandler {
                try await server.serve()
            } onGracefulShutdown: {
                self.shutdown()
            }
        } catch {
            if Task.isCancelled { throw error }
            // Nearly always the listen address: in use, or not an address of this host.
            throw PaxsyncError(.unavailable, "cannot listen for peers (listen in paxsync.conf, or --listen)",
                               subject: address, underlying: error)
        }
    }

    /// Ends the sessions and stops accepting; `run` returns once they drained.
    /// Prefer this to cancelling `run`: cancelling a server while it accepts a
    /// connection can trap in NIO (apple/swift-nio#2637).
    public func shutdown() {
        // Sessions are long-lived streams: end them so the server can drain.
        registry.closeAll("node \(logger[metadataKey: "node"].map { "\($0)" } ?? "") is shutting down")
        server.beginGracefulShutdown()
    }
}
