import Logging
import PaxsyncNet
import ServiceLifecycle
import Synchronization

/// The address the sync server actually listens on: the configured one until
/// the server is bound, then with the bound port, so `listen = "127.0.0.1:0"`
/// (any free port) shows the port it got in `paxsync status` and in the log.
///
/// Binding is also when the daemon is ready (its replica was opened before any
/// service started): it tells systemd `READY=1` then (`Type=notify`), and
/// `STOPPING=1` when a graceful shutdown begins.
public final class ListenAddress: Service, Sendable {
    private let host: String
    private let current: Mutex<String>
    private let server: SyncServer
    private let logger: Logger
    private let notify: SystemdNotify

    init(host: String, port: Int, server: SyncServer, notify: SystemdNotify = SystemdNotify(), logger: Logger) {
        self.notify = notify
        self.host = host
        self.current = Mutex(host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        self.server = server
        self.logger = logger
    }

    /// `host:port`, with the bound port once the server listens.
    public var description: String { current.withLock { $0 } }

    /// Waits for the server to bind, records the port, logs it and reports
    /// readiness; then waits for the graceful shutdown to report it, and returns
    /// (the daemon runs it with `successTerminationBehavior: .ignore`).
    public func run() async throws {
        let port = await cancelWhenGracefulShutdown { try? await self.server.port }
        if let port {
            let bound = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            current.withLock { $0 = bound }
            logger.notice("listening for peers", metadata: ["listen": "\(bound)"])
            notify.send("READY=1\nSTATUS=listening for peers on \(bound)")
        }
        try? await gracefulShutdown()
        notify.send("STOPPING=1")
    }
}
