import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PaxsyncLog
import PaxsyncModel
@testable import PaxsyncNet
import PaxsyncStore
import PaxsyncSync
import PaxsyncWire
import PaxsyncTestSupport
import Synchronization
import Testing

@Suite("Hostile peers", .serialized)
struct HostilePeerTests {
    let dir = TemporaryDirectory("paxsync-hostile")
    let coalition = TestCoalition(["AU", "JP", "KR"])

    /// Wire form of a batch of raw bodies with junk signatures, then `valid`.
    func batch(_ bodies: [[UInt8]], then valid: [LoggedEntry]) -> Paxsync_V1_SyncMessage {
        var batch = Paxsync_V1_EntryBatch()
        batch.entries = bodies.map { body in
            var e = Paxsync_V1_SignedEntry()
            e.body = Data(body)
            e.signature = Data(repeating: 7, count: 64)
            return e
        } + valid.map { row in
            var e = Paxsync_V1_SignedEntry()
            e.body = Data(row.body)
            e.signature = Data(row.signature)
            return e
        }
        var message = Paxsync_V1_SyncMessage()
        message.entries = batch
        return message
    }

    /// Connects to AU's server at `port` as `attacker` (its real certificate),
    /// sends a hello and `messages`, and keeps the stream open until AU answers
    /// with a message `until` accepts (or ends the stream). Returns that message.
    func hostileSession(port: Int, as attacker: NetNode, send messages: [Paxsync_V1_SyncMessage],
                        until wanted: @escaping @Sendable (SyncMessage) -> Bool) async throws -> SyncMessage? {
        var config = HTTP2ClientTransport.Posix.Config.defaults
        config.http2.authority = CoalitionPKI.dnsName(forNode: "AU")
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port),
                                                       transportSecurity: attacker.tls.clientSecurity(
                                                           check: try attacker.tls.peerCheck(roster: { attacker.replica.roster }),
                                                           dialed: "AU", refused: { _ in }), config: config)
        let (answers, answered) = AsyncStream<SyncMessage>.makeStream()
        let received = Received()
        let hello = SyncMessage.hello(.init(nodeID: attacker.id, versionVector: [:])).toWire()
        try await withGRPCClient(transport: transport) { client in
            try await Paxsync_V1_Sync.Client(wrapping: client).session { writer in
                for message in [hello] + messages { try? await writer.write(message) }
                for await _ in answers { break }
            } onResponse: { response in
                defer { answered.finish() }
                for try await message in response.messages {
                    if let decoded = SyncMessage(wire: message), wanted(decoded) {
                        received.message.withLock { $0 = decoded }
                        answered.yield(decoded)
                        return
                    }
                }
            }
        }
        return received.message.withLock { $0 }
    }

    /// AU's server on a free port, peering with JP only, and JP (the attacker's certificate).
    func auServingJP() throws -> (au: NetNode, jp: NetNode, server: SyncServer) {
        let pki = try TestPKI(dir: dir)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir)
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir)
        let server = try SyncServer(replica: au.replica, configuration: SyncConfiguration(
            listenHost: "127.0.0.1", listenPort: 0, tls: au.tls, peers: ["JP"]), registry: au.registry, logger: au.logger)
        return (au, jp, server)
    }

    final class Received: Sendable {
        let message = Mutex<SyncMessage?>(nil)
    }

    @Test("crafted bodies from a certified peer are quarantined as malformed-entry; the node keeps syncing")
    func poisonBodies() async throws {
        let pki = try TestPKI(dir: dir)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir)
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir)   // the attacker holds JP's certificate
        let kr = try NetNode("KR", coalition: coalition, pki: pki, dir: dir)
        try jp.replica.commit([Records.facility("JP-B", country: "JP")])
        let valid = try await jp.replica.logEntries(after: 0, limit: 10)
        try kr.replica.commit([Records.facility("KR-C", country: "KR")])

        let server = try SyncServer(replica: au.replica, configuration: SyncConfiguration(
            listenHost: "127.0.0.1", listenPort: 0, tls: au.tls, peers: ["JP", "KR"]), registry: au.registry, logger: au.logger)
        try await withServers([server]) {
            let port = try #require(try await server.port)
            // Hold the stream open until AU has judged the batch and acknowledged it.
            let ack = try await hostileSession(port: port, as: jp, send: [batch(HostileBodies.all.map(\.body), then: valid)]) {
                if case .ack = $0 { true } else { false }
            }
            #expect(ack == .ack(versionVector: ["JP": 1]))
            let quarantined = try au.replica.quarantined()
            #expect(quarantined.count == HostileBodies.all.count)
            #expect(quarantined.allSatisfy { $0.code == PaxsyncError.Code.malformedEntry.rawValue && !$0.blocksOrigin })
            #expect(try au.replica.logCount() == 1, "JP's valid entry after the crafted ones was applied")

            // The node goes on syncing with an honest peer over the same server.
            try await whileDialing(from: kr, to: "AU", port: port) {
                try await eventually("KR and AU exchange their entries") {
                    try au.replica.logCount() == 2 && kr.replica.logCount() == 2
                }
            }
        }
        #expect(try au.replica.digest() == kr.replica.digest())
    }

    @Test("the wire conversion names a valid entry and gives no id to a crafted body")
    func wireIDs() throws {
        let entry = coalition.sign(ChangeSet(origin: "KR", seq: 3, hlc: HLC(physicalMilliseconds: TestTime.start, logical: 0),
                                             prevHash: Array(repeating: 1, count: 32), changes: []))
        let wire = batch(HostileBodies.all.map(\.body), then: [])
        guard case .entries(let raw, _)? = SyncMessage(wire: wire) else {
            Issue.record("not an entry batch")
            return
        }
        #expect(raw.count == HostileBodies.all.count && raw.allSatisfy { $0.id == nil })
        let good = SyncMessage.entries([RawEntry(id: entry.id, body: entry.body, signature: entry.signature)], caughtUp: true)
        #expect(SyncMessage(wire: good.toWire()) == good)
    }

    @Test("junk batches fill the quarantine by at most the session's budget; the session is closed")
    func junkBatches() async throws {
        let (au, jp, server) = try auServingJP()
        // Distinct junk, so no entry is a duplicate of another.
        let batches = (0..<3).map { n in batch((0..<200).map { [0xFF, UInt8(n), UInt8($0 & 0xFF), UInt8($0 >> 8)] }, then: []) }
        try await withServers([server]) {
            let port = try #require(try await server.port)
            // Held open until AU says goodbye: the goodbye is the session's last
            // message and reaches the peer before the stream closes.
            let goodbye = try await hostileSession(port: port, as: jp, send: batches) {
                if case .goodbye = $0 { true } else { false }
            }
            #expect(goodbye == .goodbye(reason: "peer JP sent \(SyncProtocol.maxQuarantinedPerSession) entries that were quarantined"))
        }
        let quarantined = try au.replica.quarantined()
        #expect(quarantined.count == SyncProtocol.maxQuarantinedPerSession, "a batch stops being judged once the budget is spent")
        #expect(au.registry.lastError("JP")?.contains("quarantined") == true, "\(au.registry.lastError("JP") ?? "")")
    }

    @Test("a peer that filled the quarantine past the per-peer bound is refused")
    func perPeerBound() {
        let registry = PeerRegistry()
        #expect(registry.quarantineRefusal("JP") == nil)
        registry.quarantined(from: "JP", entries: SyncProtocol.maxQuarantinedPerPeer - 1, bytes: 10)
        #expect(registry.quarantineRefusal("JP") == nil)
        registry.quarantined(from: "JP", entries: 1, bytes: 10)
        #expect(registry.quarantineRefusal("JP")?.contains("refused") == true)
        #expect(registry.quarantineRefusal("KR") == nil)
        registry.quarantined(from: "KR", entries: 1, bytes: SyncProtocol.maxQuarantinedBytesPerPeer)
        #expect(registry.quarantineRefusal("KR") != nil, "bytes count too")
    }

    @Test("a message of no known kind ends the session with a goodbye naming the peer; the node goes on serving")
    func unknownKind() async throws {
        let (au, jp, server) = try auServingJP()
        try await withServers([server]) {
            let port = try #require(try await server.port)
            // A message with no kind set: what a newer peer's unknown message decodes as.
            let goodbye = try await hostileSession(port: port, as: jp, send: [Paxsync_V1_SyncMessage()]) {
                if case .goodbye = $0 { true } else { false }
            }
            let expected = "receiving from peer JP failed: peer JP: peer JP sent a sync message of no kind this node knows "
                + "(hello, entries, ack, heartbeat, goodbye)"
            #expect(goodbye == .goodbye(reason: expected))
            #expect(au.registry.lastError("JP") == expected)
            // The same peer, well-behaved, is served again at once.
            let hello = try await hostileSession(port: port, as: jp, send: []) {
                if case .hello = $0 { true } else { false }
            }
            #expect(hello == .hello(.init(nodeID: "AU", versionVector: [:])))
        }
    }
}
