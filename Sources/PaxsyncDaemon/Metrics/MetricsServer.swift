import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PaxsyncModel
import PaxsyncStore
import Prometheus
import ServiceLifecycle

/// Serves `GET /metrics` over plain HTTP/1.1 on the configured address.
public final class MetricsServer: Service, Sendable {
    let host: String
    let port: Int
    let logger: Logger
    let render: @Sendable () async -> [UInt8]

    /// `render` refreshes the gauges and returns the exposition.
    public init(host: String, port: Int, logger: Logger, render: @escaping @Sendable () async -> [UInt8]) {
        self.host = host
        self.port = port
        self.logger = logger
        self.render = render
    }

    public func run() async throws {
        let render = self.render
        let listener: ConnectionListener<HTTPServerRequestPart>
        do {
            listener = try await .bind({ initialize in
                try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: host, port: port, childChannelInitializer: initialize)
            }, configure: { channel in
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            })
        } catch {
            throw PaxsyncError(.storage, "cannot listen for metrics (metrics_listen in paxsync.conf)", subject: "\(host):\(port)",
                               underlying: error)
        }
        logger.info("metrics endpoint listening",
                    metadata: ["metrics": "http://\(host):\(listener.channel.localAddress?.port ?? port)/metrics"])
        let logger = self.logger
        try await listener.serve { connection in
            do {
                try await MetricsResponder.serve(connection, render: render)
            } catch {
                logger.debug("metrics connection failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
