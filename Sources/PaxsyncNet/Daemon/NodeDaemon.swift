import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import ServiceLifecycle

/// How a node takes part in peer sync.
public struct SyncConfiguration: Sendable {
    /// `host:port` to listen on; port 0 picks a free one.
    public var listenHost: String
    public var listenPort: Int
    public var tls: TLSFiles
    /// Roster members this node peers with. It dials those whose id sorts after
    /// its own and accepts sessions from all of them.
    public var peers: Set<String>
    /// Reconnection delays.
    public var backoff: Backoff = Backoff()

    public init(listenHost: String, listenPort: Int, tls: TLSFiles, peers: Set<String>) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.tls = tls
        self.peers = peers
    }

    /// Parses `host:port`.
    public static func address(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw PaxsyncError(.badInput, "expected host:port", subject: text)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }   // [::1]:7400
        return (host, port)
    }
}

/// The gRPC server of a node, as a service with graceful shutdown.
public final class SyncServer: Service, @unchecked Sendable {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let registry: PeerRegistry
    let logger: Logger

    public init(replica: Replica, configuration: SyncConfiguration, registry: PeerRegistry, logger: Logger) throws {
        try configuration.tls.check()
        let peers = configuration.peers
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = SyncProtocol.maxMessageBytes
        // The listener binds an IP literal; NIO parses it (host names are for dialing).
        let address: GRPCNIOTransportCore.SocketAddress
        switch try? NIOCore.SocketAddress(ipAddress: configuration.listenHost, port: configuration.listenPort) {
        case .v4?: address = .ipv4(host: configuration.listenHost, port: configuration.listenPort)
        case .v6?: address = .ipv6(host: configuration.listenHost, port: configuration.listenPort)
        default:
            throw PaxsyncError(.badInput, "listen must be an IP address and port, like 0.0.0.0:7400 or [::]:7400",
                               subject: "\(configuration.listenHost):\(configuration.listenPort)")
        }
        let transport = HTTP2ServerTransport.Posix(
            address: address,
            transportSecurity: configuration.tls.serverSecurity, config: config)
        server = GRPCServer(transport: transport, services: [
            SyncService(replica: replica, accepts: { peers.contains($0) }, registry: registry, logger: logger),
        ])
        self.registry = registry
        self.logger = logger
    }

    /// The bound port, once listening.
    public var port: Int? {
        get async throws {
            let address = try await server.listeningAddress
            return address?.ipv4?.port ?? address?.ipv6?.port
        }
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            self.shutdown()
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

/// Keeps a session open to one peer: dials, runs the session, and on any
/// failure waits (exponential backoff with jitter) and dials again. Each new
/// session resumes from the version vectors exchanged in the hellos.
public struct PeerDialer: Service {
    let replica: Replica
    let peerID: String
    let host: String
    let port: Int
    let tls: TLSFiles
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
        self.registry = registry
        self.backoff = backoff
        var logger = logger
        logger[metadataKey: "peer"] = "\(peer)"
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.dialLoop() }
    }

    private func dialLoop() async {
        var backoff = self.backoff
        var rng = SystemRandomNumberGenerator()
        var failures = 0
        while !Task.isCancelled {
            let started = Date()
            do {
                try await session()
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                // Shutting down: the transport reports the cancellation as its own error.
                if Task.isCancelled { return }
                registry.failed(peerID, "\(error)")
                failures += 1
                // The first failure in a row, then every 20th, at notice; the rest at debug.
                let level: Logger.Level = failures == 1 || failures % 20 == 0 ? .notice : .debug
                logger.log(level: level, "sync session with peer ended", metadata: ["error": "\(error)", "attempt": "\(failures)"])
            }
            if Date().timeIntervalSince(started) > 10 { backoff.reset() }
            let delay = backoff.next(using: &rng)
            logger.debug("reconnecting", metadata: ["delay_ms": "\(delay)"])
            do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
        }
    }

    private func session() async throws {
        var config = HTTP2ClientTransport.Posix.Config.defaults
        // TLS verifies that the server's certificate names the node we dial.
        config.http2.authority = CoalitionPKI.dnsName(forNode: peerID)
        config.backoff = .init(initial: .milliseconds(100), max: .seconds(1), multiplier: 2, jitter: 0.2)
        // Roster addresses may be host names (resolved on every dial) or IP literals.
        let transport = try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port),
                                                       transportSecurity: tls.clientSecurity, config: config)
        try await withGRPCClient(transport: transport) { client in
            let sync = Paxsync_V1_Sync.Client(wrapping: client)
            let runner = SessionRunner(replica: replica, peerID: peerID, logger: logger, metrics: registry.metrics, wakeup: registry.wakeup)
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
                try await runner.receiveLoop(response.messages.compactMap { SyncMessage(wire: $0) })
            }
        }
    }
}
