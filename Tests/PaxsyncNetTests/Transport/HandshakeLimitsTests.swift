import Foundation
import NIOCore
import NIOPosix
import PaxsyncModel
@testable import PaxsyncNet
import PaxsyncSync
import PaxsyncTestSupport
import Testing

/// Connections that open TCP and never finish TLS, against a real server on loopback.
@Suite("TLS handshake limits", .timeLimit(.minutes(1)))
struct HandshakeLimitsTests {
    let dir = TemporaryDirectory("paxsync-handshakes")
    let coalition = TestCoalition(["AU", "JP"])

    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// A plain TCP connection from `source` (any 127.x.y.z address works on
    /// Linux's loopback) that never starts its TLS handshake.
    func stall(_ port: Int, from source: String) async throws -> Connection {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: SocketAddress(ipAddress: source, port: 0))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel) }
            }
    }

    /// Returns once the server has closed `connection` (the suite's time limit fails the test otherwise).
    func waitClosed(_ connection: Connection) async throws {
        try await connection.executeThenClose { inbound, _ in
            do { for try await _ in inbound {} } catch {}
        }
    }

    func server(_ au: NetNode, _ configure: (inout SyncConfiguration) -> Void) throws -> SyncServer {
        var configuration = SyncConfiguration(listenHost: "127.0.0.1", listenPort: 0, tls: au.tls, peers: ["JP"])
        configure(&configuration)
        return try SyncServer(replica: au.replica, configuration: configuration, registry: au.registry, logger: au.logger)
    }

    @Test("over the per-address cap a connection is closed on accept, and a peer at another address still syncs meanwhile")
    func perAddressCap() async throws {
        let pki = try TestPKI(dir: dir)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir)
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir)
        try au.replica.commit([Records.facility("AU-A")])
        // A long timeout: here the cap, not the timeout, closes connections.
        let server = try server(au) {
            $0.handshakeTimeout = .seconds(60)
            $0.maxPendingHandshakesPerAddress = 3
        }
        try await withServers([server]) {
            let port = try #require(try await server.port)
            var held: [Connection] = []
            for _ in 0..<3 { held.append(try await stall(port, from: "127.0.0.2")) }
            try await eventually("AU counts three handshakes pending from 127.0.0.2") {
                server.handshakes.pending(from: "127.0.0.2") == 3
            }
            // The fourth from that address is closed at once (the held three are not).
            try await waitClosed(try await stall(port, from: "127.0.0.2"))
            #expect(server.handshakes.pending(from: "127.0.0.2") == 3)
            #expect(server.handshakes.refusedAtGate == 1, "closed by the listener's gate, before a TLS or gRPC pipeline was built")

            // JP dials from 127.0.0.1 and gets AU's entry while the three still stall.
            try await whileDialing(from: jp, to: "AU", port: port) {
                try await eventually("JP receives AU:1") { try jp.replica.logCount() == 1 }
            }
            #expect(server.handshakes.pending(from: "127.0.0.2") == 3, "JP's finished handshake gave its slot back")
            for connection in held { try await connection.channel.close() }
            try await eventually("the closed connections give their slots back") { server.handshakes.pending() == 0 }
        }
    }

    @Test("a connection that does not finish its TLS handshake within the timeout is closed, and its slot freed")
    func timeout() async throws {
        let pki = try TestPKI(dir: dir)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir)
        let server = try server(au) { $0.handshakeTimeout = .seconds(2) }
        try await withServers([server]) {
            let port = try #require(try await server.port)
            let stalled = try await stall(port, from: "127.0.0.3")
            // Admitted (under the cap), so it holds a slot until its deadline...
            try await eventually("AU counts the handshake pending") { server.handshakes.pending(from: "127.0.0.3") == 1 }
            // ...then the server closes it.
            try await waitClosed(stalled)
            try await eventually("the slot is given back") { server.handshakes.pending() == 0 }
        }
    }
}
