import Foundation
import Logging
import NIOCore
import NIOPosix
import PaxsyncDaemon
import PaxsyncTestSupport
import Testing

/// The admin socket's framing and limits, against a real Unix socket.
@Suite("Admin socket framing")
struct AdminServerTests {
    let dir = TemporaryDirectory("paxsync-admin")

    /// Runs an admin server that answers `ok COMMAND` around `body`.
    func withServer(requestTimeout: Duration = .seconds(10), _ body: (String) async throws -> Void) async throws {
        let path = dir.file("admin.sock")
        let server = AdminServer(path: path, requestTimeout: requestTimeout, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) {
            Array("ok \($0)\n".utf8)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            // The socket appears at its path only once it listens (it is renamed into place).
            var waited = 0
            while !(await AdminClient.isAnswering(path)) {
                waited += 1
                try #require(waited < 2_000, "the admin socket never answered")
                try await Task.sleep(for: .milliseconds(5))
            }
            try await body(path)
        }
    }

    /// Connects, sends `bytes`, and returns everything received until the server closes.
    func exchange(_ path: String, sending bytes: [UInt8]) async throws -> [UInt8] {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(unixDomainSocketPath: path) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        return try await channel.executeThenClose { inbound, outbound in
            if !bytes.isEmpty { try await outbound.write(ByteBuffer(bytes: bytes)) }
            var received: [UInt8] = []
            for try await var buffer in inbound { received += buffer.readBytes(length: buffer.readableBytes) ?? [] }
            return received
        }
    }

    @Test("one command line gets one answer, then the server closes; the client reads it whole")
    func oneLine() async throws {
        try await withServer { (path: String) async throws(any Error) in
            #expect(try await AdminClient.request(path, "status") == Array("ok status\n".utf8))
            // Split across writes, padded with blanks: still one command.
            #expect(try await exchange(path, sending: Array("  wake  \nignored after the line\n".utf8)) == Array("ok wake\n".utf8))
        }
    }

    @Test("a request longer than 1 KiB without a newline is closed unanswered; the server goes on answering")
    func overlong() async throws {
        try await withServer { (path: String) async throws(any Error) in
            #expect(try await exchange(path, sending: Array(repeating: UInt8(ascii: "a"), count: AdminServer.maxRequestBytes + 2)).isEmpty)
            #expect(try await AdminClient.request(path, "status") == Array("ok status\n".utf8))
        }
    }

    @Test("a client that sends no line within the request timeout is closed unanswered")
    func silentClient() async throws {
        try await withServer(requestTimeout: .milliseconds(200)) { (path: String) async throws(any Error) in
            // Returns once the server closes the connection: the timeout, not the client, ended it.
            #expect(try await exchange(path, sending: Array("no newline".utf8)).isEmpty)
            #expect(try await AdminClient.request(path, "status") == Array("ok status\n".utf8))
        }
    }

    @Test("connections still open when the server is cancelled are closed, none left hanging, and the socket file is removed",
          .timeLimit(.minutes(1)))
    func cancelledWithConnectionsOpen() async throws {
        let path = dir.file("admin.sock")
        let server = AdminServer(path: path, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) { Array("ok \($0)\n".utf8) }
        let running = Task { try await server.run() }
        var waited = 0
        while !(await AdminClient.isAnswering(path)) {
            waited += 1
            try #require(waited < 2_000, "the admin socket never answered")
            try await Task.sleep(for: .milliseconds(5))
        }
        // Clients that connect and send nothing: some are being answered, some
        // still wait in the listener's buffer when it is cancelled.
        var clients: [NIOAsyncChannel<ByteBuffer, ByteBuffer>] = []
        for _ in 0..<20 {
            clients.append(try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            })
        }
        running.cancel()
        _ = try? await running.value
        // Each read ends only when the server closes that connection (else the time limit fails the test).
        for client in clients {
            let received = try await client.executeThenClose { inbound, _ in
                var bytes = 0
                do { for try await buffer in inbound { bytes += buffer.readableBytes } } catch {}
                return bytes
            }
            #expect(received == 0)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a path with no daemon is reported as not running; an over-long path is named")
    func clientErrors() throws {
        #expect(throws: AdminClient.Failure.self) { try AdminClient.request(dir.file("absent.sock"), "status") }
        do {
            _ = try AdminClient.request(dir.file("absent.sock"), "status")
        } catch {
            #expect("\(error)".hasSuffix("the node's daemon is not running (no one answers on the admin socket)"), "\(error)")
        }
        let long = dir.file(String(repeating: "x", count: 200))
        do {
            _ = try AdminClient.request(long, "status")
            Issue.record("an over-long path was accepted")
        } catch {
            #expect("\(error)".contains("at most 107 bytes"), "\(error)")
        }
    }
}
