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
