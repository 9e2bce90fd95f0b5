import Foundation
import Logging
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import ServiceLifecycle

/// Everything `paxsync serve` runs for one node, wired from its data directory:
/// the admin socket, the sync server, the held-entry retrier, the metrics
/// endpoint when configured, and a dialer per peer whose id sorts after the
/// node's. SIGTERM or SIGINT shuts them down gracefully, dialers first.
public struct NodeDaemon {
    public let replica: Replica
    public let listen: String
    public let peers: [String]
    let services: [any Service]
    /// This daemon's claim on the data directory, held until it is dropped.
    let lock: ServeLock
    /// Reports the bound port (for `listen = "HOST:0"`); runs beside the services.
    let listening: ListenAddress
    let logger: Logger

    public init(directory dir: NodeDirectory, version: String, listenOverride: String? = nil, logger: Logger) throws {
        let config = dir.configuration
        // First: a second daemon on this directory stops here, before it touches anything.
        let lock = try ServeLock(directory: dir)
        let replica = try dir.openReplica(writable: true)
        let tls = TLSFiles(certificate: dir.file(config.tlsCertificate), privateKey: dir.file(config.tlsKey), ca: dir.file(config.tlsCA))
        let (host, port) = try SyncConfiguration.address(listenOverride ?? config.listen)
        let peers = config.peerIDs(roster: replica.roster.members.map(\.id))
        let unknown = peers.subtracting(replica.memberIDs)
        guard unknown.isEmpty else {
            throw PaxsyncError(.badInput, "peers \(unknown.sorted().joined(separator: ", ")) are not in the roster",
                               subject: dir.file(NodeDirectory.configFile))
        }
        // The replica may have been restored from a backup (or a file-system
        // snapshot) and lack entries this origin signed since, which peers hold:
        // no local write until a peer confirms the head (`LocalWritePause`).
        // Without peers there is no one to ask, and no one to equivocate to.
        if config.isStandby {
            try replica.pauseLocalWritesUntilPromoted(reason: "role = \"standby\" in paxsync.conf")
        } else {
            // A former standby whose paxsync.conf now says primary: pause as after a restore.
            if try replica.localWritePause()?.untilPromoted == true {
                try replica.promote(reason: "promoted: role changed to \"primary\"")
            }
            if !peers.isEmpty { try replica.pauseLocalWrites(reason: "the daemon started") }
        }
        // Without a CA file, a peer the roster does not pin can never be accepted: say so now.
        let unpinned = peers.filter { replica.roster.member($0)?.tlsPin == nil }.sorted()
        if !tls.hasCA && !unpinned.isEmpty {
            logger.warning("no coalition CA certificate and no TLS pin in the roster for some peers: they will be refused",
                           metadata: ["peers": "\(unpinned.joined(separator: ","))", "tls_ca": "\(tls.ca)",
                                      "fix": "paxsync roster pin MEMBER PIN, or install the CA certificate"])
        }
        let metrics = NodeMetrics()
        // A node founded by a genesis states its coalition id and requires the peers'.
        let genesis = try dir.loadGenesis()
        let registry = PeerRegistry(observer: metrics, coalitionID: genesis?.coalitionIDBytes ?? [])
        var sync = SyncConfiguration(listenHost: host, listenPort: port, tls: tls, peers: peers)
        // The peers of the roster as it is now (it follows roster.json, `RosterFollower`).
        let currentPeers: @Sendable () -> Set<String> = {
            let roster = replica.roster
            return config.peerIDs(roster: roster.members.map(\.id)).intersection(roster.memberIDs)
        }
        sync.acceptsPeer = { currentPeers().contains($0) }
        sync.handshakeTimeout = .seconds(config.handshakeTimeoutSeconds)
        sync.maxPendingHandshakes = config.maxPendingHandshakes
        sync.maxPendingHandshakesPerAddress = config.maxPendingHandshakesPerAddress
        let server = try SyncServer(replica: replica, configuration: sync, registry: registry, logger: logger)
        let listening = ListenAddress(host: host, port: port, server: server, logger: logger)
        let facts = DaemonFacts(version: version, startedAt: Date(), listen: listening.description, peers: peers.sorted())
        let status: @Sendable () throws -> NodeStatus = {
            var facts = facts
            facts.listen = listening.description
            facts.peers = currentPeers().sorted()
            return try NodeStatus.build(replica: replica, version: version, daemon: (facts, registry))
        }
        var services: [any Service] = [
            AdminServer(path: dir.file(config.adminSocket), logger: logger, respond: AdminServer.commands(status: status, wakeup: registry.wakeup)),
            server,
            HeldRetrier(replica: replica, wakeup: registry.wakeup, held: registry.heldWakeup, clock: registry.clock, logger: logger),
        ]
        if !config.metricsListen.isEmpty {
            let (metricsHost, metricsPort) = try SyncConfiguration.address(config.metricsListen)
            services.append(MetricsServer(host: metricsHost, port: metricsPort, logger: logger) {
                if let report = try? status() { metrics.refresh(from: report) }
                return metrics.exposition()
            })
        }
        // A standby dials every peer: those that sort before this member dial the
        // primary's address, not the standby's.
        let dialed: @Sendable (Roster) -> [String: String] = { roster in
            var dialed: [String: String] = [:]
            for peer in config.peerIDs(roster: roster.members.map(\.id)) where peer > config.nodeID || config.isStandby {
                if let member = roster.member(peer) { dialed[peer] = member.address }
            }
            return dialed
        }
        let dialers = DialerSet(initial: dialed(replica.roster), logger: logger) { peer, address in
            try PeerDialer(replica: replica, peer: peer, address: address, tls: tls, registry: registry, logger: logger)
        }
        services.append(dialers)
        services.append(RosterFollower(directory: dir, replica: replica, registry: registry, dialers: dialers, dialed: dialed, logger: logger))
        self.listening = listening
        self.lock = lock
        self.replica = replica
        self.listen = facts.listen
        self.peers = facts.peers
        self.services = services
        self.logger = logger
    }

    /// How long a graceful shutdown may take before the services are cancelled.
    public static let gracefulShutdownLimit: Duration = .seconds(20)

    /// Runs until SIGTERM or SIGINT, then finishes the batch being applied and returns.
    public func run() async throws {
        logger.info("serving", metadata: ["listen": "\(listen)", "peers": "\(peers.joined(separator: ","))"])
        var configuration = ServiceGroupConfiguration(services: services.map { .init(service: $0) }
                                                        + [.init(service: listening, successTerminationBehavior: .ignore)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A shutdown is bounded: a service still running after the grace period
        // (a session stuck sending to a peer that reads nothing) is cancelled,
        // and one that ignores cancellation ends the process, so SIGTERM
        // always ends the daemon (systemd and the tests wait for it).
        configuration.maximumGracefulShutdownDuration = Self.gracefulShutdownLimit
        configuration.maximumCancellationDuration = .seconds(10)
        let group = ServiceGroup(configuration: configuration)
        defer { withExtendedLifetime(lock) {} }
        try await group.run()
        logger.info("stopped")
    }
}
