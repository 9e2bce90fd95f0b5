import Foundation
import Logging
import NIOCore
import NIOPosix
import PaxsyncControl
import PaxsyncModel
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The client side: one blocking request, as `paxsync status` makes it, over NIO.
public enum AdminClient {
    /// The commands the admin socket understands.
    public static let status = AdminCommand.status.rawValue
    public static let wake = AdminCommand.wake.rawValue

    /// Why the daemon could not be asked.
    public enum Failure: Error, CustomStringConvertible {
        /// No socket file, or nothing listening on it: the daemon is not running.
        case notRunning(String)
        /// The socket exists but this account may not connect to it.
        case permissionDenied(String)
        case failed(String)

        public var description: String {
            switch self {
            case .notRunning(let path): "\(path): the node's daemon is not running (no one answers on the admin socket)"
            case .permissionDenied(let path): "\(path): permission denied; the admin socket is reserved to the account that runs the node"
            case .failed(let reason): reason
            }
        }
    }

    /// Sends `command` and returns the whole response (the daemon closes the
    /// connection after it). Blocks the calling thread: the CLI's commands are
    /// synchronous; never call it on an event loop.
    public static func request(_ path: String, _ command: String, timeoutSeconds: Int64 = 10) throws(Failure) -> [UInt8] {
        let channel = try connect(path, timeoutSeconds: timeoutSeconds)
        let response = channel.eventLoop.makePromise(of: [UInt8].self)
        do {
            try channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(ResponseCollector(response: response))
            }.wait()
            // The whole answer within the timeout, or the connection is closed.
            let deadline = channel.eventLoop.scheduleTask(in: .seconds(timeoutSeconds)) {
                response.fail(Failure.failed("\(path): no answer from the daemon within \(timeoutSeconds) s"))
                channel.close(promise: nil)
            }
            defer { deadline.cancel() }
            try channel.writeAndFlush(ByteBuffer(string: command + "\n")).wait()
            return try response.futureResult.wait()
        } catch let failure as Failure {
            channel.close(promise: nil)
            throw failure
        } catch {
            channel.close(promise: nil)
            throw .failed("\(path): the admin socket failed: \(error)")
        }
    }

    /// Whether a daemon answers on `path` (a connection is accepted). Blocks the
    /// calling thread; from async code use the async overload.
    public static func isAnswering(_ path: String) -> Bool {
        guard let channel = try? connect(path, timeoutSeconds: 5) else { return false }
        try? channel.close().wait()
        return true
    }

    // MARK: Async: for callers on Swift concurrency's pool, which a blocking wait would starve.

    /// Sends `command` and returns the whole response, without blocking a thread.
    public static func request(_ path: String, _ command: String, timeout: Duration = .seconds(10)) async throws(Failure) -> [UInt8] {
        let connection = try await connect(path, timeout: timeout)
        do {
            return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask {
                    try await connection.executeThenClose { inbound, outbound in
                        try await outbound.write(ByteBuffer(string: command + "\n"))
                        var received: [UInt8] = []
                        for try await var buffer in inbound { received += buffer.readBytes(length: buffer.readableBytes) ?? [] }
                        return received
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                // Whichever ends first: the whole answer, or the time allowed.
                defer { group.cancelAll() }
                guard let answer = try await group.next() ?? nil else {
                    throw Failure.failed("\(path): no answer from the daemon within \(timeout)")
                }
                return answer
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .failed("\(path): the admin socket failed: \(error)")
        }
    }

    /// Whether a daemon answers on `path` (a connection is accepted), without blocking a thread.
    public static func isAnswering(_ path: String) async -> Bool {
        guard let connection = try? await connect(path, timeout: .seconds(5)) else { return false }
        try? await connection.executeThenClose { _, _ in }
        return true
    }

    private static func connect(_ path: String, timeout: Duration) async throws(Failure) -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let address = try address(path)
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
                .connect(to: address) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
        } catch {
            throw classify(error, path)
        }
    }

    private static func connect(_ path: String, timeoutSeconds: Int64) throws(Failure) -> Channel {
        let address = try address(path)
        do {
            return try ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(timeoutSeconds))
                .connect(to: address).wait()
        } catch {
            throw classify(error, path)
        }
    }

    private static func address(_ path: String) throws(Failure) -> SocketAddress {
        do {
            return try SocketAddress(unixDomainSocketPath: path)
        } catch {
            throw .failed("\(path): not a usable admin socket path (at most 107 bytes): \(error)")
        }
    }

    /// Names why a connection failed: no daemon, another account's socket, or something else.
    private static func classify(_ error: any Error, _ path: String) -> Failure {
        switch (error as? IOError)?.errnoCode {
        case ENOENT?, ECONNREFUSED?, ENOTDIR?: .notRunning(path)
        case EACCES?, EPERM?: .permissionDenied(path)
        default: .failed("\(path): cannot connect to the admin socket: \(error)")
        }
    }
}

/// Collects what the daemon sends until it closes the connection.
private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let response: EventLoopPromise<[UInt8]>
    private var bytes: [UInt8] = []

    init(response: EventLoopPromise<[UInt8]>) { self.response = response }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    func channelInactive(context: ChannelHandlerContext) {
        response.succeed(bytes)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        response.fail(error)
        context.close(promise: nil)
    }
}
