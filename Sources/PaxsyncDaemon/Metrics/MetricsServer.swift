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
public final class MetricsServer: Service, @unchecked Sendable {
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
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(MetricsHandler(render: render))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw PaxsyncError(.storage, "cannot listen for metrics (metrics_listen in paxsync.conf)", subject: "\(host):\(port)",
                               underlying: error)
        }
        logger.info("metrics endpoint listening", metadata: ["metrics": "http://\(host):\(channel.localAddress?.port ?? port)/metrics"])
        try await channel.runUntilClosed()
    }
}
