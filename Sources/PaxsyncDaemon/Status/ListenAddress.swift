import Logging
import PaxsyncNet
import ServiceLifecycle
import Synchronization

/// The address the sync server actually listens on: the configured one until
/// the server is bound, then with the bound port, so `listen = "127.0.0.1:0"`
/// (any free port) shows the port it got in `paxsync status` and in the log.
public final class ListenAddress: Service, Sendable {
    private let host: String
    private let current: Mutex<String>
    private let server: SyncServer
    private let logger: Logger

    init(host: String, port: Int, server: SyncServer, logger: Logger) {
        self.host = host
        self.current = Mutex(host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        self.server = server
        self.logger = logger
    }

    /// `host:port`, with the bound port once the server listens.
    public var description: String { current.withLock { $0 } }

    /// Waits for the server to bind, records the port and logs it, and returns
    /// (the daemon runs it with `successTerminationBehavior: .ignore`).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            guard let port = try? await self.server.port else { return }
            let bound = self.host.contains(":") ? "[\(self.host)]:\(port)" : "\(self.host):\(port)"
            self.current.withLock { $0 = bound }
            self.logger.notice("listening for peers", metadata: ["listen": "\(bound)"])
        }
    }
}
