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

/// The daemon's metrics (swift-metrics, exposed in Prometheus format). The
/// registry belongs to the node — no process-wide metrics system is bootstrapped
/// — so several nodes can run in one process (tests) with separate metrics.
///
/// Counters are updated as sessions run; gauges are refreshed from the node's
/// status at every scrape.
public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["paxsync_apply_duration_seconds"] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        self.factory = factory
    }

    /// A batch received from `peer` was applied in `nanoseconds`.
    func received(_ result: BatchResult, entries: Int, bytes: Int, peer: String, nanoseconds: UInt64) {
        for (origin, n) in result.appliedByOrigin {
            Counter(label: "paxsync_entries_applied_total", dimensions: [("origin", origin)], factory: factory).increment(by: n)
        }
        for (code, n) in result.rejectedByCode {
            Counter(label: "paxsync_entries_rejected_total", dimensions: [("reason", code)], factory: factory).increment(by: n)
        }
        traffic(peer: peer, direction: "in", entries: entries, bytes: bytes)
        Timer(label: "paxsync_apply_duration_seconds", factory: factory).recordNanoseconds(Int64(nanoseconds))
    }

    func traffic(peer: String, direction: String, entries: Int, bytes: Int) {
        Counter(label: "paxsync_peer_entries_total", dimensions: [("peer", peer), ("direction", direction)], factory: factory)
            .increment(by: entries)
        Counter(label: "paxsync_peer_bytes_total", dimensions: [("peer", peer), ("direction", direction)], factory: factory)
            .increment(by: bytes)
    }

    /// A sync session with `peer` opened, ended, failed or was refused.
    func session(peer: String, outcome: String) {
        Counter(label: "paxsync_sync_sessions_total", dimensions: [("peer", peer), ("outcome", outcome)], factory: factory).increment()
    }

    /// Sets the gauges from the node's status.
    public func refresh(from status: NodeStatus) {
        func gauge(_ label: String, _ dimensions: [(String, String)], _ value: Double) {
            Meter(label: label, dimensions: dimensions, factory: factory).set(value)
        }
        for peer in status.peers {
            gauge("paxsync_peer_connected", [("peer", peer.id)], peer.connected ? 1 : 0)
            gauge("paxsync_peer_behind_entries", [("peer", peer.id)], Double(peer.behindEntries))
        }
        for origin in status.origins {
            gauge("paxsync_origin_lag_entries", [("origin", origin.origin)], Double(origin.lagEntries))
            gauge("paxsync_origin_sequence", [("origin", origin.origin)], Double(origin.heldSeq))
        }
        gauge("paxsync_entries_held", [], Double(status.held.count))
        var quarantined: [String: Int] = [:]
        for item in status.quarantined { quarantined[item.code, default: 0] += 1 }
        for code in Set(quarantined.keys).union(["bad-signature", "chain-mismatch", "unauthorized"]) {
            gauge("paxsync_quarantined_entries", [("reason", code)], Double(quarantined[code] ?? 0))
        }
        gauge("paxsync_equivocations", [], Double(status.equivocations.count))
        gauge("paxsync_conflicts_open", [], Double(status.openConflicts))
        gauge("paxsync_log_entries", [], Double(status.logEntries))
        gauge("paxsync_replica_bytes", [], Double(status.replicaBytes))
        gauge("paxsync_uptime_seconds", [], status.uptimeSeconds ?? 0)
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}

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
                               cause: "\(error)")
        }
        logger.info("metrics endpoint listening", metadata: ["metrics": "http://\(host):\(channel.localAddress?.port ?? port)/metrics"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () async -> [UInt8]
    private var head: HTTPRequestHead?

    init(render: @escaping @Sendable () async -> [UInt8]) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = Self.unwrapInboundIn(data)
        if case .head(let h) = part { head = h }
        guard case .end = part, let head else { return }
        self.head = nil
        let channel = context.channel
        let keepAlive = head.isKeepAlive
        guard head.method == .GET || head.method == .HEAD, head.uri.split(separator: "?").first == "/metrics" else {
            Self.reply(channel, status: .notFound, type: "text/plain", body: Array("not found; metrics are at /metrics\n".utf8),
                       keepAlive: keepAlive, headOnly: false)
            return
        }
        Self.serve(channel, render: render, keepAlive: keepAlive, headOnly: head.method == .HEAD)
    }

    static func serve(_ channel: Channel, render: @escaping @Sendable () async -> [UInt8], keepAlive: Bool, headOnly: Bool) {
        Task {
            let body = await render()
            reply(channel, status: .ok, type: "text/plain; version=0.0.4; charset=utf-8", body: body, keepAlive: keepAlive, headOnly: headOnly)
        }
    }

    static func reply(_ channel: Channel, status: HTTPResponseStatus, type: String, body: [UInt8], keepAlive: Bool, headOnly: Bool) {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)")])
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        var buffer = channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
        if !headOnly { channel.write(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil) }
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
