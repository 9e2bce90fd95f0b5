import Foundation
import Logging
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import PaxsyncSync
import PaxsyncTestSupport
import Testing
import X509

/// A coalition CA in a temporary directory that issues node TLS files.
struct TestPKI {
    let dir: TemporaryDirectory
    let ca: CoalitionPKI.Issued

    init(dir: TemporaryDirectory, name: String = "test CA") throws {
        self.dir = dir
        ca = try CoalitionPKI.createCA(name: name)
    }

    func issue(_ id: String, notBefore: Date = Date().addingTimeInterval(-300), validDays: Int = 30, tag: String = "") throws -> TLSFiles {
        let issued = try CoalitionPKI.issueNode(id: id, caCertificatePEM: ca.certificatePEM, caKeyPEM: ca.privateKeyPEM,
                                                hosts: ["127.0.0.1"], validDays: validDays, notBefore: notBefore)
        let base = dir.file("\(id)\(tag)-\(UUID().uuidString.prefix(6))")
        try issued.certificatePEM.write(toFile: base + ".crt", atomically: true, encoding: .utf8)
        try issued.privateKeyPEM.write(toFile: base + ".key", atomically: true, encoding: .utf8)
        try ca.certificatePEM.write(toFile: base + ".ca", atomically: true, encoding: .utf8)
        return TLSFiles(certificate: base + ".crt", privateKey: base + ".key", ca: base + ".ca")
    }
}

extension TestPKI {
    /// A self-signed certificate for `id` (no CA file: `ca` names a file that does not exist).
    func selfSigned(_ id: String, notBefore: Date = Date().addingTimeInterval(-300), validDays: Int = 30) throws -> TLSFiles {
        let issued = try CoalitionPKI.selfSignedNode(id: id, hosts: ["127.0.0.1"], validDays: validDays, notBefore: notBefore)
        let base = dir.file("\(id)-self-\(UUID().uuidString.prefix(6))")
        try issued.certificatePEM.write(toFile: base + ".crt", atomically: true, encoding: .utf8)
        try issued.privateKeyPEM.write(toFile: base + ".key", atomically: true, encoding: .utf8)
        return TLSFiles(certificate: base + ".crt", privateKey: base + ".key", ca: base + ".no-ca")
    }
}

/// The pin of the certificate in `tls`.
func pin(_ tls: TLSFiles) throws -> String {
    try PeerCertificateCheck.pin(ofPEM: String(contentsOfFile: tls.certificate, encoding: .utf8))
}

/// One node in-process: replica, TLS files, server on a free loopback port.
final class NetNode: @unchecked Sendable {
    let id: String
    let replica: Replica
    let tls: TLSFiles
    let registry: PeerRegistry
    let logger: Logger
    var port = 0

    init(_ id: String, coalition: TestCoalition, pki: TestPKI, dir: TemporaryDirectory, observer: (any SyncObserver)? = nil,
         relayDelayMilliseconds: UInt64 = SyncProtocol.relayDelayMilliseconds, tls: TLSFiles? = nil) throws {
        self.id = id
        registry = PeerRegistry(observer: observer, relayDelayMilliseconds: relayDelayMilliseconds,
                                advertiseIntervalMilliseconds: min(SyncProtocol.advertiseIntervalMilliseconds, relayDelayMilliseconds / 4))
        replica = try coalition.replica(id, in: dir, clock: SystemClock())
        self.tls = try tls ?? pki.issue(id)
        // PAXSYNC_TEST_LOG=debug (or another level) shows the nodes' logs on stderr.
        var logger = Logger(label: "test.\(id)")
        logger.logLevel = ProcessInfo.processInfo.environment["PAXSYNC_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        logger[metadataKey: "node"] = "\(id)"
        self.logger = logger
    }
}

/// Runs servers for `nodes`, dialers along `links` (from the lower id), then `body`.
func withNetwork(_ nodes: [NetNode], links: [(String, String)], body: () async throws -> Void) async throws {
    var servers: [String: SyncServer] = [:]
    for node in nodes {
        let peers = Set(links.compactMap { $0.0 == node.id ? $0.1 : $0.1 == node.id ? $0.0 : nil })
        servers[node.id] = try SyncServer(replica: node.replica, configuration: SyncConfiguration(
            listenHost: "127.0.0.1", listenPort: 0, tls: node.tls, peers: peers), registry: node.registry, logger: node.logger)
    }
    try await withServers(Array(servers.values)) {
        for node in nodes {
            node.port = try #require(try await servers[node.id]!.port)
        }
        try await withThrowingTaskGroup(of: Void.self) { dialers in
            for (a, b) in links {
                let (from, to) = a < b ? (a, b) : (b, a)
                let dialer = nodes.first { $0.id == from }!
                let target = nodes.first { $0.id == to }!
                let service = try PeerDialer(replica: dialer.replica, peer: to, address: "127.0.0.1:\(target.port)", tls: dialer.tls,
                                             registry: dialer.registry, backoff: Backoff(initialMilliseconds: 50, maximumMilliseconds: 400),
                                             logger: dialer.logger)
                dialers.addTask { try await service.run() }
            }
            defer { dialers.cancelAll() }
            try await body()
        }
    }
}

/// Runs servers around `body`, then stops them gracefully (never by cancelling
/// a server mid-accept: apple/swift-nio#2637) and waits for them to finish.
func withServers(_ servers: [SyncServer], body: () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for server in servers { group.addTask { try await server.run() } }
        do {
            try await body()
        } catch {
            for server in servers { server.shutdown() }
            throw error
        }
        for server in servers { server.shutdown() }
        try await group.waitForAll()
    }
}

/// Polls `condition` until it holds or `seconds` pass. It is checked once more at the
/// deadline: a test starved of threads on a loaded machine may wake only after it.
func eventually(_ what: String, seconds: Double = 15, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    if try await condition() { return }
    Issue.record("timed out after \(seconds) s waiting for: \(what)")
}

func digests(_ nodes: [NetNode]) throws -> Set<String> { Set(try nodes.map { try $0.replica.digest().hex }) }

/// Runs `body` while `node` dials `peer` at 127.0.0.1:`port` (with `tls`, by
/// default the node's own), redialing quickly; stops the dialer after `body`.
func whileDialing(from node: NetNode, to peer: String, port: Int, tls: TLSFiles? = nil,
                  body: () async throws -> Void) async throws {
    let dialer = try PeerDialer(replica: node.replica, peer: peer, address: "127.0.0.1:\(port)", tls: tls ?? node.tls,
                                registry: node.registry, backoff: Backoff(initialMilliseconds: 50, maximumMilliseconds: 400),
                                logger: node.logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await dialer.run() }
        defer { group.cancelAll() }
        try await body()
    }
}
