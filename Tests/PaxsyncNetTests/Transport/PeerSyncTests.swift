import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import PaxsyncSync
import PaxsyncTestSupport
import Synchronization
import Testing
import X509

@Suite("Coalition PKI")
struct PKITests {
    @Test("a node certificate names its node id and is signed by the CA")
    func nodeID() throws {
        let ca = try CoalitionPKI.createCA(name: "t")
        let issued = try CoalitionPKI.issueNode(id: "KR", caCertificatePEM: ca.certificatePEM, caKeyPEM: ca.privateKeyPEM, hosts: ["127.0.0.1", "kr.example"])
        let cert = try Certificate(pemEncoded: issued.certificatePEM)
        let caCert = try Certificate(pemEncoded: ca.certificatePEM)
        #expect(CoalitionPKI.nodeID(of: cert) == "KR")
        #expect(CoalitionPKI.nodeID(of: caCert) == nil)
        #expect(cert.issuer == caCert.subject)
        #expect(caCert.publicKey.isValidSignature(cert.signature, for: cert))
        #expect(throws: PaxsyncError.self) {
            try CoalitionPKI.issueNode(id: "kr!", caCertificatePEM: ca.certificatePEM, caKeyPEM: ca.privateKeyPEM)
        }
    }
}

@Suite("Peer sync over mutual TLS", .serialized)
struct PeerSyncTests {
    let dir = TemporaryDirectory("paxsync-net")
    let coalition = TestCoalition(["AU", "JP", "KR"])

    @Test("three nodes writing everywhere converge; later writes are pushed live")
    func threeNodes() async throws {
        let pki = try TestPKI(dir: dir)
        let nodes = try coalition.ids.map { try NetNode($0, coalition: coalition, pki: pki, dir: dir) }
        try nodes[0].replica.commit([Records.facility("AU-A")])
        try nodes[1].replica.commit([Records.facility("JP-B", country: "JP")])
        try await withNetwork(nodes, links: [("AU", "JP"), ("AU", "KR"), ("JP", "KR")]) {
            try await eventually("all three hold both entries") { try nodes.allSatisfy { try $0.replica.logCount() == 2 } }
            try nodes[2].replica.commit([Records.facility("KR-C", country: "KR")])
            try nodes[0].replica.commit([Records.stock("AU-A", "Li", kg: 5)])
            try await eventually("the live writes reach everyone") { try digests(nodes).count == 1 && nodes[1].replica.logCount() == 4 }
        }
        #expect(try digests(nodes).count == 1)
    }

    @Test("a line A–B–C converges through B: entries are relayed")
    func relay() async throws {
        let pki = try TestPKI(dir: dir)
        let nodes = try coalition.ids.map { try NetNode($0, coalition: coalition, pki: pki, dir: dir) }
        try nodes[0].replica.commit([Records.facility("AU-A")])
        try nodes[2].replica.commit([Records.facility("KR-C", country: "KR")])
        try await withNetwork(nodes, links: [("AU", "JP"), ("JP", "KR")]) {
            try await eventually("AU and KR meet through JP") { try digests(nodes).count == 1 && nodes[0].replica.logCount() == 2 }
        }
        #expect(try nodes[0].replica.query("SELECT id FROM facilities ORDER BY id").rows == [[.text("AU-A")], [.text("KR-C")]])
    }

