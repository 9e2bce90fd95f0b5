import Foundation
import Logging
import NIOCore
import NIOPosix
import PaxsyncControl
import PaxsyncModel
import PaxsyncNet
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The node's admin endpoint: a Unix socket in the data directory, mode 0600,
/// so only the account running the node can connect (and the data directory is
/// 0700). A client writes one command line (`status`), reads one JSON document,
/// and the server closes the connection.
public final class AdminServer: Service, Sendable {
    public typealias Responder = @Sendable (String) async -> [UInt8]

    let path: String
    let respond: Responder
    let logger: Logger
    /// How long a client may take to send its command line.
    let requestTimeout: Duration

    public init(path: String, requestTimeout: Duration = .seconds(10), logger: Logger, respond: @escaping Responder) {
        self.path = path
        self.respond = respond
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    typealias Connection = ConnectionListener<ByteBuffer>.Connection

    public func run() async throws {
        let respond = self.respond
        // The socket must never exist at its path with more than mode 0600, not
        // even for a moment: bind it inside a fresh 0700 directory beside the
        // path, restrict it there, and only then rename it into place (rename
        // also replaces a stale socket file atomically; `ServeLock` has made
        // sure no other daemon owns this directory).
        let staging = try Self.makeStagingDirectory(beside: path)
        defer { rmdir(staging) }
        let staged = staging + "/s"
        let listener: ConnectionListener<ByteBuffer>
        do {
            listener = try await .bind({ initialize in
                try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(.backlog, value: 16)
                    .bind(unixDomainSocketPath: staged, cleanupExistingSocketFile: true, childChannelInitializer: initialize)
            }, configure: { _ in })
        } catch {
            throw PaxsyncError(.storage, "cannot open the admin socket (admin_socket in paxsync.conf; at most 107 bytes)",
                               subject: path, underlying: error)
        }
        guard chmod(staged, 0o600) == 0, rename(staged, path) == 0 else {
            let reason = String(cString: strerror(errno))
            listener.channel.close(promise: nil)
            unlink(staged)
            throw PaxsyncError(.storage, "cannot put the owner-only admin socket in place", subject: path, cause: reason)
        }
        logger.info("admin endpoint listening", metadata: ["socket": "\(path)"])
        defer { unlink(path) }
        let logger = self.logger
        let timeout = requestTimeout
        try await listener.serve { connection in
            await Self.answer(connection, respond: respond, timeout: timeout, logger: logger)
        }
    }

    /// The longest command line, in bytes; a longer one is closed unanswered.
    public static let maxRequestBytes = AdminRequest.maxBytes

    /// Reads one command line, answers it and closes the connection. A client
    /// that sends more than `maxRequestBytes` without a newline, or no line
    /// within `timeout`, is closed without an answer.
    static func answer(_ connection: Connection, respond: @escaping Responder, timeout: Duration, logger: Logger) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await connection.executeThenClose { inbound, _ in
                        var request = AdminRequest()
                        for try await buffer in inbound {
                            switch request.append(buffer.readableBytesView) {
                            case .incomplete:
                                continue
                            case .line(let command):
                                let answer = ByteBuffer(bytes: await respond(command))
                                try await connection.channel.writeAndFlush(answer).get()
                                return
                            case .tooLong:
                                logger.notice("admin request over \(maxRequestBytes) bytes without a newline; closed")
                                return
                            }
                        }
                    }
                } catch {
                    logger.debug("admin connection failed", metadata: ["error": "\(error)"])
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            // Whichever ends first: the answer, or the client's time.
            await group.next()
            group.cancelAll()
        }
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
            let parsed: AdminCommand
            do throws(PaxsyncError) {
                parsed = try AdminCommand(parsing: command)
            } catch {
                return failure(error.message)
            }
            switch parsed {
            case .wake:
                wakeup.wake()
                return Array("{}\n".utf8)
            case .status:
                do {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    return Array(try encoder.encode(try status()))
                } catch {
                    return failure("the node's status could not be read: \(error)")
                }
            }
        }
    }
}
