import Foundation
import Logging
import NIOCore
import NIOPosix
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
    public static let status = "status"
    public static let wake = "wake"

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
            try channel.pipeline.addHandler(ResponseCollector(response: response)).wait()
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

    /// Whether a daemon answers on `path` (a connection is accepted).
    public static func isAnswering(_ path: String) -> Bool {
        guard let channel = try? connect(path, timeoutSeconds: 5) else { return false }
        try? channel.close().wait()
        return true
    }

    private static func connect(_ path: String, timeoutSeconds: Int64) throws(Failure) -> Channel {
        let address: SocketAddress
        do {
            address = try SocketAddress(unixDomainSocketPath: path)
        } catch {
            throw .failed("\(path): not a usable admin socket path (at most 107 bytes): \(error)")
        }
        do {
            return try ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(timeoutSeconds))
                .connect(to: address).wait()
        } catch {
            switch (error as? IOError)?.errnoCode {
            case ENOENT?, ECONNREFUSED?, ENOTDIR?: throw .notRunning(path)
            case EACCES?, EPERM?: throw .permissionDenied(path)
            default: throw .failed("\(path): cannot connect to the admin socket: \(error)")
            }
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