    @Test("in a full mesh each entry reaches each node once: the others advertise what they got instead of relaying it")
    func noEchoInMesh() async throws {
        let pki = try TestPKI(dir: dir)
        // A relay delay far longer than an advertisement takes, even on a loaded machine.
        let nodes = try coalition.ids.map { try NetNode($0, coalition: coalition, pki: pki, dir: dir, relayDelayMilliseconds: 20_000) }
        let (au, jp, kr) = (nodes[0], nodes[1], nodes[2])
        try await withNetwork(nodes, links: [("AU", "JP"), ("AU", "KR"), ("JP", "KR")]) {
            // Warm-up: catch-up batches never wait, so the first entry may arrive twice.
            try await warmUp(origin: au, [jp, kr])
            let before = [jp.registry.statistics("KR")!.entriesIn, kr.registry.statistics("JP")!.entriesIn]
            for i in 0..<30 {
                try au.replica.commit([Records.facility("AU-F\(i)")])
                au.registry.wakeup.wake()
            }
            try await eventually("JP and KR hold AU's entries") { try jp.replica.logCount() == 31 && kr.replica.logCount() == 31 }
            try await eventually("JP and KR advertised AU:31 to each other") {
                jp.registry.versionVector(of: "KR")["AU"] == 31 && kr.registry.versionVector(of: "JP")["AU"] == 31
            }
            for (index, (node, other)) in [(jp, "KR"), (kr, "JP")].enumerated() {
                let fromOther = try #require(node.registry.statistics(other))
                #expect(fromOther.entriesIn - before[index] == 0,
                        "\(node.id) got \(fromOther.entriesIn - before[index]) of AU's entries from \(other) besides AU's own copies")
                #expect(try #require(node.registry.statistics("AU")).entriesIn >= 30)
            }
        }
        #expect(try digests(nodes).count == 1)
    }

    @Test("in a full mesh with writers taking turns, a node's own write does not drag along the relays waiting before it")
    func ownWritesDoNotFlushRelays() async throws {
        let pki = try TestPKI(dir: dir)
        let nodes = try coalition.ids.map { try NetNode($0, coalition: coalition, pki: pki, dir: dir, relayDelayMilliseconds: 20_000) }
        try await withNetwork(nodes, links: [("AU", "JP"), ("AU", "KR"), ("JP", "KR")]) {
            try await warmUp(origin: nodes[0], [nodes[1], nodes[2]])
            var before: [String: Int] = [:]
            for node in nodes { for peer in nodes where peer.id != node.id { before[node.id + peer.id] = node.registry.statistics(peer.id)!.entriesIn } }
            // Each write is made right after the previous one arrived: the writer's
            // log holds, waiting to be relayed, the entry the others just got from its origin.
            let rounds = 6
            for round in 0..<rounds {
                for (turn, writer) in nodes.enumerated() {
                    try writer.replica.commit([Records.facility("\(writer.id)-T\(round)")])
                    writer.registry.wakeup.wake()
                    let count = 1 + round * nodes.count + turn + 1
                    try await eventually("every node holds \(writer.id)'s write of round \(round)") {
                        try nodes.allSatisfy { try $0.replica.logCount() == count }
                    }
                }
            }
            for node in nodes {
                for peer in nodes where peer.id != node.id {
                    let received = node.registry.statistics(peer.id)!.entriesIn - before[node.id + peer.id]!
                    #expect(received == rounds, "\(node.id) got \(received) entries from \(peer.id): its \(rounds) own and \(received - rounds) relayed")
                }
            }
        }
        #expect(try digests(nodes).count == 1)
    }

    @Test("a line relays a third member's entries once the relay delay is over, and not before")
    func relayWaits() async throws {
        let pki = try TestPKI(dir: dir)
        let delay: UInt64 = 400
        let nodes = try coalition.ids.map { try NetNode($0, coalition: coalition, pki: pki, dir: dir, relayDelayMilliseconds: delay) }
        let (au, jp, kr) = (nodes[0], nodes[1], nodes[2])
        try await withNetwork(nodes, links: [("AU", "JP"), ("JP", "KR")]) {
            try await warmUp(origin: au, [jp, kr], pairs: [(kr, "JP")])
            let written = ContinuousClock.now
            try au.replica.commit([Records.facility("AU-LIVE")])
            au.registry.wakeup.wake()
            try await eventually("KR gets it through JP") { try kr.replica.logCount() == 2 }
            // JP cannot have seen it before it was written, and held it back for the delay.
            let waited = written.duration(to: .now)
            #expect(waited >= .milliseconds(Int64(delay)), "relayed after \(waited)")
        }
        #expect(try digests(nodes).count == 1)
    }

    /// Writes one entry at `origin` and waits until every node holds it and each
    /// session named in `pairs` heard something after its hello (an entry or an
    /// advertisement): the peer's writer has then sent its catch-up, so later
    /// entries are relayed under §13.6.
    func warmUp(origin: NetNode, _ others: [NetNode], pairs: [(NetNode, String)]? = nil) async throws {
        let pairs = pairs ?? [(others[0], others[1].id), (others[1], others[0].id)]
        try await eventually("sessions open") { pairs.allSatisfy { $0.0.registry.statistics($0.1)?.lastContact != nil } }
        try origin.replica.commit([Records.facility("\(origin.id)-WARM")])
        origin.registry.wakeup.wake()
        try await eventually("everyone holds the warm-up entry") { try others.allSatisfy { try $0.replica.logCount() == 1 } }
        try await eventually("each peer spoke after its hello") {
            pairs.allSatisfy { node, peer in
                let s = node.registry.statistics(peer)
                return (s?.entriesIn ?? 0) + (s?.advertisementsIn ?? 0) > 0 && node.registry.versionVector(of: peer)[origin.id] == 1
            }
        }
    }

    @Test("a node offline while others write catches up on return, without re-downloading what it has")
    func catchUp() async throws {
        let pki = try TestPKI(dir: dir)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir)
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir)
        for i in 0..<20 { try au.replica.commit([Records.facility("AU-F\(i)")]) }
        try await withNetwork([au, jp], links: [("AU", "JP")]) {
            try await eventually("first sync") { try jp.replica.logCount() == 20 }
        }
        for i in 20..<50 { try au.replica.commit([Records.facility("AU-F\(i)")]) }
        let before = try jp.replica.logCount()
        let firstSession = try #require(jp.registry.statistics("AU")).entriesIn
        try await withNetwork([au, jp], links: [("AU", "JP")]) {
            try await eventually("catch-up after return") { try jp.replica.logCount() == 50 }
        }
        #expect(before == 20)
        let resumed = try #require(jp.registry.statistics("AU"))
        #expect(firstSession == 20 && resumed.sessions == 2)
        #expect(resumed.entriesIn - firstSession == 30, "the resumed session carried only the 30 missing entries")
        #expect(try jp.replica.digest() == au.replica.digest())
        // Every entry was applied exactly once: nothing arrived twice as a duplicate.
        #expect(try jp.replica.quarantined().isEmpty && jp.replica.held().isEmpty)
    }
}

