import Foundation
import Logging
import NIOCore
import NIOPosix
import PaxsyncModel
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The node's admin endpoint: a Unix socket in the data directory, mode 0600,
/// so only the account running the node can connect (and the data directory is
/// 0700). A client writes one command line (`status`), reads one JSON document,
/// and the server closes the connection.
public final class AdminServer: Service, @unchecked Sendable {
    public typealias Responder = @Sendable (String) async -> [UInt8]

    let path: String
    let respond: Responder
    let logger: Logger

    public init(path: String, logger: Logger, respond: @escaping Responder) {
        self.path = path
        self.respond = respond
        self.logger = logger
    }

    public func run() async throws {
        if AdminClient.isAnswering(path) {
            throw PaxsyncError(.invalidState, "another paxsync serve already runs for this data directory (its admin socket answers)",
                               subject: path)
        }
        let respond = self.respond
        // The socket must never exist at its path with more than mode 0600, not
        // even for a moment: bind it inside a fresh 0700 directory beside the
        // path, restrict it there, and only then rename it into place (rename
        // also replaces a stale socket file atomically).
        let staging = try Self.makeStagingDirectory(beside: path)
        defer { rmdir(staging) }
        let staged = staging + "/s"
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 16)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(AdminHandler(respond: respond))
                    }
                }
                .bind(unixDomainSocketPath: staged, cleanupExistingSocketFile: true).get()
        } catch {
            throw PaxsyncError(.storage, "cannot open the admin socket (admin_socket in paxsync.conf; at most 107 bytes)",
                               subject: path, cause: "\(error)")
        }
        guard chmod(staged, 0o600) == 0, rename(staged, path) == 0 else {
            let reason = String(cString: strerror(errno))
            channel.close(promise: nil)
            unlink(staged)
            throw PaxsyncError(.storage, "cannot put the owner-only admin socket in place", subject: path, cause: reason)
        }
        logger.info("admin endpoint listening", metadata: ["socket": "\(path)"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        unlink(path)
    }

    /// A new directory, mode 0700, in the directory of `path`.
    static func makeStagingDirectory(beside path: String) throws -> String {
        let directory = (path as NSString).deletingLastPathComponent
        var template = Array(((directory.isEmpty ? "." : directory) + "/.aXXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw PaxsyncError(.storage, "cannot create a private directory beside the admin socket",
                               subject: path, cause: String(cString: strerror(errno)))
        }
        return String(cString: made)
    }
}

extension AdminServer {
    /// The daemon's commands: `status` answers the node's status as JSON;
    /// `wake` tells the sessions the log grew (a CLI write) so they push now.
    public static func commands(status: @escaping @Sendable () throws -> NodeStatus, wakeup: LogWakeup) -> Responder {
        { command in
            func failure(_ message: String) -> [UInt8] {
                Array((try? JSONEncoder().encode(["error": message])) ?? Data()) + [UInt8(ascii: "\n")]
            }
            switch command {
            case AdminClient.wake:
                wakeup.wake()
                return Array("{}\n".utf8)
            case AdminClient.status:
                do {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    return Array(try encoder.encode(try status()))
                } catch {
                    return failure("the node's status could not be read: \(error)")
                }
            default:
                return failure("unknown command \"\(command.prefix(40))\"; send \(AdminClient.status) or \(AdminClient.wake)")
            }
        }
    }
}

/// Reads one command line, answers it, closes.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let respond: AdminServer.Responder
    private var request: [UInt8] = []
    private var answered = false

    init(respond: @escaping AdminServer.Responder) { self.respond = respond }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var buffer = Self.unwrapInboundIn(data)
        request += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let newline = request.firstIndex(of: UInt8(ascii: "\n")) else {
            if request.count > 1024 { context.close(promise: nil) }
            return
        }
        answered = true
        let command = String(decoding: request[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        let channel = context.channel
        let respond = self.respond
        Task {
            let bytes = await respond(command)
            var out = channel.allocator.buffer(capacity: bytes.count)
            out.writeBytes(bytes)
            channel.writeAndFlush(out).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// The client side: one blocking request, as `paxsync status` makes it.
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

    /// Sends `command` and returns the whole response.
    public static func request(_ path: String, _ command: String, timeoutSeconds: Int = 10) throws(Failure) -> [UInt8] {
        let fd = try connect(path)
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let line = Array((command + "\n").utf8)
        guard line.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == line.count else {
            throw .failed("\(path): cannot send to the admin socket: \(String(cString: strerror(errno)))")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw .failed("\(path): no answer from the daemon within \(timeoutSeconds) s: \(String(cString: strerror(errno)))")
            }
            response += chunk[0..<n]
        }
        return response
    }

    /// Whether a daemon answers on `path` (a connection is accepted).
    public static func isAnswering(_ path: String) -> Bool {
        guard let fd = try? connect(path) else { return false }
        close(fd)
        return true
    }

    private static func connect(_ path: String) throws(Failure) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw .failed("\(path): the admin socket path is longer than \(capacity - 1) bytes") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .failed("cannot create a socket: \(String(cString: strerror(errno)))") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result == 0 { return fd }
        let code = errno
        close(fd)
        switch code {
        case ENOENT, ECONNREFUSED, ENOTDIR: throw .notRunning(path)
        case EACCES, EPERM: throw .permissionDenied(path)
        default: throw .failed("\(path): cannot connect to the admin socket: \(String(cString: strerror(code)))")
        }
    }
}