/// Counts each peer's open sessions, from the registry's reports.
final class SessionCounter: SyncObserver {
    private let open = Mutex<[String: Int]>([:])

    func received(_ result: BatchResult, entries: Int, bytes: Int, peer: String, nanoseconds: UInt64) {}
    func traffic(peer: String, direction: TrafficDirection, entries: Int, bytes: Int) {}
    func session(peer: String, outcome: SessionOutcome) {
        open.withLock { $0[peer, default: 0] += outcome == .opened ? 1 : outcome == .ended ? -1 : 0 }
    }

    func count(_ peer: String) -> Int { open.withLock { $0[peer] ?? 0 } }
}

@Suite("Peer sync: who dials whom", .serialized)
struct DialDirectionTests {
    let dir = TemporaryDirectory("paxsync-direction")
    let coalition = TestCoalition(["AU", "JP"])

    @Test("a node accepts a session from a peer whose id sorts after its own, also beside the session it dialed")
    func reverseDial() async throws {
        let pki = try TestPKI(dir: dir)
        let counter = SessionCounter()
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir, observer: counter)
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir)
        try au.replica.commit([Records.facility("AU-A")])
        try jp.replica.commit([Records.facility("JP-B", country: "JP")])
        let servers = try [(au, "JP"), (jp, "AU")].map { node, peer in
            try SyncServer(replica: node.replica, configuration: SyncConfiguration(
                listenHost: "127.0.0.1", listenPort: 0, tls: node.tls, peers: [peer]), registry: node.registry, logger: node.logger)
        }
        try await withServers(servers) {
            let auPort = try #require(try await servers[0].port)
            let jpPort = try #require(try await servers[1].port)
            let backoff = Backoff(initialMilliseconds: 50, maximumMilliseconds: 400)
            // JP sorts after AU, so by convention AU dials JP. JP dials AU anyway.
            let reverse = try PeerDialer(replica: jp.replica, peer: "AU", address: "127.0.0.1:\(auPort)", tls: jp.tls,
                                         registry: jp.registry, backoff: backoff, logger: jp.logger)
            let usual = try PeerDialer(replica: au.replica, peer: "JP", address: "127.0.0.1:\(jpPort)", tls: au.tls,
                                       registry: au.registry, backoff: backoff, logger: au.logger)
            try await withThrowingTaskGroup(of: Void.self) { dialers in
                defer { dialers.cancelAll() }
                dialers.addTask { try await reverse.run() }
                try await eventually("JP's session to AU carries both entries") {
                    try au.replica.logCount() == 2 && jp.replica.logCount() == 2
                }
                #expect(counter.count("JP") == 1, "AU accepted JP's session")
                dialers.addTask { try await usual.run() }
                try await eventually("AU's own session to JP opens beside it") { counter.count("JP") == 2 }
                try au.replica.commit([Records.facility("AU-C")])
                try jp.replica.commit([Records.facility("JP-D", country: "JP")])
                au.registry.wakeup.wake()
                jp.registry.wakeup.wake()
                try await eventually("later writes cross over the two sessions") {
                    try au.replica.logCount() == 4 && jp.replica.logCount() == 4
                }
            }
        }
        #expect(try au.replica.digest() == jp.replica.digest())
        for node in [au, jp] {
            #expect(try node.replica.quarantined().isEmpty && node.replica.held().isEmpty, "\(node.id): an entry received twice is a duplicate")
        }
    }
}

@Suite("Peer sync refusals", .serialized, .timeLimit(.minutes(2)))
struct RefusalTests {
    let dir = TemporaryDirectory("paxsync-refuse")
    let coalition = TestCoalition(["AU", "JP", "KR"])

    /// AU serves one entry; JP dials with `tls` for a while. Nothing may cross.
    func attempt(jpTLS: (TestPKI) throws -> TLSFiles) async throws -> NetNode { try await attemptBoth(jpTLS: jpTLS).jp }

    func attemptBoth(jpTLS: (TestPKI) throws -> TLSFiles) async throws -> (jp: NetNode, au: NetNode) {
        let pki = try TestPKI(dir: dir)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir)
        try au.replica.commit([Records.facility("AU-SECRET")])
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir)
        let server = try SyncServer(replica: au.replica, configuration: SyncConfiguration(
            listenHost: "127.0.0.1", listenPort: 0, tls: au.tls, peers: ["JP", "KR"]), registry: au.registry, logger: au.logger)
        try await withServers([server]) {
            let port = try #require(try await server.port)
            // JP dials AU directly, whichever sorts first.
            try await whileDialing(from: jp, to: "AU", port: port, tls: try jpTLS(pki)) {
                // Under load the first refusal can take a while.
                try await eventually("JP's dial is refused", seconds: 30) { jp.registry.lastError("AU") != nil }
            }
        }
        #expect(try jp.replica.logCount() == 0, "no entry may reach a refused peer")
        #expect(jp.registry.lastError("AU") != nil)
        return (jp, au)
    }

    @Test("a certificate from another CA is refused")
    func otherCA() async throws {
        let jp = try await attempt { _ in try TestPKI(dir: dir, name: "rogue CA").issue("JP") }
        #expect(jp.registry.lastError("AU").map { $0.contains("unavailable") || $0.contains("certificate") } == true)
    }

    @Test("an expired certificate is refused")
    func expired() async throws {
        _ = try await attempt { pki in try pki.issue("JP", notBefore: Date().addingTimeInterval(-10 * 86400), validDays: 2, tag: "old") }
    }

    @Test("a certificate naming another node than the hello is refused")
    func impostor() async throws {
        let jp = try await attempt { pki in try pki.issue("KR") }
        #expect(jp.registry.lastError("AU").map { $0.contains("certificate names KR") || $0.contains("ended the session") } == true,
                "\(jp.registry.lastError("AU") ?? "")")
    }

    @Test("a certificate for a node not in the roster is refused at the TLS handshake")
    func notInRoster() async throws {
        let (jp, au) = try await attemptBoth { pki in try pki.issue("FR") }
        #expect(au.registry.recentCertificateRefusals.last?.message == "FR is not in this node's roster")
        #expect(jp.registry.lastError("AU") != nil)
    }
}
